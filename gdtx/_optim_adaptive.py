"""Optimizers with per-coordinate rates from a second moment: AdaGrad, RMSProp, Adadelta,
SM3."""

from __future__ import annotations

from typing import Any

from ._base import Transform
from ._combine import Chain
from ._moments import Ema
from ._momentum import Trace
from ._optim import ScalarOrSchedule, optimizer_chain
from ._rms import scale_by_adadelta, scale_by_rms, scale_by_rss
from ._sm3 import ScaleBySm3
from ._validate import check_range


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
    check_range("adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0)
    check_range("adagrad", "eps", eps, 0.0)
    rss = scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt, v_dtype=v_dtype)
    return optimizer_chain("adagrad", learning_rate, maximize, rss, l2_decay=weight_decay)


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
    check_range("rmsprop", "decay", decay, 0.0, 1.0, high_open=True)
    check_range("rmsprop", "eps", eps, 0.0)
    check_range("rmsprop", "initial_scale", initial_scale, 0.0)
    blocks: list[Transform] = [
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
    return optimizer_chain("rmsprop", learning_rate, maximize, *blocks, l2_decay=weight_decay)


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
    check_range("adadelta", "rho", rho, 0.0, 1.0, high_open=True)
    check_range("adadelta", "eps", eps, 0.0, low_open=True)
    core = scale_by_adadelta(rho, eps, v_dtype=v_dtype)
    return optimizer_chain("adadelta", learning_rate, maximize, core, l2_decay=weight_decay)


def sm3(
    learning_rate: ScalarOrSchedule,
    momentum: Any = 0.9,
    *,
    eps: Any = 0.0,
    maximize: bool = False,
    m_dtype: Any = None,
) -> Chain:
    """SM3 (Anil, Gupta, Koren & Singer, 2019, "Memory-Efficient Adaptive Optimization",
    arXiv:1901.11150): AdaGrad whose accumulators are one number per row and per column of
    each matrix.

    θ ← θ − α·m, m ← βm + (1 − β)·g/√ν with SM3-II's ν (:class:`ScaleBySm3`). The chain:
    ``chain(scale_by_sm3(ε), ema(β, debias=False), scale_by_learning_rate(α))``, without
    the EWMA when ``momentum`` is ``None``. Arguments as Optax's ``sm3``; β = 0.9 is the
    paper's experiments' and Optax's. The paper has no ε (Optax's ``sm3`` adds 1e-8 inside
    the root: ``eps=1e-8`` here). Unlike Optax's, scalars are accepted (their accumulator
    is AdaGrad's) and a leaf of three or more dimensions is a stack of matrices.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        momentum: β in [0, 1), the EWMA of the preconditioned gradient (not bias-corrected),
            or ``None`` for none.
        eps: ε ≥ 0 inside the root.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        m_dtype: dtype of m (default: the parameter's).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.sm3(0.1, momentum=None)
        >>> params = {"w": jnp.zeros((2, 2))}
        >>> grads = {"w": jnp.array([[3.0, -1.0], [0.5, 2.0]])}
        >>> opt.update(grads, opt.init(params))[0]["w"]  # the first step is −α·sign(g)
        Array([[-0.1,  0.1],
               [-0.1, -0.1]], dtype=float32)
    """
    check_range("sm3", "eps", eps, 0.0)
    if momentum is None:
        return optimizer_chain("sm3", learning_rate, maximize, ScaleBySm3(eps))
    check_range("sm3", "momentum", momentum, 0.0, 1.0, high_open=True)
    ema = Ema(momentum, dtype=m_dtype)
    return optimizer_chain("sm3", learning_rate, maximize, ScaleBySm3(eps), ema)
