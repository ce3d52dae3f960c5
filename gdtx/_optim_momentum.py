"""Gradient descent with momentum: SGD, the two textbook forms of momentum, LARS and Lion."""

from __future__ import annotations

from typing import Any, Literal

from ._base import Transform
from ._combine import Chain, masked
from ._moments import ema
from ._momentum import ScaleByLion, Trace
from ._optim import ScalarOrSchedule, lr_block, optimizer_chain, sign
from ._scale import AddDecayedWeights, ScaleByTrustRatio
from ._validate import check_range


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Any = None,
    nesterov: bool = False,
    *,
    maximize: bool = False,
    dampening: Any = 0.0,
    weight_decay: Any = None,
    m_dtype: Any = None,
) -> Chain:
    """Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum.

    θ ← θ − α·g, or with momentum β: m ← βm + (1 − τ)g, θ ← θ − α·m
    (θ ← θ − α(g + βm) with Nesterov).

    The chain: ``chain(trace(β), scale_by_learning_rate(α))`` (the trace only
    with ``momentum``), after ``add_decayed_weights(λ)`` with ``weight_decay``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        momentum: β in [0, 1), or ``None`` for plain gradient descent.
        nesterov: use Nesterov momentum (needs ``momentum``).
        dampening: τ in [0, 1], as in ``torch.optim.SGD``.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of the momentum buffer (default: the parameter's).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.sgd(0.1, momentum=0.9)
        >>> params = jnp.array([1.0])
        >>> updates, state = opt.update(2 * params, opt.init(params))
        >>> gdtx.apply_updates(params, updates)
        Array([0.8], dtype=float32)
    """
    if momentum is None:
        if nesterov:
            raise ValueError("sgd: `nesterov=True` needs a `momentum` value, got None.")
        return optimizer_chain("sgd", learning_rate, maximize, l2_decay=weight_decay)
    check_range("sgd", "momentum", momentum, 0.0, 1.0, high_open=True)
    check_range("sgd", "dampening", dampening, 0.0, 1.0)
    if nesterov and isinstance(dampening, int | float) and dampening != 0:
        raise ValueError(f"sgd: Nesterov momentum needs `dampening` = 0, got {dampening!r}.")
    trace = Trace(momentum, nesterov=nesterov, dampening=dampening, m_dtype=m_dtype)
    return optimizer_chain("sgd", learning_rate, maximize, trace, l2_decay=weight_decay)


def momentum(
    learning_rate: ScalarOrSchedule,
    beta: Any = 0.9,
    *,
    maximize: bool = False,
    form: Literal["ewma", "trace"] = "ewma",
    debias: bool = False,
    nesterov: bool = False,
    m_dtype: Any = None,
) -> Chain:
    """Momentum in either of its two textbook forms.

    - ``form="ewma"``: m ← βm + (1 − β)g, θ ← θ − αm (an exponentially
      weighted average of the gradients; ``debias`` divides by 1 − βᵗ). The chain:
      ``chain(ema(β, debias), scale_by_learning_rate(α))``.
    - ``form="trace"``: m ← βm + g, θ ← θ − αm (heavy ball, as ``sgd`` with
      ``momentum``; the steps are 1/(1 − β) times larger for the same α). The chain:
      ``chain(trace(β), scale_by_learning_rate(α))``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        beta: β in [0, 1).
        form: ``"ewma"`` or ``"trace"``.
        debias: EWMA form only: bias-correct m.
        nesterov: trace form only: Nesterov momentum.
        m_dtype: dtype of m (default: the parameter's).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.momentum(0.1, beta=0.9)
        >>> params = jnp.array([1.0])
        >>> updates, state = opt.update(jnp.array([1.0]), opt.init(params))
        >>> updates
        Array([-0.01], dtype=float32)
    """
    check_range("momentum", "beta", beta, 0.0, 1.0, high_open=True)
    if form == "ewma":
        if nesterov:
            raise ValueError("momentum: `nesterov=True` applies to form='trace' only.")
        average = ema(beta, debias, dtype=m_dtype)
        return optimizer_chain("momentum", learning_rate, maximize, average)
    if form == "trace":
        if debias:
            raise ValueError("momentum: `debias=True` applies to form='ewma' only.")
        trace = Trace(beta, nesterov=nesterov, m_dtype=m_dtype)
        return optimizer_chain("momentum", learning_rate, maximize, trace)
    raise ValueError(f"momentum: `form` must be 'ewma' or 'trace', got {form!r}.")


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: Any = 0.0,
    weight_decay_mask: Any = True,
    trust_coefficient: Any = 0.001,
    eps: Any = 0.0,
    trust_ratio_mask: Any = True,
    momentum: Any = 0.9,
    nesterov: bool = False,
    *,
    maximize: bool = False,
    m_dtype: Any = None,
) -> Chain:
    """LARS (You, Gitman & Ginsburg, 2017): layer-wise trust ratio with momentum.

    g ← g + λθ; g ← η‖θ‖/(‖g‖ + ε)·g per layer; m ← βm + αg; θ ← θ − m. The chain:
    ``chain(add_decayed_weights(λ), scale_by_trust_ratio(η, ε),
    scale_by_learning_rate(α), trace(β))``, the first two inside ``masked`` when
    their masks are given.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        weight_decay: λ ≥ 0.
        weight_decay_mask: ``True`` for all leaves, a pytree of bools, or a function
            of the parameters: the leaves that decay.
        trust_coefficient: η > 0.
        eps: ε ≥ 0.
        trust_ratio_mask: the leaves scaled by the trust ratio (as the decay mask).
        momentum: β in [0, 1).
        nesterov: Nesterov momentum.
        m_dtype: dtype of the momentum buffer (default: the parameter's).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.lars(1.0, trust_coefficient=0.1)
        >>> params = jnp.array([3.0, 4.0])
        >>> opt.update(jnp.array([0.0, 1.0]), opt.init(params), params)[0]
        Array([ 0. , -0.5], dtype=float32)
    """
    lr = lr_block("lars", learning_rate)
    check_range("lars", "weight_decay", weight_decay, 0.0)
    check_range("lars", "trust_coefficient", trust_coefficient, 0.0, low_open=True)
    check_range("lars", "eps", eps, 0.0)
    check_range("lars", "momentum", momentum, 0.0, 1.0, high_open=True)

    def maybe_masked(tx: Transform, mask: Any) -> Transform:
        return tx if mask is True else masked(tx, mask)

    return Chain(
        (
            *sign(maximize),
            maybe_masked(AddDecayedWeights(weight_decay), weight_decay_mask),
            maybe_masked(ScaleByTrustRatio(trust_coefficient, eps), trust_ratio_mask),
            lr,
            Trace(momentum, nesterov=nesterov, m_dtype=m_dtype),
        ),
        "lars",
    )


def lion(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.99,
    m_dtype: Any = None,
    weight_decay: Any = 1e-3,
    mask: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Lion (Chen et al., 2023, arXiv:2302.06675): θ ← θ − α(sign(β₁m + (1−β₁)g) + λθ).

    The chain: ``chain(scale_by_lion(β₁, β₂), add_decayed_weights(λ, mask),
    scale_by_learning_rate(α))``; see :class:`ScaleByLion`. Every coordinate moves by α
    (before decay), so Lion wants a learning rate 3–10 times smaller than AdamW's. β₁ =
    0.9 and β₂ = 0.99 are the paper's; the paper tunes λ per task, and λ = 1e-3 is Optax's
    default (``mu_dtype`` there is ``m_dtype`` here).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        m_dtype: dtype of m (default: the parameter's).
        weight_decay: λ ≥ 0, decoupled and multiplied by α.
        mask: which leaves decay: a pytree of bools, a function of the parameters
            returning one, or ``None`` for all.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.lion(0.1, weight_decay=0.0)
        >>> params = jnp.array([1.0, 1.0])
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(params), params)[0]
        Array([-0.1,  0.1], dtype=float32)
    """
    check_range("lion", "b1", b1, 0.0, 1.0, high_open=True)
    check_range("lion", "b2", b2, 0.0, 1.0, high_open=True)
    core = ScaleByLion(b1, b2, dtype=m_dtype)
    return optimizer_chain("lion", learning_rate, maximize, core, decay=weight_decay, mask=mask)
