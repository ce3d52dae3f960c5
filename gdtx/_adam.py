r"""The Adam family as Momentum and RMSProp side by side: Adam, Adamax, AMSGrad, NAdam.

Each is ``fork(<first moment>, <preconditioner>)``: the bias-corrected first moment
m̂ times RMSProp's factor 1/(√v̂ + ε), combined leaf by leaf (and fused by XLA into
one pass). They differ only in the branches:

| algorithm | first moment | preconditioner |
|---|---|---|
| Adam | ``ema(β₁)`` | ``ema(β₂, moment=2)``, ``inverse_root(ε, ε_root)`` |
| AMSGrad | ``ema(β₁)`` | ``Ema(β₂, moment=2)``, ``running_max()``, ``bias_correction(β₂)``, |
| | | ``inverse_root(ε)`` |
| Adamax | ``ema(β₁)`` | ``infinity_norm(β₂, ε)``, ``inverse_root(power=1)`` |
| NAdam | ``nesterov_ema(β₁, ψ)`` | ``ema(β₂, moment=2)``, ``inverse_root(ε)`` |

Second moments use |g|², so complex parameters get real, non-negative
accumulators, as in the literature on complex-valued optimisation.
"""

from __future__ import annotations

from typing import Any

from ._base import Transform
from ._combine import Chain, Fork
from ._moments import BiasCorrection, Ema, InfinityNorm, RunningMax, ema
from ._momentum import NesterovEma
from ._rms import InverseRoot
from ._validate import check_range


def check_adam_family(owner: str, b1: Any, b2: Any, eps: Any, eps_root: Any = None) -> None:
    """β₁, β₂ in [0, 1) and ε ≥ 0, the hyperparameters every Adam-family optimizer shares,
    and ε_root ≥ 0 where it takes one; named after ``owner``."""
    check_range(owner, "b1", b1, 0.0, 1.0, high_open=True)
    check_range(owner, "b2", b2, 0.0, 1.0, high_open=True)
    check_range(owner, "eps", eps, 0.0)
    if eps_root is not None:
        check_range(owner, "eps_root", eps_root, 0.0)


def check_nadam(
    owner: str, b1: Any, b2: Any, eps: Any, momentum_decay: Any, eps_root: Any = None
) -> None:
    """:func:`check_adam_family`'s checks and ψ ≥ 0 (or ``None``), named after ``owner``."""
    check_adam_family(owner, b1, b2, eps, eps_root)
    if momentum_decay is not None:
        check_range(owner, "momentum_decay", momentum_decay, 0.0)


def first_moment(b1: Any, m_dtype: Any, nesterov: bool = False, debias: bool = True) -> Transform:
    """m̂ = m/(1 − β₁ᵗ), m ← β₁m + (1 − β₁)g (:func:`ema`); with ``nesterov`` Dozat's
    β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ) (:class:`NesterovEma` with a constant μ = β₁,
    Optax's ``nesterov=True``); ``debias=False`` leaves the corrections out."""
    if nesterov:
        return NesterovEma(b1, None, dtype=m_dtype, debias=debias)
    return ema(b1, debias=debias, dtype=m_dtype)


def scale_by_adam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    *,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""Adam's bias-corrected moment ratio (Kingma & Ba, 2015, arXiv:1412.6980, Algorithm 1).

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       v \leftarrow \beta_2 v + (1-\beta_2) |g|^2, \quad
       \hat m = \frac{m}{1-\beta_1^t}, \quad \hat v = \frac{v}{1-\beta_2^t}, \quad
       \text{out} = \frac{\hat m}{\sqrt{\hat v + \varepsilon_{root}} + \varepsilon} $$

    The chain: ``fork(ema(β₁), chain(ema(β₂, moment=2), inverse_root(ε, ε_root)))``,
    Momentum's m̂ times RMSProp's 1/(√v̂ + ε).

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε inside the root (≥ 0); useful when differentiating through Adam.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adam()
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0]  # the first step is sign(g)
        Array([ 1., -1.], dtype=float32)
    """
    check_adam_family("scale_by_adam", b1, b2, eps, eps_root)
    v_hat = ema(b2, moment=2, dtype=v_dtype)
    return Fork((first_moment(b1, m_dtype), Chain((v_hat, InverseRoot(eps, eps_root)))))


def scale_by_adamax(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    eps_in_max: bool = True,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""Adamax: Adam with the infinity norm (Kingma & Ba, 2015, Algorithm 2).

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       u \leftarrow \max(\beta_2 u, |g| + \varepsilon), \quad
       \text{out} = \frac{m}{(1-\beta_1^t)\, u} $$

    The paper has no ε; like PyTorch and Optax, ε enters inside the max. With
    ``eps_in_max=False`` it moves to the denominator instead: u ← max(β₂u, |g|),
    out = m / ((1 − β₁ᵗ)(u + ε)). The state field ``v`` holds u. The chain:
    ``fork(ema(β₁), chain(infinity_norm(β₂, ε), inverse_root(power=1)))``.

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        eps_in_max: ε inside the max (default) or added to the denominator.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of u (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adamax(eps=0.0)
        >>> g = jnp.array([-3.0])
        >>> tx.update(g, tx.init(g))[0].round(6)
        Array([-1.], dtype=float32)
    """
    check_adam_family("scale_by_adamax", b1, b2, eps)
    in_max, in_denominator = (eps, 0.0) if eps_in_max else (0.0, eps)
    norm = InfinityNorm(b2, in_max, dtype=v_dtype)
    preconditioner = Chain((norm, InverseRoot(in_denominator, power=1.0)))
    return Fork((first_moment(b1, m_dtype), preconditioner))


def scale_by_amsgrad(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""AMSGrad: Adam whose denominator never shrinks (Reddi, Kale & Kumar, 2018, arXiv:1904.09237).

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       v \leftarrow \beta_2 v + (1-\beta_2) |g|^2, \quad
       v_{max} \leftarrow \max(v_{max}, v), \quad
       \text{out} = \frac{m / (1-\beta_1^t)}{\sqrt{v_{max} / (1-\beta_2^t)} + \varepsilon} $$

    The maximum is taken over the raw v, as in the paper and ``torch.optim.Adam(
    amsgrad=True)``; Optax's ``amsgrad`` takes it over the bias-corrected v̂ instead.
    The chain: ``fork(ema(β₁), chain(Ema(β₂, moment=2), running_max(),
    bias_correction(β₂), inverse_root(ε)))``.

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v and v_max (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_amsgrad()
        >>> s = tx.init(jnp.zeros(1))
        >>> _, s = tx.update(jnp.array([4.0]), s)
        >>> out, s = tx.update(jnp.array([0.0]), s)  # v shrinks, v_max keeps 0.016
        >>> round(float(out[0]), 4)  # (0.36/0.19) / √(0.016/0.001999)
        0.6697
    """
    check_adam_family("scale_by_amsgrad", b1, b2, eps)
    preconditioner = Chain(
        (
            Ema(b2, moment=2, dtype=v_dtype),
            RunningMax(dtype=v_dtype),
            BiasCorrection(b2),
            InverseRoot(eps),
        )
    )
    return Fork((first_moment(b1, m_dtype), preconditioner))


def scale_by_nadam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    momentum_decay: Any = 4e-3,
    *,
    eps_root: Any = 0.0,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Fork:
    r"""Adam with Nesterov momentum (Dozat, 2016, "Incorporating Nesterov Momentum into Adam").

    $$ \text{out} = \Bigl(\frac{1-\mu_t}{1-\Pi_t}\, g
       + \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\, m\Bigr)
       \Big/ \bigl(\sqrt{\hat v + \varepsilon_{root}} + \varepsilon\bigr) $$

    with μ_t, Π_t and m as in :class:`NesterovEma` and v̂ Adam's. The default
    ψ = 0.004 is the paper's and PyTorch's; ``momentum_decay=None`` gives Optax's
    constant μ = β₁. The chain: ``fork(nesterov_ema(β₁, ψ), chain(ema(β₂, moment=2),
    inverse_root(ε, ε_root)))``.

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        momentum_decay: ψ ≥ 0, or ``None`` for a constant μ_t = β₁.
        eps_root: ε_root ≥ 0, inside the root (Optax's ``nadamw``).
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_nadam(momentum_decay=None, eps=0.0)
        >>> g = jnp.array([1.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # (1−β₁)/(1−β₁) + β₁(1−β₁)/(1−β₁²)
        Array([1.473684], dtype=float32)
    """
    check_nadam("scale_by_nadam", b1, b2, eps, momentum_decay, eps_root)
    v_hat = ema(b2, moment=2, dtype=v_dtype)
    first = NesterovEma(b1, momentum_decay, dtype=m_dtype)
    return Fork((first, Chain((v_hat, InverseRoot(eps, eps_root)))))
