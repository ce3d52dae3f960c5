"""Float64 NumPy reference for L-BFGS with a strong Wolfe line search, written from the
equations (Nocedal & Wright, *Numerical Optimization*, 2nd ed.: Algorithm 7.4 for the
two-loop recursion, Algorithms 3.5 and 3.6 for the line search), with the choices
gdtx.lbfgs documents (Optax's): γ₀ = min(1, 1/‖g‖), Hager & Zhang's approximate
sufficient decrease near a minimum, cubic-then-quadratic-then-bisection trial points
with 20 %/10 % safeguards, and the fall-back to the best step with sufficient decrease.

Nothing here imports gdtx. The line search is written as a plain loop over scalar
Python floats; the memory as a list of (s, y) pairs of flat float64 vectors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

ValueGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


def cubic_minimizer(a, fa, da, b, fb, c, fc) -> float:
    """The stationary point with positive curvature of the cubic p with p(a) = fa,
    p'(a) = da, p(b) = fb, p(c) = fc; NaN when there is none."""
    # p(x) = fa + da·h + B·h² + A·h³ with h = x − a: two linear equations in (B, A).
    hb, hc = b - a, c - a
    M = np.array([[hb**2, hb**3], [hc**2, hc**3]])
    r = np.array([fb - fa - da * hb, fc - fa - da * hc])
    with np.errstate(all="ignore"):
        if np.linalg.det(M) == 0:
            return math.nan
        B, A = np.linalg.solve(M, r)
        # p'(h) = da + 2Bh + 3Ah² = 0, the root where p'' = 2B + 6Ah > 0
        disc = B * B - 3 * A * da
        if disc < 0 or A == 0:
            return math.nan
        return a + (-B + math.sqrt(disc)) / (3 * A)


def quadratic_minimizer(a, fa, da, b, fb) -> float:
    """The minimiser of the parabola with value fa and slope da at a, and value fb at b."""
    h = b - a
    curvature = (fb - fa - da * h) / h**2
    with np.errstate(all="ignore"):
        return a - da / (2 * curvature) if curvature != 0 else math.nan


class ZoomLinesearch:
    """Finds η along u from x with φ(η) = f(x + ηu) meeting the strong Wolfe conditions."""

    def __init__(
        self,
        max_steps: int = 20,
        c1: float = 1e-4,
        c2: float = 0.9,
        c3: float | None = 1e-6,
        tol: float = 0.0,
        increase: float = 2.0,
        precision: float = 1e-5,
        max_stepsize: float | None = None,
    ) -> None:
        self.max_steps, self.c1, self.c2, self.c3 = max_steps, c1, c2, c3
        self.tol, self.increase, self.precision = tol, increase, precision
        self.max_stepsize = max_stepsize

    def search(self, fun: ValueGrad, x, u, f0, g0, guess):
        """Returns (η, f(x + ηu), ∇f(x + ηu), evaluations)."""
        d0 = float(g0 @ u)

        def phi(eta):
            f, g = fun(x + eta * u)
            return float(f), g, float(g @ u)

        def violations(eta, f, d):
            armijo = f - f0 - self.c1 * eta * d0
            if self.c3 is not None:  # approximate Wolfe (Hager & Zhang 2006), near a minimum
                approx = max(d - (2 * self.c1 - 1) * d0, f - f0 - self.c3 * abs(f0))
                armijo = min(armijo, approx)
            curvature = abs(d) - self.c2 * abs(d0)
            return tuple(math.inf if math.isnan(e) else max(e, 0.0) for e in (armijo, curvature))

        safe = (0.0, f0, g0)  # the best step with sufficient decrease so far
        prev = (0.0, f0, d0)
        eta, n = guess, 0
        # Algorithm 3.5: grow η until [lo, hi] brackets a good step
        while True:
            reached = False
            if n > 0:
                eta = self.increase * prev[0]
            if self.max_stepsize is not None:
                reached = eta >= self.max_stepsize
                eta = min(eta, self.max_stepsize)
            f, g, d = phi(eta)
            n += 1
            dec, curv = violations(eta, f, d)
            if dec <= self.tol:
                safe = (eta, f, g)
            if max(dec, curv) <= self.tol:
                return eta, f, g, n
            if dec > 0 or (n > 1 and f >= prev[1]):
                lo, hi = prev, (eta, f, d)
                break
            if d >= 0:
                lo, hi = (eta, f, d), prev
                break
            if reached:
                return eta, f, g, n
            if n >= self.max_steps:
                return self._fall_back(safe, (eta, f, g), dec)
            prev = (eta, f, d)
        if n >= self.max_steps:
            return self._fall_back(safe, (eta, f, g), dec)
        ref = lo[:2]  # the cubic's third point
        # Algorithm 3.6: shrink the bracket
        while True:
            width = abs(hi[0] - lo[0])
            left, right = min(lo[0], hi[0]), max(lo[0], hi[0])
            cand = cubic_minimizer(lo[0], lo[1], lo[2], hi[0], hi[1], ref[0], ref[1])
            if not (left + 0.2 * width < cand < right - 0.2 * width):
                cand = quadratic_minimizer(lo[0], lo[1], lo[2], hi[0], hi[1])
                if not (left + 0.1 * width < cand < right - 0.1 * width):
                    cand = (lo[0] + hi[0]) / 2
            eta = cand
            f, g, d = phi(eta)
            n += 1
            dec, curv = violations(eta, f, d)
            if dec <= self.tol and f < safe[1]:
                safe = (eta, f, g)
            if max(dec, curv) <= self.tol:
                return eta, f, g, n
            if dec > 0 or f >= lo[1]:
                ref, hi = hi[:2], (eta, f, d)
            elif d * (hi[0] - lo[0]) >= 0:
                ref, hi, lo = hi[:2], lo, (eta, f, d)
            else:
                ref, lo = lo[:2], (eta, f, d)
            if n >= self.max_steps or (width <= self.precision and safe[0] > 0):
                return self._fall_back(safe, (eta, f, g), dec)

    @staticmethod
    def _fall_back(safe, last, dec):
        eta, f, g = safe if (safe[0] > 0 or math.isinf(dec)) else last
        return eta, f, g, None


class Lbfgs:
    """L-BFGS: x ← x − η·H·∇f(x), H·g by the two-loop recursion over m pairs (s, y).

    ``minimize(fun, x0, steps)`` runs ``steps`` iterations on a flat float64 vector, one
    line search each, and returns the iterates and the values f(x_k) before each step.
    """

    def __init__(
        self,
        memory_size: int = 10,
        scale_init_precond: bool = True,
        learning_rate: float | None = None,
        linesearch: ZoomLinesearch | None = None,
        guess: str = "one",
    ) -> None:
        self.m, self.scale, self.lr = memory_size, scale_init_precond, learning_rate
        self.ls = linesearch if linesearch is not None else ZoomLinesearch()
        self.guess = guess

    def direction(self, g, pairs, gamma):
        """H·g (Algorithm 7.4), ``pairs`` oldest first."""
        q = g.copy()
        alphas = []
        for s, y in reversed(pairs):
            sy = s @ y
            rho = 0.0 if sy == 0 else 1.0 / sy
            alpha = rho * (s @ q)
            q = q - alpha * y
            alphas.append(alpha)
        r = gamma * q
        for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
            sy = s @ y
            rho = 0.0 if sy == 0 else 1.0 / sy
            beta = rho * (y @ r)
            r = r + (alpha - beta) * s
        return r

    def minimize(self, fun: ValueGrad, x0, steps: int, path=None):
        """Iterates of ``steps`` iterations from x0, and f before each step.

        With ``path`` (the iterates x₁, x₂, … of another run), step k starts from
        ``path[k − 1]`` and its history instead of from this run's own iterate: each
        returned iterate is then one reference step from the other run's state, which
        checks every step to the other run's precision, free of the amplification of
        rounding along a trajectory.
        """
        x = np.asarray(x0, np.float64).copy()
        f, g = fun(x)
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        prev = None
        eta = 1.0
        xs, fs = [], []
        for k in range(steps):
            if path is not None and k > 0:
                x = np.asarray(path[k - 1], np.float64)
                f, g = fun(x)
            if prev is not None:
                s, y = x - prev[0], g - prev[1]
                pairs = [*pairs, (s, y)][-self.m :]
            if not self.scale:
                gamma = 1.0
            elif k == 0:
                gamma = min(1.0, 1.0 / np.linalg.norm(g))
            else:
                s, y = pairs[-1]
                gamma = (s @ y) / (y @ y) if (y @ y) > 0 else 1.0
            u = -self.direction(g, pairs, gamma) * (1.0 if self.lr is None else self.lr)
            prev = (x, g)
            fs.append(float(f))
            guess = 1.0 if self.guess == "one" else eta
            eta, f, g, _ = self.ls.search(fun, x, u, float(f), g, guess)
            x = x + eta * u
            xs.append(x)
        return np.array(xs), np.array(fs)


# Problems in float64 with their gradients, written out by hand.


def rosenbrock(x):
    a, b = x
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    return f, np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def quadratic(x):
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2, np.array([0.2 * x[0], 4 * x[1]])


def beale(x):
    a, b = x
    t1, t2, t3 = 1.5 - a + a * b, 2.25 - a + a * b**2, 2.625 - a + a * b**3
    f = t1**2 + t2**2 + t3**2
    da = 2 * t1 * (b - 1) + 2 * t2 * (b**2 - 1) + 2 * t3 * (b**3 - 1)
    db = 2 * t1 * a + 2 * t2 * 2 * a * b + 2 * t3 * 3 * a * b**2
    return f, np.array([da, db])


D8 = np.array([0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 0.1])


def quadratic8(x):
    """½ Σ dᵢxᵢ² in eight dimensions."""
    return 0.5 * float(np.sum(D8 * x * x)), D8 * x


PROBLEMS: dict[str, ValueGrad] = {
    "rosenbrock": rosenbrock,
    "quadratic": quadratic,
    "beale": beale,
    "quadratic8": quadratic8,
}
