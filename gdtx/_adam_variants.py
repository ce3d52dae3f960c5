r"""Adam's variants on its second moment: RAdam's rectification, AdaBelief's belief in the
gradient and Yogi's additive second moment.

RAdam and Yogi are again ``fork(<first moment>, <preconditioner>)`` as in
:mod:`gdtx._adam`; only the preconditioner branch changes:

| algorithm | first moment | preconditioner |
|---|---|---|
| RAdam | ``ema(β₁)`` | ``ema(β₂, moment=2)``, ``inverse_root(ε, ε_root)``, |
| | | ``radam_rectification(β₂, ρ_thr)`` |
| Yogi | ``ema(β₁)`` | ``yogi_moment(β₂, v₀)``, ``bias_correction(β₂)``, |
| | | ``inverse_root(ε, ε_root)`` |

AdaBelief's second moment averages |g − m|² with the *current* m, so its one block
:class:`ScaleByBelief` keeps m and s together (two branches would store m twice).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._adam import check_adam_family, first_moment
from ._base import Context, Params, Transform, Updates, hyper, static
from ._combine import Chain, Fork
from ._moments import BiasCorrection, Ema, VState, correction_factor, ewma_step
from ._momentum import look_ahead, nesterov_coefficients
from ._rms import InverseRoot, inverse_root_leaf
from ._tree import (
    abs_sq,
    abs_sq_leaf,
    elementwise,
    map_leaves,
    to_compute,
    v_zeros_like_tree,
    zeros_like_tree,
)
from ._validate import check_range


class RadamRectification(Transform):
    r"""RAdam's rectification of the adaptive step (Liu et al., 2020, "On the Variance of the
    Adaptive Learning Rate and Beyond", arXiv:1908.03265, Algorithm 2).

    $$ \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
       \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}, \qquad
       r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}
                        {(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}, $$
    $$ \text{out} = r_t\, x \;\text{ if } \rho_t \ge \rho_{thr}
       \;(\rho_t > \rho_{thr} \text{ with } \texttt{strict}), \qquad
       \text{out} = 1 \;\text{ otherwise} $$

    where x is the incoming preconditioner 1/(√v̂ + ε). ρ_t is the length of the simple
    moving average that the EWMA of |g|² approximates; while it is short the variance of
    the adaptive rate is intractable and the output 1 turns RAdam into SGD with momentum
    (m̂ times 1). The paper's Algorithm 2 tests ρ_t > 4; its code and Optax use ρ_t ≥ 5
    (the default), ``torch.optim.RAdam`` ρ_t > 5 (``strict=True``). The state is empty:
    everything depends on t alone, computed in the default float dtype.

    Attributes:
        decay: β₂ in [0, 1), the decay of the second moment it follows.
        threshold: ρ_thr ≥ 4.
        strict: static: test ρ_t > ρ_thr instead of ρ_t ≥ ρ_thr.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.radam_rectification(0.999)
        >>> x = jnp.array([0.5])
        >>> tx.update(x, tx.init(x))[0]  # ρ₁ = 1: not tractable yet
        Array([1.], dtype=float32)
    """

    decay: Any = 0.999
    threshold: Any = 5.0
    strict: bool = static(default=False)

    def __post_init__(self) -> None:
        check_range("radam_rectification", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("radam_rectification", "threshold", self.threshold, 4.0)

    def _rho_inf(self) -> jax.Array:
        """ρ∞ = 2/(1 − β₂) − 1, in the default float dtype."""
        return 2 / (1 - hyper(self.decay, jnp.result_type(float))) - 1

    def _rho(self, count: jax.Array) -> jax.Array:
        """ρ_t for the step after ``count`` steps, in the default float dtype."""
        t = jnp.asarray(count).astype(jnp.result_type(float)) + 1
        q = correction_factor(self.decay, count)  # 1 − β₂ᵗ
        return self._rho_inf() - 2 * t * (1 - q) / q  # ρ_t

    def factor(self, count: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(whether ρ_t passes the threshold, r_t) for the step after ``count`` steps."""
        dt = jnp.result_type(float)
        rho_inf, rho = self._rho_inf(), self._rho(count)
        threshold = hyper(self.threshold, dt)
        passes = rho > threshold if self.strict else rho >= threshold
        ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
        r = jnp.sqrt(jnp.where(passes, jnp.maximum(ratio, 0), 1))  # r_t, 1 where unused
        return passes, r

    def step(
        self, updates: Updates, state: Any, params: Params | None, ctx: Context
    ) -> tuple[Updates, Any]:
        passes, r = self.factor(ctx.count)

        def rectify(x: jax.Array) -> jax.Array:
            return jnp.where(passes, r.astype(x.dtype) * x, jnp.ones_like(x))  # r_t·x or 1

        return elementwise(rectify, updates), state


radam_rectification = RadamRectification


def scale_by_radam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    threshold: Any = 5.0,
    *,
    nesterov: bool = False,
    strict_threshold: bool = False,
    eps_before_correction: bool = False,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""Rectified Adam's direction (Liu et al., 2020, arXiv:1908.03265, Algorithm 2).

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       v \leftarrow \beta_2 v + (1-\beta_2) |g|^2, \quad
       \text{out} = \begin{cases}
         r_t\, \hat m / (\sqrt{\hat v + \varepsilon_{root}} + \varepsilon)
           & \rho_t \ge \rho_{thr} \\
         \hat m & \text{otherwise} \end{cases} $$

    with ρ_t and r_t as in :class:`RadamRectification`. The chain:
    ``fork(ema(β₁), chain(ema(β₂, moment=2), inverse_root(ε, ε_root),
    radam_rectification(β₂, ρ_thr)))``.

    ``strict_threshold=True`` tests ρ_t > ρ_thr (``torch.optim.RAdam``, with ρ_thr = 5).
    ``eps_before_correction=True`` adds ε to √v before the bias correction, so that the
    preconditioner is √(1 − β₂ᵗ)/(√v + ε), as ``torch.optim.RAdam`` computes it: the chain
    is then ``chain(Ema(β₂, moment=2), inverse_root(ε, ε_root), bias_correction(β₂,
    power=-0.5), ...)``. The paper has no ε. Both flags together reproduce torch.

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        threshold: ρ_thr ≥ 4 (Optax's 5).
        nesterov: Dozat's Nesterov first moment with a constant μ = β₁ (Optax's).
        strict_threshold: ρ_t > ρ_thr (torch) rather than ρ_t ≥ ρ_thr (Optax).
        eps_before_correction: ε added to √v, not to √v̂ (torch).
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_radam()
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0]  # the first steps are m̂
        Array([ 0.5, -2. ], dtype=float32)
    """
    check_adam_family("scale_by_radam", b1, b2, eps, eps_root)
    check_range("scale_by_radam", "threshold", threshold, 4.0)
    ema_v = Ema(b2, moment=2, dtype=v_dtype)
    if eps_before_correction:  # √(1−β₂ᵗ)/(√(v + ε_root) + ε)
        inverse = (ema_v, InverseRoot(eps, eps_root), BiasCorrection(b2, power=-0.5))
    else:  # 1/(√(v̂ + ε_root) + ε)
        inverse = (ema_v, BiasCorrection(b2), InverseRoot(eps, eps_root))
    rectified = Chain((*inverse, RadamRectification(b2, threshold, strict_threshold)))
    return Fork((first_moment(b1, m_dtype, nesterov), rectified))


class BeliefState(NamedTuple):
    """State of :class:`ScaleByBelief`.

    Attributes:
        m: EWMA of g.
        s: EWMA of |g − m|² plus ε_root per step (real): the belief in the gradient.
    """

    m: Any
    s: Any


class ScaleByBelief(Transform):
    r"""AdaBelief's direction (Zhuang et al., 2020, "AdaBelief Optimizer: Adapting Stepsizes
    by the Belief in Observed Gradients", arXiv:2010.07468, Algorithm 2).

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       s \leftarrow \beta_2 s + (1-\beta_2) |g - m|^2 + \varepsilon_{root}, \quad
       \text{out} = \frac{m / (1-\beta_1^t)}{\sqrt{s / (1-\beta_2^t)} + \varepsilon} $$

    s is Adam's v with g replaced by its deviation from the *updated* m: the step is large
    where the gradient is where m predicted it. This is not ``fork(..., combine=variance)``
    (centred RMSProp's E[|g|²] − |E[g]|² from two EWMAs): s averages the deviation from the
    mean of each step. So one block keeps m and s, storing m once; its EWMAs are
    :func:`ewma_step` and its corrections :func:`correction_factor`. With ``nesterov``
    the first moment is β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ) (Optax's), the look-ahead of
    :class:`NesterovEma` with a constant μ = β₁ (:func:`nesterov_coefficients`).

    Attributes:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, added to s at every step (the paper's ε inside s).
        nesterov: static: the Nesterov first moment.
        m_dtype: static: dtype of m (default: the parameter's).
        v_dtype: static: dtype of s (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_belief(eps=0.0, eps_root=0.0)
        >>> s = tx.init(jnp.zeros(1))
        >>> _, s = tx.update(jnp.array([1.0]), s)
        >>> out, s = tx.update(jnp.array([1.0]), s)  # g as m predicts: more than Adam's 1
        >>> round(float(out[0]), 2)
        1.17
    """

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-16
    eps_root: Any = 1e-16
    nesterov: bool = static(default=False)
    m_dtype: Any = static(default=None)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_adam_family("scale_by_belief", self.b1, self.b2, self.eps, self.eps_root)

    def init_state(self, params: Params) -> BeliefState:
        return BeliefState(
            m=zeros_like_tree(params, self.m_dtype), s=v_zeros_like_tree(params, self.v_dtype)
        )

    def step(
        self, updates: Updates, state: BeliefState, params: Params | None, ctx: Context
    ) -> tuple[Updates, BeliefState]:
        m = ewma_step(state.m, updates, self.b1)  # m ← β₁·m + (1−β₁)·g
        deviation = map_leaves(lambda g, m: abs_sq_leaf(to_compute(g) - to_compute(m)), updates, m)
        s = ewma_step(state.s, deviation, self.b2)  # s ← β₂·s + (1−β₂)·|g − m|²
        s = map_leaves(lambda s: s + hyper(self.eps_root, s.dtype), s)  # s ← s + ε_root
        c1 = correction_factor(self.b1, ctx.count)  # 1 − β₁ᵗ
        c2 = correction_factor(self.b2, ctx.count)  # 1 − β₂ᵗ
        coefs = nesterov_coefficients(self.b1, ctx.count) if self.nesterov else None  # μ = β₁

        def direction(g: jax.Array, m: jax.Array, s: jax.Array) -> jax.Array:
            dt = m.dtype
            # m̂ = β₁m/(1−β₁ᵗ⁺¹) + (1−β₁)g/(1−β₁ᵗ) with Nesterov, else m/(1−β₁ᵗ)
            m_hat = m / c1.astype(dt) if coefs is None else look_ahead(g, m, *coefs)
            s_hat = s / c2.astype(s.dtype)  # ŝ = s/(1−β₂ᵗ), ε_root already in s
            return m_hat * inverse_root_leaf(s_hat, self.eps).astype(dt)  # m̂/(√ŝ + ε)

        return elementwise(direction, updates, m, s), BeliefState(m=m, s=s)


scale_by_belief = ScaleByBelief


class YogiMoment(Transform):
    r"""Yogi's additive second moment (Zaheer et al., 2018, "Adaptive Methods for Nonconvex
    Optimization", NeurIPS, Algorithm 2).

    $$ v \leftarrow v - (1-\beta_2)\, \operatorname{sign}(v - |g|^2)\, |g|^2,
       \qquad \text{out} = v $$

    Adam's v moves by (1 − β₂)(|g|² − v), a step proportional to v when |g|² ≪ v;
    Yogi's moves by (1 − β₂)|g|² in the direction of |g|², so a large v does not make
    the effective learning rate jump when gradients grow. v starts at ``initial`` and is
    real, at least float32 by default.

    Attributes:
        decay: β₂ in [0, 1).
        initial: v₀ ≥ 0.
        dtype: static: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.yogi_moment(0.9, initial=1.0)
        >>> g = jnp.array([2.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # 1 + 0.1·4: v grows by (1 − β₂)|g|²
        Array([1.4], dtype=float32)
    """

    decay: Any = 0.999
    initial: Any = 1e-6
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("yogi_moment", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("yogi_moment", "initial", self.initial, 0.0)

    def init_state(self, params: Params) -> VState:
        return VState(v=v_zeros_like_tree(params, self.dtype, self.initial))

    def step(
        self, updates: Updates, state: VState, params: Params | None, ctx: Context
    ) -> tuple[Updates, VState]:
        def yogi(v: jax.Array, g2: jax.Array) -> jax.Array:
            b2 = hyper(self.decay, v.dtype)
            return v - (1 - b2) * jnp.sign(v - g2) * g2  # v ← v − (1−β₂)·sign(v − |g|²)·|g|²

        v = elementwise(yogi, state.v, abs_sq(updates))
        return v, VState(v=v)


yogi_moment = YogiMoment


def scale_by_yogi(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-3,
    eps_root: Any = 0.0,
    initial_accumulator_value: Any = 1e-6,
    *,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""Yogi's direction (Zaheer et al., 2018, NeurIPS, Algorithm 2), bias-corrected as Optax.

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       v \leftarrow v - (1-\beta_2) \operatorname{sign}(v - |g|^2) |g|^2, \quad
       \text{out} = \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t) + \varepsilon_{root}}
       + \varepsilon} $$

    The chain: ``fork(ema(β₁), chain(yogi_moment(β₂, v₀), bias_correction(β₂),
    inverse_root(ε, ε_root)))``. v starts at v₀ = ``initial_accumulator_value`` and m at
    0; Optax starts m at v₀ too, which changes m̂ by β₁ᵗv₀/(1 − β₁ᵗ) (9e-6 at t = 1 for
    the default v₀).

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root (Optax's 1e-3).
        eps_root: ε_root ≥ 0, inside the root.
        initial_accumulator_value: v₀ ≥ 0.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_yogi(eps=0.0, initial_accumulator_value=0.0)
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0]  # the first step is sign(g)
        Array([ 1., -1.], dtype=float32)
    """
    check_adam_family("scale_by_yogi", b1, b2, eps, eps_root)
    check_range("scale_by_yogi", "initial_accumulator_value", initial_accumulator_value, 0.0)
    v = YogiMoment(b2, initial_accumulator_value, dtype=v_dtype)
    preconditioner = Chain((v, BiasCorrection(b2), InverseRoot(eps, eps_root)))
    return Fork((first_moment(b1, m_dtype), preconditioner))
