"""Flax NNX integration: an ``nnx.Optimizer`` whose hyperparameters are state, not static.

Flax's ``nnx.Optimizer`` keeps its ``tx`` as a static attribute, so a jitted training
step recompiles whenever the optimizer changes, a new learning rate included. A gdtx
optimizer is a pytree whose numeric hyperparameters are leaves, so it can be model
state instead: :class:`Optimizer` stores it as ``nnx.data``, and assigning a new
optimizer of the same form (``optimizer.tx = gdtx.adam(3e-4)``) changes the numbers
without recompiling. Importing this module imports Flax (an optional dependency).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from ._base import Transform

__all__ = ["Optimizer"]


class Optimizer(nnx.Optimizer):
    """``nnx.Optimizer`` for gdtx optimizers, with their hyperparameters as NNX state.

    Use it exactly as ``nnx.Optimizer``. Assigning a new gdtx optimizer with the same
    static form (same algorithm, flags and schedule types; any numbers) to
    ``optimizer.tx`` between steps of an ``nnx.jit``-compiled step changes the
    hyperparameters without recompiling. Optax transformations are kept static, as
    ``nnx.Optimizer`` keeps them.

    Example:
        >>> import jax.numpy as jnp, gdtx, gdtx.nnx
        >>> from flax import nnx
        >>> model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
        >>> optimizer = gdtx.nnx.Optimizer(model, gdtx.adam(1e-2), wrt=nnx.Param)
        >>> @nnx.jit
        ... def step(model, optimizer):
        ...     grads = nnx.grad(lambda m: jnp.sum(m(jnp.ones((1, 2))) ** 2))(model)
        ...     optimizer.update(model, grads)
        >>> step(model, optimizer)
        >>> optimizer.tx = gdtx.adam(1e-3)  # a new learning rate: no recompilation
        >>> step(model, optimizer)
        >>> round(float(optimizer.tx.current_learning_rate(optimizer.opt_state)), 6)
        0.001
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "tx" and isinstance(value, Transform):
            # numbers as arrays: NNX state, traced by nnx.jit instead of baked into it
            value = nnx.data(jax.tree.map(jnp.asarray, value))
        super().__setattr__(name, value)
