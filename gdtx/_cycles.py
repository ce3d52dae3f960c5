r"""Cycles: piecewise interpolation, the one-cycle policy and warm restarts (SGDR).

Optax's ``piecewise_interpolate_schedule``, ``linear_onecycle_schedule``,
``cosine_onecycle_schedule`` and ``sgdr_schedule``, with Optax's names and
arguments, as :class:`~gdtx.Schedule` pytrees. ``schedule(count)`` is the value for
the step after ``count`` steps. The docstrings name the calls that reproduce
PyTorch's ``OneCycleLR`` and ``CosineAnnealingWarmRestarts`` step for step: the
learning rate of torch's step k + 1 (after k ``scheduler.step()`` calls) is the gdtx
schedule at count k.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._base import static
from ._schedules import (
    CosineDecay,
    JoinSchedules,
    Schedule,
    as_float,
    warmup_cosine_decay_schedule,
)
from ._validate import check_positive_int, check_range

__all__ = [
    "PiecewiseInterpolate",
    "cosine_onecycle_schedule",
    "linear_onecycle_schedule",
    "piecewise_interpolate_schedule",
    "sgdr_schedule",
]


class PiecewiseInterpolate(Schedule):
    r"""Interpolates between values v₀ = α₀, vᵢ = vᵢ₋₁·sᵢ reached at boundaries bᵢ.

    With b₀ = 0, on [bᵢ, bᵢ₊₁) and u = (count − bᵢ)/max(bᵢ₊₁ − bᵢ, 1):

    $$ \alpha = v_i + (v_{i+1} - v_i)\,u \quad\text{(linear)}, \qquad
       \alpha = v_{i+1} + \tfrac12 (v_i - v_{i+1})\bigl(1 + \cos(\pi u)\bigr)
       \quad\text{(cosine)} $$

    and α = vₙ from the last boundary on. The scales multiply: the value at a
    boundary is the product of α₀ and every scale up to it. Optax's
    ``piecewise_interpolate_schedule``; the one-cycle schedules are instances.

    Attributes:
        interpolate_type: ``"linear"`` or ``"cosine"`` (static).
        init_value: α₀.
        boundaries: b₁ < b₂ < … (non-negative; need not be integers).
        scales: s₁, s₂, … ≥ 0, one per boundary.

    Example:
        >>> import gdtx
        >>> s = gdtx.piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
        >>> [round(float(s(k)), 6) for k in (0, 2, 4, 6, 8, 10)]
        [1.0, 0.55, 0.1, 0.0505, 0.001, 0.001]
    """

    interpolate_type: str = static()
    init_value: Any
    boundaries: tuple[Any, ...] = ()
    scales: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.interpolate_type not in ("linear", "cosine"):
            raise ValueError(
                "piecewise_interpolate_schedule: `interpolate_type` must be 'linear' or "
                f"'cosine', got {self.interpolate_type!r}."
            )
        if len(self.boundaries) != len(self.scales):
            raise ValueError(
                "piecewise_interpolate_schedule: needs one scale per boundary, got "
                f"{len(self.boundaries)} boundaries and {len(self.scales)} scales."
            )

    def __call__(self, count: Any) -> jax.Array:
        c = jnp.asarray(count).astype(jnp.result_type(float))
        values = [as_float(self.init_value)]
        for s in self.scales:
            values.append(values[-1] * as_float(s))  # vᵢ = vᵢ₋₁·sᵢ
        bounds = [as_float(0), *(as_float(b) for b in self.boundaries)]
        out = values[-1] + jnp.zeros_like(c)  # from the last boundary on
        for i in reversed(range(len(self.boundaries))):
            start, end = values[i], values[i + 1]
            u = (c - bounds[i]) / jnp.maximum(bounds[i + 1] - bounds[i], 1.0)
            if self.interpolate_type == "linear":
                value = start + (end - start) * u
            else:
                value = end + (start - end) / 2 * (jnp.cos(math.pi * u) + 1)
            out = jnp.where(c < bounds[i + 1], value, out)
        return out


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: Any,
    boundaries_and_scales: Mapping[Any, Any] | None = None,
) -> PiecewiseInterpolate:
    r"""Linear or cosine interpolation between values scaled at boundaries; see
    :class:`PiecewiseInterpolate`.

    PyTorch's ``OneCycleLR(opt, max_lr, total_steps=T, pct_start=p,
    anneal_strategy, div_factor=d, final_div_factor=f)`` peaks at step pT − 1
    (counted from 0) and ends at T − 1, one step earlier than
    :func:`cosine_onecycle_schedule`; it is, step for step,

    .. code-block:: python

        gdtx.piecewise_interpolate_schedule(
            "cosine",  # or "linear" for anneal_strategy="linear"
            max_lr / d,
            {p * T - 1: d, T - 1: 1 / (d * f)},
        )

    and with ``three_phase=True``, ``{p*T - 1: d, 2*p*T - 2: 1/d, T - 1: 1/f}``.
    (torch refuses to step past T; gdtx holds the final value.)

    Args:
        interpolate_type: ``"linear"`` or ``"cosine"``.
        init_value: α₀, the value of the first step.
        boundaries_and_scales: ``{boundary: scale}``; the value reached at a
            boundary is the previous boundary's value times its scale.

    Returns:
        The schedule.

    Example:
        >>> import gdtx
        >>> s = gdtx.piecewise_interpolate_schedule("cosine", 1.0, {10: 0.0})
        >>> [round(float(s(k)), 3) for k in (0, 5, 10)]
        [1.0, 0.5, 0.0]
    """
    owner = "piecewise_interpolate_schedule"
    items = sorted((boundaries_and_scales or {}).items())
    for b, s in items:
        check_range(owner, f"boundary {b}", b, 0.0)
        check_range(owner, f"scale at {b}", s, 0.0)
    return PiecewiseInterpolate(
        interpolate_type, init_value, tuple(b for b, _ in items), tuple(s for _, s in items)
    )


def _check_onecycle(
    owner: str, transition_steps: Any, peak_value: Any, pct_start: Any, div: Any, final: Any
) -> None:
    check_positive_int(owner, "transition_steps", transition_steps)
    check_range(owner, "peak_value", peak_value)
    check_range(owner, "pct_start", pct_start, 0.0, 1.0)
    check_range(owner, "div_factor", div, 0.0, low_open=True)
    check_range(owner, "final_div_factor", final, 0.0, low_open=True)


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> PiecewiseInterpolate:
    r"""The one-cycle policy with linear phases (Smith & Topin, 2017, arXiv:1708.07120).

    With T = ``transition_steps``, α_peak = ``peak_value``, α₀ = α_peak/d:

    - up from α₀ to α_peak until count ⌊p_s T⌋ (p_s = ``pct_start``);
    - back down to α₀ at count ⌊p_f T⌋ (p_f = ``pct_final``);
    - down to α₀/f at count T (f = ``final_div_factor``), and held there.

    Optax's ``linear_onecycle_schedule``, defaults included. PyTorch's
    ``OneCycleLR(..., anneal_strategy="linear", three_phase=True)`` is the same
    shape one step earlier, with p_f = 2p_s (see
    :func:`piecewise_interpolate_schedule` for the exact call).

    Args:
        transition_steps: T, positive.
        peak_value: α_peak.
        pct_start: p_s in [0, 1], the fraction of T spent rising.
        pct_final: p_f in [p_s, 1], where the value is back at α₀.
        div_factor: d > 0.
        final_div_factor: f > 0.

    Returns:
        The schedule (a :class:`PiecewiseInterpolate`).

    Example:
        >>> import gdtx
        >>> s = gdtx.linear_onecycle_schedule(100, peak_value=1.0)
        >>> [round(float(s(k)), 4) for k in (0, 30, 85, 100)]
        [0.04, 1.0, 0.04, 0.0]
    """
    owner = "linear_onecycle_schedule"
    _check_onecycle(owner, transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    check_range(owner, "pct_final", pct_final, float(pct_start), 1.0)
    T = int(transition_steps)
    bounds = {  # a dict, as Optax builds it: a later equal boundary replaces an earlier one
        int(pct_start * T): div_factor,
        int(pct_final * T): 1.0 / div_factor,
        T: 1.0 / final_div_factor,
    }
    return piecewise_interpolate_schedule("linear", peak_value / div_factor, bounds)


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> PiecewiseInterpolate:
    r"""The one-cycle policy with cosine phases (Smith & Topin, 2017, arXiv:1708.07120).

    With T = ``transition_steps``, α_peak = ``peak_value``, α₀ = α_peak/d, the
    value rises by a half cosine from α₀ to α_peak at count ⌊p T⌋ (p =
    ``pct_start``), then falls by a half cosine to α₀/f at count T
    (f = ``final_div_factor``) and stays there. Optax's
    ``cosine_onecycle_schedule``, defaults included.

    PyTorch's ``OneCycleLR(opt, max_lr, total_steps=T)`` (cosine, two phases)
    peaks one step earlier, at step pT − 1, and reaches α₀/f at step T − 1; so
    ``cosine_onecycle_schedule(T, max_lr)`` is not it step for step. The exact
    equivalent is

    .. code-block:: python

        gdtx.piecewise_interpolate_schedule(
            "cosine", max_lr / 25.0, {0.3 * T - 1: 25.0, T - 1: 1 / (25.0 * 1e4)}
        )

    (with torch's defaults p = 0.3, d = 25, f = 1e4; see
    :func:`piecewise_interpolate_schedule`). torch's momentum cycling
    (``cycle_momentum``) has no counterpart here.

    Args:
        transition_steps: T, positive.
        peak_value: α_peak.
        pct_start: p in [0, 1], the fraction of T spent rising.
        div_factor: d > 0.
        final_div_factor: f > 0.

    Returns:
        The schedule (a :class:`PiecewiseInterpolate`).

    Example:
        >>> import gdtx
        >>> s = gdtx.cosine_onecycle_schedule(100, peak_value=1.0)
        >>> [round(float(s(k)), 4) for k in (0, 15, 30, 100)]
        [0.04, 0.52, 1.0, 0.0]
    """
    owner = "cosine_onecycle_schedule"
    _check_onecycle(owner, transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    T = int(transition_steps)
    bounds = {int(pct_start * T): div_factor, T: 1.0 / (div_factor * final_div_factor)}
    return piecewise_interpolate_schedule("cosine", peak_value / div_factor, bounds)


_CYCLE_ARGS = ("init_value", "peak_value", "warmup_steps", "decay_steps", "end_value", "exponent")


def _cycle(i: int, kwargs: Mapping[str, Any]) -> Schedule:
    """One cycle of :func:`sgdr_schedule`: a warm-up and a cosine decay."""
    owner = "sgdr_schedule"
    unknown = sorted(set(kwargs) - set(_CYCLE_ARGS))
    missing = [k for k in _CYCLE_ARGS[:4] if k not in kwargs]
    if unknown or missing:
        raise TypeError(
            f"{owner}: cycle {i} takes the arguments of warmup_cosine_decay_schedule "
            f"({', '.join(_CYCLE_ARGS)}); unknown: {unknown or 'none'}, missing: "
            f"{missing or 'none'}."
        )
    args = {"end_value": 0.0, "exponent": 1.0, **kwargs}
    check_positive_int(owner, f"decay_steps of cycle {i}", args["decay_steps"])
    check_range(owner, f"warmup_steps of cycle {i}", args["warmup_steps"], 0.0)
    if args["warmup_steps"] == 0:  # no warm-up: the cosine from the first step
        check_range(owner, f"exponent of cycle {i}", args["exponent"], 0.0, low_open=True)
        return CosineDecay(
            args["peak_value"],
            args["decay_steps"],
            exponent=args["exponent"],
            end_value=args["end_value"],
        )
    return warmup_cosine_decay_schedule(**args)


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> JoinSchedules:
    r"""Stochastic gradient descent with warm restarts (Loshchilov & Hutter, 2017,
    arXiv:1608.03983): cosine cycles, one after another.

    Cycle i runs ``warmup_cosine_decay_schedule(**cosine_kwargs[i])`` for its
    ``decay_steps`` steps (its warm-up included), restarted at the sum of the
    earlier cycles' ``decay_steps``. After the last cycle the value stays at its
    ``end_value``. Within a cycle of T steps without warm-up, at its j-th step
    (j from 0):

    $$ \alpha = \alpha_{\text{end}} + \tfrac12(\alpha_{\text{peak}} - \alpha_{\text{end}})
       \bigl(1 + \cos(\pi j / T)\bigr) $$

    Optax's ``sgdr_schedule``. ``warmup_steps=0`` is allowed (the cycle is the
    cosine alone, ``init_value`` unused).

    PyTorch's ``CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)`` with base
    learning rate ``lr`` is, for as many cycles n as the run needs,

    .. code-block:: python

        gdtx.sgdr_schedule(
            [
                dict(init_value=lr, peak_value=lr, warmup_steps=0,
                     decay_steps=T_0 * T_mult**i, end_value=eta_min)
                for i in range(n)
            ]
        )

    step for step (torch restarts forever; gdtx stops after the n-th cycle).

    Args:
        cosine_kwargs: one mapping per cycle with the arguments of
            :func:`~gdtx.warmup_cosine_decay_schedule`: ``init_value``,
            ``peak_value``, ``warmup_steps``, ``decay_steps`` and optionally
            ``end_value`` (default 0) and ``exponent`` (default 1).

    Returns:
        The schedule (a :class:`~gdtx.Schedule`).

    Example:
        >>> import gdtx
        >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=0, decay_steps=4)
        >>> s = gdtx.sgdr_schedule([cycle, cycle])
        >>> [round(float(s(k)), 3) for k in range(9)]
        [1.0, 0.854, 0.5, 0.146, 1.0, 0.854, 0.5, 0.146, 0.0]
    """
    cycles, boundaries, step = [], [], 0
    for i, kwargs in enumerate(cosine_kwargs):
        cycles.append(_cycle(i, kwargs))
        step += kwargs["decay_steps"]
        boundaries.append(step)
    if not cycles:
        raise ValueError("sgdr_schedule: needs at least one cycle.")
    return JoinSchedules(tuple(cycles), tuple(boundaries[:-1]))
