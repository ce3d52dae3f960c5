"""Two recent Adam rearrangements as optimizers: ADOPT and AdEMAMix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ._adam import check_adam_family
from ._adam_recent import check_ademamix, quarter_power, scale_by_ademamix, scale_by_adopt
from ._combine import Chain
from ._optim import ScalarOrSchedule, optimizer_chain


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.9999,
    eps: Any = 1e-6,
    m_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
    maximize: bool = False,
    weight_decay: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """ADOPT (Taniguchi et al., 2024, arXiv:2411.02853): the momentum of g normalised by the
    *previous* second moment, clipped to (t − 1)^¼ early on; converges for any β₂.

    The chain: ``chain(scale_by_adopt(β₁, β₂, ε), scale_by_learning_rate(α))``, where
    ``scale_by_adopt`` is ``chain(adopt_normalize(β₂, ε), Ema(β₁))``; see
    :class:`AdoptNormalize`. The first step only sets v (the update is 0). Defaults and
    arguments are the paper's and Optax's ``optax.contrib.adopt`` (its ``mu_dtype`` is
    ``m_dtype`` here).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, the floor of √v.
        m_dtype: dtype of m (default: the parameter's).
        nesterov: the step β₁m + (1 − β₁)x instead of m (Optax's).
        use_clipping: clip the normalised gradient to c(t − 1).
        clip_value_fn: c, a function of the step count (t − 1, a float); default
            count^¼.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adopt(0.1)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([2.0]), opt.init(params))[0]  # the first step sets v only
        Array([-0.], dtype=float32)
    """
    check_adam_family("adopt", b1, b2, eps)
    core = scale_by_adopt(
        b1,
        b2,
        eps,
        m_dtype,
        nesterov=nesterov,
        use_clipping=use_clipping,
        clip_value_fn=clip_value_fn,
        v_dtype=v_dtype,
    )
    return optimizer_chain("adopt", learning_rate, maximize, core, l2_decay=weight_decay)


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    b3: Any = 0.9999,
    alpha: Any = 5.0,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    m_dtype: Any = None,
    weight_decay: Any = 0.0,
    mask: Any = None,
    *,
    maximize: bool = False,
    v_dtype: Any = None,
) -> Chain:
    """AdEMAMix (Pagliardini, Ablin & Grangier, 2024, arXiv:2409.03137): AdamW with a slow
    momentum added, θ ← θ − α_lr((m̂₁ + α·m₂)/(√v̂ + ε) + λθ).

    The chain: ``chain(scale_by_ademamix(β₁, β₂, β₃, α, ε, ε_root),
    add_decayed_weights(λ, mask), scale_by_learning_rate(α_lr))``; see
    :func:`scale_by_ademamix`. β₃ and α may be schedules of the step count (the paper
    warms both up). Defaults are Optax's ``optax.contrib.ademamix`` (α = 5, λ = 0; its
    ``mu_dtype`` is ``m_dtype`` here).

    Args:
        learning_rate: the learning rate α_lr ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1), the fast momentum.
        b2: β₂ in [0, 1).
        b3: β₃ in [0, 1), the slow momentum, or a schedule.
        alpha: α ≥ 0, the slow momentum's weight, or a schedule.
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        m_dtype: dtype of m₁ and m₂ (default: the parameter's).
        weight_decay: λ ≥ 0, decoupled and multiplied by α_lr.
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one, or ``None`` for all.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.ademamix(0.1, b3=0.5, alpha=2.0)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([3.0]), opt.init(params), params)[0].round(6)  # −0.1·(1 + 2·0.5)
        Array([-0.2], dtype=float32)
    """
    check_ademamix("ademamix", b1, b2, b3, alpha, eps, eps_root)
    core = scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, m_dtype, v_dtype=v_dtype)
    return optimizer_chain("ademamix", learning_rate, maximize, core, decay=weight_decay, mask=mask)
