r"""Updates applied every k steps: Optax's ``apply_every``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype
from ._tree import leaf_dtype, zeros
from ._validate import check_positive_int

__all__ = ["ApplyEvery", "ApplyEveryState", "apply_every"]


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
