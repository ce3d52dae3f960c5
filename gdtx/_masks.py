"""Masks: which leaves a transformation applies to, held hashably in its static fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from ._base import Params
from ._layout import leaf_view


class _FrozenMask(NamedTuple):
    """A boolean mask tree stored hashably (tree definition and leaves)."""

    treedef: Any
    leaves: tuple[bool, ...]


MaskLike = Callable[[Params], Any] | Any


def mask_leaves(owner: str, mask: MaskLike, params: Params) -> tuple[bool, ...]:
    """The mask as one bool per leaf of ``params``, after checking its structure.

    ``params`` may be a group's selection inside ``masked`` or ``partition`` (the
    parameter tree with ``None`` for the leaves the group does not hold): a mask tree
    then has the whole parameters' structure, and a mask function sees the
    selection. For packed parameters the mask sees the packing's view, with
    ``jax.ShapeDtypeStruct`` leaves.
    """
    params = leaf_view(params)
    tree = mask(params) if callable(mask) else mask
    if isinstance(tree, _FrozenMask):
        leaves, treedef = list(tree.leaves), tree.treedef
    else:
        leaves, treedef = jax.tree.flatten(tree, is_leaf=_is_none)
    p_leaves, p_def = jax.tree.flatten(params)
    with_holes, hole_def = jax.tree.flatten(params, is_leaf=_is_none)
    if treedef == hole_def:  # one flag per position, held or not
        return tuple(bool(f) for f, p in zip(leaves, with_holes, strict=True) if p is not None)
    flags = [f for f in leaves if f is not None]
    if len(flags) == len(p_leaves) and jax.tree.structure(tree) == p_def:
        return tuple(bool(f) for f in flags)
    raise ValueError(
        f"{owner}: the mask's tree structure differs from the parameters'.\n"
        f"  mask:   {treedef}\n  params: {p_def}"
    )


def _is_none(x: Any) -> bool:
    return x is None


def freeze_mask(mask: MaskLike) -> MaskLike:
    """A hashable form of ``mask``: callables are kept, trees are frozen."""
    if mask is None or callable(mask) or isinstance(mask, _FrozenMask):
        return mask
    leaves, treedef = jax.tree.flatten(mask)
    return _FrozenMask(treedef, tuple(bool(x) for x in leaves))
