"""Monolithic ("fused") Adam and RMSProp blocks: the yardstick for gdtx's chains.

gdtx builds Adam as ``fork(ema(β₁), chain(ema(β₂, moment=2), inverse_root(ε)))`` and
RMSProp as ``fork(identity(), chain(ema(β, moment=2), inverse_root(ε)))``. The blocks
below do the same arithmetic in one ``step`` each, as a hand-fused implementation
would. benchmarks/run.py times both in the same run: a chain is kept only if it is no
slower than its fused block (XLA fuses the elementwise work of one jitted step, so it
should not be).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import gdtx
from gdtx._moments import correction_factor, ewma_step
from gdtx._tree import abs_sq, elementwise, v_zeros_like_tree, zeros_like_tree


class FusedAdamState(NamedTuple):
    m: Any
    v: Any


class FusedAdam(gdtx.Transform):
    """m̂ / (√v̂ + ε) in one block."""

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-8

    def init_state(self, params: Any) -> FusedAdamState:
        return FusedAdamState(zeros_like_tree(params), v_zeros_like_tree(params))

    def step(self, updates: Any, state: FusedAdamState, params: Any, ctx: Any) -> Any:
        m = ewma_step(state.m, updates, self.b1)
        v = ewma_step(state.v, abs_sq(updates), self.b2)
        c1, c2 = correction_factor(self.b1, ctx.count), correction_factor(self.b2, ctx.count)

        def out(m: jax.Array, v: jax.Array) -> jax.Array:
            den = jnp.sqrt(v / c2.astype(v.dtype)) + jnp.asarray(self.eps, v.dtype)
            return (m / c1.astype(m.dtype)) / den

        return elementwise(out, m, v), FusedAdamState(m, v)


class FusedRms(gdtx.Transform):
    """g / (√v + ε) in one block (ε outside the root, as torch)."""

    decay: Any = 0.99
    eps: Any = 1e-8

    def init_state(self, params: Any) -> Any:
        return v_zeros_like_tree(params)

    def step(self, updates: Any, state: Any, params: Any, ctx: Any) -> Any:
        v = ewma_step(state, abs_sq(updates), self.decay)

        def out(g: jax.Array, v: jax.Array) -> jax.Array:
            return g / (jnp.sqrt(v) + jnp.asarray(self.eps, v.dtype))

        return elementwise(out, updates, v), v


def fused(name: str, lr: float) -> gdtx.Transform:
    """The fused counterpart of ``cases.optimizer(gdtx, name)``."""
    block = {"adam": lambda: FusedAdam(), "rmsprop": lambda: FusedRms()}[name]()
    return gdtx.chain(block, gdtx.scale_by_learning_rate(lr))


FUSED = ("adam", "rmsprop")
"""The algorithms that have a fused counterpart here."""
