"""First-moment blocks: the EWMA of the update stream and heavy-ball trace momentum."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Params, Transform, Updates, compute_dtype, hyper, static
from ._moments import debiased, ewma_step
from ._tree import tree_map_n, zeros_like_tree
from ._validate import check_range


class MState(NamedTuple):
    """State of a first-moment block.

    Attributes:
        m: the running first moment, one array per parameter.
    """

    m: Any


class Ema(Transform):
    """The exponentially weighted moving average of the updates (momentum in EWMA form).

    $$ m \\leftarrow \\beta m + (1-\\beta) g, \\qquad
       \\text{out} = m \\;\\text{ or }\\; \\hat m = m / (1-\\beta^t) $$

    Followed by a learning rate, this is Momentum as ``v ← β₁v + (1−β₁)g;
    θ ← θ − αv``. Arguments are Optax's ``ema``.

    Attributes:
        decay: β in [0, 1).
        debias: output m̂ = m / (1 − βᵗ) instead of m.
        m_dtype: dtype of m (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.ema(0.9, debias=False)
        >>> g = jnp.ones(2)
        >>> tx.update(g, tx.init(g))[0].round(6)
        Array([0.1, 0.1], dtype=float32)
    """

    decay: Any
    debias: bool = static(default=True)
    m_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("ema", "decay", self.decay, 0.0, 1.0, high_open=True)

    def init_state(self, params: Params) -> MState:
        return MState(m=zeros_like_tree(params, self.m_dtype))

    def step(
        self, updates: Updates, state: MState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, MState]:
        m = ewma_step(state.m, updates, self.decay)  # m ← β·m + (1−β)·g
        out = debiased(m, self.decay, count) if self.debias else m  # m̂ = m / (1−βᵗ)
        return out, MState(m=m)


class Trace(Transform):
    """Heavy-ball momentum in trace form, with dampening and Nesterov's variant.

    $$ m_1 = g, \\qquad m \\leftarrow \\beta m + (1-\\tau) g \\;(t > 1), \\qquad
       \\text{out} = m \\;\\text{ or, with Nesterov, }\\; g + \\beta m $$

    Without dampening (τ = 0) m ← βm + g from m₀ = 0, as in Polyak (1964) and
    Sutskever et al. (2013); the first-step rule and τ follow ``torch.optim.SGD``.

    Attributes:
        decay: the momentum β in [0, 1).
        nesterov: output g + βm (Nesterov's look-ahead, Sutskever et al. 2013).
        dampening: τ in [0, 1]; must be 0 with Nesterov.
        m_dtype: dtype of m (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.trace(0.9)
        >>> g = jnp.ones(1)
        >>> s = tx.init(g)
        >>> out, s = tx.update(g, s)
        >>> out, s = tx.update(g, s)
        >>> out
        Array([1.9], dtype=float32)
    """

    decay: Any
    nesterov: bool = static(default=False)
    dampening: Any = 0.0
    m_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("trace", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("trace", "dampening", self.dampening, 0.0, 1.0)
        if self.nesterov and isinstance(self.dampening, int | float) and self.dampening != 0:
            raise ValueError(
                f"trace: Nesterov momentum needs `dampening` = 0, got {self.dampening!r}."
            )

    def init_state(self, params: Params) -> MState:
        return MState(m=zeros_like_tree(params, self.m_dtype))

    def step(
        self, updates: Updates, state: MState, params: Params | None, count: jax.Array
    ) -> tuple[Updates, MState]:
        # The first step has no dampening: with m₀ = 0, m₁ = β·0 + (1 − 0)·g = g.
        tau = jnp.where(count == 0, 0.0, jnp.asarray(self.dampening, jnp.result_type(float)))

        def leaf(g: jax.Array, m: jax.Array) -> tuple[jax.Array, jax.Array]:
            ct = compute_dtype(m.dtype)
            b = hyper(self.decay, ct)
            gc = g.astype(ct)
            m_new = b * m.astype(ct) + (1 - tau.astype(ct)) * gc  # m ← β·m + (1−τ)·g
            out = gc + b * m_new if self.nesterov else m_new  # Nesterov: g + β·m
            return out.astype(g.dtype), m_new.astype(m.dtype)

        out, m = tree_map_n(leaf, 2, updates, state.m)
        return out, MState(m=m)


ema = Ema
trace = Trace
