"""Gradient accumulation over micro-batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, State, Transform, Updates, compute_dtype, static
from ._combine import as_transform
from ._tree import leaf_dtype, zeros
from ._validate import check_positive_int


class AccumulateState(NamedTuple):
    """State of :class:`Accumulate` (k > 1).

    Attributes:
        inner: the wrapped optimizer's state, advanced once every k micro-steps.
        total: the sum of this step's micro-batch gradients so far.
    """

    inner: Any
    total: Any


class Accumulate(Transform):
    r"""Gradient accumulation: one optimizer step from the mean of k micro-batch gradients.

    $$ \bar g = \frac1k \sum_{i=1}^{k} g_i, \qquad
       \text{out} = \text{inner}(\bar g) \text{ on micro-step } k, \; 0 \text{ before} $$

    The wrapper counts micro-steps (the count it is given); the inner optimizer is
    given ⌊count / k⌋, the optimizer steps completed before this one, so its
    schedules and bias corrections see optimizer steps. A micro-step completes an
    optimizer step when count mod k = k − 1. The running sum is kept in at least
    float32. With k = 1 there is no buffer: the wrapper passes through to the inner
    optimizer.

    Attributes:
        inner: the optimizer to run on the averaged gradients.
        every_k: k, micro-steps per optimizer step (static).
    """

    inner: Transform
    every_k: int = static(default=1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", as_transform(self.inner))
        check_positive_int("accumulate", "every_k", self.every_k)

    def init_state(self, params: Params) -> State:
        inner = self.inner.init_state(params)
        if self.every_k == 1:
            return inner
        # Σ gᵢ in at least float32, laid out (sharded) like each parameter.
        total = jax.tree.map(lambda p: zeros(p, compute_dtype(leaf_dtype(p))), params)
        return AccumulateState(inner=inner, total=total)

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        if self.every_k == 1:
            yield self.inner, state, count
        else:
            yield self.inner, state.inner, count // self.every_k

    def step(
        self, updates: Updates, state: State, params: Params | None, ctx: Context
    ) -> tuple[Updates, State]:
        if self.every_k == 1:
            return self.inner.step(updates, state, params, ctx)
        k = self.every_k
        total = jax.tree.map(lambda s, g: s + g.astype(s.dtype), state.total, updates)  # Σ gᵢ
        done = ctx.count % k == k - 1  # the k-th micro-step of an optimizer step
        inner_ctx = ctx.with_count(ctx.count // k)  # optimizer steps completed before this

        def apply(operands: tuple[Any, Any]) -> tuple[Any, Any]:
            total, inner = operands
            mean = jax.tree.map(lambda s, g: (s / k).astype(leaf_dtype(g)), total, updates)  # ḡ
            return self.inner.step(mean, inner, params, inner_ctx)

        def wait(operands: tuple[Any, Any]) -> tuple[Any, Any]:
            _, inner = operands
            return jax.tree.map(jnp.zeros_like, updates), inner

        out, inner = jax.lax.cond(done, apply, wait, (total, state.inner))
        total = jax.tree.map(lambda s: jnp.where(done, jnp.zeros_like(s), s), total)
        return out, AccumulateState(inner=inner, total=total)


def accumulate(inner: Any, every_k: int) -> Accumulate:
    """Accumulates gradients over ``every_k`` micro-batches; see :class:`Accumulate`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.accumulate(gdtx.sgd(1.0), every_k=2)
        >>> state = opt.init(jnp.zeros(1))
        >>> out, state = opt.update(jnp.array([1.0]), state)
        >>> out
        Array([0.], dtype=float32)
        >>> out, state = opt.update(jnp.array([3.0]), state)
        >>> out  # −1.0 · (1 + 3)/2
        Array([-2.], dtype=float32)
    """
    return Accumulate(as_transform(inner), every_k)
