"""Adam's variants as optimizers: RAdam, NAdamW, AdamaxW, AdaBelief, Yogi."""

from __future__ import annotations

from typing import Any

from ._adam import check_adam_family, check_nadam, scale_by_adamax, scale_by_nadam
from ._adam_variants import ScaleByBelief, scale_by_radam, scale_by_yogi
from ._combine import Chain
from ._optim import ScalarOrSchedule, optimizer_chain
from ._validate import check_range


def radam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    threshold: Any = 5.0,
    *,
    nesterov: bool = False,
    maximize: bool = False,
    weight_decay: Any = None,
    decoupled_weight_decay: bool = False,
    strict_threshold: bool = False,
    eps_before_correction: bool = False,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """RAdam (Liu et al., 2020, arXiv:1908.03265): Adam whose adaptive rate is rectified by
    r_t once the variance of the EWMA of |g|² is tractable, SGD with momentum before.

    The chain: ``chain(scale_by_radam(β₁, β₂, ε, ε_root, ρ_thr), scale_by_learning_rate(α))``;
    see :func:`scale_by_radam` and :class:`RadamRectification`. The defaults are Optax's
    (the paper's code: ρ_t ≥ 5). ``torch.optim.RAdam`` is ``strict_threshold=True,
    eps_before_correction=True`` (ρ_t > 5, ε added to √v before the bias correction).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        threshold: ρ_thr ≥ 4: the rectified step is taken once ρ_t ≥ ρ_thr.
        nesterov: Dozat's Nesterov first moment with a constant μ = β₁ (Optax's).
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        weight_decay: λ ≥ 0, or ``None``: L2 added to the gradient first (torch's
            default), or decoupled with ``decoupled_weight_decay``.
        decoupled_weight_decay: θ ← θ − α(d + λθ), the decay decoupled from the moments
            (torch's ``decoupled_weight_decay=True``).
        strict_threshold: ρ_t > ρ_thr (torch) rather than ρ_t ≥ ρ_thr (Optax).
        eps_before_correction: ε added to √v rather than to √v̂ (torch).
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.radam(0.1)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([3.0]), opt.init(params))[0].round(6)  # −α·m̂ while ρ_t < 5
        Array([-0.3], dtype=float32)
    """
    check_adam_family("radam", b1, b2, eps, eps_root)
    check_range("radam", "threshold", threshold, 4.0)
    core = scale_by_radam(
        b1,
        b2,
        eps,
        eps_root,
        threshold,
        nesterov=nesterov,
        strict_threshold=strict_threshold,
        eps_before_correction=eps_before_correction,
        m_dtype=m_dtype,
        v_dtype=v_dtype,
    )
    if decoupled_weight_decay:
        if weight_decay is None:
            raise ValueError(
                "radam: `decoupled_weight_decay=True` needs a `weight_decay` λ ≥ 0, got None."
            )
        return optimizer_chain("radam", learning_rate, maximize, core, decay=weight_decay)
    return optimizer_chain("radam", learning_rate, maximize, core, l2_decay=weight_decay)


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    m_dtype: Any = None,
    weight_decay: Any = 1e-4,
    mask: Any = None,
    *,
    maximize: bool = False,
    momentum_decay: Any = 4e-3,
    v_dtype: Any = None,
) -> Chain:
    """NAdamW: NAdam (Dozat, 2016) with decoupled weight decay (Loshchilov & Hutter, 2019):
    θ ← θ − α(n̂ / (√v̂ + ε) + λθ), n̂ Dozat's Nesterov first moment.

    The chain: ``chain(scale_by_nadam(β₁, β₂, ε, ψ, eps_root=ε_root),
    add_decayed_weights(λ, mask), scale_by_learning_rate(α))``; see :func:`scale_by_nadam`.
    The default momentum schedule μ_t = β₁(1 − ½·0.96^(tψ)), ψ = 0.004, is the paper's and
    ``torch.optim.NAdam(decoupled_weight_decay=True)``'s; ``momentum_decay=None`` (a
    constant μ = β₁) gives Optax's ``nadamw``. Arguments in Optax's order (its ``mu_dtype``
    is ``m_dtype`` here).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        m_dtype: dtype of m (default: the parameter's).
        weight_decay: λ ≥ 0, decoupled and multiplied by α (Optax's default 1e-4).
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one, or ``None`` for all.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        momentum_decay: ψ ≥ 0, or ``None`` for a constant μ_t = β₁.
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.nadamw(0.1, weight_decay=0.5, momentum_decay=None, eps=0.0)
        >>> params = jnp.array([2.0])
        >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(params), params)
        >>> round(float(updates[0]), 5)  # −0.1·(1.47368 + 0.5·2)
        -0.24737
    """
    check_nadam("nadamw", b1, b2, eps, momentum_decay, eps_root)
    core = scale_by_nadam(
        b1, b2, eps, momentum_decay, eps_root=eps_root, m_dtype=m_dtype, v_dtype=v_dtype
    )
    return optimizer_chain("nadamw", learning_rate, maximize, core, decay=weight_decay, mask=mask)


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 1e-4,
    mask: Any = None,
    *,
    maximize: bool = False,
    eps_in_max: bool = True,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AdamaxW: Adamax (Kingma & Ba, 2015, §7.1) with decoupled weight decay (Loshchilov &
    Hutter, 2019): θ ← θ − α(m̂ / u + λθ), u ← max(β₂u, |g| + ε).

    The chain: ``chain(scale_by_adamax(β₁, β₂, ε), add_decayed_weights(λ, mask),
    scale_by_learning_rate(α))``; see :func:`scale_by_adamax`. Optax's ``adamaxw``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        weight_decay: λ ≥ 0, decoupled and multiplied by α (Optax's default 1e-4).
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one, or ``None`` for all.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        eps_in_max: ε inside the max (PyTorch, Optax) or added to the denominator.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of the infinity norm u (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adamaxw(0.1, weight_decay=0.5)
        >>> params = jnp.array([2.0])
        >>> opt.update(jnp.array([5.0]), opt.init(params), params)[0]  # −0.1·(1 + 0.5·2)
        Array([-0.2], dtype=float32)
    """
    check_adam_family("adamaxw", b1, b2, eps)
    core = scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max, m_dtype=m_dtype, v_dtype=v_dtype)
    return optimizer_chain("adamaxw", learning_rate, maximize, core, decay=weight_decay, mask=mask)


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-16,
    eps_root: Any = 1e-16,
    *,
    nesterov: bool = False,
    maximize: bool = False,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AdaBelief (Zhuang et al., 2020, arXiv:2010.07468): Adam with v replaced by the EWMA
    s of |g − m|², the belief in the observed gradient.

    The chain: ``chain(scale_by_belief(β₁, β₂, ε, ε_root), scale_by_learning_rate(α))``;
    see :class:`ScaleByBelief`. Defaults are the paper's and Optax's (ε = ε_root = 1e-16).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, added to s at every step.
        nesterov: the Nesterov first moment β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ) (Optax's).
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of s (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adabelief(0.1)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([2.0]), opt.init(params))[0].round(4)  # −α·g/|g − m₁| = −α/β₁
        Array([-0.1111], dtype=float32)
    """
    check_adam_family("adabelief", b1, b2, eps, eps_root)
    core = ScaleByBelief(b1, b2, eps, eps_root, nesterov, m_dtype, v_dtype)
    return optimizer_chain("adabelief", learning_rate, maximize, core, l2_decay=weight_decay)


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-3,
    *,
    eps_root: Any = 0.0,
    initial_accumulator_value: Any = 1e-6,
    maximize: bool = False,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Yogi (Zaheer et al., 2018, NeurIPS): Adam whose v moves additively, by (1 − β₂)|g|²
    towards |g|², so the effective learning rate cannot jump.

    The chain: ``chain(scale_by_yogi(β₁, β₂, ε, ε_root, v₀), scale_by_learning_rate(α))``;
    see :func:`scale_by_yogi` and :class:`YogiMoment`. ε = 1e-3 (far above Adam's) and
    v₀ = 1e-6 are Optax's; Optax's ``yogi`` has no ``eps_root`` or v₀ argument.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        initial_accumulator_value: v₀ ≥ 0.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.yogi(0.01)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([2.0]), opt.init(params))[0].round(4)  # −α·g/(|g| + ε)
        Array([-0.01], dtype=float32)
    """
    check_adam_family("yogi", b1, b2, eps, eps_root)
    check_range("yogi", "initial_accumulator_value", initial_accumulator_value, 0.0)
    core = scale_by_yogi(
        b1, b2, eps, eps_root, initial_accumulator_value, m_dtype=m_dtype, v_dtype=v_dtype
    )
    return optimizer_chain("yogi", learning_rate, maximize, core, l2_decay=weight_decay)
