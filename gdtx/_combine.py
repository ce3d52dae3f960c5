"""Combinators: ``chain`` and ``masked``, and the adapter for Optax transformations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax

from ._base import Params, State, Transform, Updates, call_step, static
from ._layout import is_packed, leaf_view, merge_leaves, select_leaves


class Chain(Transform):
    """Applies transformations one after another, sharing one step counter.

    Its state is a tuple with one entry per transformation, in order.

    Attributes:
        transforms: the transformations, applied left to right.
    """

    transforms: tuple[Transform, ...]
    takes_extra_args: ClassVar[bool] = True

    def init_state(self, params: Params) -> tuple[State, ...]:
        return tuple(tx.init_state(params) for tx in self.transforms)

    def step(
        self,
        updates: Updates,
        state: tuple[State, ...],
        params: Params | None,
        count: jax.Array,
        **extra_args: Any,
    ) -> tuple[Updates, tuple[State, ...]]:
        if not isinstance(state, tuple) or len(state) != len(self.transforms):
            raise ValueError(
                f"chain: the state holds {len(state) if isinstance(state, tuple) else type(state)}"
                f" entries for {len(self.transforms)} transformations; was it made by this"
                " chain's init()?"
            )
        new_state = []
        for tx, s in zip(self.transforms, state, strict=True):
            updates, s = call_step(tx, updates, s, params, count, extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    def completed_step(self, state: tuple[State, ...]) -> jax.Array | None:
        for tx, s in zip(self.transforms, state, strict=True):
            done = tx.completed_step(s)
            if done is not None:
                return done
        return None


def chain(*transforms: Any) -> Chain:
    """Chains transformations into one, applied left to right.

    Accepts gdtx transformations and Optax ``GradientTransformation`` objects
    alike (an Optax transformation keeps its own state, counter included).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.chain(gdtx.scale_by_adam(), gdtx.scale_by_learning_rate(1e-3))
        >>> state = tx.init({"w": jnp.zeros(3)})
        >>> updates, state = tx.update({"w": jnp.ones(3)}, state)
        >>> updates["w"]
        Array([-0.001, -0.001, -0.001], dtype=float32)
    """
    return Chain(tuple(as_transform(tx) for tx in transforms))


class OptaxTransform(Transform):
    """Adapts an Optax ``GradientTransformation`` (any object with ``init``/``update``).

    The wrapped object is static: it is not a pytree of hyperparameters.
    """

    transform: Any = static()

    def init_state(self, params: Params) -> State:
        _refuse_packed(params)
        return self.transform.init(params)

    def step(
        self, updates: Updates, state: State, params: Params | None, count: jax.Array
    ) -> tuple[Updates, State]:
        del count
        _refuse_packed(updates)
        return self.transform.update(updates, state, params)


def _refuse_packed(tree: Any) -> None:
    if is_packed(tree):
        raise TypeError(
            "An Optax transformation cannot run on packed parameters: it would see each "
            "buffer as one array, so its per-leaf operations (masks, trust ratios, per-leaf "
            "clipping) would silently span many leaves. Use the gdtx block instead."
        )


def as_transform(tx: Any) -> Transform:
    """Returns ``tx`` as a gdtx transformation, adapting Optax objects."""
    if isinstance(tx, Transform):
        return tx
    if callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None)):
        return OptaxTransform(tx)
    raise TypeError(
        f"expected a gdtx transformation or an object with init/update (such as an Optax"
        f" GradientTransformation), got {type(tx).__name__}."
    )


class _FrozenMask(NamedTuple):
    """A boolean mask tree stored hashably (tree definition and leaves)."""

    treedef: Any
    leaves: tuple[bool, ...]


MaskLike = Callable[[Params], Any] | Any


def mask_leaves(owner: str, mask: MaskLike, params: Params) -> tuple[bool, ...]:
    """The mask as one bool per leaf of ``params``, after checking its structure.

    For packed parameters the mask sees the packing's view: the parameter tree
    (or a group's list of leaves) with ``jax.ShapeDtypeStruct`` leaves.
    """
    params = leaf_view(params)
    tree = mask(params) if callable(mask) else mask
    if isinstance(tree, _FrozenMask):
        leaves, treedef = tree.leaves, tree.treedef
    else:
        leaves, treedef = jax.tree.flatten(tree)
    p_leaves, p_def = jax.tree.flatten(params)
    if treedef != p_def:
        raise ValueError(
            f"{owner}: the mask's tree structure differs from the parameters'.\n"
            f"  mask:   {treedef}\n  params: {p_def}"
        )
    del p_leaves
    return tuple(bool(x) for x in leaves)


def freeze_mask(mask: MaskLike) -> MaskLike:
    """A hashable form of ``mask``: callables are kept, trees are frozen."""
    if mask is None or callable(mask) or isinstance(mask, _FrozenMask):
        return mask
    leaves, treedef = jax.tree.flatten(mask)
    return _FrozenMask(treedef, tuple(bool(x) for x in leaves))


class Masked(Transform):
    """Applies ``inner`` to the masked leaves only; other leaves pass unchanged.

    The inner transformation sees the selected leaves as a list and keeps state
    for them alone.

    Attributes:
        inner: the transformation applied to the selected leaves.
        mask: a pytree of bools with the parameters' structure, or a function of
            the parameters returning one. True selects a leaf.
    """

    inner: Transform
    mask: Any = static()
    takes_extra_args: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", freeze_mask(self.mask))

    def init_state(self, params: Params) -> State:
        flags = mask_leaves("masked", self.mask, params)
        return self.inner.init_state(select_leaves("masked", params, flags))

    def step(
        self,
        updates: Updates,
        state: State,
        params: Params | None,
        count: jax.Array,
        **extra_args: Any,
    ) -> tuple[Updates, State]:
        flags = mask_leaves("masked", self.mask, updates)
        chosen = select_leaves("masked", updates, flags)
        chosen_params = None if params is None else select_leaves("masked", params, flags)
        new_chosen, state = call_step(self.inner, chosen, state, chosen_params, count, extra_args)
        return merge_leaves(updates, flags, new_chosen), state

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        flags = mask_leaves("masked", self.mask, params)
        inner = iter(self.inner.packing_keys(select_leaves("masked", params, flags)))
        return [("masked", True, *next(inner)) if f else ("masked", False) for f in flags]

    def completed_step(self, state: State) -> jax.Array | None:
        return self.inner.completed_step(state)


def masked(inner: Any, mask: MaskLike) -> Masked:
    """Applies ``inner`` only to the leaves where ``mask`` is True.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.masked(gdtx.scale(0.0), {"w": True, "b": False})
        >>> g = {"w": jnp.ones(2), "b": jnp.ones(2)}
        >>> tx.update(g, tx.init(g))[0]["b"]
        Array([1., 1.], dtype=float32)
    """
    return Masked(as_transform(inner), mask)
