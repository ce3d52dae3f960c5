r"""Averaged SGD: gradient descent whose iterates are averaged (Polyak & Juditsky, 1992,
"Acceleration of Stochastic Approximation by Averaging"), in the form of ``torch.optim.ASGD``
(Bottou, 2012, "Stochastic Gradient Descent Tricks"; Xu, 2011, arXiv:1107.2490).

The optimizer steps the parameters θ as SGD with a slowly decaying rate and keeps the running
average of the iterates, θ̄, in its state; θ̄ is where the model is evaluated
(:func:`asgd_eval_params`).
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype, hyper, static
from ._combine import Chain
from ._optim import l2, sign
from ._scale import AddDecayedWeights, ScaleByLearningRate
from ._schedules import Schedule, as_count, as_float
from ._tree import leaf_dtype, map_leaves, only_match, zeros
from ._validate import check_params, check_range


class AsgdRate(Schedule):
    r"""ASGD's step size (Xu, 2011; Bottou, 2012): η = η₀ / (1 + λη₀·count)^a.

    With count = t − 1 steps taken, η = η₀ on the first step, as ``torch.optim.ASGD``.

    Attributes:
        init_value: η₀ ≥ 0.
        lambd: λ ≥ 0.
        alpha: the power a ≥ 0.

    Example:
        >>> import gdtx
        >>> s = gdtx.AsgdRate(0.1, lambd=10.0, alpha=1.0)
        >>> [round(float(s(k)), 6) for k in (0, 1, 3)]
        [0.1, 0.05, 0.025]
    """

    init_value: Any
    lambd: Any = 1e-4
    alpha: Any = 0.75

    def __post_init__(self) -> None:
        check_range("AsgdRate", "init_value", self.init_value, 0.0)
        check_range("AsgdRate", "lambd", self.lambd, 0.0)
        check_range("AsgdRate", "alpha", self.alpha, 0.0)

    def __call__(self, count: Any) -> jax.Array:
        eta0 = as_float(self.init_value)
        base = 1 + as_float(self.lambd) * eta0 * as_count(count)
        return eta0 / base ** as_float(self.alpha)  # η₀ / (1 + λη₀·count)^a


class AverageState(NamedTuple):
    """State of :class:`PolyakAverage`.

    Attributes:
        ax: θ̄, the average of the iterates, one array per parameter.
    """

    ax: Any


class PolyakAverage(Transform):
    r"""Keeps the average θ̄ of the iterates from step t₀ on (Polyak & Juditsky, 1992), as
    ``torch.optim.ASGD``; the updates pass unchanged.

    $$ \theta' = \theta + u, \qquad \mu = \frac{1}{\max(1,\ t - 1 - t_0)}, \qquad
       \bar\theta \leftarrow \bar\theta + \mu(\theta' - \bar\theta), \qquad \text{out} = u $$

    where u is the incoming (final) update. Up to t = t₀ + 2, μ = 1 and θ̄ is the iterate;
    from then on θ̄ is the mean of the iterates from step t₀ + 2 on. θ̄ starts at θ₀.
    Place it last in a chain; read θ̄ with :func:`asgd_eval_params`.

    Attributes:
        t0: t₀ ≥ 0, the step the averaging starts from.
        dtype: dtype of θ̄ (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.chain(gdtx.scale(-1.0), gdtx.polyak_average(t0=0))
        >>> params = jnp.array([0.0])
        >>> state = tx.init(params)
        >>> for g in (-1.0, -1.0, -1.0, -1.0):  # θ = 1, 2, 3, 4
        ...     updates, state = tx.update(jnp.array([g]), state, params)
        ...     params = gdtx.apply_updates(params, updates)
        >>> params, gdtx.asgd_eval_params(state)  # θ̄ = (2 + 3 + 4)/3: from t = t₀ + 2
        (Array([4.], dtype=float32), Array([3.], dtype=float32))
    """

    t0: Any = 1e6
    dtype: Any = static(default=None)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("polyak_average", "t0", self.t0, 0.0)

    def init_state(self, params: Params) -> AverageState:
        def start(p: Any) -> jax.Array:
            z = zeros(p, self.dtype or leaf_dtype(p))
            if isinstance(p, jax.ShapeDtypeStruct):
                return z
            return z + jnp.asarray(p).astype(z.dtype)  # θ̄ = θ₀

        return AverageState(ax=jax.tree.map(start, params))

    def step(
        self, updates: Updates, state: AverageState, params: Params | None, ctx: Context
    ) -> tuple[Updates, AverageState]:
        params = check_params("polyak_average", params)
        dt = jnp.result_type(float)
        mu = 1 / jnp.maximum(1, ctx.count.astype(dt) - hyper(self.t0, dt))  # 1/max(1, t−1−t₀)

        def average(ax: jax.Array, p: jax.Array, u: jax.Array) -> jax.Array:
            ct = compute_dtype(ax.dtype)
            new = p.astype(ct) + u.astype(ct)  # θ' = θ + u
            mean = ax.astype(ct) + hyper(mu, ct) * (new - ax.astype(ct))  # θ̄ + μ(θ' − θ̄)
            return jnp.where(mu == 1, new, mean).astype(ax.dtype)

        ax = map_leaves(average, state.ax, params, updates)
        return updates, AverageState(ax=ax)


polyak_average = PolyakAverage


def asgd(
    learning_rate: Any = 1e-2,
    lambd: Any = 1e-4,
    alpha: Any = 0.75,
    t0: Any = 1e6,
    weight_decay: Any = None,
    *,
    maximize: bool = False,
    ax_dtype: Any = None,
) -> Chain:
    """Averaged SGD as ``torch.optim.ASGD`` (Polyak & Juditsky, 1992; Xu, 2011).

    θ ← θ(1 − λη_t) − η_t·g with η_t = η₀/(1 + λη₀(t − 1))^a, and the average of the
    iterates θ̄ ← θ̄ + μ_t(θ − θ̄), μ_t = 1/max(1, t − 1 − t₀), kept in the state: evaluate
    the model at :func:`asgd_eval_params`. The chain: ``chain([L2],
    add_decayed_weights(λ), scale_by_learning_rate(AsgdRate(η₀, λ, a)),
    polyak_average(t₀))``. Names and defaults are torch's (t₀ = 10⁶: no averaging in
    most runs until it is lowered).

    Args:
        learning_rate: η₀ ≥ 0 (a number; the decay is the algorithm's own).
        lambd: λ ≥ 0, the decay term: both the weight decay and the rate's decay.
        alpha: a ≥ 0, the power of the rate's decay.
        t0: t₀ ≥ 0, the step the averaging starts from.
        weight_decay: L2 coefficient added to the gradient (torch's ``weight_decay``), or
            ``None``.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        ax_dtype: dtype of θ̄ (default: the parameter's).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.asgd(0.1, lambd=0.0, t0=0)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> for _ in range(3):
        ...     updates, state = opt.update(jnp.array([1.0]), state, params)
        ...     params = gdtx.apply_updates(params, updates)
        >>> params.round(6), gdtx.asgd_eval_params(state).round(6)  # θ̄ = (0.8 + 0.7)/2
        (Array([0.7], dtype=float32), Array([0.75], dtype=float32))
    """
    if callable(learning_rate):
        raise TypeError(
            "asgd: `learning_rate` is η₀, a number: the rate's decay is the algorithm's own."
        )
    check_range("asgd", "learning_rate", learning_rate, 0.0)
    check_range("asgd", "lambd", lambd, 0.0)
    check_range("asgd", "alpha", alpha, 0.0)
    check_range("asgd", "t0", t0, 0.0)
    rate = ScaleByLearningRate(AsgdRate(learning_rate, lambd, alpha))
    decay = AddDecayedWeights(lambd)
    average = PolyakAverage(t0, ax_dtype)
    return Chain((*sign(maximize), *l2("asgd", weight_decay), decay, rate, average), "asgd")


def asgd_eval_params(state: Any) -> Params:
    """The averaged parameters θ̄ where an ASGD-trained model is evaluated.

    Args:
        state: the state of an optimizer holding one :class:`PolyakAverage` (the
            ``OptState`` of :func:`asgd`, or of any chain around ``polyak_average``).

    Returns:
        θ̄, in the parameters' structure (packed if the optimizer runs packed) and the
        average's dtype; θ₀ before the first update.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.asgd(0.1)
        >>> gdtx.asgd_eval_params(opt.init({"w": jnp.ones(2)}))
        {'w': Array([1., 1.], dtype=float32)}
    """
    average = only_match(
        state,
        lambda s: isinstance(s, AverageState),
        "asgd_eval_params: `state` must hold exactly one AverageState (the state of asgd or "
        "of a chain with polyak_average), found {}.",
    )
    return average.ax
