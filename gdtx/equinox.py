"""Equinox integration: packed training of an Equinox module.

:class:`TrainState` partitions the module (``eqx.partition``) into its trainable
arrays, packed into a few flat buffers (:func:`gdtx.packing`), and the rest; the step
:func:`train_step` returns rebuilds the module with ``eqx.combine`` from the unpacked
parameters, differentiates the loss with respect to the packed buffers and runs the
optimizer on them. Importing this module imports Equinox (an optional dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from ._base import Transform
from ._base import static as static_field
from ._train import Frozen, PackedTrainState, make_train_step, packed_fields

__all__ = ["TrainState", "train_step"]


def _frozen(tree: Any) -> Frozen:
    """The non-array part of a module as a static field (as ``eqx.filter_jit`` treats it):
    its leaves and tree structure, compared and hashed as such."""
    leaves, treedef = jax.tree.flatten(tree)
    return Frozen((treedef, tuple(leaves)))


class TrainState(PackedTrainState):
    """An Equinox module split for packed training.

    Made by :meth:`create`; trained by the step :func:`train_step` returns. The arrays
    ``filter_spec`` selects (``eqx.partition``) are packed into ``params``; the other
    arrays of the module are ``rest`` and its non-array fields (activation functions,
    sizes) are static. A pytree of arrays: pass it to ``jax.jit`` or
    ``eqx.filter_jit`` alike. Equinox's own state (``eqx.nn.State``, for
    ``eqx.nn.BatchNorm``) stays with the user, as in any Equinox loop: pass it to the
    step and return the new one as the loss's auxiliary output.

    Attributes:
        rest: the module's arrays outside ``filter_spec`` (``None`` where trained).
        static: the module's non-array leaves (static).
    """

    rest: Any
    static: Any = static_field()

    @classmethod
    def create(
        cls,
        model: eqx.Module,
        tx: Transform,
        *,
        filter_spec: Any = eqx.is_inexact_array,
        opt_state: Any = None,
    ) -> TrainState:
        """Partitions ``model`` and packs the arrays ``filter_spec`` selects for ``tx``.

        Args:
            model: the Equinox module.
            tx: a gdtx optimizer (its masks and parameter groups decide the buffers).
            filter_spec: what to train, as ``eqx.partition`` takes it (a function of
                each leaf, or a tree of booleans); floating-point arrays by default.
            opt_state: a per-leaf state of ``tx`` for ``eqx.filter(model,
                filter_spec)`` (from :meth:`unpack_opt_state` or a tree-shaped run) to
                continue from; ``None``: a fresh state.

        Raises:
            TypeError: ``tx`` is not a gdtx transformation.
        """
        params, other = eqx.partition(model, filter_spec)
        rest, fixed = eqx.partition(other, eqx.is_array)
        fields = packed_fields("gdtx.equinox.TrainState.create", tx, params, opt_state)
        return cls(**fields, rest=rest, static=_frozen(fixed))

    def model(self, params: Any = None) -> Any:
        """The module, rebuilt: from ``params`` (packed, e.g. traced), else the state's own."""
        flat = self.params if params is None else params
        fixed = jax.tree.unflatten(*self.static.value)
        return eqx.combine(self.packing.unpack(flat), self.rest, fixed)


def train_step(
    loss_fn: Callable[..., Any], *, has_aux: bool = False, donate: bool = True
) -> Callable[..., Any]:
    """A jitted training step on a :class:`TrainState`, for ``loss_fn(model, *args)``.

    The returned ``step(state, *args, **update_args)`` rebuilds the module from the
    unpacked parameters (``eqx.combine``), calls ``loss_fn(model, *args)``,
    differentiates with respect to the packed buffers and applies one optimizer
    update. It returns ``(state, loss)``, or ``(state, loss, aux)`` with
    ``has_aux=True`` (``loss_fn`` then returns ``(loss, aux)``: the new
    ``eqx.nn.State`` goes there). Keyword arguments go to the optimizer's ``update``;
    when it reads ``value=`` (``reduce_on_plateau``) and none is given, the loss is
    passed. ``args`` are arrays (or pytrees of them), as for ``jax.jit``.

    Args:
        loss_fn: the loss, written against the module as for
            ``eqx.filter_value_and_grad``.
        has_aux: whether ``loss_fn`` returns ``(loss, aux)``.
        donate: reuse the parameters' and optimizer state's buffers for the new ones
            (the state passed in can then no longer be used).

    Example:
        >>> import equinox as eqx, jax, jax.numpy as jnp, gdtx, gdtx.equinox
        >>> model = eqx.nn.MLP(2, 1, 8, depth=2, key=jax.random.key(0))
        >>> state = gdtx.equinox.TrainState.create(model, gdtx.adam(1e-2))
        >>> step = gdtx.equinox.train_step(lambda m, x: jnp.mean(jax.vmap(m)(x) ** 2))
        >>> for _ in range(3):
        ...     state, loss = step(state, jnp.ones((4, 2)))
        >>> trained = state.model()  # an eqx.nn.MLP again
        >>> type(trained).__name__, int(state.step)
        ('MLP', 3)
    """

    def forward(state: TrainState, flat: Any, args: tuple) -> tuple[Any, dict[str, Any]]:
        return loss_fn(state.model(flat), *args), {}

    return make_train_step(forward, has_aux=has_aux, donate=donate)
