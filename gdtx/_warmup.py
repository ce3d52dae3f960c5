r"""Polynomial transitions and warm-ups: Optax's ``polynomial_schedule``,
``warmup_constant_schedule`` and ``warmup_exponential_decay_schedule``.

Each is a :class:`~gdtx.Schedule` (a pytree whose constants are leaves) with
Optax's name and arguments. As everywhere in gdtx, ``schedule(count)`` is the
value for the step after ``count`` steps, and arguments are checked when the
schedule is made: a step count that Optax would quietly turn into a constant
schedule (``transition_steps <= 0``, ``warmup_steps <= 0``) raises instead.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._schedules import (
    ExponentialDecay,
    JoinSchedules,
    LinearSchedule,
    Schedule,
    as_float,
)
from ._validate import check_positive_int, check_range

__all__ = [
    "PolynomialSchedule",
    "polynomial_schedule",
    "warmup_constant_schedule",
    "warmup_exponential_decay_schedule",
]


class PolynomialSchedule(Schedule):
    r"""A polynomial transition from α₀ to α_end over T steps, from step B on.

    $$ \alpha = (\alpha_0 - \alpha_{\text{end}})\Bigl(1 - \frac{c}{T}\Bigr)^{p}
       + \alpha_{\text{end}}, \qquad c = \min(\max(\text{count} - B, 0), T) $$

    So the value is α₀ up to step B, reaches α_end after B + T steps and stays
    there. p = 1 is :func:`~gdtx.linear_schedule`; p = 2 is the quadratic decay
    of BERT-style "polynomial decay" recipes. Optax's ``polynomial_schedule``.

    Attributes:
        init_value: α₀.
        end_value: α_end.
        power: p ≥ 0.
        transition_steps: T, positive (Optax makes T ≤ 0 a constant schedule;
            gdtx raises).
        transition_begin: B ≥ 0.

    Example:
        >>> import gdtx
        >>> s = gdtx.polynomial_schedule(1.0, 0.0, power=2, transition_steps=10)
        >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
        [1.0, 0.25, 0.0, 0.0]
    """

    init_value: Any
    end_value: Any
    power: Any
    transition_steps: Any
    transition_begin: Any = 0

    def __post_init__(self) -> None:
        owner = "polynomial_schedule"
        check_range(owner, "init_value", self.init_value)
        check_range(owner, "end_value", self.end_value)
        check_range(owner, "power", self.power, 0.0)
        check_positive_int(owner, "transition_steps", self.transition_steps)
        check_range(owner, "transition_begin", self.transition_begin, 0.0)

    def __call__(self, count: Any) -> jax.Array:
        T = as_float(self.transition_steps)
        c = jnp.asarray(count).astype(T.dtype) - as_float(self.transition_begin)
        frac = 1 - jnp.clip(c, 0.0, T) / T  # 1 − c/T
        init, end = as_float(self.init_value), as_float(self.end_value)
        return (init - end) * frac ** as_float(self.power) + end


def polynomial_schedule(
    init_value: Any,
    end_value: Any,
    power: Any,
    transition_steps: int,
    transition_begin: int = 0,
) -> PolynomialSchedule:
    """A polynomial transition from ``init_value`` to ``end_value``; see
    :class:`PolynomialSchedule`.

    Example:
        >>> import gdtx
        >>> s = gdtx.polynomial_schedule(1.0, 0.01, power=2, transition_steps=100,
        ...                              transition_begin=5)
        >>> [round(float(s(k)), 4) for k in (0, 5, 6, 105)]
        [1.0, 1.0, 0.9803, 0.01]
    """
    return PolynomialSchedule(init_value, end_value, power, transition_steps, transition_begin)


def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: int) -> LinearSchedule:
    r"""A linear warm-up from ``init_value`` to ``peak_value``, then constant.

    $$ \alpha = \alpha_0 + (\alpha_{\text{peak}} - \alpha_0)\,
       \frac{\min(\text{count}, W)}{W} $$

    The value reaches ``peak_value`` after W = ``warmup_steps`` steps (at count W)
    and stays there. Optax's ``warmup_constant_schedule``; it is
    ``linear_schedule(init_value, peak_value, warmup_steps)``.

    Args:
        init_value: α₀, the value of the first step.
        peak_value: α_peak, held after the warm-up.
        warmup_steps: W, positive (Optax with W = 0 holds ``init_value`` forever;
            gdtx raises).

    Returns:
        The schedule (a :class:`~gdtx.Schedule`).

    Example:
        >>> import gdtx
        >>> s = gdtx.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
        >>> [float(s(k)) for k in (0, 2, 4, 100)]
        [0.0, 0.5, 1.0, 1.0]
    """
    owner = "warmup_constant_schedule"
    check_range(owner, "init_value", init_value)
    check_range(owner, "peak_value", peak_value)
    check_positive_int(owner, "warmup_steps", warmup_steps)
    return LinearSchedule(init_value, peak_value, warmup_steps)


def warmup_exponential_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> JoinSchedules:
    r"""A linear warm-up to ``peak_value``, then exponential decay.

    $$ \alpha = \begin{cases}
         \alpha_0 + (\alpha_{\text{peak}} - \alpha_0)\,\text{count}/W
           & \text{count} < W \\
         \alpha_{\text{peak}}\, r^{\,p}, \quad
           p = \max(\text{count} - W - B, 0)/S \;(\lfloor p \rfloor
           \text{ if staircase}) & \text{count} \ge W
       \end{cases} $$

    with r = ``decay_rate``, S = ``transition_steps``, B = ``transition_begin``
    (counted from the end of the warm-up), bounded by ``end_value`` (below if
    r < 1, above if r > 1). Optax's ``warmup_exponential_decay_schedule``: the
    decay is :func:`~gdtx.exponential_decay` restarted after W steps.

    Args:
        init_value: α₀, the value of the first step.
        peak_value: α_peak, reached at count W.
        warmup_steps: W, positive.
        transition_steps: S, positive.
        decay_rate: r > 0 (Optax makes r = 0 a constant schedule; gdtx raises).
        transition_begin: B ≥ 0, steps after the warm-up at α_peak.
        staircase: decay at multiples of S only.
        end_value: bound of the decay, or ``None``.

    Returns:
        The schedule (a :class:`~gdtx.Schedule`).

    Example:
        >>> import gdtx
        >>> s = gdtx.warmup_exponential_decay_schedule(
        ...     0.0, 1.0, warmup_steps=2, transition_steps=1, decay_rate=0.5)
        >>> [float(s(k)) for k in (0, 1, 2, 3, 4)]
        [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    owner = "warmup_exponential_decay_schedule"
    check_range(owner, "init_value", init_value)
    check_range(owner, "peak_value", peak_value)
    check_positive_int(owner, "warmup_steps", warmup_steps)
    check_positive_int(owner, "transition_steps", transition_steps)
    check_range(owner, "decay_rate", decay_rate, 0.0, low_open=True)
    check_range(owner, "transition_begin", transition_begin, 0.0)
    if end_value is not None:
        check_range(owner, "end_value", end_value)
    return JoinSchedules(
        (
            LinearSchedule(init_value, peak_value, warmup_steps),
            ExponentialDecay(
                peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
            ),
        ),
        (warmup_steps,),
    )
