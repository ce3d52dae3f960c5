"""Parameter groups: a transformation per group of leaves, chosen by key path or function."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._base import Context, EmptyState, Params, State, Transform, Updates, static
from ._combine import Masked, as_transform
from ._layout import leaf_view, merge_leaves, select_leaves
from ._masks import FrozenTree, is_bool, is_function, leaf_values
from ._masks import freeze as freeze_tree


def path_keys(path: tuple[Any, ...]) -> tuple[str, ...]:
    """The keys of a JAX key path as strings: dict keys, attribute names, list indices."""
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return tuple(parts)


class SetToZero(Transform):
    """Outputs zero updates and keeps no state: the transformation of frozen parameters.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.set_to_zero()
        >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
        Array([0., 0.], dtype=float32)
    """

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        return jax.tree.map(jnp.zeros_like, updates), state


set_to_zero = SetToZero


def ndim_mask(min_ndim: int = 2) -> Callable[[Params], Any]:
    """A mask function selecting leaves with at least ``min_ndim`` dimensions.

    The usual choice for weight decay: matrices and kernels decay, biases and
    normalisation scales (one dimension) do not.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> mask = gdtx.ndim_mask()
        >>> mask({"w": jnp.ones((2, 3)), "b": jnp.ones(3)})
        {'b': False, 'w': True}
        >>> opt = gdtx.adamw(1e-3, weight_decay=0.1, mask=gdtx.ndim_mask())
    """
    return _NdimMask(min_ndim)


class _NdimMask:
    """Hashable mask function (so optimizers holding it compare equal)."""

    def __init__(self, min_ndim: int) -> None:
        self.min_ndim = min_ndim

    def __call__(self, params: Params) -> Any:
        return jax.tree.map(lambda x: jnp.ndim(x) >= self.min_ndim, params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NdimMask) and other.min_ndim == self.min_ndim

    def __hash__(self) -> int:
        return hash(("ndim_mask", self.min_ndim))

    def __repr__(self) -> str:
        return f"ndim_mask({self.min_ndim})"


def _is_label(x: Any) -> bool:
    return isinstance(x, str)


def _rules(labels: Any) -> Any:
    """A hashable form of the labelling: a function, a tuple of (pattern, label) rules, or
    a frozen tree of labels."""
    if is_function(labels, _is_label):
        return labels
    if isinstance(labels, Mapping) and all(
        isinstance(k, str | re.Pattern) and isinstance(v, str) for k, v in labels.items()
    ):
        return tuple(labels.items())
    leaves = jax.tree.leaves(labels)
    if not leaves or not all(_is_label(x) for x in leaves):
        raise TypeError(
            "partition: `labels` must be a function of the parameters, a mapping from "
            "key-path patterns to labels, or a tree of labels (strings) with the "
            f"parameters' structure, got {type(labels).__name__}."
        )
    return freeze_tree(labels, _is_label, str)


def _matches(pattern: Any, keys: tuple[str, ...]) -> bool:
    """Whether ``pattern`` matches the leaf's path or the path of a subtree holding it."""
    for n in range(len(keys), 0, -1):
        path = "/".join(keys[:n])
        if isinstance(pattern, re.Pattern):
            if pattern.fullmatch(path) is not None:
                return True
        elif fnmatch.fnmatchcase(path, str(pattern)):
            return True
    return False


def leaf_labels(labels: Any, params: Params, known: tuple[str, ...]) -> tuple[str, ...]:
    """One label per leaf of ``params``; raises naming unassigned, overlapping or unknown paths."""
    with_paths = jax.tree_util.tree_flatten_with_path(params)[0]
    keys = [path_keys(p) for p, _ in with_paths]
    paths = ["/".join(k) for k in keys]
    if not isinstance(labels, tuple) or isinstance(labels, FrozenTree):  # function or tree
        out = [str(x) for x in leaf_values("partition", "labels'", labels, params, _is_label)]
    else:
        out, unassigned, overlapping = [], [], []
        for path, leaf_keys in zip(paths, keys, strict=True):
            hits = sorted({label for pattern, label in labels if _matches(pattern, leaf_keys)})
            if not hits:
                unassigned.append(path)
            elif len(hits) > 1:
                overlapping.append(f"{path} ({', '.join(hits)})")
            out.append(hits[0] if hits else "")
        problems = []
        if unassigned:
            problems.append("no label for: " + ", ".join(unassigned))
        if overlapping:
            problems.append("several labels for: " + ", ".join(overlapping))
        if problems:
            raise ValueError("partition: " + "; ".join(problems))
    unknown = sorted({f"{p} ({x})" for p, x in zip(paths, out, strict=True) if x not in known})
    if unknown:
        raise ValueError(
            f"partition: labels without a transformation (have {', '.join(known)}): "
            + ", ".join(unknown)
        )
    return tuple(out)


class Partition(Transform):
    """Applies a different transformation to each group of parameter leaves.

    Every leaf gets exactly one label, from a function of the parameters or
    from key-path patterns (globs such as ``"*/bias"``, or compiled regular
    expressions) matched against paths like ``encoder/layers/0/kernel`` and
    their enclosing subtrees' paths. Each group's transformation sees its
    leaves as a list and keeps state for them alone, so a frozen group
    (``set_to_zero()``) carries no state. All groups share the optimizer's step
    counter.

    Attributes:
        transforms: the transformations, in the order of ``names``.
        names: the group labels (static).
        labels: the labelling function or the (pattern, label) rules (static).
    """

    transforms: tuple[Transform, ...]
    names: tuple[str, ...] = static()
    labels: Any = static()

    def _groups(self, params: Params) -> tuple[str, ...]:
        return leaf_labels(self.labels, leaf_view(params), self.names)

    def init_state(self, params: Params) -> dict[str, State]:
        labels = self._groups(params)
        return {
            name: tx.init_state(select_leaves("partition", params, labels, name))
            for name, tx in zip(self.names, self.transforms, strict=True)
        }

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        return ((tx, state[n], count) for n, tx in zip(self.names, self.transforms, strict=True))

    def step(
        self, updates: Updates, state: dict[str, State], params: Params | None, ctx: Context
    ) -> tuple[Updates, dict[str, State]]:
        labels = self._groups(updates)
        merged = updates
        new_state = {}
        for name, tx in zip(self.names, self.transforms, strict=True):
            group = select_leaves("partition", updates, labels, name)
            sub_params = (
                None if params is None else select_leaves("partition", params, labels, name)
            )
            out, new_state[name] = tx.step(group, state[name], sub_params, ctx)
            merged = merge_leaves(merged, labels, out, name)
        return merged, new_state

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        labels = self._groups(params)
        keys: list[tuple[Any, ...]] = [("group", lab) for lab in labels]
        for name, tx in zip(self.names, self.transforms, strict=True):
            inner = iter(tx.packing_keys(select_leaves("partition", params, labels, name)))
            keys = [
                k + next(inner) if lab == name else k for k, lab in zip(keys, labels, strict=True)
            ]
        return keys


def partition(transforms: Mapping[str, Any], labels: Any) -> Partition:
    """Parameter groups: ``transforms[label]`` updates the leaves labelled ``label``.

    Args:
        transforms: label → transformation (gdtx or Optax).
        labels: a function of the parameters returning a tree of labels, or a
            mapping from key-path patterns to labels. A path is the leaf's keys
            joined by ``/`` (``encoder/layers/0/kernel``). Patterns are globs
            (``fnmatch``) or compiled regular expressions (full match); a pattern
            matches a leaf if it matches the leaf's path or the path of a subtree
            holding it (``"encoder"`` labels every leaf under ``encoder``). Leaves
            matching no pattern, patterns of different labels, or a label missing
            from ``transforms`` raise one ``ValueError`` listing their paths.

    Returns:
        The combined transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> params = {"encoder": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "head": jnp.ones(2)}
        >>> opt = gdtx.partition(
        ...     {"train": gdtx.adam(0.1), "frozen": gdtx.set_to_zero()},
        ...     {"encoder/*": "frozen", "head": "train"},
        ... )
        >>> state = opt.init(params)
        >>> sorted(state.inner)
        ['frozen', 'train']
        >>> updates, state = opt.update(params, state)
        >>> updates["encoder"]["w"].sum(), updates["head"]
        (Array(0., dtype=float32), Array([-0.1, -0.1], dtype=float32))
    """
    names = tuple(sorted(transforms))
    return Partition(tuple(as_transform(transforms[n]) for n in names), names, _rules(labels))


class _PrefixMask:
    """A hashable mask function: a tree of bools that is a prefix of the parameters'
    (a single bool included), each bool spread over the leaves of its subtree."""

    def __init__(self, treedef: Any, flags: tuple[bool, ...]) -> None:
        self.treedef, self.flags = treedef, flags

    def __call__(self, params: Params) -> Any:
        prefix = jax.tree.unflatten(self.treedef, list(self.flags))
        try:
            return jax.tree.map(lambda m, sub: jax.tree.map(lambda _: m, sub), prefix, params)
        except ValueError as e:
            raise ValueError(
                "freeze: the mask must be a bool or a tree of bools with the parameters' "
                f"structure or a prefix of it.\n  mask: {self.treedef}\n"
                f"  params: {jax.tree.structure(params)}"
            ) from e

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PrefixMask) and (other.treedef, other.flags) == (
            self.treedef,
            self.flags,
        )

    def __hash__(self) -> int:
        return hash((self.treedef, self.flags))

    def __repr__(self) -> str:
        return f"freeze mask {jax.tree.unflatten(self.treedef, list(self.flags))}"


def freeze(mask: Any) -> Masked:
    """Zeroes the updates of the leaves where ``mask`` is True: frozen parameters.

    ``masked(set_to_zero(), mask)``, as Optax's ``optax.transforms.freeze``: the
    frozen leaves keep no state, and ``gdtx.packing(params, opt)`` keeps them in
    buffers of their own. To keep the rest of the optimizer from holding state for
    frozen leaves, use ``partition`` with ``set_to_zero()`` instead.

    Args:
        mask: a bool (freeze all or nothing), a tree of bools with the parameters'
            structure or a prefix of it (``{"encoder": True, "head": False}``
            freezes every leaf under ``encoder``), or a function of the parameters
            returning a tree of bools of the full structure. True freezes.

    Returns:
        The transformation (a :class:`~gdtx.Masked`).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> params = {"encoder": {"w": jnp.ones(2), "b": jnp.ones(2)}, "head": jnp.ones(2)}
        >>> tx = gdtx.freeze({"encoder": True, "head": False})
        >>> updates, _ = tx.update(params, tx.init(params))
        >>> updates["encoder"]["w"], updates["head"]
        (Array([0., 0.], dtype=float32), Array([1., 1.], dtype=float32))
        >>> opt = gdtx.chain(gdtx.freeze({"encoder": True, "head": False}), gdtx.adam(1e-3))
    """
    if is_function(mask, is_bool):
        return Masked(SetToZero(), mask)
    leaves, treedef = jax.tree.flatten(mask)
    bad = [x for x in leaves if not is_bool(x)]
    if bad:
        raise TypeError(f"freeze: the mask's leaves must be bools, got {bad[0]!r}.")
    return Masked(SetToZero(), _PrefixMask(treedef, tuple(bool(x) for x in leaves)))
