"""Flax Linen integration: a ``TrainState`` whose parameters are packed buffers.

:class:`TrainState` is used as Flax's ``flax.training.train_state.TrainState`` is, in
the same training step: ``state.params`` is what to differentiate,
``state.apply_fn({"params": params}, x)`` runs the model and
``state.apply_gradients(grads=grads)`` updates. Only here ``state.params`` is packed
(:func:`gdtx.packing`): ``apply_fn`` unpacks it for the model, the gradient arrives
packed, and the optimizer runs on a few flat buffers instead of one array at a time.
Importing this module imports Flax (an optional dependency).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ._base import Transform, static
from ._layout import is_packed
from ._packing import Packing
from ._train import Frozen, PackedTrainState, packed_fields

__all__ = ["TrainState"]


def _apply_packed(apply: Callable[..., Any], pk: Packing, variables: Any, *a: Any, **k: Any) -> Any:
    if isinstance(variables, dict) and is_packed(variables.get("params")):
        variables = {**variables, "params": pk.unpack(variables["params"])}
    return apply(variables, *a, **k)


class TrainState(PackedTrainState):
    """Flax's ``TrainState`` on packed parameters, for gdtx optimizers.

    Fields and methods as in Flax: ``step``, ``params``, ``opt_state``, ``tx``,
    ``apply_fn``, ``create``, ``apply_gradients``, ``replace``; subclass it to add
    fields (``batch_stats: Any``) as with Flax's. ``params`` is a
    :class:`gdtx.Packed` value; ``apply_fn`` (a property) unpacks a packed
    ``"params"`` collection before calling the model's ``apply``. The optimizer is a
    pytree field here, not a static one: a new learning rate
    (``state.replace(tx=gdtx.adam(1e-4))``) does not recompile.

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn, gdtx, gdtx.linen
        >>> model = nn.Dense(1)
        >>> x = jnp.ones((4, 2))
        >>> params = model.init(jax.random.key(0), x)["params"]
        >>> state = gdtx.linen.TrainState.create(
        ...     apply_fn=model.apply, params=params, tx=gdtx.adam(1e-2)
        ... )
        >>> @jax.jit
        ... def train_step(state, x):
        ...     def loss_fn(params):  # params: packed; apply_fn unpacks them
        ...         return jnp.mean(state.apply_fn({"params": params}, x) ** 2)
        ...     loss, grads = jax.value_and_grad(loss_fn)(state.params)
        ...     return state.apply_gradients(grads=grads), loss
        >>> state, loss = train_step(state, x)
        >>> sorted(state.unpacked_params())  # a Linen params dict again
        ['bias', 'kernel']
    """

    model_apply: Frozen = static()

    @property
    def apply_fn(self) -> Callable[..., Any]:
        """The model's ``apply``, unpacking a packed ``"params"`` collection first."""
        return functools.partial(_apply_packed, self.model_apply.value, self.packing)

    @classmethod
    def create(
        cls,
        *,
        apply_fn: Callable[..., Any],
        params: Any,
        tx: Transform,
        opt_state: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Packs ``params`` for ``tx`` and starts at step 0.

        Args:
            apply_fn: the model's ``apply`` (``model.apply``).
            params: the ``"params"`` collection (a dict of arrays).
            tx: a gdtx optimizer (its masks and parameter groups decide the buffers).
            opt_state: a per-leaf state of ``tx`` for ``params`` (from
                :meth:`unpack_opt_state` or a tree-shaped run) to continue from;
                ``None``: a fresh state.
            **kwargs: the fields a subclass adds (``batch_stats=...``).

        Raises:
            TypeError: ``tx`` is not a gdtx transformation.
        """
        fields = packed_fields("gdtx.linen.TrainState.create", tx, params, opt_state)
        return cls(**fields, model_apply=Frozen(apply_fn), **kwargs)
