r"""Polyak's step size, from the loss: the step that would reach the optimal value f* if the
loss were linear (Polyak, 1987; stochastic: Loizou, Vaswani, Laradji & Lacoste-Julien, 2021,
"Stochastic Polyak Step-size for SGD", arXiv:2002.10542).

The block reads the loss through ``update(grads, state, params, value=loss)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp

from ._base import Context, EmptyState, Params, Transform, Updates, hyper, static
from ._combine import Chain
from ._optim import ScalarOrSchedule, sign
from ._scale import ScaleByLearningRate
from ._tree import abs_sq_leaf, elementwise, tree_sum
from ._validate import check_range

_VARIANTS = ("sps", "sps+")


class ScaleByPolyak(Transform):
    r"""Scales the updates by Polyak's step size, capped (SPS_max; Loizou et al., 2021).

    $$ \gamma = \min\Bigl(\frac{f - f^\star}{\lVert u \rVert^2 + \varepsilon},\
       \gamma_{max}\Bigr), \qquad \text{out} = \gamma\, u $$

    where u is the incoming update (all leaves together), f the loss given as
    ``update(..., value=f)`` and f* = ``f_min``. With ``variant="sps+"`` the gap is
    max(f − f*, 0) (Garrigos et al., 2023, arXiv:2307.14528). Where ‖u‖² + ε is at most
    the machine ε of its dtype, γ = 0. Optax's ``scale_by_polyak``.

    Attributes:
        f_min: f*, a lower bound of the loss (0 for models that interpolate the data).
        max_learning_rate: γ_max ≥ 0.
        eps: ε ≥ 0 in the denominator.
        variant: ``"sps"`` or ``"sps+"`` (static).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_polyak()
        >>> g = jnp.array([2.0, 0.0])
        >>> tx.update(g, tx.init(g), value=1.0)[0]  # γ = 1/4
        Array([0.5, 0. ], dtype=float32)
    """

    f_min: Any = 0.0
    max_learning_rate: Any = 1.0
    eps: Any = 0.0
    variant: str = static(default="sps")
    extra_args: ClassVar[tuple[str, ...]] = ("value",)

    def __post_init__(self) -> None:
        check_range("scale_by_polyak", "f_min", self.f_min)
        check_range("scale_by_polyak", "max_learning_rate", self.max_learning_rate, 0.0)
        check_range("scale_by_polyak", "eps", self.eps, 0.0)
        if self.variant not in _VARIANTS:
            raise ValueError(
                f"scale_by_polyak: `variant` must be 'sps' or 'sps+', got {self.variant!r}."
            )

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        if "value" not in ctx.extra:
            raise ValueError(
                "scale_by_polyak needs the loss: call update(grads, state, params, value=loss)."
            )
        dt = jnp.result_type(float)
        norm_sq = tree_sum(abs_sq_leaf, updates, dtype=dt)  # ‖u‖²
        gap = jnp.asarray(ctx.extra["value"]).astype(dt) - hyper(self.f_min, dt)  # f − f*
        if self.variant == "sps+":
            gap = jnp.maximum(gap, 0)
        den = norm_sq + hyper(self.eps, dt)
        tiny = den <= jnp.finfo(dt).eps
        gamma = jnp.where(
            tiny,
            jnp.zeros([], dt),
            jnp.minimum(gap / jnp.where(tiny, 1, den), hyper(self.max_learning_rate, dt)),
        )
        return elementwise(lambda u: hyper(gamma, u.dtype) * u, updates), state  # γ·u


scale_by_polyak = ScaleByPolyak


def polyak_sgd(
    max_learning_rate: Any = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: Any = 0.0,
    eps: Any = 0.0,
    variant: str = "sps",
    *,
    maximize: bool = False,
) -> Chain:
    """SGD with Polyak's step size (Loizou et al., 2021, arXiv:2002.10542): call
    ``update(grads, state, params, value=loss)``.

    With u = −s·g (s the ``scaling``): θ ← θ + min((f − f*)/(‖u‖² + ε), γ_max)·u. The
    chain: ``chain(scale_by_learning_rate(s), scale_by_polyak(f*, γ_max, ε))``, Optax's
    ``polyak_sgd`` (its arguments and defaults). With s = 1 this is the paper's SPS_max
    for c = 1; the step for s ≠ 1 is min((f − f*)/(s‖g‖² + ε/s), s·γ_max)·g, so s plays the
    paper's c. ``variant="sps+"`` takes max(f − f*, 0). To maximize f with
    ``maximize=True``, pass ``value=−f`` and ``f_min=−f_max``.

    Args:
        max_learning_rate: γ_max ≥ 0.
        scaling: s ≥ 0, a number or a schedule.
        f_min: f*, a lower bound of the loss.
        eps: ε ≥ 0.
        variant: ``"sps"`` or ``"sps+"``.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> opt = gdtx.polyak_sgd()
        >>> f = lambda x: jnp.sum(x**2)
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> value, grads = jax.value_and_grad(f)(params)  # f = 14, ‖g‖² = 56
        >>> updates, state = opt.update(grads, opt.init(params), params, value=value)
        >>> gdtx.apply_updates(params, updates)  # θ − (14/56)·g
        Array([0.5, 1. , 1.5], dtype=float32)
    """
    owner = "polyak_sgd"
    if not callable(scaling):
        check_range(owner, "scaling", scaling, 0.0)
    check_range(owner, "max_learning_rate", max_learning_rate, 0.0)
    check_range(owner, "f_min", f_min)
    check_range(owner, "eps", eps, 0.0)
    if variant not in _VARIANTS:
        raise ValueError(f"{owner}: `variant` must be 'sps' or 'sps+', got {variant!r}.")
    core = ScaleByPolyak(f_min, max_learning_rate, eps, variant)
    return Chain((*sign(maximize), ScaleByLearningRate(scaling), core), owner)
