"""Masks: which leaves a transformation applies to, held hashably in its static fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from ._base import Params
from ._layout import leaf_view


class FrozenTree(NamedTuple):
    """A tree of per-leaf values (mask flags, group labels) stored hashably."""

    treedef: Any
    leaves: tuple[Any, ...]


MaskLike = Callable[[Params], Any] | Any


def leaf_values(owner: str, what: str, spec: Any, params: Params, kind: Any) -> tuple[Any, ...]:
    """One value per leaf of ``params`` from ``spec``: a tree of values, or a function of
    the parameters returning one; raises naming both structures if they differ.

    ``params`` may be a group's selection inside ``masked`` or ``partition`` (the
    parameter tree with ``None`` for the leaves the group does not hold): a tree then
    has the whole parameters' structure, and a function sees the selection. For packed
    parameters it sees the packing's view, with ``jax.ShapeDtypeStruct`` leaves.

    Args:
        owner: the transformation, for messages.
        what: whose structure, for messages (``"mask's"``, ``"labels'"``).
        spec: the tree or the function.
        params: the parameters (or updates) the values are for.
        kind: a predicate on leaves: a callable pytree whose leaves all satisfy it is a
            tree of values rather than a function.
    """
    params = leaf_view(params)
    with_holes, hole_def = jax.tree.flatten(params, is_leaf=_is_none)
    if not with_holes:  # a tree without arrays (Optax's placeholder) has nothing to label
        return ()
    tree = spec(params) if is_function(spec, kind) else spec
    p_def = jax.tree.structure(params)
    if isinstance(tree, FrozenTree):
        candidates = [(list(tree.leaves), tree.treedef)]
    else:
        candidates = [jax.tree.flatten(tree, is_leaf=_is_none), jax.tree.flatten(tree)]
    for leaves, treedef in candidates:
        if treedef == hole_def:  # one value per position, held or not
            return tuple(v for v, p in zip(leaves, with_holes, strict=True) if p is not None)
        if treedef == p_def:
            return tuple(leaves)
    raise ValueError(
        f"{owner}: the {what} tree structure differs from the parameters'.\n"
        f"  {what.rstrip(chr(39) + 's')}: {candidates[-1][1]}\n  params: {p_def}"
    )


def mask_leaves(owner: str, mask: MaskLike, params: Params) -> tuple[bool, ...]:
    """The mask as one bool per leaf of ``params`` (see :func:`leaf_values`)."""
    return tuple(bool(f) for f in leaf_values(owner, "mask's", mask, params, is_bool))


def _is_none(x: Any) -> bool:
    return x is None


def is_function(spec: Any, kind: Any) -> bool:
    """Whether ``spec`` is a function of the parameters rather than a tree of values.

    A callable pytree whose leaves all satisfy ``kind`` (an Equinox module of flags, as
    ``jax.tree.map`` makes from a model) is a tree of values, not a function.
    """
    if not callable(spec) or isinstance(spec, FrozenTree):
        return False
    leaves = jax.tree.leaves(spec)
    return not (leaves and all(kind(x) for x in leaves))


def is_bool(x: Any) -> bool:
    return isinstance(x, bool | np.bool_) or (
        hasattr(x, "dtype") and np.dtype(x.dtype) == np.bool_ and np.ndim(x) == 0
    )


def freeze(spec: Any, kind: Any, convert: Callable[[Any], Any]) -> Any:
    """A hashable form of ``spec``: functions are kept, trees (callable or not) frozen."""
    if spec is None or is_function(spec, kind) or isinstance(spec, FrozenTree):
        return spec
    leaves, treedef = jax.tree.flatten(spec)
    return FrozenTree(treedef, tuple(convert(x) for x in leaves))


def freeze_mask(mask: MaskLike) -> MaskLike:
    """A hashable form of a mask: functions are kept, trees of bools are frozen."""
    return freeze(mask, is_bool, bool)
