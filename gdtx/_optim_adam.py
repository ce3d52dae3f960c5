"""The Adam family as optimizers: Adam, AdamW, AMSGrad, Adamax, NAdam, Adan."""

from __future__ import annotations

from typing import Any

from ._adam import (
    check_adam_family,
    check_nadam,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_nadam,
)
from ._adan import ScaleByAdan, check_adan
from ._combine import Chain
from ._optim import ScalarOrSchedule, optimizer_chain


def adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    *,
    maximize: bool = False,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Adam (Kingma & Ba, 2015): θ ← θ − α·m̂ / (√v̂ + ε): Momentum + RMSProp.

    The chain: ``chain(scale_by_adam(β₁, β₂, ε), scale_by_learning_rate(α))``, where
    ``scale_by_adam`` is ``fork(ema(β₁), chain(ema(β₂, moment=2), inverse_root(ε)))``:
    Momentum's bias-corrected m̂ times RMSProp's 1/(√v̂ + ε).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε ≥ 0 inside the root.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient (``torch.optim.Adam``'s
            ``weight_decay``), or ``None``; for decoupled decay use :func:`adamw`.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adam(1e-3)
        >>> params = {"w": jnp.ones(2)}
        >>> updates, state = opt.update({"w": jnp.array([3.0, -1.0])}, opt.init(params))
        >>> updates["w"]
        Array([-0.001,  0.001], dtype=float32)
    """
    check_adam_family("adam", b1, b2, eps, eps_root)
    core = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype)
    return optimizer_chain("adam", learning_rate, maximize, core, l2_decay=weight_decay)


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    maximize: bool = False,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AMSGrad (Reddi et al., 2018): Adam with a non-decreasing v.

    The chain: ``chain(scale_by_amsgrad(β₁, β₂, ε), scale_by_learning_rate(α))``;
    see :func:`scale_by_amsgrad`. Equals ``torch.optim.Adam(amsgrad=True)``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v and v_max (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.amsgrad(1e-3)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([2.0]), opt.init(params))[0].round(6)
        Array([-0.001], dtype=float32)
    """
    check_adam_family("amsgrad", b1, b2, eps)
    core = scale_by_amsgrad(b1, b2, eps, m_dtype=m_dtype, v_dtype=v_dtype)
    return optimizer_chain("amsgrad", learning_rate, maximize, core, l2_decay=weight_decay)


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    weight_decay: Any = 1e-4,
    mask: Any = None,
    *,
    maximize: bool = False,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AdamW (Loshchilov & Hutter, 2019): θ ← θ − α(m̂ / (√v̂ + ε) + λθ).

    The chain: ``chain(scale_by_adam(β₁, β₂, ε), add_decayed_weights(λ, mask),
    scale_by_learning_rate(α))``. The decay is decoupled from the moments and
    multiplied by the learning rate, as in ``torch.optim.AdamW`` and Optax.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε ≥ 0 inside the root.
        weight_decay: λ ≥ 0 (Optax's default 1e-4; PyTorch's is 1e-2).
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one (e.g. :func:`ndim_mask`), or ``None`` for all.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adamw(0.1, weight_decay=0.5)
        >>> params = jnp.array([2.0])
        >>> opt.update(jnp.array([1.0]), opt.init(params), params)[0]  # −0.1·(1 + 0.5·2)
        Array([-0.2], dtype=float32)
    """
    check_adam_family("adamw", b1, b2, eps, eps_root)
    core = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype)
    return optimizer_chain("adamw", learning_rate, maximize, core, decay=weight_decay, mask=mask)


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    maximize: bool = False,
    eps_in_max: bool = True,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Adamax (Kingma & Ba, 2015, §7.1): Adam with the infinity norm.

    The chain: ``chain(scale_by_adamax(β₁, β₂, ε), scale_by_learning_rate(α))``,
    where ``scale_by_adamax`` is ``fork(ema(β₁), chain(infinity_norm(β₂, ε),
    inverse_root(power=1)))``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        eps_in_max: ε inside the max (PyTorch, Optax) or added to the denominator.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of the infinity norm u (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adamax(0.002)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([5.0]), opt.init(params))[0]
        Array([-0.002], dtype=float32)
    """
    check_adam_family("adamax", b1, b2, eps)
    core = scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max, m_dtype=m_dtype, v_dtype=v_dtype)
    return optimizer_chain("adamax", learning_rate, maximize, core, l2_decay=weight_decay)


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    maximize: bool = False,
    momentum_decay: Any = 4e-3,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """NAdam (Dozat, 2016): Adam with Nesterov momentum.

    The chain: ``chain(scale_by_nadam(β₁, β₂, ε, ψ), scale_by_learning_rate(α))``,
    where ``scale_by_nadam`` is ``fork(nesterov_ema(β₁, ψ), chain(ema(β₂, moment=2),
    inverse_root(ε)))``. The default momentum schedule μ_t = β₁(1 − ½·0.96^(tψ)),
    ψ = 0.004, is the paper's and PyTorch's; ``momentum_decay=None`` gives Optax's
    constant μ = β₁.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0.
        momentum_decay: ψ ≥ 0, or ``None`` for a constant μ_t = β₁.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.nadam(2e-3)
        >>> params = jnp.array([1.0])
        >>> float(opt.update(jnp.array([1.0]), opt.init(params))[0][0]) < 0
        True
    """
    check_nadam("nadam", b1, b2, eps, momentum_decay)
    core = scale_by_nadam(b1, b2, eps, momentum_decay, m_dtype=m_dtype, v_dtype=v_dtype)
    return optimizer_chain("nadam", learning_rate, maximize, core, l2_decay=weight_decay)


def adan(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.98,
    b2: Any = 0.92,
    b3: Any = 0.99,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    weight_decay: Any = 0.0,
    mask: Any = None,
    *,
    maximize: bool = False,
    m_dtype: Any = None,
) -> Chain:
    """Adan (Xie et al., 2022, arXiv:2208.06677): Adam-like steps along a Nesterov momentum
    estimated from gradient differences.

    θ ← θ − α(u + λθ), u Adan's direction (:class:`ScaleByAdan`). The chain:
    ``chain(scale_by_adan(β₁, β₂, β₃, ε, ε_root), add_decayed_weights(λ, mask),
    scale_by_learning_rate(α))``. The defaults are the paper's (its β = 0.02, 0.08, 0.01
    are 1 − β here); the paper has no ε_root (Optax's default is 1e-8). The decay is
    decoupled as in Optax and the authors' ``no_prox`` option; the paper's proximal step
    θ ← (θ − αu)/(1 + αλ) agrees with it to first order in αλ. Optax 0.2.8's ``adan``
    weighs the gradient difference by 1 − β₂ where the paper weighs it by β₂ (the
    paper's 1 − β₂): the two agree at β₂ = 0.5.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1), decay of the EWMA of g.
        b2: β₂ in [0, 1), decay of the EWMA of gradient differences.
        b3: β₃ in [0, 1), decay of the second moment.
        eps: ε ≥ 0, outside the root.
        eps_root: ε ≥ 0 inside the root.
        weight_decay: λ ≥ 0, decoupled and multiplied by α.
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one, or ``None`` for all.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        m_dtype: dtype of m, m_diff and g_prev (default: the parameter's).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adan(0.1, eps=0.0)
        >>> params = jnp.array([1.0, 1.0])
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(params), params)[0].round(6)
        Array([-0.1,  0.1], dtype=float32)
    """
    check_adan("adan", b1, b2, b3, eps, eps_root)
    core = ScaleByAdan(b1, b2, b3, eps, eps_root, dtype=m_dtype)
    return optimizer_chain("adan", learning_rate, maximize, core, decay=weight_decay, mask=mask)
