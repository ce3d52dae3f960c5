"""Layer-wise algorithms: an update rescaled per parameter array (layer) by a norm.

LAMB (Adam's direction under LARS's trust ratio), NovoGrad (a second moment per layer)
and Fromage (a trust ratio and a shrink that keeps the weights' norms). Their per-array
norms go through :mod:`gdtx._layout` (``leaf_norms``, ``leaf_sums``), so packed and
per-leaf parameters give the same steps.
"""

from __future__ import annotations

from typing import Any

from ._adam import check_adam_family, scale_by_adam
from ._combine import Chain
from ._layerwise import FromageLearningRate, ScaleByLayerwiseNorm
from ._momentum import Trace
from ._optim import ScalarOrSchedule, lr_block, optimizer_chain, sign
from ._scale import ScaleByTrustRatio
from ._validate import check_range


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-6,
    eps_root: Any = 0.0,
    weight_decay: Any = 0.0,
    mask: Any = None,
    *,
    maximize: bool = False,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning: Training BERT
    in 76 minutes", arXiv:1904.00962, Algorithm 2).

    Per parameter array (layer): r = m̂/(√v̂ + ε) + λθ (Adam's direction with decoupled
    decay), θ ← θ − α‖θ‖/‖r‖·r, with ratio 1 where ‖θ‖ or ‖r‖ is zero. The chain:
    ``chain(scale_by_adam(β₁, β₂, ε, ε_root), add_decayed_weights(λ, mask),
    scale_by_trust_ratio(), scale_by_learning_rate(α))``. The scaling function φ of the
    paper is the identity, as in Optax. β₁, β₂ and ε = 1e-6 are the paper's; the paper
    tunes λ per task (0.01 for BERT), and λ = 0 is Optax's default.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε ≥ 0 inside the root.
        weight_decay: λ ≥ 0, decoupled: added to Adam's direction before the trust ratio.
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one, or ``None`` for all.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.lamb(0.1)
        >>> params = jnp.array([3.0, 4.0])
        >>> updates, _ = opt.update(jnp.array([1.0, -1.0]), opt.init(params), params)
        >>> updates.round(4)  # Adam's first step is sign(g); ‖θ‖/‖sign(g)‖ = 5/√2
        Array([-0.3536,  0.3536], dtype=float32)
    """
    check_adam_family("lamb", b1, b2, eps, eps_root)
    core = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype)
    trust = ScaleByTrustRatio()
    return optimizer_chain(
        "lamb", learning_rate, maximize, core, trust, decay=weight_decay, mask=mask
    )


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.25,
    eps: Any = 1e-6,
    eps_root: Any = 0.0,
    weight_decay: Any = 0.0,
    *,
    maximize: bool = False,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """NovoGrad (Ginsburg et al., 2019, "Stochastic Gradient Methods with Layer-wise
    Adaptive Moments for Training of Deep Networks", arXiv:1905.11286, Algorithm 1).

    Per parameter array: v₁ = ‖g₁‖², v ← β₂v + (1 − β₂)‖g‖²; m ← β₁m + (g/(√v + ε) + λθ);
    θ ← θ − αm. The chain: ``chain(scale_by_layerwise_norm(β₂, ε, ε_root),
    add_decayed_weights(λ), trace(β₁), scale_by_learning_rate(α))``. The second moment
    is one number per array, so the state is half of Adam's. The paper tunes β₁, β₂ and
    λ per task; the defaults are Optax's.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1), the momentum of the normalised gradients.
        b2: β₂ in [0, 1), the decay of the per-array second moment.
        eps: ε ≥ 0, outside the root.
        eps_root: ε ≥ 0 inside the root.
        weight_decay: λ ≥ 0, added to the normalised gradient (inside the momentum).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        m_dtype: dtype of m (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.novograd(0.1, eps=0.0)
        >>> params = {"w": jnp.array([1.0, 1.0]), "b": jnp.array([1.0])}
        >>> grads = {"w": jnp.array([3.0, -4.0]), "b": jnp.array([0.5])}
        >>> updates, _ = opt.update(grads, opt.init(params), params)
        >>> updates["w"].round(6), updates["b"]  # −α·g/‖g‖ per array at the first step
        (Array([-0.06,  0.08], dtype=float32), Array([-0.1], dtype=float32))
    """
    check_adam_family("novograd", b1, b2, eps, eps_root)
    norm = ScaleByLayerwiseNorm(b2, eps, eps_root, dtype=v_dtype)
    momentum = Trace(b1, m_dtype=m_dtype)
    return optimizer_chain("novograd", learning_rate, maximize, norm, momentum, decay=weight_decay)


def fromage(
    learning_rate: ScalarOrSchedule,
    min_norm: Any = 1e-6,
    *,
    maximize: bool = False,
) -> Chain:
    """Fromage (Bernstein et al., 2020, "On the distance between two neural networks and the
    stability of learning", arXiv:2002.03432, Algorithm 1).

    Per parameter array: θ ← (θ − α‖θ‖/‖g‖·g)/√(1 + α²), the ratio 1 where ‖θ‖ or ‖g‖ is
    at most ``min_norm``. The chain: ``chain(scale_by_trust_ratio(min_norm=min_norm),
    fromage_learning_rate(α))``: LARS's trust ratio (η = 1, ε = 0), then the step and the
    shrink that keeps the weights' norms from growing. Optax clips both norms to at least
    ``min_norm`` instead (the ratio max(‖θ‖, m)/max(‖g‖, m)); the two differ only for
    arrays whose norms are below ``min_norm``. The authors' code, like the paper, has
    ratio 1 at a zero norm.

    Args:
        learning_rate: α ≥ 0, a number or a schedule (0.01 in the paper's experiments).
        min_norm: norms at or below this (≥ 0) give the ratio 1.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.fromage(0.75)
        >>> params = jnp.array([3.0, 4.0])
        >>> updates, _ = opt.update(jnp.array([0.0, 2.0]), opt.init(params), params)
        >>> updates  # θ − 0.75·5·(0, 1) = (3, 0.25), divided by √(1 + 0.75²) = 1.25
        Array([-0.6, -3.8], dtype=float32)
    """
    check_range("fromage", "min_norm", min_norm, 0.0)
    lr = lr_block("fromage", learning_rate)
    step = FromageLearningRate(lr.learning_rate)
    return Chain((*sign(maximize), ScaleByTrustRatio(min_norm=min_norm), step), "fromage")
