"""Learning-rate schedules: pure functions of the step.

A schedule maps ``count``, the number of steps taken before the current one
(0, 1, 2, …; so t = count + 1), to a value. Schedules are pytrees whose numeric
constants are leaves, so they can be vmapped over and changed without
recompiling. Where an "epoch" appears it is ``count // steps_per_epoch``,
counted from 0. Every decay rule gives its initial value α₀ on the first step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._base import PytreeDataclass, static
from ._validate import check_positive_int, check_range

__all__ = [
    "Schedule",
    "as_schedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "inverse_sqrt_decay",
    "inverse_time_decay",
    "join_schedules",
    "linear_schedule",
    "piecewise_constant_schedule",
    "warmup_cosine_decay_schedule",
]


def as_float(x: Any) -> jax.Array:
    """A schedule constant as an array in the default float dtype."""
    return jnp.asarray(x, dtype=jnp.result_type(float))


def as_count(count: Any) -> jax.Array:
    """A step count as an array in the default float dtype."""
    return jnp.asarray(count).astype(jnp.result_type(float))


class Schedule(PytreeDataclass):
    """Base class of schedules: ``schedule(count)`` returns the value for that step."""

    def __call__(self, count: Any) -> jax.Array:
        raise NotImplementedError


class ConstantSchedule(Schedule):
    """α_t = value.

    Example:
        >>> import gdtx
        >>> gdtx.constant_schedule(0.1)(7)
        Array(0.1, dtype=float32, weak_type=True)
    """

    value: Any

    def __call__(self, count: Any) -> jax.Array:
        return jnp.broadcast_to(jnp.asarray(self.value), jnp.shape(self.value))


class FunctionSchedule(Schedule):
    """Adapts any function of the step (an Optax schedule, a lambda) as a static schedule."""

    fn: Callable[[Any], Any] = static()

    def __call__(self, count: Any) -> jax.Array:
        return jnp.asarray(self.fn(count))


def as_schedule(value: Any) -> Schedule:
    """A schedule for ``value``: a schedule as is, a callable adapted, a number constant."""
    if isinstance(value, Schedule):
        return value
    if callable(value):
        return FunctionSchedule(value)
    return ConstantSchedule(value)


def schedule_or_checked(
    owner: str,
    name: str,
    value: Any,
    low: float = 0.0,
    high: float = math.inf,
    *,
    high_open: bool = False,
) -> Any:
    """A hyperparameter that may follow a schedule, as a block keeps it: a function of the
    step count as a :class:`Schedule` (:func:`as_schedule`), a constant as it is, checked
    to lie in [low, high] (or [low, high) with ``high_open``) under ``owner``."""
    if callable(value):
        return as_schedule(value)
    check_range(owner, name, value, low, high, high_open=high_open)
    return value


def value_at(value: Any, count: Any) -> Any:
    """A hyperparameter at step ``count``: a :class:`Schedule`'s value, or the constant."""
    return value(count) if isinstance(value, Schedule) else value


class InverseTimeDecay(Schedule):
    """α = α₀ / (1 + γ·epoch), epoch = ⌊count / steps_per_epoch⌋.

    With ``steps_per_epoch=1`` this is α₀ / (1 + γ(t − 1)), PyTorch Adagrad's
    ``lr_decay``.

    Attributes:
        init_value: α₀.
        decay_rate: γ ≥ 0.
        steps_per_epoch: steps per epoch (positive).

    Example:
        >>> import gdtx
        >>> s = gdtx.inverse_time_decay(5e-3, decay_rate=1.0, steps_per_epoch=10)
        >>> [round(float(s(k)), 6) for k in (0, 10, 25)]
        [0.005, 0.0025, 0.001667]
    """

    init_value: Any
    decay_rate: Any = 1.0
    steps_per_epoch: Any = 1

    def __post_init__(self) -> None:
        check_range("inverse_time_decay", "decay_rate", self.decay_rate, 0.0)
        check_positive_int("inverse_time_decay", "steps_per_epoch", self.steps_per_epoch)

    def __call__(self, count: Any) -> jax.Array:
        epoch = jnp.floor(as_count(count) / as_float(self.steps_per_epoch))
        return as_float(self.init_value) / (1 + as_float(self.decay_rate) * epoch)


class InverseSqrtDecay(Schedule):
    """α = α₀ / √t per step, or α₀ / √max(epoch, 1) per epoch.

    Per step (``steps_per_epoch=None``), t = count + 1 counts from 1. Per epoch,
    epoch = ⌊count / steps_per_epoch⌋ counts from 0; epoch 0 uses α₀, the same
    rate as epoch 1, so the rule is defined everywhere and never divides by 0.

    Attributes:
        init_value: α₀.
        steps_per_epoch: ``None`` for the per-step rule, else steps per epoch.

    Example:
        >>> import gdtx
        >>> float(gdtx.inverse_sqrt_decay(1.0)(3))
        0.5
        >>> s = gdtx.inverse_sqrt_decay(1.0, steps_per_epoch=2)
        >>> [float(s(k)) for k in (0, 2, 8)]
        [1.0, 1.0, 0.5]
    """

    init_value: Any
    steps_per_epoch: int | None = static(default=None)

    def __post_init__(self) -> None:
        if self.steps_per_epoch is not None:
            check_positive_int("inverse_sqrt_decay", "steps_per_epoch", self.steps_per_epoch)

    def __call__(self, count: Any) -> jax.Array:
        c = as_count(count)
        if self.steps_per_epoch is None:
            k = c + 1  # t, from 1
        else:
            k = jnp.maximum(jnp.floor(c / self.steps_per_epoch), 1.0)  # max(epoch, 1)
        return as_float(self.init_value) / jnp.sqrt(k)


class ExponentialDecay(Schedule):
    """α = α₀ · rᵖ with p = (count − begin) / transition_steps (⌊p⌋ if staircase).

    Before ``transition_begin`` the value is α₀; ``end_value`` bounds the decay.
    The sources' rules are ``exponential_decay(α₀, steps_per_epoch, 0.95,
    staircase=True)`` for 0.95^epoch·α₀ and ``exponential_decay(α₀, 1, 0.95)``
    for 0.95^(t−1)·α₀. The arguments are Optax's. PyTorch's ``StepLR(opt,
    step_size, gamma)`` is ``exponential_decay(lr, step_size, gamma,
    staircase=True)``: α₀·γ^⌊count/step_size⌋, step for step.

    Example:
        >>> import gdtx
        >>> s = gdtx.exponential_decay(1.0, transition_steps=10, decay_rate=0.5, staircase=True)
        >>> float(s(9)), float(s(10))
        (1.0, 0.5)
    """

    init_value: Any
    transition_steps: Any
    decay_rate: Any
    transition_begin: Any = 0
    staircase: bool = static(default=False)
    end_value: Any = None

    def __post_init__(self) -> None:
        check_positive_int("exponential_decay", "transition_steps", self.transition_steps)
        check_range("exponential_decay", "decay_rate", self.decay_rate, 0.0, low_open=True)
        check_range("exponential_decay", "transition_begin", self.transition_begin, 0.0)

    def __call__(self, count: Any) -> jax.Array:
        c = as_count(count) - as_float(self.transition_begin)
        p = c / as_float(self.transition_steps)
        if self.staircase:
            p = jnp.floor(p)
        rate = as_float(self.decay_rate)
        init = as_float(self.init_value)
        value = jnp.where(c <= 0, init, init * rate**p)
        if self.end_value is not None:
            end = as_float(self.end_value)
            value = jnp.where(rate < 1, jnp.maximum(value, end), jnp.minimum(value, end))
        return value


class PiecewiseConstant(Schedule):
    """α = α₀ · ∏ scales of the boundaries already reached (count ≥ boundary)."""

    init_value: Any
    boundaries: tuple[Any, ...]
    scales: tuple[Any, ...]

    def __call__(self, count: Any) -> jax.Array:
        c = as_count(count)
        value = as_float(self.init_value)
        for b, s in zip(self.boundaries, self.scales, strict=True):
            value = value * jnp.where(c < as_float(b), 1.0, as_float(s))
        return value


def piecewise_constant_schedule(
    init_value: Any, boundaries_and_scales: Mapping[int, Any] | None = None
) -> PiecewiseConstant:
    """A piecewise-constant schedule; from step ``b`` on, the value is multiplied by its scale.

    PyTorch's ``MultiStepLR(opt, milestones, gamma)`` is
    ``piecewise_constant_schedule(lr, {m: gamma for m in milestones})``, step for
    step (a milestone torch is given n times scales by ``gamma**n``).

    Example:
        >>> import gdtx
        >>> s = gdtx.piecewise_constant_schedule(1.0, {10: 0.1, 20: 0.1})
        >>> [round(float(s(k)), 4) for k in (0, 10, 25)]
        [1.0, 0.1, 0.01]
    """
    items = sorted((boundaries_and_scales or {}).items())
    for b, s in items:
        check_range("piecewise_constant_schedule", f"boundary {b}", b, 0.0)
        check_range("piecewise_constant_schedule", f"scale at {b}", s, 0.0)
    return PiecewiseConstant(init_value, tuple(b for b, _ in items), tuple(s for _, s in items))


class LinearSchedule(Schedule):
    """Moves linearly from ``init_value`` to ``end_value`` over ``transition_steps``.

    Holds ``init_value`` before ``transition_begin`` and ``end_value`` after the
    transition. ``linear_schedule(0.0, peak, n)`` is a linear warm-up.

    Example:
        >>> import gdtx
        >>> s = gdtx.linear_schedule(0.0, 1.0, transition_steps=4)
        >>> [float(s(k)) for k in (0, 1, 4, 9)]
        [0.0, 0.25, 1.0, 1.0]
    """

    init_value: Any
    end_value: Any
    transition_steps: Any
    transition_begin: Any = 0

    def __post_init__(self) -> None:
        check_positive_int("linear_schedule", "transition_steps", self.transition_steps)
        check_range("linear_schedule", "transition_begin", self.transition_begin, 0.0)

    def __call__(self, count: Any) -> jax.Array:
        n = as_float(self.transition_steps)
        c = jnp.clip(as_count(count) - as_float(self.transition_begin), 0.0, n)
        init, end = as_float(self.init_value), as_float(self.end_value)
        return init + (end - init) * (c / n)


class CosineDecay(Schedule):
    """α = α_end + (α₀ − α_end)·(½(1 + cos(π·min(count, T)/T)))ᵉ, with α_end = a·α₀.

    Attributes:
        init_value: α₀.
        decay_steps: T, after which the value stays at α_end.
        alpha: a, the final value as a fraction of α₀ (Optax's argument).
        exponent: e.
        end_value: α_end itself, used instead of ``alpha`` when given (so that
            α₀ = 0 is allowed, as in a warm-up that peaks at 0).

    Example:
        >>> import gdtx
        >>> s = gdtx.cosine_decay_schedule(1.0, decay_steps=10)
        >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
        [1.0, 0.5, 0.0, 0.0]
    """

    init_value: Any
    decay_steps: Any
    alpha: Any = 0.0
    exponent: Any = 1.0
    end_value: Any = None

    def __post_init__(self) -> None:
        check_positive_int("cosine_decay_schedule", "decay_steps", self.decay_steps)
        check_range("cosine_decay_schedule", "alpha", self.alpha, 0.0, 1.0)
        if self.end_value is not None:
            check_range("cosine_decay_schedule", "end_value", self.end_value)

    def __call__(self, count: Any) -> jax.Array:
        T = as_float(self.decay_steps)
        c = jnp.minimum(as_count(count), T)
        cosine = 0.5 * (1 + jnp.cos(math.pi * c / T))
        init = as_float(self.init_value)
        end = as_float(self.alpha) * init if self.end_value is None else as_float(self.end_value)
        return end + (init - end) * cosine ** as_float(self.exponent)  # α_end + (α₀−α_end)·cosᵉ


class JoinSchedules(Schedule):
    """Runs ``schedules[i]`` from ``boundaries[i-1]`` on, each restarted at its boundary.

    Example:
        >>> import gdtx
        >>> s = gdtx.join_schedules(
        ...     [gdtx.constant_schedule(1.0), gdtx.constant_schedule(0.5)], [3])
        >>> float(s(2)), float(s(3))
        (1.0, 0.5)
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(as_schedule(s) for s in self.schedules))
        object.__setattr__(self, "boundaries", tuple(self.boundaries))
        for b in self.boundaries:
            check_range("join_schedules", "boundary", b, 0.0)
        if len(self.schedules) != len(self.boundaries) + 1:
            raise ValueError(
                f"join_schedules: needs one boundary fewer than schedules, got "
                f"{len(self.schedules)} schedules and {len(self.boundaries)} boundaries."
            )

    def __call__(self, count: Any) -> jax.Array:
        c = jnp.asarray(count)
        value = self.schedules[0](c)
        for b, s in zip(self.boundaries, self.schedules[1:], strict=True):
            value = jnp.where(c < b, value, s(c - b))
        return value


def warmup_cosine_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    decay_steps: int,
    end_value: Any = 0.0,
    exponent: Any = 1.0,
) -> JoinSchedules:
    """Linear warm-up from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    ``decay_steps`` counts the warm-up, as in Optax.

    Example:
        >>> import gdtx
        >>> s = gdtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=2, decay_steps=6)
        >>> [round(float(s(k)), 3) for k in (0, 1, 2, 4, 6)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    owner = "warmup_cosine_decay_schedule"
    check_positive_int(owner, "warmup_steps", warmup_steps)
    check_positive_int(owner, "decay_steps", decay_steps)
    for name, value in (("init_value", init_value), ("peak_value", peak_value)):
        check_range(owner, name, value)
    check_range(owner, "end_value", end_value)
    check_range(owner, "exponent", exponent, 0.0, low_open=True)
    if (
        isinstance(warmup_steps, int)
        and isinstance(decay_steps, int)
        and decay_steps <= warmup_steps
    ):
        raise ValueError(
            "warmup_cosine_decay_schedule: `decay_steps` must exceed `warmup_steps`, got "
            f"{decay_steps} <= {warmup_steps}."
        )
    return JoinSchedules(
        (
            LinearSchedule(init_value, peak_value, warmup_steps),
            CosineDecay(
                peak_value, decay_steps - warmup_steps, exponent=exponent, end_value=end_value
            ),
        ),
        (warmup_steps,),
    )


def join_schedules(schedules: Sequence[Any], boundaries: Sequence[Any]) -> JoinSchedules:
    """Joins schedules at step boundaries (see :class:`JoinSchedules`)."""
    return JoinSchedules(tuple(schedules), tuple(boundaries))


constant_schedule = ConstantSchedule
inverse_time_decay = InverseTimeDecay
inverse_sqrt_decay = InverseSqrtDecay
exponential_decay = ExponentialDecay
linear_schedule = LinearSchedule
cosine_decay_schedule = CosineDecay
