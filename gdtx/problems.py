"""Two-dimensional test problems with known minima, standard starts and plotting windows.

Each problem is a :class:`Problem`: call it on a point to get the value, and read
its ``start``, ``minimum``, ``min_value`` and ``window`` (the region a contour
plot shows). Every function takes ``x`` with the two coordinates along the first
axis, so the same function evaluates one point (shape ``(2,)``) or a whole grid
(shape ``(2, ny, nx)``).

- :data:`quadratic`: 0.1x₁² + 2x₂², the ill-conditioned quadratic of the sources
  (Hessian diag(0.2, 4), condition number 20; Zhang et al., *Dive into Deep
  Learning*, §12.6).
- :data:`rotated_quadratic`: the same quadratic turned by 45°, so that its axes
  no longer line up with the coordinates and per-coordinate step sizes (AdaGrad,
  RMSProp, Adam) cannot undo the ill-conditioning.
- :data:`saddle`: x₁² − x₂², a saddle at the origin, unbounded below.
- :data:`rosenbrock`: (1 − x₁)² + 100(x₂ − x₁²)² (Rosenbrock, 1960).
- :data:`beale`: (1.5 − x₁ + x₁x₂)² + (2.25 − x₁ + x₁x₂²)² + (2.625 − x₁ + x₁x₂³)²
  (Beale, 1958).
- :data:`rastrigin`: 20 + Σᵢ (xᵢ² − 10 cos 2πxᵢ), many local minima (Rastrigin, 1974).

Starts for Rosenbrock and Beale are the standard ones of Moré, Garbow &
Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7 (1981).

Example:
    >>> import jax.numpy as jnp
    >>> from gdtx import problems
    >>> problems.rosenbrock(jnp.array([1.0, 1.0]))
    Array(0., dtype=float32)
    >>> problems.rosenbrock.start, problems.rosenbrock.minimum
    ((-1.2, 1.0), (1.0, 1.0))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "PROBLEMS",
    "Problem",
    "beale",
    "quadratic",
    "quadratic_problem",
    "rastrigin",
    "rosenbrock",
    "rotated_quadratic",
    "saddle",
]

Point = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Problem:
    """A 2-D test function with its landmarks.

    Instances are hashable (usable as a static argument of ``jax.jit``) and
    callable: ``problem(x)`` returns f(x) for ``x`` of shape ``(2, ...)``.

    Attributes:
        name: a short name, for titles and legends.
        fn: the function, taking ``x`` with the coordinates along axis 0.
        start: the standard starting point x⁽⁰⁾.
        minimum: the global minimiser, or ``None`` if f is unbounded below.
        min_value: f at ``minimum`` (``None`` if unbounded below).
        window: ``((x₁ low, x₁ high), (x₂ low, x₂ high))``, the region to plot.
        saddle: a saddle point worth marking on plots, or ``None``.
        levels: ``"log"`` when contour levels should be spaced logarithmically
            above ``min_value`` (steep valleys), else ``"linear"``.
        description: one line for titles and tables.

    Example:
        >>> import jax.numpy as jnp
        >>> from gdtx import problems
        >>> p = problems.quadratic
        >>> float(p(jnp.array(p.start)))  # 0.1·25 + 2·4
        10.5
        >>> p.x0()
        Array([-5., -2.], dtype=float32)
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    start: Point
    minimum: Point | None
    min_value: float | None
    window: tuple[Point, Point]
    saddle: Point | None = None
    levels: Literal["linear", "log"] = "linear"
    description: str = ""

    def __call__(self, x: Any) -> jax.Array:
        """f(x) for ``x`` of shape ``(2, ...)``."""
        return self.fn(jnp.asarray(x))

    def x0(self, dtype: Any = jnp.float32) -> jax.Array:
        """The starting point as an array of shape ``(2,)``."""
        return jnp.asarray(self.start, dtype=dtype)

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X₁, X₂, F)``: an ``n × n`` grid over ``window`` and f on it (NumPy, for contours)."""
        (a, b), (c, d) = self.window
        x1, x2 = np.meshgrid(np.linspace(a, b, n), np.linspace(c, d, n))
        values = self(jnp.asarray(np.stack([x1, x2]), jnp.float32))
        return x1, x2, np.asarray(values, np.float64)


def quadratic_problem(
    a: float = 0.1,
    b: float = 2.0,
    angle: float = 0.0,
    start: Point = (-5.0, -2.0),
    *,
    name: str | None = None,
    window: tuple[Point, Point] | None = None,
) -> Problem:
    """The quadratic f(x) = a·u₁² + b·u₂², u = Rᵀx, with R the rotation by ``angle`` degrees.

    Its Hessian R·diag(2a, 2b)·Rᵀ has condition number max(a, b)/min(a, b). The
    start is given in the unrotated coordinates u and turned with the function,
    so every rotation of the problem starts on the same level set.

    Args:
        a: the coefficient along the first principal axis (> 0).
        b: the coefficient along the second principal axis (> 0).
        angle: the rotation of the principal axes, in degrees (counter-clockwise).
        start: the starting point in the unrotated coordinates u.
        name: the problem's name (default built from the coefficients).
        window: the plotting window (default: the square [−r, r]², r = 1.1‖start‖).

    Returns:
        The :class:`Problem`, with its minimum 0 at the origin.

    Example:
        >>> from gdtx import problems
        >>> p = problems.quadratic_problem(0.1, 2.0, angle=90.0)
        >>> [round(c, 6) for c in p.start]
        [2.0, -5.0]
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"quadratic_problem: `a` and `b` must be positive, got {a!r} and {b!r}.")
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def fn(x: jax.Array) -> jax.Array:
        u1 = c * x[0] + s * x[1]  # u = Rᵀx
        u2 = -s * x[0] + c * x[1]
        return a * u1**2 + b * u2**2

    x_start = (c * start[0] - s * start[1], s * start[0] + c * start[1])  # x⁽⁰⁾ = R·u⁽⁰⁾
    x_start = (round(x_start[0], 12) + 0.0, round(x_start[1], 12) + 0.0)
    r = 1.1 * math.hypot(*start)
    turned = f", turned {angle:g}°" if angle else ""
    return Problem(
        name=name or f"{a:g}·x₁² + {b:g}·x₂²{turned}",
        fn=fn,
        start=x_start,
        minimum=(0.0, 0.0),
        min_value=0.0,
        window=window or ((-r, r), (-r, r)),
        description=f"quadratic, condition number {max(a, b) / min(a, b):g}{turned}",
    )


quadratic = quadratic_problem(0.1, 2.0, name="0.1·x₁² + 2·x₂²", window=((-5.5, 1.5), (-2.5, 2.5)))
"""003's ill-conditioned quadratic 0.1x₁² + 2x₂² from (−5, −2): condition number 20."""

rotated_quadratic = quadratic_problem(
    0.1, 2.0, angle=45.0, name="0.1·x₁² + 2·x₂², turned 45°", window=((-4.5, 2.5), (-5.5, 1.5))
)
"""The same quadratic turned by 45°, from the same start turned with it: (−3/√2, −7/√2)."""


def _saddle(x: jax.Array) -> jax.Array:
    return x[0] ** 2 - x[1] ** 2


saddle = Problem(
    name="x₁² − x₂²",
    fn=_saddle,
    start=(-1.5, 1e-3),
    minimum=None,
    min_value=None,
    window=((-2.0, 2.0), (-2.0, 2.0)),
    saddle=(0.0, 0.0),
    description="saddle at the origin, unbounded below; the start lies just off the ridge",
)
"""x₁² − x₂²: a saddle at the origin. From (−1.5, 0.001) gradient descent slides to the
saddle along x₁ and leaves it along x₂ only as fast as the tiny x₂ grows."""


def _rosenbrock(x: jax.Array) -> jax.Array:
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


rosenbrock = Problem(
    name="Rosenbrock",
    fn=_rosenbrock,
    start=(-1.2, 1.0),
    minimum=(1.0, 1.0),
    min_value=0.0,
    window=((-2.0, 2.0), (-1.0, 3.0)),
    levels="log",
    description="(1 − x₁)² + 100(x₂ − x₁²)²: a curved, narrow valley",
)
"""Rosenbrock's banana (Rosenbrock, 1960), minimum 0 at (1, 1), start (−1.2, 1)."""


def _beale(x: jax.Array) -> jax.Array:
    return (
        (1.5 - x[0] + x[0] * x[1]) ** 2
        + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
        + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2
    )


beale = Problem(
    name="Beale",
    fn=_beale,
    start=(1.0, 1.0),
    minimum=(3.0, 0.5),
    min_value=0.0,
    window=((-1.0, 4.5), (-1.5, 2.0)),
    levels="log",
    description="Beale's function: flat plateaus and steep walls",
)
"""Beale's function (Beale, 1958), minimum 0 at (3, 0.5), start (1, 1)."""


def _rastrigin(x: jax.Array) -> jax.Array:
    two_pi = 2.0 * math.pi
    return (
        20.0 + x[0] ** 2 - 10.0 * jnp.cos(two_pi * x[0]) + x[1] ** 2 - 10.0 * jnp.cos(two_pi * x[1])
    )


rastrigin = Problem(
    name="Rastrigin",
    fn=_rastrigin,
    start=(-2.7, 2.3),
    minimum=(0.0, 0.0),
    min_value=0.0,
    window=((-5.12, 5.12), (-5.12, 5.12)),
    description="20 + Σ(xᵢ² − 10 cos 2πxᵢ): a bowl covered in local minima",
)
"""Rastrigin's function (Rastrigin, 1974), minimum 0 at the origin, local minima near
every integer point; gradient methods stop in the nearest one."""


PROBLEMS: dict[str, Problem] = {
    "quadratic": quadratic,
    "rotated_quadratic": rotated_quadratic,
    "saddle": saddle,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "rastrigin": rastrigin,
}
"""Every problem of this module by name."""
