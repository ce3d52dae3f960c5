r"""Preconditioners built on second moments: RMSProp, AdaGrad and Adadelta.

The shared step of the three is :class:`InverseRoot`, which turns an accumulated
second moment into the factor 1/(√v + ε) that multiplies g; its arithmetic,
``inverse_root_leaf``, is also what every block that keeps its second moment in its
own state (AdaBelief, Adan, NovoGrad, SM3, Adafactor) divides by. Each algorithm is then
``fork(identity(), chain(<accumulator of |g|²>, inverse_root(...)))``: the update
times its preconditioner.

Second moments use |g|², so complex parameters get real, non-negative
accumulators, as in the literature on complex-valued optimisation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, hyper, static
from ._combine import Chain, Fork, Identity, variance
from ._moments import BiasCorrection, Ema, SumOfSquares, ewma_step
from ._tree import abs_sq, elementwise, safe_div, v_zeros_like_tree
from ._validate import check_range


def inverse_root_leaf(
    v: jax.Array,
    eps: Any = 0.0,
    eps_root: Any = 0.0,
    *,
    power: float = 0.5,
    numerator: jax.Array | None = None,
) -> jax.Array:
    r"""The inverse root of a second moment v, on one array: the one place it is computed.

    $$ \text{out} = \frac{x}{\sqrt{v + \varepsilon_{root}} + \varepsilon}
       \qquad\text{(} \frac{x}{v + \varepsilon_{root} + \varepsilon}
       \text{ with } \texttt{power=1}\text{)} $$

    with x = ``numerator`` (1 by default), in that order: ε_root added to v, the root
    taken, ε added, x divided by the sum. ε and ε_root are cast to v's dtype. Where the
    denominator is 0 (v = 0 with ε = ε_root = 0) the output is 0; NaN stays NaN.

    Args:
        v: the second moment (real, non-negative).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        power: 0.5 (square root) or 1 (no root).
        numerator: x, or ``None`` for 1 (then the output has v's dtype; else x's).

    Returns:
        x/(√(v + ε_root) + ε).

    Example:
        >>> import jax.numpy as jnp
        >>> from gdtx._rms import inverse_root_leaf
        >>> inverse_root_leaf(jnp.array([3.0, 0.0]), eps=1.0, eps_root=1.0)
        Array([0.33333334, 0.5       ], dtype=float32)
    """
    v = v + hyper(eps_root, v.dtype)
    den = (jnp.sqrt(v) if power == 0.5 else v) + hyper(eps, v.dtype)  # √(v + ε_root) + ε
    return safe_div(jnp.ones_like(den) if numerator is None else numerator, den)


class InverseRoot(Transform):
    r"""The preconditioner of adaptive methods: the inverse root of a second moment.

    $$ \text{out} = \frac{1}{\sqrt{v + \varepsilon_{root}} + \varepsilon}
       \qquad\text{(or } \frac{1}{v + \varepsilon_{root} + \varepsilon}
       \text{ with } \texttt{power=1}\text{)} $$

    where v is the incoming stream (an accumulated second moment). Where the
    denominator is 0 (a coordinate that has only seen zero gradients, with ε = 0)
    the output is 0, so the step there is 0; NaN stays NaN.

    Attributes:
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        power: the root: 0.5 (square root) or 1 (none; Adamax's infinity norm).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.inverse_root()
        >>> v = jnp.array([4.0, 0.0])
        >>> tx.update(v, tx.init(v))[0]
        Array([0.5, 0. ], dtype=float32)
    """

    eps: Any = 0.0
    eps_root: Any = 0.0
    power: float = static(default=0.5)

    def __post_init__(self) -> None:
        check_range("inverse_root", "eps", self.eps, 0.0)
        check_range("inverse_root", "eps_root", self.eps_root, 0.0)
        if self.power not in (0.5, 1, 1.0):
            raise ValueError(f"inverse_root: `power` must be 0.5 or 1, got {self.power!r}.")

    def step(
        self, updates: Updates, state: Any, params: Params | None, ctx: Context
    ) -> tuple[Updates, Any]:
        def inverse(v: jax.Array) -> jax.Array:  # 1/(√(v + ε_root) + ε)
            return inverse_root_leaf(v, self.eps, self.eps_root, power=self.power)

        return elementwise(inverse, updates), state


class DState(NamedTuple):
    """State of :class:`ScaleByStepRms`.

    Attributes:
        d: EWMA of the squared output steps (Zeiler's E[Δθ²]).
    """

    d: Any


class ScaleByStepRms(Transform):
    r"""Adadelta's unit correction: multiplies by the RMS of past steps (Zeiler, 2012).

    $$ \Delta = \sqrt{d + \varepsilon}\; x, \qquad
       d \leftarrow \rho d + (1-\rho) |\Delta|^2, \qquad \text{out} = \Delta $$

    where x = g/√(v + ε) is the RMSProp-scaled gradient, so that Δ has the units of θ
    (arXiv:1212.5701, Algorithm 1).

    Attributes:
        rho: ρ in [0, 1).
        eps: ε > 0 (it also sets the size of the first steps).
        dtype: dtype of d (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_step_rms(rho=0.9, eps=1e-4)
        >>> x = jnp.array([1.0])
        >>> tx.update(x, tx.init(x))[0]  # √ε · x
        Array([0.01], dtype=float32)
    """

    rho: Any = 0.95
    eps: Any = 1e-6
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("scale_by_step_rms", "rho", self.rho, 0.0, 1.0, high_open=True)
        check_range("scale_by_step_rms", "eps", self.eps, 0.0, low_open=True)

    def init_state(self, params: Params) -> DState:
        return DState(d=v_zeros_like_tree(params, self.dtype))

    def step(
        self, updates: Updates, state: DState, params: Params | None, ctx: Context
    ) -> tuple[Updates, DState]:
        def delta(x: jax.Array, d: jax.Array) -> jax.Array:
            return jnp.sqrt(d + hyper(self.eps, d.dtype)).astype(x.dtype) * x  # Δ = √(d+ε)·x

        out = elementwise(delta, updates, state.d)
        d = ewma_step(state.d, abs_sq(out), self.rho)  # d ← ρ·d + (1−ρ)·|Δ|²
        return out, DState(d=d)


def _eps_pair(eps: Any, eps_in_sqrt: bool) -> tuple[Any, Any]:
    """(ε outside the root, ε inside it) for an ε placed inside or outside."""
    return (0.0, eps) if eps_in_sqrt else (eps, 0.0)


def scale_by_rms(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    bias_correction: bool = False,
    *,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""Divides by the root mean square of past updates (RMSProp; Tieleman & Hinton, 2012).

    $$ v \leftarrow \beta v + (1-\beta) |g|^2, \qquad
       \text{out} = \frac{g}{\sqrt{\hat v + \varepsilon}}
       \;\text{ or }\; \frac{g}{\sqrt{\hat v} + \varepsilon} $$

    With ``centered`` (Graves, 2013), also m ← βm + (1 − β)g and v̂ − |m̂|² replaces
    v̂. v starts at ``initial_scale``; v̂ = v/(1 − βᵗ) (and m̂ likewise) only with
    ``bias_correction``, else v̂ = v.

    The chain: ``fork(identity(), chain(ema(β, moment=2), inverse_root(ε)))``.

    Args:
        decay: β in [0, 1).
        eps: ε ≥ 0.
        initial_scale: the initial value of v (≥ 0).
        eps_in_sqrt: ε inside the root (Optax, Graves) or outside (PyTorch).
        centered: subtract the squared mean (Graves, 2013).
        bias_correction: divide m and v by 1 − βᵗ.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_rms(decay=0.9, eps=0.0)
        >>> g = jnp.array([2.0])
        >>> round(float(tx.update(g, tx.init(g))[0][0]), 4)  # 2 / √(0.1·4)
        3.1623
    """
    check_range("scale_by_rms", "decay", decay, 0.0, 1.0, high_open=True)
    check_range("scale_by_rms", "eps", eps, 0.0)
    check_range("scale_by_rms", "initial_scale", initial_scale, 0.0)

    def debiased(block: Transform) -> Transform:
        return Chain((block, BiasCorrection(decay))) if bias_correction else block

    second: Transform = debiased(Ema(decay, moment=2, initial=initial_scale, dtype=v_dtype))
    if centered:
        first = debiased(Ema(decay, moment=1, dtype=m_dtype))
        second = Fork((second, first), variance)  # v̂ − |m̂|²
    return Fork((Identity(), Chain((second, InverseRoot(*_eps_pair(eps, eps_in_sqrt))))))


def scale_by_rss(
    initial_accumulator_value: Any = 0.0,
    eps: Any = 1e-10,
    eps_in_sqrt: bool = False,
    *,
    v_dtype: Any = None,
) -> Fork:
    r"""Divides by the root of the sum of squared past updates (AdaGrad; Duchi et al., 2011).

    $$ v \leftarrow v + |g|^2, \qquad
       \text{out} = \frac{g}{\sqrt v + \varepsilon}
       \;\text{ or }\; \frac{g}{\sqrt{v + \varepsilon}} $$

    v starts at ``initial_accumulator_value``. Where v = 0 (a coordinate that
    has only seen zero gradients, ε = 0) the output is 0. The chain:
    ``fork(identity(), chain(sum_of_squares(v₀), inverse_root(ε)))``.

    Args:
        initial_accumulator_value: v₀ ≥ 0.
        eps: ε ≥ 0.
        eps_in_sqrt: ε inside the root (Optax) or outside (the paper, PyTorch).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_rss(eps=0.0)
        >>> g = jnp.array([3.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([1.], dtype=float32)
    """
    check_range("scale_by_rss", "initial_accumulator_value", initial_accumulator_value, 0.0)
    check_range("scale_by_rss", "eps", eps, 0.0)
    accumulator = SumOfSquares(initial_accumulator_value, dtype=v_dtype)
    return Fork((Identity(), Chain((accumulator, InverseRoot(*_eps_pair(eps, eps_in_sqrt))))))


def scale_by_adadelta(rho: Any = 0.95, eps: Any = 1e-6, *, v_dtype: Any = None) -> Chain:
    r"""Adadelta's unit-corrected step (Zeiler, 2012, arXiv:1212.5701, Algorithm 1).

    $$ v \leftarrow \rho v + (1-\rho) |g|^2, \quad
       \Delta = \frac{\sqrt{d + \varepsilon}}{\sqrt{v + \varepsilon}}\, g, \quad
       d \leftarrow \rho d + (1-\rho) |\Delta|^2, \quad \text{out} = \Delta $$

    The chain: RMSProp with ε inside the root, then :class:`ScaleByStepRms`.

    Args:
        rho: ρ in [0, 1).
        eps: ε > 0 (it also sets the size of the first steps).
        v_dtype: dtype of v and d (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adadelta(rho=0.9, eps=1e-6)
        >>> g = jnp.array([1.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # √ε / √(0.1 + ε)
        Array([0.003162], dtype=float32)
    """
    check_range("scale_by_adadelta", "rho", rho, 0.0, 1.0, high_open=True)
    check_range("scale_by_adadelta", "eps", eps, 0.0, low_open=True)
    rms = Fork((Identity(), Chain((Ema(rho, moment=2, dtype=v_dtype), InverseRoot(0.0, eps)))))
    return Chain((rms, ScaleByStepRms(rho, eps, dtype=v_dtype)))


inverse_root = InverseRoot
scale_by_step_rms = ScaleByStepRms
