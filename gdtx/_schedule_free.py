r"""Schedule-Free learning (Defazio et al., 2024, "The Road Less Scheduled",
arXiv:2405.15682): momentum replaced by interpolation and averaging, no decay schedule.

The optimizer's parameters are the gradient-evaluation point y; the state keeps the base
sequence z, and the averaged sequence x (where to evaluate and test) follows from the two:
x = (y − (1 − β₁)z)/β₁, :func:`schedule_free_eval_params`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, State, Transform, Updates, static
from ._combine import Chain, as_transform
from ._optim import ScalarOrSchedule, l2, lr_block, sign
from ._rms import scale_by_rms
from ._scale import AddDecayedWeights
from ._schedules import schedule_or_checked, value_at
from ._tree import elementwise, only_match, safe_div, zeros_like_tree
from ._validate import check_params, check_positive_int, check_range
from ._warmup import warmup_constant_schedule


class ScheduleFreeState(NamedTuple):
    """State of :class:`ScheduleFree`.

    Attributes:
        b1: β₁, kept so that :func:`schedule_free_eval_params` needs the state alone.
        weight_sum: Σ of the averaging weights w so far.
        max_lr: the largest learning rate seen so far.
        inner: the base optimizer's state.
        z: the base sequence z, one array per parameter.
    """

    b1: jax.Array
    weight_sum: jax.Array
    max_lr: jax.Array
    inner: Any
    z: Any


class ScheduleFree(Transform):
    r"""Makes a momentum-free base optimizer schedule-free (Defazio et al., 2024, Algorithm 1).

    The parameters θ are the point y where gradients are taken. With u the base
    optimizer's update (−α_t·g for SGD), the learning rate α at t and p the
    ``weight_lr_power``:

    $$ z \leftarrow z + u, \qquad x \leftarrow (1-c)\,x + c\,z, \qquad
       y \leftarrow \beta_1 x + (1-\beta_1) z, $$
    $$ \alpha_{max} \leftarrow \max(\alpha_{max}, \alpha), \qquad w = \alpha_{max}^p,
       \qquad c = \frac{w}{\sum_{i \le t} w_i} $$

    x is not stored: x = (y − (1 − β₁)z)/β₁, so the output is
    y_new − y = c(z − y) + (1 − β₁(1 − c))u, formed without that division.
    z starts at θ₀ and x = y = θ₀. Evaluate the model at x:
    :func:`schedule_free_eval_params`.

    The weights read the learning rate at t = count + 1 (``learning_rate(t)``), as
    Optax's ``contrib.schedule_free`` does, while the base optimizer's own learning rate
    reads ``learning_rate(t − 1)`` like every gdtx learning rate; the paper uses one
    α_t for both. With a constant learning rate the two agree.

    Attributes:
        inner: the base optimizer (without momentum: its role is taken by β₁).
        learning_rate: the base optimizer's learning rate, a number or a schedule.
        b1: β₁ in (0, 1].
        weight_lr_power: p ≥ 0.
        state_dtype: dtype of z (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.schedule_free(gdtx.sgd(0.5), 0.5)
        >>> params = jnp.array([1.0])
        >>> updates, state = tx.update(jnp.array([2.0]), tx.init(params), params)
        >>> updates  # c = 1 at the first step: y = z = θ₀ − αg
        Array([-1.], dtype=float32)
    """

    inner: Transform
    learning_rate: Any
    b1: Any = 0.9
    weight_lr_power: Any = 2.0
    state_dtype: Any = static(default=None)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", as_transform(self.inner))
        lr = schedule_or_checked("schedule_free", "learning_rate", self.learning_rate)
        object.__setattr__(self, "learning_rate", lr)
        check_range("schedule_free", "b1", self.b1, 0.0, 1.0, low_open=True)
        check_range("schedule_free", "weight_lr_power", self.weight_lr_power, 0.0)

    def init_state(self, params: Params) -> ScheduleFreeState:
        f = jnp.result_type(float)
        z = jax.tree.map(
            lambda p, zero: zero + p.astype(zero.dtype),
            params,
            zeros_like_tree(params, self.state_dtype),
        )
        return ScheduleFreeState(
            b1=jnp.asarray(self.b1, f),
            weight_sum=jnp.zeros([], f),
            max_lr=jnp.zeros([], f),
            inner=self.inner.init_state(params),
            z=z,
        )

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        yield self.inner, state.inner, count

    def step(
        self, updates: Updates, state: ScheduleFreeState, params: Params | None, ctx: Context
    ) -> tuple[Updates, ScheduleFreeState]:
        params = check_params("schedule_free", params)
        f = state.max_lr.dtype
        alpha = value_at(self.learning_rate, ctx.count + 1)  # α at t = count + 1
        max_lr = jnp.maximum(state.max_lr, jnp.asarray(alpha, f))  # α_max
        w = max_lr ** jnp.asarray(self.weight_lr_power, f)  # w = α_max^p
        weight_sum = state.weight_sum + w
        c = safe_div(w, weight_sum)  # c = w / Σw (0 while every weight is 0)
        b1 = jnp.asarray(self.b1, f)
        u, inner = self.inner.step(updates, state.inner, params, ctx)

        def out(y: jax.Array, z: jax.Array, u: jax.Array) -> jax.Array:
            cc, bb = c.astype(y.dtype), b1.astype(y.dtype)
            return cc * (z - y) + (1 - bb * (1 - cc)) * u  # c(z − y) + (1 − β₁(1 − c))u

        delta = elementwise(out, params, state.z, u)
        z = elementwise(lambda z, u: z + u, state.z, u)  # z ← z + u
        # the β₁ this step used, so that schedule_free_eval_params follows a new β₁
        new_state = ScheduleFreeState(b1=b1, weight_sum=weight_sum, max_lr=max_lr, inner=inner, z=z)
        return jax.tree.map(lambda d, g: d.astype(g.dtype), delta, updates), new_state


def schedule_free(
    base_optimizer: Any,
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    weight_lr_power: Any = 2.0,
    state_dtype: Any = None,
) -> ScheduleFree:
    """Makes ``base_optimizer`` schedule-free; see :class:`ScheduleFree`. Arguments as
    Optax's ``contrib.schedule_free``: turn the base optimizer's momentum off (β₁ = 0).

    Example:
        >>> import gdtx
        >>> opt = gdtx.schedule_free(gdtx.adam(1e-3, b1=0.0), 1e-3, b1=0.9)
    """
    inner = as_transform(base_optimizer)
    return ScheduleFree(inner, learning_rate, b1, weight_lr_power, state_dtype)


def _warmed(owner: str, learning_rate: Any, warmup_steps: int | None) -> Any:
    """The learning rate, behind a linear warm-up from 0 over ``warmup_steps``."""
    if warmup_steps is None:
        return learning_rate
    check_positive_int(owner, "warmup_steps", warmup_steps)
    return warmup_constant_schedule(0.0, learning_rate, warmup_steps)


def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    warmup_steps: int | None = None,
    b1: Any = 0.9,
    weight_decay: Any = None,
    weight_lr_power: Any = 2.0,
    state_dtype: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Schedule-Free SGD (Defazio et al., 2024): z ← z − α(g + λy), averaged into x.

    The chain: ``schedule_free(chain(add_decayed_weights(λ), scale_by_learning_rate(α)),
    α)``, the decay only with ``weight_decay``; see :class:`ScheduleFree`. Defaults as
    Optax's ``contrib.schedule_free_sgd`` (α = 1, β₁ = 0.9, p = 2).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        warmup_steps: a linear warm-up of α from 0 over this many steps, or ``None``.
        b1: β₁ in (0, 1], the interpolation between x and z.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient (at y), or ``None``.
        weight_lr_power: p ≥ 0, the averaging weight α_maxᵖ.
        state_dtype: dtype of z (default: the parameter's).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer; evaluate at :func:`schedule_free_eval_params`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.schedule_free_sgd(0.1)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(2 * params, state, params)
        >>> params = gdtx.apply_updates(params, updates)
        >>> params, gdtx.schedule_free_eval_params(state, params)
        (Array([0.8], dtype=float32), Array([0.8], dtype=float32))
    """
    lr = _warmed("schedule_free_sgd", learning_rate, warmup_steps)
    inner = Chain((*l2("schedule_free_sgd", weight_decay), lr_block("schedule_free_sgd", lr)))
    check_range("schedule_free_sgd", "b1", b1, 0.0, 1.0, low_open=True)
    check_range("schedule_free_sgd", "weight_lr_power", weight_lr_power, 0.0)
    core = ScheduleFree(inner, lr, b1, weight_lr_power, state_dtype)
    return Chain((*sign(maximize), core), "schedule_free_sgd")


def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    warmup_steps: int | None = None,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    weight_lr_power: Any = 2.0,
    state_dtype: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Schedule-Free AdamW (Defazio et al., 2024, Algorithm 1): z ← z − α(g/(√v̂ + ε) + λy).

    v ← β₂v + (1 − β₂)g², v̂ = v/(1 − β₂ᵗ). The chain: ``schedule_free(chain(
    scale_by_rms(β₂, ε, eps_in_sqrt=False, bias_correction=True), add_decayed_weights(λ),
    scale_by_learning_rate(α)), α)``; see :class:`ScheduleFree`. Defaults as Optax's
    ``contrib.schedule_free_adamw`` (α = 0.0025, the paper's value; λ = 0). The paper
    folds the bias correction √(1 − β₂ᵗ) into α; here it divides v, as in Optax.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        warmup_steps: a linear warm-up of α from 0 over this many steps, or ``None``.
        b1: β₁ in (0, 1], the interpolation between x and z.
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        weight_decay: λ ≥ 0, decoupled, multiplied by α and taken at y.
        weight_lr_power: p ≥ 0, the averaging weight α_maxᵖ.
        state_dtype: dtype of z (default: the parameter's).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer; evaluate at :func:`schedule_free_eval_params`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.schedule_free_adamw(0.1)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([3.0]), opt.init(params), params)[0].round(6)
        Array([-0.1], dtype=float32)
    """
    owner = "schedule_free_adamw"
    lr = _warmed(owner, learning_rate, warmup_steps)
    check_range(owner, "b1", b1, 0.0, 1.0, low_open=True)
    check_range(owner, "b2", b2, 0.0, 1.0, high_open=True)
    check_range(owner, "eps", eps, 0.0)
    check_range(owner, "weight_decay", weight_decay, 0.0)
    check_range(owner, "weight_lr_power", weight_lr_power, 0.0)
    rms = scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True)
    inner = Chain((rms, AddDecayedWeights(weight_decay), lr_block(owner, lr)))
    core = ScheduleFree(inner, lr, b1, weight_lr_power, state_dtype)
    return Chain((*sign(maximize), core), owner)


def schedule_free_eval_params(state: Any, params: Params) -> Params:
    """The averaged point x = (y − (1 − β₁)z)/β₁ where a schedule-free model is evaluated.

    Args:
        state: the state of an optimizer holding one :class:`ScheduleFree` (the
            ``OptState`` of ``schedule_free_sgd``, ``schedule_free_adamw`` or any chain
            around ``schedule_free``).
        params: the optimizer's parameters y.

    Returns:
        x, in the parameters' structure and dtypes.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.schedule_free_sgd(0.5, b1=0.5)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> for _ in range(2):
        ...     updates, state = opt.update(jnp.array([1.0]), state, params)
        ...     params = gdtx.apply_updates(params, updates)
        >>> params, gdtx.schedule_free_eval_params(state, params)  # y, x
        (Array([0.125], dtype=float32), Array([0.25], dtype=float32))
    """
    sf = only_match(
        state,
        lambda s: isinstance(s, ScheduleFreeState),
        "schedule_free_eval_params: `state` must hold exactly one ScheduleFreeState (the "
        "state of a schedule-free optimizer), found {}.",
    )

    def x(y: jax.Array, z: jax.Array) -> jax.Array:
        b1 = sf.b1.astype(y.dtype)
        return (y - (1 - b1) * z.astype(y.dtype)) / b1  # x = (y − (1−β₁)z)/β₁

    return elementwise(x, params, sf.z)
