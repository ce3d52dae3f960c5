"""Adam and its relatives: Adam, Adamax, NAdam and AMSGrad.

Second moments use |g|², so complex parameters get real, non-negative
accumulators, as in the literature on complex-valued optimisation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Params, Transform, Updates, hyper, static
from ._moments import bias_correction, ewma_step
from ._tree import abs_sq, elementwise, safe_div, v_zeros_like_tree, zeros_like_tree
from ._validate import check_range


def _check_adam_family(owner: str, block: Any) -> None:
    """β₁, β₂ in [0, 1) and ε ≥ 0, the hyperparameters every Adam-family block shares."""
    check_range(owner, "b1", block.b1, 0.0, 1.0, high_open=True)
    check_range(owner, "b2", block.b2, 0.0, 1.0, high_open=True)
    check_range(owner, "eps", block.eps, 0.0)


class AdamState(NamedTuple):
    """State of :class:`ScaleByAdam` and :class:`ScaleByAdamax`.

    Attributes:
        m: EWMA of g (first moment).
        v: EWMA of |g|² (Adam) or the exponentially weighted infinity norm u (Adamax).
    """

    m: Any
    v: Any


class ScaleByAdam(Transform):
    """Adam's bias-corrected moment ratio (Kingma & Ba, 2015, arXiv:1412.6980, Algorithm 1).

    $$ m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
       v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
       \\hat m = \\frac{m}{1-\\beta_1^t}, \\quad \\hat v = \\frac{v}{1-\\beta_2^t}, \\quad
       \\text{out} = \\frac{\\hat m}{\\sqrt{\\hat v + \\varepsilon_{root}} + \\varepsilon} $$

    Attributes:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε inside the root (≥ 0); useful when differentiating through Adam.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adam()
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0]  # the first step is sign(g)
        Array([ 1., -1.], dtype=float32)
    """

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-8
    eps_root: Any = 0.0
    m_dtype: Any = static(default=None)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        _check_adam_family("scale_by_adam", self)
        check_range("scale_by_adam", "eps_root", self.eps_root, 0.0)

    def init_state(self, params: Params) -> AdamState:
        return AdamState(
            m=zeros_like_tree(params, self.m_dtype), v=v_zeros_like_tree(params, self.v_dtype)
        )

    def step(
        self, updates: Updates, state: AdamState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, AdamState]:
        m = ewma_step(state.m, updates, self.b1)  # m ← β₁·m + (1−β₁)·g
        v = ewma_step(state.v, abs_sq(updates), self.b2)  # v ← β₂·v + (1−β₂)·|g|²
        # 1/(1−β₁ᵗ) and 1/(1−β₂ᵗ) once per step: the elementwise work is then one division.
        r1, r2 = 1 / bias_correction(self.b1, count), 1 / bias_correction(self.b2, count)

        def out(m: jax.Array, v: jax.Array) -> jax.Array:
            m_hat = m * r1.astype(m.dtype)  # m̂ = m / (1−β₁ᵗ)
            v_hat = v * r2.astype(v.dtype)  # v̂ = v / (1−β₂ᵗ)
            denom = jnp.sqrt(v_hat + hyper(self.eps_root, v.dtype)) + hyper(self.eps, v.dtype)
            return safe_div(m_hat, denom, eps=self.eps)  # m̂ / (√(v̂ + ε_root) + ε)

        return elementwise(out, updates, m, v), AdamState(m=m, v=v)


class ScaleByAdamax(Transform):
    """Adamax: Adam with the infinity norm (Kingma & Ba, 2015, Algorithm 2).

    $$ m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
       u \\leftarrow \\max(\\beta_2 u, |g| + \\varepsilon), \\quad
       \\text{out} = \\frac{m}{(1-\\beta_1^t)\\, u} $$

    The paper has no ε; like PyTorch and Optax, ε enters inside the max. With
    ``eps_in_max=False`` it moves to the denominator instead: u ← max(β₂u, |g|),
    out = m / ((1 − β₁ᵗ)(u + ε)). The state field ``v`` holds u.

    Attributes:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        eps_in_max: ε inside the max (default) or added to the denominator.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of u (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adamax(eps=0.0)
        >>> g = jnp.array([-3.0])
        >>> tx.update(g, tx.init(g))[0].round(6)
        Array([-1.], dtype=float32)
    """

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-8
    eps_in_max: bool = static(default=True)
    m_dtype: Any = static(default=None)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        _check_adam_family("scale_by_adamax", self)

    def init_state(self, params: Params) -> AdamState:
        return AdamState(
            m=zeros_like_tree(params, self.m_dtype), v=v_zeros_like_tree(params, self.v_dtype)
        )

    def step(
        self, updates: Updates, state: AdamState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, AdamState]:
        m = ewma_step(state.m, updates, self.b1)  # m ← β₁·m + (1−β₁)·g
        c1 = bias_correction(self.b1, count)
        in_max = self.eps if self.eps_in_max else 0.0
        in_denominator = 0.0 if self.eps_in_max else self.eps

        def norm(u: jax.Array, g: jax.Array) -> jax.Array:
            b2 = hyper(self.b2, u.dtype)
            return jnp.maximum(b2 * u, jnp.abs(g) + hyper(in_max, u.dtype))  # u ← max(β₂u, |g|)

        u = elementwise(norm, state.v, state.v, updates)

        def out(m: jax.Array, u: jax.Array) -> jax.Array:
            denom = c1.astype(u.dtype) * (u + hyper(in_denominator, u.dtype))
            return safe_div(m, denom)  # m / ((1−β₁ᵗ)·u)

        return elementwise(out, updates, m, u), AdamState(m=m, v=u)


class NadamState(NamedTuple):
    """State of :class:`ScaleByNadam`.

    Attributes:
        m: EWMA of g.
        v: EWMA of |g|².
        mu_prod: Π_t = μ₁·…·μ_t, the running product of the momentum schedule.
    """

    m: Any
    v: Any
    mu_prod: jax.Array


class ScaleByNadam(Transform):
    """Adam with Nesterov momentum (Dozat, 2016, "Incorporating Nesterov Momentum into Adam").

    $$ \\mu_t = \\beta_1\\bigl(1 - \\tfrac12\\, 0.96^{t\\psi}\\bigr), \\quad
       \\Pi_t = \\Pi_{t-1}\\mu_t, \\quad
       m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
       v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, $$
    $$ \\text{out} = \\frac{1-\\mu_t}{1-\\Pi_t}\\,\\frac{g}{d}
       + \\frac{\\mu_{t+1}}{1-\\Pi_t\\,\\mu_{t+1}}\\,\\frac{m}{d}, \\qquad
       d = \\sqrt{v / (1-\\beta_2^t)} + \\varepsilon $$

    ψ = ``momentum_decay`` (0.004 in the paper and in PyTorch). With
    ``momentum_decay=None`` the schedule is constant, μ_t = β₁, which is
    Optax's ``nadam``.

    Attributes:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        momentum_decay: ψ ≥ 0, or ``None`` for a constant μ_t = β₁.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_nadam(momentum_decay=None)
        >>> g = jnp.array([1.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # (1−β₁)/(1−β₁) + β₁(1−β₁)/(1−β₁²)
        Array([1.473684], dtype=float32)
    """

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-8
    momentum_decay: Any = 4e-3
    m_dtype: Any = static(default=None)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        _check_adam_family("scale_by_nadam", self)
        if self.momentum_decay is not None:
            check_range("scale_by_nadam", "momentum_decay", self.momentum_decay, 0.0)

    def _mu(self, t: jax.Array) -> jax.Array:
        b1 = hyper(self.b1, t.dtype)
        if self.momentum_decay is None:
            return b1
        psi = hyper(self.momentum_decay, t.dtype)
        return b1 * (1 - 0.5 * jnp.exp(t * psi * jnp.log(hyper(0.96, t.dtype))))  # μ_t

    def init_state(self, params: Params) -> NadamState:
        return NadamState(
            m=zeros_like_tree(params, self.m_dtype),
            v=v_zeros_like_tree(params, self.v_dtype),
            mu_prod=jnp.ones([], jnp.result_type(float)),
        )

    def step(
        self, updates: Updates, state: NadamState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, NadamState]:
        t = count.astype(state.mu_prod.dtype) + 1
        mu, mu_next = self._mu(t), self._mu(t + 1)
        mu_prod = state.mu_prod * mu  # Π_t = Π_{t−1}·μ_t
        m = ewma_step(state.m, updates, self.b1)  # m ← β₁·m + (1−β₁)·g
        v = ewma_step(state.v, abs_sq(updates), self.b2)  # v ← β₂·v + (1−β₂)·|g|²
        c2 = bias_correction(self.b2, count)
        coef_g = (1 - mu) / (1 - mu_prod)  # (1−μ_t)/(1−Π_t)
        coef_m = mu_next / (1 - mu_prod * mu_next)  # μ_{t+1}/(1−Π_t·μ_{t+1})

        def out(g: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
            d = jnp.sqrt(v / c2.astype(v.dtype)) + hyper(self.eps, v.dtype)
            step = coef_g.astype(m.dtype) * g + coef_m.astype(m.dtype) * m
            return safe_div(step, d, eps=self.eps)

        return elementwise(out, updates, updates, m, v), NadamState(m=m, v=v, mu_prod=mu_prod)


class AmsgradState(NamedTuple):
    """State of :class:`ScaleByAmsgrad`.

    Attributes:
        m: EWMA of g.
        v: EWMA of |g|².
        v_max: the running maximum of v.
    """

    m: Any
    v: Any
    v_max: Any


class ScaleByAmsgrad(Transform):
    """AMSGrad: Adam whose denominator never shrinks (Reddi, Kale & Kumar, 2018, arXiv:1904.09237).

    $$ m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
       v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
       v_{max} \\leftarrow \\max(v_{max}, v), \\quad
       \\text{out} = \\frac{m / (1-\\beta_1^t)}{\\sqrt{v_{max} / (1-\\beta_2^t)} + \\varepsilon} $$

    The maximum is taken over the raw v, as in the paper and ``torch.optim.Adam(
    amsgrad=True)``; Optax's ``amsgrad`` takes it over the bias-corrected v̂ instead.

    Attributes:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_amsgrad()
        >>> s = tx.init(jnp.zeros(1))
        >>> _, s = tx.update(jnp.array([4.0]), s)
        >>> _, s = tx.update(jnp.array([0.0]), s)
        >>> bool(s.inner.v_max[0] > s.inner.v[0])
        True
    """

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-8
    m_dtype: Any = static(default=None)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        _check_adam_family("scale_by_amsgrad", self)

    def init_state(self, params: Params) -> AmsgradState:
        v = v_zeros_like_tree(params, self.v_dtype)
        return AmsgradState(m=zeros_like_tree(params, self.m_dtype), v=v, v_max=v)

    def step(
        self, updates: Updates, state: AmsgradState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, AmsgradState]:
        m = ewma_step(state.m, updates, self.b1)  # m ← β₁·m + (1−β₁)·g
        v = ewma_step(state.v, abs_sq(updates), self.b2)  # v ← β₂·v + (1−β₂)·|g|²
        v_max = jax.tree.map(jnp.maximum, state.v_max, v)  # v_max ← max(v_max, v)
        c1, c2 = bias_correction(self.b1, count), bias_correction(self.b2, count)

        def out(m: jax.Array, v_max: jax.Array) -> jax.Array:
            denom = jnp.sqrt(v_max / c2.astype(v_max.dtype)) + hyper(self.eps, v_max.dtype)
            return safe_div(m / c1.astype(m.dtype), denom, eps=self.eps)

        return elementwise(out, updates, m, v_max), AmsgradState(m=m, v=v, v_max=v_max)


scale_by_adam = ScaleByAdam
scale_by_adamax = ScaleByAdamax
scale_by_nadam = ScaleByNadam
scale_by_amsgrad = ScaleByAmsgrad
