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
from ._optim import ScalarOrSchedule, lr_block, sign
from ._scale import AddDecayedWeights, ScaleByTrustRatio
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
    lr = lr_block("lamb", learning_rate)
    check_adam_family("lamb", b1, b2, eps)
    check_range("lamb", "eps_root", eps_root, 0.0)
    check_range("lamb", "weight_decay", weight_decay, 0.0)
    core = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype)
    decay = AddDecayedWeights(weight_decay, mask)
    return Chain((*sign(maximize), core, decay, ScaleByTrustRatio(), lr), "lamb")
