"""Accumulator-scaled steps: RMSProp, AdaGrad and Adadelta.

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


def _denominator(v: jax.Array, eps: Any, eps_in_sqrt: bool) -> jax.Array:
    """√(v + ε) or √v + ε."""
    e = hyper(eps, v.dtype)
    return jnp.sqrt(v + e) if eps_in_sqrt else jnp.sqrt(v) + e


def _accumulate(v: jax.Array, x: jax.Array) -> jax.Array:
    """v + x in x's (compute) precision, stored in v's dtype."""
    return (v.astype(x.dtype) + x).astype(v.dtype)


class RmsState(NamedTuple):
    """State of :class:`ScaleByRms`.

    Attributes:
        m: EWMA of g (only when centred, else ``None``).
        v: EWMA of |g|².
    """

    m: Any
    v: Any


class ScaleByRms(Transform):
    """Divides by the root mean square of past updates (RMSProp; Tieleman & Hinton, 2012).

    $$ v \\leftarrow \\beta v + (1-\\beta) g^2, \\quad
       m \\leftarrow \\beta m + (1-\\beta) g \\;\\text{(centred)}, \\quad
       \\text{out} = \\frac{g}{\\sqrt{\\hat v - \\hat m^2 + \\varepsilon}}
       \\;\\text{ or }\\; \\frac{g}{\\sqrt{\\hat v - \\hat m^2} + \\varepsilon} $$

    v starts at ``initial_scale``; m̂ = m² term only when centred (Graves,
    2013); v̂ = v / (1 − βᵗ) and m̂ likewise only with ``bias_correction``.

    Attributes:
        decay: β in [0, 1).
        eps: ε ≥ 0.
        initial_scale: the initial value of v (≥ 0).
        eps_in_sqrt: ε inside the root (Optax, Graves) or outside (PyTorch).
        centered: subtract the squared mean (Graves, 2013).
        bias_correction: divide m and v by 1 − βᵗ.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_rms(decay=0.9, eps=0.0)
        >>> g = jnp.array([2.0])
        >>> round(float(tx.update(g, tx.init(g))[0][0]), 4)  # 2 / √(0.1·4)
        3.1623
    """

    decay: Any = 0.9
    eps: Any = 1e-8
    initial_scale: Any = 0.0
    eps_in_sqrt: bool = static(default=True)
    centered: bool = static(default=False)
    bias_correction: bool = static(default=False)
    m_dtype: Any = static(default=None)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("scale_by_rms", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("scale_by_rms", "eps", self.eps, 0.0)
        check_range("scale_by_rms", "initial_scale", self.initial_scale, 0.0)

    def init_state(self, params: Params) -> RmsState:
        # zeros (laid out like the parameters) plus the initial value, not jnp.full_like:
        # a constant would lose the parameters' sharding under jit.
        v = jax.tree.map(
            lambda z: z + hyper(self.initial_scale, z.dtype),
            v_zeros_like_tree(params, self.v_dtype),
        )
        m = zeros_like_tree(params, self.m_dtype) if self.centered else None
        return RmsState(m=m, v=v)

    def step(
        self, updates: Updates, state: RmsState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, RmsState]:
        v = ewma_step(state.v, abs_sq(updates), self.decay)  # v ← β·v + (1−β)·|g|²
        m = ewma_step(state.m, updates, self.decay) if self.centered else None  # m ← β·m + (1−β)·g
        c = bias_correction(self.decay, count) if self.bias_correction else jnp.ones([])

        def out(g: jax.Array, v: jax.Array, *m: jax.Array) -> jax.Array:
            v_hat = v / c.astype(v.dtype)  # v̂ = v / (1−βᵗ)
            if m:
                m_hat = m[0] / c.astype(m[0].dtype)
                # v̂ − |m̂|², clamped at 0 against rounding
                v_hat = jnp.maximum(v_hat - (jnp.real(m_hat) ** 2 + jnp.imag(m_hat) ** 2), 0)
            return safe_div(g, _denominator(v_hat, self.eps, self.eps_in_sqrt), eps=self.eps)

        trees = (updates, v, m) if self.centered else (updates, v)
        return elementwise(out, updates, *trees), RmsState(m=m, v=v)


class VState(NamedTuple):
    """State of :class:`ScaleByRss`.

    Attributes:
        v: the running sum of |g|².
    """

    v: Any


class ScaleByRss(Transform):
    """Divides by the root of the sum of squared past updates (AdaGrad; Duchi et al., 2011).

    $$ v \\leftarrow v + g^2, \\qquad
       \\text{out} = \\frac{g}{\\sqrt v + \\varepsilon}
       \\;\\text{ or }\\; \\frac{g}{\\sqrt{v + \\varepsilon}} $$

    v starts at ``initial_accumulator_value``. Where v = 0 (a coordinate that
    has only seen zero gradients) the output is 0.

    Attributes:
        initial_accumulator_value: v₀ ≥ 0.
        eps: ε ≥ 0.
        eps_in_sqrt: ε inside the root (Optax) or outside (the paper, PyTorch).
        v_dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_rss(eps=0.0)
        >>> g = jnp.array([3.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([1.], dtype=float32)
    """

    initial_accumulator_value: Any = 0.0
    eps: Any = 1e-10
    eps_in_sqrt: bool = static(default=False)
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range(
            "scale_by_rss", "initial_accumulator_value", self.initial_accumulator_value, 0.0
        )
        check_range("scale_by_rss", "eps", self.eps, 0.0)

    def init_state(self, params: Params) -> VState:
        return VState(
            v=jax.tree.map(
                lambda z: z + hyper(self.initial_accumulator_value, z.dtype),
                v_zeros_like_tree(params, self.v_dtype),
            )
        )

    def step(
        self, updates: Updates, state: VState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, VState]:
        v = jax.tree.map(_accumulate, state.v, abs_sq(updates))  # v ← v + |g|²

        def out(g: jax.Array, v: jax.Array) -> jax.Array:
            den = _denominator(v, self.eps, self.eps_in_sqrt)
            return safe_div(g, jnp.where(v == 0, 0, den))  # 0 where v = 0; NaN stays NaN

        return elementwise(out, updates, updates, v), VState(v=v)


class AdadeltaState(NamedTuple):
    """State of :class:`ScaleByAdadelta`.

    Attributes:
        v: EWMA of |g|² (Zeiler's E[g²]).
        d: EWMA of the squared output steps (Zeiler's E[Δθ²]).
    """

    v: Any
    d: Any


class ScaleByAdadelta(Transform):
    """Adadelta's unit-corrected step (Zeiler, 2012, arXiv:1212.5701, Algorithm 1).

    $$ v \\leftarrow \\rho v + (1-\\rho) g^2, \\quad
       \\Delta = \\frac{\\sqrt{d + \\varepsilon}}{\\sqrt{v + \\varepsilon}}\\, g, \\quad
       d \\leftarrow \\rho d + (1-\\rho) \\Delta^2, \\quad \\text{out} = \\Delta $$

    Attributes:
        rho: ρ in [0, 1).
        eps: ε > 0 (it also sets the size of the first steps).
        v_dtype: dtype of v and d (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adadelta(rho=0.9, eps=1e-6)
        >>> g = jnp.array([1.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # √ε / √(0.1 + ε)
        Array([0.003162], dtype=float32)
    """

    rho: Any = 0.95
    eps: Any = 1e-6
    v_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("scale_by_adadelta", "rho", self.rho, 0.0, 1.0, high_open=True)
        check_range("scale_by_adadelta", "eps", self.eps, 0.0, low_open=True)

    def init_state(self, params: Params) -> AdadeltaState:
        zeros = v_zeros_like_tree(params, self.v_dtype)
        return AdadeltaState(v=zeros, d=zeros)

    def step(
        self, updates: Updates, state: AdadeltaState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, AdadeltaState]:
        v = ewma_step(state.v, abs_sq(updates), self.rho)  # v ← ρ·v + (1−ρ)·|g|²

        def delta(g: jax.Array, v: jax.Array, d: jax.Array) -> jax.Array:
            e = hyper(self.eps, v.dtype)
            return (jnp.sqrt(d + e) / jnp.sqrt(v + e)).astype(g.dtype) * g  # Δ = √(d+ε)/√(v+ε)·g

        out = elementwise(delta, updates, updates, v, state.d)
        d = ewma_step(state.d, abs_sq(out), self.rho)  # d ← ρ·d + (1−ρ)·|Δ|²
        return out, AdadeltaState(v=v, d=d)


scale_by_rms = ScaleByRms
scale_by_rss = ScaleByRss
scale_by_adadelta = ScaleByAdadelta
