"""Skipping bad steps: non-finite gradients and gradient-norm spikes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, State, Transform, Updates, static
from ._combine import as_transform
from ._moments import correction_factor, ewma_step
from ._tree import global_norm, tree_select
from ._validate import check_positive_int, check_range


class FiniteState(NamedTuple):
    """State of :class:`ApplyIfFinite`.

    Attributes:
        inner: the wrapped transformation's state, unchanged by skipped steps.
        skipped: steps skipped so far (``int32``).
        consecutive: steps skipped in a row up to now (``int32``).
        norm_avg: EWMA of the global gradient norm over applied steps.
    """

    inner: Any
    skipped: jax.Array
    consecutive: jax.Array
    norm_avg: jax.Array


class ApplyIfFinite(Transform):
    """Skips a step whose gradients are not finite, whose norm spikes, or is too large.

    A step is bad when any entry of g is NaN or ±inf; with ``spike_factor``
    c, when ‖g‖ > c·n̂, where n ← βn + (1−β)‖g‖ over the applied steps and
    n̂ = n / (1 − βᵏ) after k applied steps (no spike test before the first); with
    ``max_squared_norm`` m, when ‖g‖² ≥ m (Optax's ``skip_large_updates``).
    A bad step outputs zeros and leaves the inner state as it was. The inner
    transformation sees k, the number of applied steps, as its step count, so
    its bias corrections and schedules skip the bad steps too.

    After ``max_consecutive_errors`` bad steps in a row the wrapper gives up
    and applies the next bad step (NaNs then reach the parameters, as they
    would without it).

    Attributes:
        inner: the transformation to protect.
        max_consecutive_errors: bad steps in a row to skip before giving up
            (``None``: never give up).
        spike_factor: c > 1, or ``None`` for no spike test.
        spike_decay: β of the norm's running average, in [0, 1).
        max_squared_norm: m > 0, or ``None`` for no limit on ‖g‖².

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.apply_if_finite(gdtx.sgd(0.1), max_consecutive_errors=3)
        >>> params = jnp.ones(2)
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([jnp.nan, 1.0]), state)
        >>> updates, int(state.inner.skipped)
        (Array([0., 0.], dtype=float32), 1)
    """

    inner: Transform
    max_consecutive_errors: int | None = static(default=None)
    spike_factor: Any = None
    spike_decay: Any = 0.99
    max_squared_norm: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", as_transform(self.inner))
        if self.max_consecutive_errors is not None:
            check_positive_int(
                "apply_if_finite", "max_consecutive_errors", self.max_consecutive_errors
            )
        if self.spike_factor is not None:
            check_range("apply_if_finite", "spike_factor", self.spike_factor, 1.0, low_open=True)
        check_range("apply_if_finite", "spike_decay", self.spike_decay, 0.0, 1.0, high_open=True)
        if self.max_squared_norm is not None:
            check_range(
                "apply_if_finite", "max_squared_norm", self.max_squared_norm, 0.0, low_open=True
            )

    def init_state(self, params: Params) -> FiniteState:
        zero = jnp.zeros([], jnp.int32)
        return FiniteState(
            inner=self.inner.init_state(params),
            skipped=zero,
            consecutive=zero,
            norm_avg=jnp.zeros([], jnp.result_type(float)),
        )

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        yield self.inner, state.inner, count - state.skipped

    def step(
        self, updates: Updates, state: FiniteState, params: Params | None, ctx: Context
    ) -> tuple[Updates, FiniteState]:
        applied = ctx.count - state.skipped  # k: steps applied before this one
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(updates)]))
        norm = global_norm(updates).astype(state.norm_avg.dtype)
        bad = ~finite
        if self.spike_factor is not None:
            n_hat = state.norm_avg / correction_factor(self.spike_decay, applied - 1)  # n̂
            limit = jnp.asarray(self.spike_factor, norm.dtype) * n_hat
            bad = bad | ((applied > 0) & (norm > limit))  # ‖g‖ > c·n̂
        if self.max_squared_norm is not None:
            bad = bad | ~(norm * norm < jnp.asarray(self.max_squared_norm, norm.dtype))  # ‖g‖² ≥ m
        give_up = (
            jnp.asarray(False)
            if self.max_consecutive_errors is None
            else state.consecutive >= self.max_consecutive_errors
        )
        skip = bad & ~give_up

        new_updates, new_inner = self.inner.step(
            updates, state.inner, params, ctx.with_count(applied)
        )
        out = jax.tree.map(lambda u: jnp.where(skip, jnp.zeros_like(u), u), new_updates)
        inner = tree_select(skip, state.inner, new_inner)  # the old state if skipped
        norm_avg = jnp.where(
            skip | ~finite, state.norm_avg, ewma_step(state.norm_avg, norm, self.spike_decay)
        )
        return out, FiniteState(
            inner=inner,
            skipped=state.skipped + skip.astype(jnp.int32),
            consecutive=jnp.where(bad, state.consecutive + 1, 0).astype(jnp.int32),
            norm_avg=norm_avg,
        )


def apply_if_finite(
    inner: Any,
    max_consecutive_errors: int | None = None,
    *,
    spike_factor: Any = None,
    spike_decay: Any = 0.99,
) -> ApplyIfFinite:
    """Skips steps with non-finite gradients or norm spikes; see :class:`ApplyIfFinite`.

    Example:
        >>> import gdtx
        >>> opt = gdtx.apply_if_finite(gdtx.adam(1e-3), 5, spike_factor=10.0)
    """
    return ApplyIfFinite(as_transform(inner), max_consecutive_errors, spike_factor, spike_decay)


def skip_large_updates(inner: Any, max_squared_norm: Any) -> ApplyIfFinite:
    """Skips steps whose squared gradient norm reaches ``max_squared_norm`` (or that are not
    finite): :class:`ApplyIfFinite` with that limit and no other test.

    Optax's ``skip_large_updates`` is a predicate for ``optax.MultiSteps``, not a
    transformation: ``MultiSteps(opt, k, should_skip_update_fn=partial(
    skip_large_updates, max_squared_norm=c))`` is ``skip_large_updates(opt, c)`` for
    k = 1 and ``skip_large_updates(accumulate(opt, k), c)`` for k > 1 (a skipped
    micro-batch neither adds to the mean nor counts).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.skip_large_updates(gdtx.sgd(0.1), max_squared_norm=100.0)
        >>> state = opt.init(jnp.zeros(2))
        >>> out, state = opt.update(jnp.array([10.0, 1.0]), state)  # ‖g‖² = 101
        >>> out, int(state.inner.skipped)
        (Array([0., 0.], dtype=float32), 1)
    """
    check_range("skip_large_updates", "max_squared_norm", max_squared_norm, 0.0, low_open=True)
    return ApplyIfFinite(as_transform(inner), max_squared_norm=max_squared_norm)
