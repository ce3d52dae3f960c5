"""A controller driven by the loss: reduce the step size when the loss plateaus."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, static
from ._validate import check_positive_int, check_range


class PlateauState(NamedTuple):
    """State of :class:`ReduceOnPlateau`.

    Attributes:
        scale: the current factor on the updates (starts at 1).
        best: the best (lowest) averaged loss seen so far.
        bad_steps: steps since the loss last improved.
        cooldown: steps left before the controller watches again.
        loss_avg: the sum of the losses in the current window.
        window: losses summed in ``loss_avg`` so far.
    """

    scale: jax.Array
    best: jax.Array
    bad_steps: jax.Array
    cooldown: jax.Array
    loss_avg: jax.Array
    window: jax.Array


class ReduceOnPlateau(Transform):
    """Multiplies the updates by a scale that drops by ``factor`` when the loss plateaus.

    Call ``update(grads, state, params, value=loss)``. The loss is averaged over
    ``accumulation_size`` calls; an average that is not below
    (1 − rtol)·best − atol counts as a bad step.
    After ``patience`` bad steps the scale becomes max(scale·factor, min_scale)
    and the controller waits ``cooldown`` averages. As in PyTorch's
    ``ReduceLROnPlateau`` and Optax's ``contrib.reduce_on_plateau``; put it
    last in a chain, after the learning rate. The scale is state, not a
    hyperparameter, so it changes without recompiling.

    Attributes:
        factor: the multiplier in (0, 1).
        patience: bad averages tolerated before reducing.
        rtol: relative improvement that counts (≥ 0).
        atol: absolute improvement that counts (≥ 0).
        cooldown: averages to wait after a reduction.
        accumulation_size: losses averaged per decision (static).
        min_scale: the scale never goes below this (≥ 0).
    """

    factor: Any = 0.1
    patience: Any = 10
    rtol: Any = 1e-4
    atol: Any = 0.0
    cooldown: Any = 0
    accumulation_size: int = static(default=1)
    min_scale: Any = 0.0
    extra_args: ClassVar[tuple[str, ...]] = ("value",)

    def __post_init__(self) -> None:
        check_range(
            "reduce_on_plateau", "factor", self.factor, 0.0, 1.0, low_open=True, high_open=True
        )
        check_range("reduce_on_plateau", "patience", self.patience, 0.0)
        check_range("reduce_on_plateau", "rtol", self.rtol, 0.0)
        check_range("reduce_on_plateau", "atol", self.atol, 0.0)
        check_range("reduce_on_plateau", "cooldown", self.cooldown, 0.0)
        check_positive_int("reduce_on_plateau", "accumulation_size", self.accumulation_size)
        check_range("reduce_on_plateau", "min_scale", self.min_scale, 0.0)

    def init_state(self, params: Params) -> PlateauState:
        f = jnp.result_type(float)
        zero = jnp.zeros([], jnp.int32)
        return PlateauState(
            scale=jnp.ones([], f),
            best=jnp.full([], jnp.inf, f),
            bad_steps=zero,
            cooldown=zero,
            loss_avg=jnp.zeros([], f),
            window=zero,
        )

    def step(
        self, updates: Updates, state: PlateauState, params: Params | None, ctx: Context
    ) -> tuple[Updates, PlateauState]:
        if "value" not in ctx.extra:
            raise ValueError(
                "reduce_on_plateau needs the loss: call update(grads, state, params, value=loss)."
            )
        f = state.scale.dtype
        loss_sum = state.loss_avg + jnp.asarray(ctx.extra["value"]).astype(f)
        window = state.window + 1
        decide = window >= self.accumulation_size
        avg = loss_sum / window.astype(f)
        best = state.best
        # improved: avg < (1 − rtol)·best − atol
        improved = avg < (1 - jnp.asarray(self.rtol, f)) * best - jnp.asarray(self.atol, f)
        waiting = state.cooldown > 0
        bad = jnp.where(improved | waiting, 0, state.bad_steps + 1)
        reduce = (bad > jnp.asarray(self.patience).astype(jnp.int32)) & ~waiting
        scale = jnp.where(
            reduce,
            jnp.maximum(state.scale * jnp.asarray(self.factor, f), jnp.asarray(self.min_scale, f)),
            state.scale,
        )
        new = PlateauState(
            scale=scale,
            best=jnp.where(improved, avg, best),
            bad_steps=jnp.where(reduce, 0, bad).astype(jnp.int32),
            cooldown=jnp.where(
                reduce,
                jnp.asarray(self.cooldown).astype(jnp.int32),
                jnp.maximum(state.cooldown - 1, 0),
            ),
            loss_avg=jnp.zeros_like(loss_sum),
            window=jnp.zeros_like(window),
        )
        kept = PlateauState(state.scale, best, state.bad_steps, state.cooldown, loss_sum, window)
        state = jax.tree.map(lambda a, b: jnp.where(decide, a, b), new, kept)
        out = jax.tree.map(lambda g: g * state.scale.astype(g.dtype), updates)
        return out, state


def reduce_on_plateau(
    factor: Any = 0.1,
    patience: Any = 10,
    rtol: Any = 1e-4,
    atol: Any = 0.0,
    cooldown: Any = 0,
    accumulation_size: int = 1,
    min_scale: Any = 0.0,
) -> ReduceOnPlateau:
    """Scales updates down when the loss stops improving; see :class:`ReduceOnPlateau`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.chain(gdtx.sgd(0.1), gdtx.reduce_on_plateau(factor=0.5, patience=1))
        >>> state = opt.init(jnp.zeros(1))
        >>> for loss in [3.0, 2.0, 2.0, 2.0]:
        ...     updates, state = opt.update(jnp.ones(1), state, value=loss)
        >>> float(state.inner[1].scale)
        0.5
    """
    return ReduceOnPlateau(factor, patience, rtol, atol, cooldown, accumulation_size, min_scale)
