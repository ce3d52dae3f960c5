"""Gradient accumulation over micro-batches."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Params, State, Transform, Updates, call_step, compute_dtype, static
from ._combine import as_transform
from ._tree import leaf_dtype, zeros
from ._validate import check_positive_int


class AccumulateState(NamedTuple):
    """State of :class:`Accumulate` (k > 1).

    Attributes:
        inner: the wrapped optimizer's state, advanced once every k micro-steps.
        micro: micro-steps taken in the current optimizer step (0 … k−1).
        total: the sum of this step's micro-batch gradients so far.
    """

    inner: Any
    micro: jax.Array
    total: Any


class Accumulate(Transform):
    """Gradient accumulation: one optimizer step from the mean of k micro-batch gradients.

    $$ \\bar g = \\frac1k \\sum_{i=1}^{k} g_i, \\qquad
       \\text{out} = \\text{inner}(\\bar g) \\text{ on micro-step } k, \\; 0 \\text{ before} $$

    The optimizer's step counter counts optimizer steps (it advances on the k-th
    micro-step only), so schedules and bias corrections see optimizer steps. The
    running sum is kept in at least float32. With k = 1 there is no buffer: the
    wrapper passes through to the inner optimizer.

    Attributes:
        inner: the optimizer to run on the averaged gradients.
        every_k: k, micro-steps per optimizer step (static).
    """

    inner: Transform
    every_k: int = static(default=1)
    takes_extra_args: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", as_transform(self.inner))
        check_positive_int("accumulate", "every_k", self.every_k)

    def init_state(self, params: Params) -> State:
        inner = self.inner.init_state(params)
        if self.every_k == 1:
            return inner
        # Σ gᵢ in at least float32, laid out (sharded) like each parameter.
        total = jax.tree.map(lambda p: zeros(p, compute_dtype(leaf_dtype(p))), params)
        return AccumulateState(inner=inner, micro=jnp.zeros([], jnp.int32), total=total)

    def completed_step(self, state: State) -> jax.Array | None:
        return None if self.every_k == 1 else state.micro == 0

    def step(
        self,
        updates: Updates,
        state: State,
        params: Params | None,
        count: jax.Array,
        **extra_args: Any,
    ) -> tuple[Updates, State]:
        if self.every_k == 1:
            return call_step(self.inner, updates, state, params, count, extra_args)
        total = jax.tree.map(lambda s, g: s + g.astype(s.dtype), state.total, updates)  # Σ gᵢ
        micro = state.micro + 1
        k = self.every_k

        def apply(operands: tuple[Any, Any]) -> tuple[Any, Any]:
            total, inner = operands
            mean = jax.tree.map(lambda s, g: (s / k).astype(leaf_dtype(g)), total, updates)  # ḡ
            return call_step(self.inner, mean, inner, params, count, extra_args)

        def wait(operands: tuple[Any, Any]) -> tuple[Any, Any]:
            _, inner = operands
            return jax.tree.map(jnp.zeros_like, updates), inner

        out, inner = jax.lax.cond(micro == k, apply, wait, (total, state.inner))
        done = micro == k
        total = jax.tree.map(lambda s: jnp.where(done, jnp.zeros_like(s), s), total)
        return out, AccumulateState(inner=inner, micro=jnp.where(done, 0, micro), total=total)


def accumulate(inner: Any, every_k: int) -> Accumulate:
    """Accumulates gradients over ``every_k`` micro-batches; see :class:`Accumulate`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.accumulate(gdtx.sgd(1.0), every_k=2)
        >>> state = opt.init(jnp.zeros(1))
        >>> out, state = opt.update(jnp.array([1.0]), state)
        >>> out, int(state.count)
        (Array([0.], dtype=float32), 0)
        >>> out, state = opt.update(jnp.array([3.0]), state)
        >>> out, int(state.count)
        (Array([-2.], dtype=float32), 1)
    """
    return Accumulate(as_transform(inner), every_k)
