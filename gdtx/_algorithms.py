"""Optimizers: each a short chain of building blocks.

Names and argument names follow Optax where Optax has the same algorithm;
defaults follow the original papers. ``weight_decay`` (where offered besides
``adamw``) is L2 added to the gradient before everything else, as in
``torch.optim``; ``None`` leaves the block out. ``m_dtype`` and ``v_dtype``
set the dtypes of the first and second moments (default: the parameter's for m,
real and at least float32 for v; Optax calls the first ``mu_dtype``). README.md
lists every difference from PyTorch and Optax and the arguments that reproduce each.

Each optimizer checks its own hyperparameters, so an error names the optimizer and
the argument the user wrote.
"""

from __future__ import annotations

from typing import Any, Literal

from ._adam import (
    check_adam_family,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_nadam,
)
from ._base import Transform
from ._combine import Chain, masked
from ._moments import ema
from ._momentum import Trace
from ._rms import scale_by_adadelta, scale_by_rms, scale_by_rss
from ._scale import AddDecayedWeights, Scale, ScaleByLearningRate, ScaleByTrustRatio
from ._validate import check_range

ScalarOrSchedule = Any
"""A number, or a schedule: a function of the step count."""


def _l2(owner: str, weight_decay: Any) -> tuple[Transform, ...]:
    """PyTorch-style weight decay (λθ added to the gradient), absent for ``None``."""
    if weight_decay is None:
        return ()
    check_range(owner, "weight_decay", weight_decay, 0.0)
    return (AddDecayedWeights(weight_decay),)


def _sign(maximize: bool) -> tuple[Transform, ...]:
    """g ← −g first when maximizing (torch's ``maximize``), before any weight decay."""
    return (Scale(-1.0),) if maximize else ()


def _lr(owner: str, learning_rate: Any) -> ScaleByLearningRate:
    """The learning-rate block, its constant checked under the optimizer's name."""
    if not callable(learning_rate):
        check_range(owner, "learning_rate", learning_rate, 0.0)
    return ScaleByLearningRate(learning_rate)


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
    lr = _lr("sgd", learning_rate)
    if momentum is None:
        if nesterov:
            raise ValueError("sgd: `nesterov=True` needs a `momentum` value, got None.")
        return Chain((*_sign(maximize), *_l2("sgd", weight_decay), lr), "sgd")
    check_range("sgd", "momentum", momentum, 0.0, 1.0, high_open=True)
    check_range("sgd", "dampening", dampening, 0.0, 1.0)
    if nesterov and isinstance(dampening, int | float) and dampening != 0:
        raise ValueError(f"sgd: Nesterov momentum needs `dampening` = 0, got {dampening!r}.")
    trace = Trace(momentum, nesterov=nesterov, dampening=dampening, m_dtype=m_dtype)
    return Chain((*_sign(maximize), *_l2("sgd", weight_decay), trace, lr), "sgd")


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
    lr = _lr("momentum", learning_rate)
    check_range("momentum", "beta", beta, 0.0, 1.0, high_open=True)
    if form == "ewma":
        if nesterov:
            raise ValueError("momentum: `nesterov=True` applies to form='trace' only.")
        return Chain((*_sign(maximize), ema(beta, debias, dtype=m_dtype), lr), "momentum")
    if form == "trace":
        if debias:
            raise ValueError("momentum: `debias=True` applies to form='ewma' only.")
        return Chain(
            (*_sign(maximize), Trace(beta, nesterov=nesterov, m_dtype=m_dtype), lr), "momentum"
        )
    raise ValueError(f"momentum: `form` must be 'ewma' or 'trace', got {form!r}.")


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: Any = 0.0,
    eps: Any = 1e-10,
    *,
    maximize: bool = False,
    eps_in_sqrt: bool = False,
    weight_decay: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """AdaGrad (Duchi, Hazan & Singer, 2011): θ ← θ − α·g / (√v + ε), v ← v + |g|².

    The chain: ``chain(scale_by_rss(v₀, ε), scale_by_learning_rate(α))``, where
    ``scale_by_rss`` is ``fork(identity(), chain(sum_of_squares(v₀), inverse_root(ε)))``.
    PyTorch's ``lr_decay`` is the schedule ``inverse_time_decay(lr, lr_decay)``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        initial_accumulator_value: v₀ ≥ 0 (0 in the paper and PyTorch, 0.1 in Optax).
        eps: ε ≥ 0.
        eps_in_sqrt: ε inside the root (Optax) or outside (the paper, PyTorch).
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adagrad(0.1)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([4.0]), opt.init(params))[0]
        Array([-0.1], dtype=float32)
    """
    lr = _lr("adagrad", learning_rate)
    check_range("adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0)
    check_range("adagrad", "eps", eps, 0.0)
    rss = scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt, v_dtype=v_dtype)
    return Chain((*_sign(maximize), *_l2("adagrad", weight_decay), rss, lr), "adagrad")


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
    maximize: bool = False,
    weight_decay: Any = None,
    m_dtype: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """RMSProp (Tieleman & Hinton, 2012; centred form from Graves, 2013).

    θ ← θ − α·g / √(v + ε) with v ← βv + (1 − β)|g|². The chain:
    ``chain(scale_by_rms(β, ε), scale_by_learning_rate(α))``, where ``scale_by_rms``
    is ``fork(identity(), chain(ema(β, moment=2), inverse_root(ε)))``. With
    ``momentum`` μ the scaled gradient feeds a trace before the learning rate
    (b ← μb + g/√(v+ε), θ ← θ − αb), as in ``torch.optim.RMSprop``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        decay: β in [0, 1) (Optax's ``decay``, PyTorch's ``alpha``).
        eps: ε ≥ 0.
        initial_scale: the initial value of v (≥ 0).
        eps_in_sqrt: ε inside the root (Optax, Graves) or outside (PyTorch).
        centered: subtract the squared mean of g (Graves, 2013).
        momentum: μ in [0, 1), or ``None`` for none.
        nesterov: Nesterov momentum (needs ``momentum``).
        bias_correction: divide v (and m) by 1 − βᵗ.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        m_dtype: dtype of the centred mean and the momentum buffer (default: the
            parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.rmsprop(0.01, decay=0.99, eps=0.0)
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([1.0]), opt.init(params))[0].round(6)  # −0.01/√0.01
        Array([-0.1], dtype=float32)
    """
    lr = _lr("rmsprop", learning_rate)
    check_range("rmsprop", "decay", decay, 0.0, 1.0, high_open=True)
    check_range("rmsprop", "eps", eps, 0.0)
    check_range("rmsprop", "initial_scale", initial_scale, 0.0)
    blocks: list[Transform] = [
        *_sign(maximize),
        *_l2("rmsprop", weight_decay),
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
        check_range("rmsprop", "momentum", momentum, 0.0, 1.0, high_open=True)
        blocks.append(Trace(momentum, nesterov=nesterov, m_dtype=m_dtype))
    elif nesterov:
        raise ValueError("rmsprop: `nesterov=True` needs a `momentum` value, got None.")
    return Chain((*blocks, lr), "rmsprop")


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: Any = 0.95,
    eps: Any = 1e-6,
    *,
    maximize: bool = False,
    weight_decay: Any = None,
    v_dtype: Any = None,
) -> Chain:
    """Adadelta (Zeiler, 2012): θ ← θ − α·Δ, Δ = √(d + ε)/√(v + ε)·g.

    The chain: ``chain(scale_by_adadelta(ρ, ε), scale_by_learning_rate(α))``, where
    ``scale_by_adadelta`` is RMSProp (ε inside the root) followed by
    ``scale_by_step_rms(ρ, ε)``. The paper has no learning rate (α = 1, the default)
    and uses ρ = 0.95.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first, before any weight decay
            (torch's ``maximize``).
        rho: ρ in [0, 1).
        eps: ε > 0.
        weight_decay: L2 coefficient λ ≥ 0 added to the gradient, or ``None``.
        v_dtype: dtype of v and d (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adadelta()
        >>> params = jnp.array([1.0])
        >>> float(opt.update(jnp.array([1.0]), opt.init(params))[0][0]) < 0
        True
    """
    lr = _lr("adadelta", learning_rate)
    check_range("adadelta", "rho", rho, 0.0, 1.0, high_open=True)
    check_range("adadelta", "eps", eps, 0.0, low_open=True)
    return Chain(
        (
            *_sign(maximize),
            *_l2("adadelta", weight_decay),
            scale_by_adadelta(rho, eps, v_dtype=v_dtype),
            lr,
        ),
        "adadelta",
    )


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
    lr = _lr("adam", learning_rate)
    check_adam_family("adam", b1, b2, eps)
    check_range("adam", "eps_root", eps_root, 0.0)
    core = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype)
    return Chain((*_sign(maximize), *_l2("adam", weight_decay), core, lr), "adam")


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
    lr = _lr("amsgrad", learning_rate)
    check_adam_family("amsgrad", b1, b2, eps)
    core = scale_by_amsgrad(b1, b2, eps, m_dtype=m_dtype, v_dtype=v_dtype)
    return Chain((*_sign(maximize), *_l2("amsgrad", weight_decay), core, lr), "amsgrad")


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
    lr = _lr("adamw", learning_rate)
    check_adam_family("adamw", b1, b2, eps)
    check_range("adamw", "eps_root", eps_root, 0.0)
    check_range("adamw", "weight_decay", weight_decay, 0.0)
    core = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype, v_dtype=v_dtype)
    return Chain((*_sign(maximize), core, AddDecayedWeights(weight_decay, mask), lr), "adamw")


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
    lr = _lr("adamax", learning_rate)
    check_adam_family("adamax", b1, b2, eps)
    core = scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max, m_dtype=m_dtype, v_dtype=v_dtype)
    return Chain((*_sign(maximize), *_l2("adamax", weight_decay), core, lr), "adamax")


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
    lr = _lr("nadam", learning_rate)
    check_adam_family("nadam", b1, b2, eps)
    if momentum_decay is not None:
        check_range("nadam", "momentum_decay", momentum_decay, 0.0)
    core = scale_by_nadam(b1, b2, eps, momentum_decay, m_dtype=m_dtype, v_dtype=v_dtype)
    return Chain((*_sign(maximize), *_l2("nadam", weight_decay), core, lr), "nadam")


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
    lr = _lr("lars", learning_rate)
    check_range("lars", "weight_decay", weight_decay, 0.0)
    check_range("lars", "trust_coefficient", trust_coefficient, 0.0, low_open=True)
    check_range("lars", "eps", eps, 0.0)
    check_range("lars", "momentum", momentum, 0.0, 1.0, high_open=True)

    def maybe_masked(tx: Transform, mask: Any) -> Transform:
        return tx if mask is True else masked(tx, mask)

    return Chain(
        (
            *_sign(maximize),
            maybe_masked(AddDecayedWeights(weight_decay), weight_decay_mask),
            maybe_masked(ScaleByTrustRatio(trust_coefficient, eps), trust_ratio_mask),
            lr,
            Trace(momentum, nesterov=nesterov, m_dtype=m_dtype),
        ),
        "lars",
    )
