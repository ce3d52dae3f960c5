"""Flax NNX integration: packed training, and an ``nnx.Optimizer`` with traced hyperparameters.

:class:`TrainState` and :func:`train_step` train an NNX model on packed parameters
(:func:`gdtx.packing`): the optimizer runs on a few flat buffers and the gradient
arrives packed, so a step over hundreds of small arrays costs what one pass over the
buffers costs. The loss is written against the model, as usual.

Flax's ``nnx.Optimizer`` keeps its ``tx`` as a static attribute, so a jitted training
step recompiles whenever the optimizer changes, a new learning rate included. A gdtx
optimizer is a pytree whose numeric hyperparameters are leaves, so it can be model
state instead: :class:`Optimizer` stores it as ``nnx.data``, and assigning a new
optimizer of the same form (``optimizer.tx = gdtx.adam(3e-4)``) changes the numbers
without recompiling. Importing this module imports Flax (an optional dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from ._base import Transform, static
from ._train import Frozen, PackedTrainState, make_train_step, packed_fields

__all__ = ["Optimizer", "TrainState", "train_step"]


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


class TrainState(PackedTrainState):
    """An NNX model split for packed training: graph, packed parameters, other state.

    Made by :meth:`create`; trained by the step :func:`train_step` returns. The
    parameters selected by ``wrt`` are packed into flat buffers (``params``), and the
    optimizer's state is kept for those buffers. Everything else the model holds
    (``nnx.BatchStat``, RNG counts, caches, parameters left out of ``wrt``) is
    ``rest``, an ``nnx.State``; a step hands the values the model's call left in it
    back to ``rest``, as ``nnx.jit`` would.

    A pytree: pass it to ``jax.jit`` (the graph definition and the filter are static).

    Attributes:
        rest: the model's state outside ``wrt``.
        graph: the model's graph definition (static; ``graphdef`` reads it).
        wrt: the filter that selected the trained parameters (static).
    """

    rest: Any
    graph: Frozen = static()
    wrt: Any = static()

    @property
    def graphdef(self) -> Any:
        """The model's graph definition, as ``nnx.split`` returns it."""
        return self.graph.value

    @classmethod
    def create(
        cls, model: nnx.Module, tx: Transform, *, wrt: Any = nnx.Param, opt_state: Any = None
    ) -> TrainState:
        """Splits ``model`` and packs its ``wrt`` parameters for ``tx``.

        Args:
            model: the NNX model; it is not modified.
            tx: a gdtx optimizer (its masks and parameter groups decide the buffers).
            wrt: an NNX filter: the variables to train (as ``nnx.Optimizer``'s ``wrt``).
            opt_state: a per-leaf state of ``tx`` for ``nnx.state(model, wrt)`` (from
                :meth:`unpack_opt_state` or a tree-shaped run) to continue from;
                ``None``: a fresh state.

        Raises:
            TypeError: ``tx`` is not a gdtx transformation.
        """
        graphdef, params, rest = nnx.split(model, wrt, ...)
        fields = packed_fields("gdtx.nnx.TrainState.create", tx, params, opt_state)
        return cls(**fields, rest=rest, graph=Frozen(graphdef), wrt=wrt)

    def merge(self, params: Any = None) -> nnx.Module:
        """The model, rebuilt: from ``params`` (packed, e.g. traced), else the state's own.

        Each call makes a new model object; after training, :meth:`model_state` and
        ``nnx.update(model, ...)`` write the values into an existing one instead.
        """
        flat = self.params if params is None else params
        # copy=True: new Variables, so the model can be mutated (batch statistics, RNG
        # counts) inside a trace other than the one ``rest`` came from (``jax.grad``'s)
        return nnx.merge(self.graphdef, self.packing.unpack(flat), self.rest, copy=True)

    def model_state(self) -> nnx.State:
        """The whole model's state, parameters unpacked: ``nnx.update(model, state)``."""
        return nnx.merge_state(self.packing.unpack(self.params), self.rest)


def train_step(
    loss_fn: Callable[..., Any], *, has_aux: bool = False, donate: bool = True
) -> Callable[..., Any]:
    """A jitted training step on a :class:`TrainState`, for ``loss_fn(model, *args)``.

    The returned ``step(state, *args, **update_args)`` rebuilds the model from the
    unpacked parameters (``nnx.merge``), calls ``loss_fn(model, *args)``, differentiates
    with respect to the packed buffers, applies one optimizer update and keeps the
    model's new non-parameter state. It returns ``(state, loss)``, or
    ``(state, loss, aux)`` with ``has_aux=True`` (``loss_fn`` then returns
    ``(loss, aux)``). Keyword arguments go to the optimizer's ``update``; when it reads
    ``value=`` (``reduce_on_plateau``) and none is given, the loss is passed.
    ``args`` are arrays (or pytrees of them), as for ``jax.jit``; modules and
    ``nnx.Rngs`` belong in the model.

    Args:
        loss_fn: the loss, written against the model as for ``nnx.value_and_grad``.
        has_aux: whether ``loss_fn`` returns ``(loss, aux)``.
        donate: reuse the parameters' and optimizer state's buffers for the new ones
            (the state passed in can then no longer be used).

    Example:
        >>> import jax.numpy as jnp, gdtx, gdtx.nnx
        >>> from flax import nnx
        >>> model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
        >>> state = gdtx.nnx.TrainState.create(model, gdtx.adam(1e-2))
        >>> step = gdtx.nnx.train_step(lambda m, x: jnp.mean(m(x) ** 2))
        >>> for _ in range(3):
        ...     state, loss = step(state, jnp.ones((4, 2)))
        >>> int(state.step), int(state.opt_state.count)
        (3, 3)
        >>> nnx.update(model, state.model_state())  # the trained values, back in the model
    """

    def forward(state: TrainState, flat: Any, args: tuple) -> tuple[Any, dict[str, Any]]:
        model = state.merge(flat)
        out = loss_fn(model, *args)
        _, _, rest = nnx.split(model, state.wrt, ...)
        return out, {"rest": rest}

    return make_train_step(forward, has_aux=has_aux, donate=donate)
