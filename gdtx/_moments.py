r"""Moments of the update stream: the one EWMA, the one bias correction, and accumulators.

Notation (README.md, "Notation"): g is the incoming update, β a decay rate,
t = count + 1 the step number counted from 1. Every block here outputs the
quantity it keeps (m, v, or their running maximum), so that a chain can pass it on:
Momentum is ``ema(β₁)``; RMSProp's preconditioner is ``ema(β₂, moment=2)`` followed
by ``inverse_root``; Adam runs both side by side (``fork``).
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype, hyper, static
from ._combine import Chain
from ._schedules import schedule_or_checked, value_at
from ._tree import abs_sq, elementwise, map_leaves, v_zeros_like_tree, zeros_like_tree
from ._validate import check_range


def ewma_step(moment: Any, x: Any, beta: Any) -> Any:
    r"""One step of the exponentially weighted moving average, leaf by leaf.

    $$ m \leftarrow \beta\, m + (1-\beta)\, x $$

    Computed in at least float32 and returned in each moment's dtype, so that a
    bfloat16 moment does not round β = 0.999 to 1.

    Args:
        moment: pytree of running averages m.
        x: pytree of new values (g, or |g|² for a second moment).
        beta: the decay rate β in [0, 1).

    Returns:
        The updated averages, with ``moment``'s structure and dtypes.
    """

    def leaf(m: jax.Array, v: jax.Array) -> jax.Array:
        ct = compute_dtype(m.dtype)
        b = hyper(beta, ct)
        new = b * m.astype(ct) + (1 - b) * v.astype(ct)  # m ← β·m + (1−β)·x
        return new.astype(m.dtype)

    return map_leaves(leaf, moment, x)


def correction_factor(beta: Any, count: jax.Array) -> jax.Array:
    r"""The factor 1 − βᵗ by which an EWMA started at zero underestimates its input.

    $$ 1 - \beta^t = -\operatorname{expm1}(t \log \beta), \qquad t = \text{count} + 1 $$

    Computed through ``expm1`` in the default float dtype: 1 − βᵗ formed by
    subtraction loses up to five digits in float32 when β is near 1.

    Args:
        beta: the decay rate β.
        count: steps taken before this one (so t = count + 1).

    Returns:
        A scalar (or an array shaped like ``beta``) in the default float dtype.
    """
    dt = jnp.result_type(float)
    t = jnp.asarray(count).astype(dt) + 1
    b = hyper(beta, dt)
    return -jnp.expm1(t * jnp.log(b))  # 1 − βᵗ


def zero_at_first_step(value: Any, count: jax.Array) -> jax.Array:
    r"""``value`` from the second step on and 0 at the first (count = 0), as a scalar in the
    default float dtype.

    As the decay β of an EWMA it starts the average at its first input,
    m₁ = 0·m₀ + (1 − 0)·x₁ = x₁, rather than at (1 − β)x₁ (NovoGrad's and ADOPT's v₁); as
    a dampening τ it lets the first input in undamped (``Trace``).

    Args:
        value: β (or τ): a number or a traced scalar.
        count: steps before this one.
    """
    return jnp.where(count == 0, 0.0, hyper(value, jnp.result_type(float)))


class MState(NamedTuple):
    """State of a first-moment block.

    Attributes:
        m: the running first moment, one array per parameter.
    """

    m: Any


class VState(NamedTuple):
    """State of a second-moment block.

    Attributes:
        v: the running second moment (or sum of squares, or infinity norm), real.
    """

    v: Any


class Ema(Transform):
    r"""The exponentially weighted moving average of g (first moment) or of |g|² (second).

    $$ m \leftarrow \beta m + (1-\beta) g, \qquad \text{out} = m
       \qquad\text{or, with } \texttt{moment=2}, \qquad
       v \leftarrow \beta v + (1-\beta) |g|^2, \qquad \text{out} = v $$

    The one EWMA block: Momentum's m and RMSProp's and Adam's v. m starts at 0 and
    v at ``initial``; state fields are named ``m`` and ``v`` after the symbols.
    Follow it with :class:`BiasCorrection` to remove the start's bias (the function
    :func:`ema` does so by default, as Optax's ``ema``). β may be a schedule β(t − 1)
    (AdEMAMix's β₃), which has no bias correction.

    Attributes:
        decay: β in [0, 1), or a schedule of the step count with values in [0, 1).
        moment: 1 averages g (state ``m``, in the parameter's dtype by default);
            2 averages |g|² (state ``v``, real and at least float32 by default).
        initial: the starting value of v (≥ 0); m always starts at 0.
        dtype: the state's dtype, or ``None`` for the defaults above.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.ema(0.9, debias=False)
        >>> g = jnp.ones(2)
        >>> tx.update(g, tx.init(g))[0].round(6)
        Array([0.1, 0.1], dtype=float32)
    """

    decay: Any
    moment: int = static(default=1)
    initial: Any = 0.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        decay = schedule_or_checked("ema", "decay", self.decay, 0.0, 1.0, high_open=True)
        object.__setattr__(self, "decay", decay)
        if self.moment not in (1, 2):
            raise ValueError(f"ema: `moment` must be 1 or 2, got {self.moment!r}.")
        check_range("ema", "initial", self.initial, 0.0)

    def init_state(self, params: Params) -> MState | VState:
        if self.moment == 1:
            return MState(m=zeros_like_tree(params, self.dtype))
        return VState(v=v_zeros_like_tree(params, self.dtype, self.initial))

    def step(
        self, updates: Updates, state: MState | VState, params: Params | None, ctx: Context
    ) -> tuple[Updates, MState | VState]:
        beta = value_at(self.decay, ctx.count)
        if isinstance(state, MState):
            m = ewma_step(state.m, updates, beta)  # m ← β·m + (1−β)·g
            return m, MState(m=m)
        v = ewma_step(state.v, abs_sq(updates), beta)  # v ← β·v + (1−β)·|g|²
        return v, VState(v=v)


class BiasCorrection(Transform):
    r"""Removes the zero-start bias of an EWMA with decay β (Kingma & Ba, 2015, §3).

    $$ \text{out} = \frac{g}{(1 - \beta^t)^p} $$

    where g is the incoming stream (an EWMA's m or v) and p = ``power``, 1 by default.
    1 − βᵗ is formed as −expm1(t·log β) in the default float dtype (see
    :func:`correction_factor`). p = ½ corrects the root of an EWMA; p = −½ multiplies by
    √(1 − β₂ᵗ), as ``torch.optim.RAdam`` does after adding ε to √v.

    Attributes:
        decay: the β of the EWMA it follows, in [0, 1).
        power: p, static (1: the EWMA itself).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.chain(gdtx.ema(0.9, debias=False), gdtx.bias_correction(0.9))
        >>> g = jnp.array([3.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # 0.1·3 / (1 − 0.9)
        Array([3.], dtype=float32)
    """

    decay: Any
    power: float = static(default=1.0)

    def __post_init__(self) -> None:
        check_range("bias_correction", "decay", self.decay, 0.0, 1.0, high_open=True)
        if not isinstance(self.power, int | float) or not math.isfinite(self.power):
            raise ValueError(
                f"bias_correction: `power` must be a finite number, got {self.power!r}."
            )

    def step(
        self, updates: Updates, state: Any, params: Params | None, ctx: Context
    ) -> tuple[Updates, Any]:
        c = correction_factor(self.decay, ctx.count)  # 1 − βᵗ
        if self.power != 1:
            c = c**self.power  # (1 − βᵗ)^p
        return elementwise(lambda x: x / c.astype(x.dtype), updates), state  # x / (1−βᵗ)^p


class SumOfSquares(Transform):
    r"""The running sum of squared updates (AdaGrad's accumulator; Duchi et al., 2011).

    $$ v \leftarrow v + |g|^2, \qquad \text{out} = v $$

    v starts at ``initial`` and is real, at least float32 by default.

    Attributes:
        initial: v₀ ≥ 0.
        dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.sum_of_squares(initial=1.0)
        >>> g = jnp.array([2.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([5.], dtype=float32)
    """

    initial: Any = 0.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("sum_of_squares", "initial", self.initial, 0.0)

    def init_state(self, params: Params) -> VState:
        return VState(v=v_zeros_like_tree(params, self.dtype, self.initial))

    def step(
        self, updates: Updates, state: VState, params: Params | None, ctx: Context
    ) -> tuple[Updates, VState]:
        def add(v: jax.Array, x: jax.Array) -> jax.Array:
            return (v.astype(x.dtype) + x).astype(v.dtype)  # v ← v + |g|²

        v = map_leaves(add, state.v, abs_sq(updates))
        return v, VState(v=v)


class InfinityNorm(Transform):
    r"""The exponentially weighted infinity norm of the updates (Adamax's u; Kingma & Ba, §7.1).

    $$ v \leftarrow \max(\beta v,\; |g| + \varepsilon), \qquad \text{out} = v $$

    The paper has no ε; PyTorch and Optax add it inside the max. The state field is
    ``v`` (the paper's u), real and at least float32 by default.

    Attributes:
        decay: β in [0, 1).
        eps: ε ≥ 0 inside the max.
        dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.infinity_norm(0.5)
        >>> s = tx.init(jnp.zeros(1))
        >>> _, s = tx.update(jnp.array([-4.0]), s)
        >>> tx.update(jnp.array([1.0]), s)[0]
        Array([2.], dtype=float32)
    """

    decay: Any
    eps: Any = 0.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("infinity_norm", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("infinity_norm", "eps", self.eps, 0.0)

    def init_state(self, params: Params) -> VState:
        return VState(v=v_zeros_like_tree(params, self.dtype))

    def step(
        self, updates: Updates, state: VState, params: Params | None, ctx: Context
    ) -> tuple[Updates, VState]:
        def norm(v: jax.Array, g: jax.Array) -> jax.Array:
            b = hyper(self.decay, v.dtype)
            return jnp.maximum(b * v, jnp.abs(g).astype(v.dtype) + hyper(self.eps, v.dtype))

        v = elementwise(norm, state.v, updates)  # v ← max(β·v, |g| + ε)
        return v, VState(v=v)


class VMaxState(NamedTuple):
    """State of :class:`RunningMax`.

    Attributes:
        v_max: the largest value of the incoming stream so far, elementwise.
    """

    v_max: Any


class RunningMax(Transform):
    r"""The running elementwise maximum of its input (AMSGrad; Reddi et al., 2018).

    $$ v_{max} \leftarrow \max(v_{max}, v), \qquad \text{out} = v_{max} $$

    Placed after ``ema(β₂, moment=2)`` and before the bias correction, it takes the
    maximum of the raw v, as the paper and ``torch.optim.Adam(amsgrad=True)`` do.

    Attributes:
        dtype: dtype of v_max (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.running_max()
        >>> s = tx.init(jnp.zeros(1))
        >>> _, s = tx.update(jnp.array([4.0]), s)
        >>> tx.update(jnp.array([1.0]), s)[0]
        Array([4.], dtype=float32)
    """

    dtype: Any = static(default=None)

    def init_state(self, params: Params) -> VMaxState:
        return VMaxState(v_max=v_zeros_like_tree(params, self.dtype))

    def step(
        self, updates: Updates, state: VMaxState, params: Params | None, ctx: Context
    ) -> tuple[Updates, VMaxState]:
        v_max = elementwise(jnp.maximum, state.v_max, updates)  # v_max ← max(v_max, v)
        return v_max, VMaxState(v_max=v_max)


def ema(
    decay: Any,
    debias: bool = True,
    *,
    moment: int = 1,
    initial: Any = 0.0,
    dtype: Any = None,
) -> Transform:
    """The EWMA of g (or of |g|² with ``moment=2``), bias-corrected by default.

    ``ema(β)`` is ``chain(Ema(β), bias_correction(β))``; with ``debias=False`` it
    is the :class:`Ema` block alone. Arguments as Optax's ``ema``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.ema(0.9)
        >>> g = jnp.array([2.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # (0.1·2) / (1 − 0.9)
        Array([2.], dtype=float32)
    """
    if debias and callable(decay):
        raise ValueError("ema: a scheduled `decay` has no bias correction; pass debias=False.")
    block = Ema(decay, moment, initial, dtype)
    if not debias:
        return block
    return Chain((block, BiasCorrection(decay)))


def ewma(
    series: Any,
    beta: float,
    *,
    debias: bool = False,
    start: Literal["zero", "first"] = "zero",
) -> jax.Array:
    r"""The exponentially weighted moving average of a series, along its first axis.

    $$ S_0 = 0, \quad S_t = \beta S_{t-1} + (1-\beta) Y_t, \quad
       \hat S_t = S_t / (1-\beta^t) $$

    The same arithmetic as every moment inside gdtx's optimizers.

    Args:
        series: array of shape ``(T, ...)``: Y₁ … Y_T.
        beta: the weight β in [0, 1) given to the running average.
        debias: divide S_t by 1 − βᵗ (bias correction).
        start: ``"zero"`` starts from S₀ = 0 (the optimizers' convention);
            ``"first"`` starts from S₁ = Y₁, as some textbooks do.

    Returns:
        The averages S₁ … S_T, same shape as ``series`` (float).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> gdtx.ewma(jnp.array([1.0, 1.0, 1.0]), 0.5)
        Array([0.5  , 0.75 , 0.875], dtype=float32)
        >>> gdtx.ewma(jnp.array([1.0, 1.0, 1.0]), 0.5, debias=True)
        Array([1., 1., 1.], dtype=float32)
    """
    check_range("ewma", "beta", beta, 0.0, 1.0, high_open=True)
    if start not in ("zero", "first"):
        raise ValueError(f"ewma: `start` must be 'zero' or 'first', got {start!r}.")
    if debias and start == "first":
        raise ValueError("ewma: `debias=True` applies to start='zero' only.")
    ys = jnp.asarray(series)
    ys = ys.astype(compute_dtype(ys.dtype))
    s0 = ys[0] if start == "first" else jnp.zeros_like(ys[0])
    rest = ys[1:] if start == "first" else ys

    def body(s: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        y, count = inputs
        s = ewma_step(s, y, beta)
        return s, (s / correction_factor(beta, count).astype(s.dtype) if debias else s)

    counts = jnp.arange(rest.shape[0], dtype=jnp.int32)
    _, out = jax.lax.scan(body, s0, (rest, counts))
    if start == "first":
        out = jnp.concatenate([s0[None], out])
    return out


bias_correction = BiasCorrection
sum_of_squares = SumOfSquares
infinity_norm = InfinityNorm
running_max = RunningMax
