"""Packed training states for the framework integrations (gdtx.nnx, gdtx.linen, gdtx.equinox).

Every integration holds the same core: the parameters packed into a few flat buffers
(:func:`gdtx.packing`), the optimizer's state for those buffers, the packing (whose
leaves are run-time offsets, so it travels through ``jit`` as an argument) and the
optimizer itself, as a pytree (its numbers are traced: a new learning rate does not
recompile). A framework adds what it needs to rebuild its model from the unpacked
parameters. Nothing here imports a framework.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._base import PytreeDataclass, Transform, apply_updates, static
from ._layout import is_packed
from ._packing import Packing, packing

__all__ = [
    "Frozen",
    "PackedTrainState",
    "check_tx",
    "make_train_step",
    "pack_params",
    "packed_fields",
    "tx_fields",
]


class Frozen:
    """A static value whose hash is computed once.

    ``jit`` hashes the static parts of its arguments on every call to find the compiled
    program; a model's graph definition takes a millisecond to hash for a few hundred
    layers, as long as the packed step itself. Equal values stay equal (a restored
    state reuses the compiled step).
    """

    __slots__ = ("_hash", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self._hash = hash(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return isinstance(other, Frozen) and self._hash == other._hash and self.value == other.value

    def __repr__(self) -> str:
        return f"Frozen({self.value!r})"


def tx_fields(owner: str, tx: Any) -> dict[str, Any]:
    """A training state's ``tx_leaves`` and ``tx_def`` for the optimizer ``tx``."""
    leaves, treedef = jax.tree.flatten(check_tx(owner, tx))
    return {"tx_leaves": tuple(leaves), "tx_def": Frozen(treedef)}


def check_tx(owner: str, tx: Any) -> Transform:
    """``tx`` with its numbers as arrays, or a ``TypeError`` if it is not a gdtx transformation."""
    if not isinstance(tx, Transform):
        raise TypeError(
            f"{owner}: `tx` must be a gdtx transformation (packed parameters need gdtx's "
            f"blocks; an Optax transformation refuses them), got {type(tx).__name__}. Use "
            "gdtx.adam(...) and the like, or gdtx's per-leaf path for Optax."
        )
    # Numbers as arrays: traced by jit (a new learning rate does not recompile), and not
    # converted from Python again on every call.
    return jax.tree.map(jnp.asarray, tx)


def pack_params(owner: str, tx: Transform, params: Any, opt_state: Any) -> tuple:
    """(packing, packed parameters, packed optimizer state) for a parameter tree.

    ``opt_state`` is ``None`` (a fresh ``tx.init``), a state of ``tx`` for the parameter
    tree (a checkpoint; packed with ``pack_state``) or one for packed parameters.
    """
    pk = packing(params, tx)
    flat = pk.pack(params)
    if opt_state is None:
        state = tx.init(flat)
    elif any(is_packed(x) for x in jax.tree.leaves(opt_state, is_leaf=is_packed)):
        state = opt_state
    else:
        try:
            state = pk.pack_state(opt_state, tx)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"{owner}: `opt_state` is not a state of this optimizer for these parameters: {err}"
            ) from err
    # The step donates the buffers: none may be an array the caller still holds (a
    # single-leaf buffer can be the parameter itself) or appear twice.
    _, _, flat, state = _distinct((params, opt_state, flat, state))
    return pk, flat, state


def packed_fields(owner: str, tx: Any, params: Any, opt_state: Any) -> dict[str, Any]:
    """The fields every :class:`PackedTrainState` starts with, for ``tx`` (checked by
    :func:`check_tx`) and a parameter tree: step 0, the packed parameters and optimizer
    state (:func:`pack_params`), the packing, and ``tx_leaves`` and ``tx_def``."""
    fields = tx_fields(owner, tx)
    tx = fields["tx_def"].value.unflatten(fields["tx_leaves"])
    pk, flat, state = pack_params(owner, tx, params, opt_state)
    step = jnp.zeros([], jnp.int32)
    return {"step": step, "params": flat, "opt_state": state, "packing": pk, **fields}


def _distinct(tree: Any) -> Any:
    """``tree`` with a leaf that repeats an earlier one copied: a step donates these
    buffers, and one buffer cannot be donated twice."""
    seen: set[int] = set()

    def once(x: Any) -> Any:
        if id(x) in seen:
            return jnp.copy(x)
        seen.add(id(x))
        return x

    return jax.tree.map(once, tree)


class PackedTrainState(PytreeDataclass):
    """What every packed training state holds; the framework modules subclass it.

    Attributes:
        step: optimizer updates applied so far (``int32``).
        params: the trainable parameters, packed (:class:`gdtx.Packed`): differentiate
            with respect to these.
        opt_state: the optimizer's state for the packed parameters.
        packing: the :class:`gdtx.Packing` that turns ``params`` back into a tree.
        tx_leaves: the optimizer's numbers (traced by ``jit``: a new learning rate,
            ``state.replace(tx=gdtx.adam(1e-4))``, does not recompile).
        tx_def: the rest of the optimizer (static). The property ``tx`` is the
            optimizer. Kept apart so that a jitted step returning the state does not
            rebuild (and re-validate, reading each number back from the device) the
            optimizer on every call.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    packing: Packing
    tx_leaves: tuple
    tx_def: Frozen = static()

    @property
    def tx(self) -> Transform:
        """The gdtx optimizer."""
        return self.tx_def.value.unflatten(self.tx_leaves)

    def replace(self, **changes: Any) -> Any:
        """A copy with the given fields replaced (as Flax's ``TrainState.replace``);
        ``tx=`` replaces the optimizer (one of the same form keeps the compiled step)."""
        if "tx" in changes:
            changes |= tx_fields("replace", changes.pop("tx"))
        return dataclasses.replace(self, **changes)

    def apply_gradients(self, *, grads: Any, **kwargs: Any) -> Any:
        """One optimizer update from packed gradients; ``step`` advances by one.

        Args:
            grads: gradients with respect to ``self.params`` (packed, as
                ``jax.grad`` returns them for packed parameters).
            **kwargs: names of this state's fields replace them (as Flax's
                ``TrainState.apply_gradients``: ``batch_stats=...``); any other
                keyword goes to the optimizer's ``update`` (``value=loss`` for
                ``reduce_on_plateau``).
        """
        names = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        fields = {k: v for k, v in kwargs.items() if k in names}
        extra = {k: v for k, v in kwargs.items() if k not in names}
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params, **extra)
        return self.replace(
            step=self.step + 1,
            params=apply_updates(self.params, updates),
            opt_state=opt_state,
            **fields,
        )

    def unpacked_params(self) -> Any:
        """The parameters as the tree they were packed from."""
        return self.packing.unpack(self.params)

    def unpack_opt_state(self) -> Any:
        """The optimizer state in per-leaf form: a portable checkpoint.

        It restores into a tree-shaped run of the same optimizer, and into a new
        packed state through ``create(..., opt_state=...)``.
        """
        return self.packing.unpack_state(self.opt_state)


def reads_value(tx: Transform) -> bool:
    """Whether a block of ``tx`` reads ``update``'s ``value=`` (the loss)."""
    consumed = tx.consumed_args()
    return consumed is None or "value" in consumed


def make_train_step(
    forward: Callable[[Any, Any, tuple], tuple[Any, dict[str, Any]]],
    *,
    has_aux: bool,
    donate: bool,
) -> Callable[..., Any]:
    """A jitted ``step(state, *args, **update_args)`` for a packed training state.

    ``forward(state, flat, args)`` rebuilds the model from ``state.packing.unpack(flat)``,
    runs the user's loss on it and returns ``(loss_fn's output, fields)``, where
    ``fields`` are state fields the call changed (the model's non-parameter state). The
    gradient is taken with respect to the packed buffers. When the optimizer reads
    ``value=`` and the call gives none, the loss is passed. With ``donate``, the
    parameters' and the optimizer state's buffers are reused for the new ones.
    ``step.lower(state, *args)`` lowers it ahead of time (``jax.jit``'s ``lower``).
    """

    def run(donated: tuple, kept: Any, args: tuple, update_args: dict[str, Any]) -> tuple:
        params, opt_state = donated
        state = kept.replace(params=params, opt_state=opt_state)

        def loss(flat: Any) -> tuple[Any, tuple[Any, dict[str, Any]]]:
            out, fields = forward(state, flat, args)
            value, aux = out if has_aux else (out, None)
            return value, (aux, fields)

        (value, (aux, fields)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        if "value" not in update_args and reads_value(state.tx):
            update_args = {**update_args, "value": value}
        state = state.apply_gradients(grads=grads, **update_args)
        # Only what changed comes out: rebuilding the optimizer from the outputs would
        # validate its hyperparameters, reading each back from the device.
        return (state.params, state.opt_state), state.step, fields, value, aux

    jitted = jax.jit(run, donate_argnums=(0,) if donate else ())

    def step(state: Any, *args: Any, **update_args: Any) -> tuple:
        kept = state.replace(params=None, opt_state=None)
        donated = (state.params, state.opt_state)
        (params, opt_state), count, fields, value, aux = jitted(donated, kept, args, update_args)
        new = state.replace(params=params, opt_state=opt_state, step=count, **fields)
        return (new, value, aux) if has_aux else (new, value)

    def lower(state: Any, *args: Any, **update_args: Any) -> Any:
        kept = state.replace(params=None, opt_state=None)
        return jitted.lower((state.params, state.opt_state), kept, args, update_args)

    step.lower = lower  # type: ignore[attr-defined]
    return step
