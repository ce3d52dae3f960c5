"""Optimizers: each a short chain of building blocks.

Names and argument names follow Optax where Optax has the same algorithm;
defaults follow the original papers. ``weight_decay`` (where offered besides
``adamw``) is L2 added to the gradient before everything else, as in
``torch.optim``; ``None`` leaves the block out. ``m_dtype`` and ``v_dtype``
set the dtypes of the first and second moments (default: the parameter's;
Optax calls the first ``mu_dtype``). README.md lists every difference from
PyTorch and Optax and the arguments that reproduce each.
"""

from __future__ import annotations

from typing import Any, Literal

from ._adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam
from ._base import Transform
from ._combine import Chain, masked
from ._moments import ema
from ._momentum import Trace
from ._rms import scale_by_adadelta, scale_by_rms, scale_by_rss
from ._scale import AddDecayedWeights, ScaleByLearningRate, ScaleByTrustRatio

ScalarOrSchedule = Any
"""A number, or a schedule: a function of the step count."""


def _l2(weight_decay: Any) -> tuple[Transform, ...]:
    """PyTorch-style weight decay (λθ added to the gradient), absent for ``None``."""
    return () if weight_decay is None else (AddDecayedWeights(weight_decay),)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Any = None,
    nesterov: bool = False,
    *,
    dampening: Any = 0.0,
    weight_decay: Any = None,
    m_dtype: Any = None,
) -> Chain:
    """Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum.

    θ ← θ − α·g, or with momentum β: m ← βm + (1 − τ)g, θ ← θ − α·m
    (θ ← θ − α(g + βm) with Nesterov). See :class:`Trace` and
    :class:`ScaleByLearningRate`.

    Args:
        learning_rate: α, a number or a schedule.
        momentum: β, or ``None`` for plain gradient descent.
        nesterov: use Nesterov momentum (needs ``momentum``).
        dampening: τ, as in ``torch.optim.SGD``.
        weight_decay: L2 coefficient λ added to the gradient, or ``None``.
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
        return Chain((*_l2(weight_decay), ScaleByLearningRate(learning_rate)))
    return Chain(
        (
            *_l2(weight_decay),
            Trace(momentum, nesterov=nesterov, dampening=dampening, m_dtype=m_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


def momentum(
    learning_rate: ScalarOrSchedule,
    beta: Any = 0.9,
    *,
    form: Literal["ewma", "trace"] = "ewma",
    debias: bool = False,
    nesterov: bool = False,
    m_dtype: Any = None,
) -> Chain:
    """Momentum in either of its two textbook forms.

    - ``form="ewma"``: v ← βv + (1 − β)g, θ ← θ − αv (an exponentially
      weighted average of the gradients; ``debias`` divides by 1 − βᵗ).
    - ``form="trace"``: m ← βm + g, θ ← θ − αm (heavy ball, as ``sgd`` with
      ``momentum``; the steps are 1/(1 − β) times larger for the same α).

    Args:
        learning_rate: α, a number or a schedule.
        beta: β in [0, 1).
        form: ``"ewma"`` or ``"trace"``.
        debias: EWMA form only: bias-correct v.
        nesterov: trace form only: Nesterov momentum.

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
    if form == "ewma":
        if nesterov:
            raise ValueError("momentum: `nesterov=True` applies to form='trace' only.")
        return Chain((ema(beta, debias, dtype=m_dtype), ScaleByLearningRate(learning_rate)))
    if form == "trace":
        if debias:
            raise ValueError("momentum: `debias=True` applies to form='ewma' only.")
        return Chain(
            (Trace(beta, nesterov=nesterov, m_dtype=m_dtype), ScaleByLearningRate(learning_rate))
        )
    raise ValueError(f"momentum: `form` must be 'ewma' or 'trace', got {form!r}.")


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: Any = 0.0,
    eps: Any = 1e-10,
    *,
    eps_in_sqrt: bool = False,
    weight_decay: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AdaGrad (Duchi, Hazan & Singer, 2011): θ ← θ − α·g / (√v + ε), v ← v + g².

    See :class:`ScaleByRss`. PyTorch's ``lr_decay`` is the schedule
    ``inverse_time_decay(lr, lr_decay)``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adagrad(0.1)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([4.0]), opt.init(params))[0]
        Array([-0.1], dtype=float32)
    """
    return Chain(
        (
            *_l2(weight_decay),
            scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt, v_dtype=v_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Any = None,
    nesterov: bool = False,
    bias_correction: bool = False,
    *,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """RMSProp (Tieleman & Hinton, 2012; centred form from Graves, 2013).

    θ ← θ − α·g / √(v + ε) with v ← βv + (1 − β)g²; see :class:`ScaleByRms`.
    With ``momentum`` μ the scaled gradient feeds a trace before the learning
    rate (b ← μb + g/√(v+ε), θ ← θ − αb), as in ``torch.optim.RMSprop``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.rmsprop(0.01, decay=0.99, eps=0.0)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([1.0]), opt.init(params))[0].round(6)  # −0.01/√0.01
        Array([-0.1], dtype=float32)
    """
    blocks: list[Transform] = [
        *_l2(weight_decay),
        scale_by_rms(
            decay,
            eps,
            initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            centered=centered,
            bias_correction=bias_correction,
            m_dtype=m_dtype,
            v_dtype=v_dtype,
        ),
    ]
    if momentum is not None:
        blocks.append(Trace(momentum, nesterov=nesterov, m_dtype=m_dtype))
    elif nesterov:
        raise ValueError("rmsprop: `nesterov=True` needs a `momentum` value, got None.")
    return Chain((*blocks, ScaleByLearningRate(learning_rate)))


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: Any = 0.95,
    eps: Any = 1e-6,
    *,
    weight_decay: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Adadelta (Zeiler, 2012): θ ← θ − α·Δ; see :class:`ScaleByAdadelta`.

    The paper has no learning rate (α = 1, the default) and uses ρ = 0.95.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adadelta()
        >>> params = jnp.array([1.0])
        >>> float(opt.update(jnp.array([1.0]), opt.init(params))[0][0]) < 0
        True
    """
    return Chain(
        (
            *_l2(weight_decay),
            scale_by_adadelta(rho, eps, v_dtype=v_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    *,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Adam (Kingma & Ba, 2015): θ ← θ − α·m̂ / (√v̂ + ε); see :class:`ScaleByAdam`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adam(1e-3)
        >>> params = {"w": jnp.ones(2)}
        >>> updates, state = opt.update({"w": jnp.array([3.0, -1.0])}, opt.init(params))
        >>> updates["w"]
        Array([-0.001,  0.001], dtype=float32)
    """
    return Chain(
        (
            *_l2(weight_decay),
            scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AMSGrad (Reddi et al., 2018): Adam with a non-decreasing v; see :class:`ScaleByAmsgrad`.

    Equals ``torch.optim.Adam(amsgrad=True)``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.amsgrad(1e-3)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([2.0]), opt.init(params))[0].round(6)
        Array([-0.001], dtype=float32)
    """
    return Chain(
        (
            *_l2(weight_decay),
            scale_by_amsgrad(b1, b2, eps, m_dtype=m_dtype, v_dtype=v_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    weight_decay: Any = 1e-4,
    mask: Any = None,
    *,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AdamW (Loshchilov & Hutter, 2019): θ ← θ − α(m̂ / (√v̂ + ε) + λθ).

    The decay is decoupled from the moments and multiplied by the learning
    rate, as in ``torch.optim.AdamW`` and Optax. ``mask`` selects the leaves
    that decay (see :class:`AddDecayedWeights`).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adamw(0.1, weight_decay=0.5)
        >>> params = jnp.array([2.0])
        >>> opt.update(jnp.array([1.0]), opt.init(params), params)[0]  # −0.1·(1 + 0.5·2)
        Array([-0.2], dtype=float32)
    """
    return Chain(
        (
            scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype),
            AddDecayedWeights(weight_decay, mask),
            ScaleByLearningRate(learning_rate),
        )
    )


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    eps_in_max: bool = True,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Adamax (Kingma & Ba, 2015, §7.1): Adam with the infinity norm; see :class:`ScaleByAdamax`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adamax(0.002)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([5.0]), opt.init(params))[0]
        Array([-0.002], dtype=float32)
    """
    return Chain(
        (
            *_l2(weight_decay),
            scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max, m_dtype=m_dtype, v_dtype=v_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    *,
    momentum_decay: Any = 4e-3,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """NAdam (Dozat, 2016): Adam with Nesterov momentum; see :class:`ScaleByNadam`.

    The default momentum schedule μ_t = β₁(1 − ½·0.96^(tψ)), ψ = 0.004, is the
    paper's and PyTorch's; ``momentum_decay=None`` gives Optax's constant μ = β₁.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.nadam(2e-3)
        >>> params = jnp.array([1.0])
        >>> float(opt.update(jnp.array([1.0]), opt.init(params))[0][0]) < 0
        True
    """
    return Chain(
        (
            *_l2(weight_decay),
            scale_by_nadam(b1, b2, eps, momentum_decay, m_dtype=m_dtype, v_dtype=v_dtype),
            ScaleByLearningRate(learning_rate),
        )
    )


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
    m_dtype: Any = None,
) -> Chain:
    """LARS (You, Gitman & Ginsburg, 2017): layer-wise trust ratio with momentum.

    g ← g + λθ; g ← η‖θ‖/‖g‖·g per layer; m ← βm + αg; θ ← θ − m. See
    :class:`ScaleByTrustRatio`. Masks (``True`` for all leaves, a pytree of
    bools, or a function of the parameters) choose which leaves decay and
    which are scaled by the trust ratio.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.lars(1.0, trust_coefficient=0.1)
        >>> params = jnp.array([3.0, 4.0])
        >>> opt.update(jnp.array([0.0, 1.0]), opt.init(params), params)[0]
        Array([ 0. , -0.5], dtype=float32)
    """

    def maybe_masked(tx: Transform, mask: Any) -> Transform:
        return tx if mask is True else masked(tx, mask)

    return Chain(
        (
            maybe_masked(AddDecayedWeights(weight_decay), weight_decay_mask),
            maybe_masked(ScaleByTrustRatio(trust_coefficient, eps), trust_ratio_mask),
            ScaleByLearningRate(learning_rate),
            Trace(momentum, nesterov=nesterov, m_dtype=m_dtype),
        )
    )
