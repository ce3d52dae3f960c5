r"""Updates applied every k steps, and steps skipped when the gradient is too large:
Optax's ``apply_every`` and (as a wrapper) ``skip_large_updates``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, State, Transform, Updates, compute_dtype
from ._combine import as_transform
from ._tree import leaf_dtype, squared_norm, zeros
from ._validate import check_positive_int, check_range

__all__ = [
    "ApplyEvery",
    "ApplyEveryState",
    "SkipLargeUpdates",
    "SkipState",
    "apply_every",
    "skip_large_updates",
]


class ApplyEveryState(NamedTuple):
    """State of :class:`ApplyEvery`.

    Attributes:
        grad_acc: the sum of the updates of the current period (at least float32).
    """

    grad_acc: Any


class ApplyEvery(Transform):
    r"""Sums the updates of k steps and emits the sum on the k-th, zeros before.

    $$ a \leftarrow \begin{cases} g & \text{count} \bmod k = 0 \\ a + g
       & \text{otherwise} \end{cases}, \qquad
       \text{out} = \begin{cases} a & \text{count} \bmod k = k - 1 \\ 0
       & \text{otherwise} \end{cases} $$

    A block, like Optax's ``apply_every``: placed after an optimizer in a chain, it
    accumulates that optimizer's updates, whose state still advances every step.
    To run the optimizer once per k micro-batches on their mean gradient, wrap it
    in :func:`~gdtx.accumulate` instead. It reads the optimizer's one step counter
    (Optax's keeps a count of its own), and the sum is kept in at least float32.

    Attributes:
        k: steps per emitted update (positive).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.apply_every(2)
        >>> state = tx.init(jnp.zeros(1))
        >>> out, state = tx.update(jnp.array([1.0]), state)
        >>> out
        Array([0.], dtype=float32)
        >>> tx.update(jnp.array([2.0]), state)[0]
        Array([3.], dtype=float32)
    """

    k: Any = 1

    def __post_init__(self) -> None:
        check_positive_int("apply_every", "k", self.k)

    def init_state(self, params: Params) -> ApplyEveryState:
        acc = jax.tree.map(lambda p: zeros(p, compute_dtype(leaf_dtype(p))), params)
        return ApplyEveryState(grad_acc=acc)

    def step(
        self, updates: Updates, state: ApplyEveryState, params: Params | None, ctx: Context
    ) -> tuple[Updates, ApplyEveryState]:
        k = jnp.asarray(self.k).astype(ctx.count.dtype)
        phase = ctx.count % k
        restart, emit = phase == 0, phase == k - 1

        def add(a: jax.Array, g: jax.Array) -> jax.Array:
            return jnp.where(restart, jnp.zeros_like(a), a) + g.astype(a.dtype)  # a ← a + g

        acc = jax.tree.map(add, state.grad_acc, updates)
        out = jax.tree.map(
            lambda a, g: jnp.where(emit, a, jnp.zeros_like(a)).astype(g.dtype), acc, updates
        )
        return out, ApplyEveryState(grad_acc=acc)


apply_every = ApplyEvery


class SkipState(NamedTuple):
    """State of :class:`SkipLargeUpdates`.

    Attributes:
        inner: the wrapped transformation's state, unchanged by skipped steps.
        skipped: steps skipped so far (``int32``).
    """

    inner: Any
    skipped: jax.Array


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``on_true`` if ``pred`` else ``on_false``, leaf by leaf (PRNG keys included)."""

    def leaf(a: Any, b: Any) -> Any:
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            data = jnp.where(pred, jax.random.key_data(a), jax.random.key_data(b))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
        return jnp.where(pred, a, b)

    return jax.tree.map(leaf, on_true, on_false)


class SkipLargeUpdates(Transform):
    r"""Skips a step whose squared gradient norm is not below a threshold.

    $$ \text{skip} \iff \neg\bigl(\lVert g\rVert^2 < c\bigr), \qquad
       \lVert g\rVert^2 = \textstyle\sum_{\text{leaves}} \sum |g|^2 $$

    (a NaN norm skips too). A skipped step outputs zeros and leaves the inner state
    as it was; the inner transformation sees the number of steps applied so far as
    its step count, so its bias corrections and schedules skip the step too.

    Optax's ``skip_large_updates`` is a predicate for ``optax.MultiSteps``, not a
    transformation: ``MultiSteps(opt, k, should_skip_update_fn=partial(
    skip_large_updates, max_squared_norm=c))`` is ``skip_large_updates(opt, c)`` for
    k = 1 and ``skip_large_updates(accumulate(opt, k), c)`` for k > 1 (a skipped
    micro-batch neither adds to the mean nor counts).

    Attributes:
        inner: the transformation to protect.
        max_squared_norm: c > 0.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.skip_large_updates(gdtx.sgd(0.1), max_squared_norm=100.0)
        >>> state = opt.init(jnp.zeros(2))
        >>> out, state = opt.update(jnp.array([10.0, 1.0]), state)  # ‖g‖² = 101
        >>> out, int(state.inner.skipped)
        (Array([0., 0.], dtype=float32), 1)
    """

    inner: Transform
    max_squared_norm: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", as_transform(self.inner))
        check_range(
            "skip_large_updates", "max_squared_norm", self.max_squared_norm, 0.0, low_open=True
        )

    def init_state(self, params: Params) -> SkipState:
        return SkipState(inner=self.inner.init_state(params), skipped=jnp.zeros([], jnp.int32))

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        yield self.inner, state.inner, count - state.skipped

    def step(
        self, updates: Updates, state: SkipState, params: Params | None, ctx: Context
    ) -> tuple[Updates, SkipState]:
        dt = jnp.result_type(float)
        squares = [squared_norm(g).astype(dt) for g in jax.tree.leaves(updates)]
        norm_sq = sum(squares, jnp.zeros([], dt))  # ‖g‖²
        skip = ~(norm_sq < jnp.asarray(self.max_squared_norm, norm_sq.dtype))  # NaN skips
        applied = ctx.count - state.skipped  # steps applied before this one
        new_updates, new_inner = self.inner.step(
            updates, state.inner, params, ctx.with_count(applied)
        )
        out = jax.tree.map(lambda u: jnp.where(skip, jnp.zeros_like(u), u), new_updates)
        return out, SkipState(
            inner=_select(skip, state.inner, new_inner),  # the old state if skipped
            skipped=state.skipped + skip.astype(jnp.int32),
        )


def skip_large_updates(inner: Any, max_squared_norm: Any) -> SkipLargeUpdates:
    """Skips steps whose squared gradient norm reaches ``max_squared_norm``; see
    :class:`SkipLargeUpdates`.

    Example:
        >>> import gdtx
        >>> opt = gdtx.skip_large_updates(gdtx.adam(1e-3), max_squared_norm=1e4)
    """
    return SkipLargeUpdates(as_transform(inner), max_squared_norm)
