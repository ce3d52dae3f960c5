r"""Stacked and matrix views of parameter trees, per leaf and packed.

:func:`map_stacked` calls a function on each leaf with a leading stack axis: one leaf
of a tree, or a run of equal-shape leaves of a packed buffer, as ``(k, *shape)``;
per-axis reductions (a layer's units) use it.

Blocks that treat a weight as a matrix (Adafactor's row and column statistics,
Muon's orthogonalisation, Shampoo's preconditioners, LAMB's per-matrix norms) read
the updates through :func:`map_matrices`, written once, which runs on a tree of
arrays and on a :class:`~gdtx.Packed` value alike:

- the matrix of a leaf of shape ``(..., r, c)`` is its last two dimensions, and
  its leading dimensions are a stack of matrices (as tensor2tensor's Adafactor
  factors the last two dimensions; a scanned stack of layers is a stack of
  matrices); ``fn`` sees stacks of shape ``(k, r, c)``;
- a leaf with fewer than two dimensions (a bias, a scale) is never a matrix: it
  goes to the elementwise function ``other`` (by default: passed through);
- per-matrix state (row statistics of shape ``(..., r)``, column statistics of
  shape ``(..., c)``) is a tree like the parameters with ``None`` at the leaves
  that have none (per-leaf form), or a :class:`~gdtx.Packed` value over a layout
  derived from the parameters' (packed form). :meth:`gdtx.Packing.pack_state`
  and :meth:`gdtx.Packing.unpack_state` convert between the two.

In a packed buffer the leaves of one shape are adjacent (:func:`gdtx.packing`), so
a run of n leaves of shape ``(..., r, c)`` is one free reshape of its slice to
``(k, r, c)`` and one call of ``fn``; a per-leaf tree calls ``fn`` once per leaf.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._layout import BufferLayout, Layout, Packed
from ._tree import map_leaves, traced_once

Shape = tuple[int, ...]


def map_stacked(fn: Callable[..., jax.Array], tree: Any, *rest: Any) -> Any:
    """Calls ``fn(shape, x, *others)`` on each leaf with a leading stack axis.

    ``shape`` is the leaf's own shape; ``x`` has shape ``(k, *shape)``: k = 1 for a
    leaf of a tree, and for a :class:`Packed` value, a run of k equal-shape leaves of
    a buffer (a reshape of its slice). ``fn`` returns an array of ``x``'s shape. The
    other trees (of the same form and layout) are sliced alike.
    """
    if not isinstance(tree, Packed):

        def leaf(x: jax.Array, *others: jax.Array) -> jax.Array:
            return fn(jnp.shape(x), x[None], *(o[None] for o in others))[0]

        return map_leaves(leaf, tree, *rest)
    buffers = []
    for k, b in enumerate(tree.layout.buffers):
        xs = [tree.buffers[k], *(r.buffers[k] for r in rest)]
        if b.whole:
            buffers.append(fn(b.shapes[0], *(x[None] for x in xs))[0])
            continue
        pieces = []
        for pos, count, shape in b.shape_runs:
            start, size = b.offsets[pos], b.sizes[pos]
            blocks = [
                jax.lax.slice_in_dim(x, start, start + count * size).reshape(count, *shape)
                for x in xs
            ]
            pieces.append(fn(shape, *blocks).reshape(-1))
        buffers.append(jnp.concatenate(pieces) if len(pieces) != 1 else pieces[0])
    return Packed(tuple(buffers), tree.layout)


def is_matrix(shape: Shape) -> bool:
    """Whether a leaf of this shape is (a stack of) matrices: two or more dimensions."""
    return len(shape) >= 2


def shape_keys(params: Any, select: Callable[[Shape], bool] = is_matrix) -> list[tuple[Any, ...]]:
    """Packing keys (:meth:`gdtx.Transform.packing_keys`) that give the matrices of each
    shape a buffer of their own: ``("shape", shape)`` for each leaf of two or more
    dimensions for which ``select(shape)`` holds, ``()`` for the others.

    A block that reduces along a matrix's axes (row and column statistics, per-row
    norms) declares them: its reductions of a run of equal-shape matrices then read a
    whole buffer, which XLA's CPU reductions read in place, where a slice of a larger
    buffer is first copied out (measured on CPU; on any backend each distinct shape
    adds a buffer, so an elementwise step over the buffers is one kernel per shape).
    Empty matrices stay with the other leaves.
    """
    shapes = [tuple(jnp.shape(x)) for x in jax.tree.leaves(params)]
    return [("shape", s) if is_matrix(s) and 0 not in s and select(s) else () for s in shapes]


def map_matrices(
    fn: Callable[..., Any],
    *trees: Any,
    other: Callable[..., Any] | None = None,
    select: Callable[[Shape], bool] = is_matrix,
) -> Any:
    r"""Calls ``fn`` on stacks of matrices, and ``other`` on the remaining leaves.

    The first tree (the updates, per-leaf or :class:`~gdtx.Packed`) decides which
    leaves there are. A leaf of shape ``(*lead, r, c)`` for which ``select(shape)``
    holds (default: two or more dimensions) is ``k = prod(lead)`` matrices of shape
    r × c, and ``fn`` receives them as one array of shape ``(k, r, c)``: one call
    per leaf of a per-leaf tree; one call per run of equal-shape leaves of a packed
    buffer (n leaves make ``k = n·prod(lead)``), a reshape of the buffer's slice.
    Every other leaf (ndim < 2, or not selected) goes to ``other``, which must be
    elementwise: it receives a per-leaf tree's leaf in its own shape, and each
    stretch of consecutive such leaves of a packed buffer as one flat slice.

    The other trees give per-matrix values of each leaf: an array of shape
    ``(*lead, *s)`` (the leaf itself, s = (r, c); row statistics, s = (r,)), which
    ``fn`` receives as ``(k, *s)``, or, for ``other``, arrays of the leaf's size.
    A tree may hold some leaves only (``None`` in place of the others, or a
    :class:`~gdtx.Packed` over fewer leaves, as this function returns); ``fn`` and
    ``other`` receive ``None`` for a leaf it lacks.

    Args:
        fn: called with one ``(k, *s)`` array (or ``None``) per tree; returns one
            array of shape ``(k, *s')`` (or ``None``) or a tuple of them.
        *trees: per-leaf trees, or :class:`~gdtx.Packed` values made from one
            packing; all of one form.
        other: called with the leaves that are not matrices (one array or ``None``
            per tree); returns what ``fn`` returns, each array of the leaf's size
            (elementwise). Default: the first tree's leaf, unchanged (``fn`` then
            returns one array).
        select: static test of a leaf's shape; only shapes with ndim ≥ 2 qualify.

    Returns:
        For each output of ``fn``, a tree of the first tree's form: leaf by leaf
        ``(*lead, *s')`` from ``fn`` and ``other``'s array in the leaf's shape,
        ``None`` where they returned ``None``. A packed output with the first
        tree's shapes and dtypes has its layout; any other gets a derived layout,
        the packed form of per-matrix state.
    """
    calls = _Calls(fn, other or _first)
    if isinstance(trees[0], Packed):
        outputs = _map_packed(calls, select, trees)
    else:
        outputs = _map_tree(calls, select, trees)
    return outputs if calls.several else outputs[0]


class _Calls:
    """``fn`` and ``other``; checks that they return the same number of outputs."""

    def __init__(self, fn: Callable[..., Any], other: Callable[..., Any]) -> None:
        self.fn, self.other = fn, other
        self.arity: int | None = None  # outputs, as a tuple; -1: one array, not a tuple
        self.several = False

    def _check(self, out: Any) -> tuple[Any, ...]:
        arity = len(out) if isinstance(out, tuple) else -1
        if self.arity is not None and arity != self.arity:
            raise ValueError("map_matrices: `fn` and `other` return different numbers of outputs.")
        self.arity, self.several = arity, arity >= 0
        return out if arity >= 0 else (out,)

    def matrices(self, *stacks: Any) -> tuple[Any, ...]:
        return self._check(self.fn(*stacks))

    def others(self, *values: Any) -> tuple[Any, ...]:
        return self._check(self.other(*values))

    def count(self, trees: Sequence[Any]) -> int:
        """The number of outputs; for trees without leaves, ``other``'s on empty arrays."""
        if self.arity is None:
            empty = jax.ShapeDtypeStruct((0,), jnp.float32)
            self._check(jax.eval_shape(self.other, *[empty for _ in trees]))
        return 1 if self.arity is None or self.arity < 0 else self.arity


def _first(x: Any, *rest: Any) -> Any:
    del rest
    return x


def _as_stack(array: Any, leaf_shape: Shape, shape: Shape, k: int) -> jax.Array:
    """Values ``(*lead, *s)`` per leaf of shape ``(*lead, r, c)`` as a stack ``(k, *s)``."""
    lead = shape[:-2]
    if tuple(leaf_shape[: len(lead)]) != lead:
        raise ValueError(f"map_matrices: values of shape {leaf_shape} for leaves of {shape}.")
    return jnp.reshape(array, (k, *leaf_shape[len(lead) :]))


def _map_tree(calls: _Calls, select: Callable[[Shape], bool], trees: Sequence[Any]) -> tuple:
    """The per-leaf path: one call per leaf.

    While tracing, ``fn`` is wrapped in ``jax.jit`` when several matrices share a shape
    and dtype (as :func:`gdtx._tree.map_leaves` does): it is traced once and called per
    leaf, so a tree of many equal matrices does not retrace the work per leaf.
    """
    leaves, treedef = jax.tree.flatten(trees[0])
    args = [leaves] + [treedef.flatten_up_to(t) for t in trees[1:]]
    calls.fn = traced_once(calls.fn, [x for x in leaves if is_matrix(jnp.shape(x))])
    results = []
    for i, x in enumerate(leaves):
        values = [a[i] for a in args]
        shape = tuple(jnp.shape(x))
        if is_matrix(shape) and select(shape):
            k, lead = math.prod(shape[:-2]), shape[:-2]
            stacks = [None if v is None else _as_stack(v, jnp.shape(v), shape, k) for v in values]
            outs = calls.matrices(*stacks)
            outs = tuple(None if o is None else o.reshape((*lead, *o.shape[1:])) for o in outs)
        else:
            outs = calls.others(*values)
        results.append(outs)
    columns = list(zip(*results, strict=True)) or [[]] * calls.count(trees)
    return tuple(jax.tree.unflatten(treedef, list(col)) for col in columns)


# ---------------------------------------------------------------------------------------
# The packed path: one call per run of equal-shape matrices, one per stretch of others


_Segment = tuple[tuple[int, ...], tuple[tuple[Shape, ...], ...], tuple[Any, ...]]
"""Consecutive leaves of a buffer: their indices, each output's shape of each leaf, and
the outputs."""


def _read(tree: Packed, where: dict[int, tuple[int, int]], group: Sequence[int]) -> Any:
    """The values of consecutive leaves ``group``: (array, each leaf's shape), or ``None``.

    A flat buffer gives one slice; a buffer kept whole gives its array.
    """
    hits = [where.get(i) for i in group]
    if all(h is None for h in hits):
        return None
    k = hits[0][0] if hits[0] is not None else -1
    positions = [h[1] if h is not None and h[0] == k else -1 for h in hits]
    if positions[0] < 0 or positions != list(range(positions[0], positions[0] + len(group))):
        paths = ", ".join(tree.layout.paths[i] for i in group[:4])
        raise ValueError(
            f"map_matrices: a packed argument does not hold the leaves {paths} back to back "
            "as the first one does; was it made from another packing?"
        )
    b, x = tree.layout.buffers[k], tree.buffers[k]
    shapes = b.shapes[positions[0] : positions[-1] + 1]
    if b.whole:
        return x, shapes
    start = b.offsets[positions[0]]
    return jax.lax.slice_in_dim(x, start, start + sum(b.sizes[p] for p in positions)), shapes


def _map_packed(calls: _Calls, select: Callable[[Shape], bool], trees: Sequence[Any]) -> tuple:
    """The packed path: one call per run of equal-shape matrices, one per stretch of others."""
    if not all(isinstance(t, Packed) for t in trees):
        raise TypeError("map_matrices: the trees must be all packed or all per-leaf.")
    where = [
        {i: (k, pos) for k, b in enumerate(t.layout.buffers) for pos, i in enumerate(b.leaves)}
        for t in trees
    ]

    def values(group: Sequence[int]) -> list[Any]:
        return [_read(t, w, group) for t, w in zip(trees, where, strict=True)]

    per_buffer: list[list[_Segment]] = []
    for b in trees[0].layout.buffers:
        segments: list[_Segment] = []
        stretch: list[int] = []
        for pos, n, shape in (*b.shape_runs, (len(b.leaves), 0, ())):  # a sentinel ends
            if n and not (is_matrix(shape) and select(shape)):
                stretch.extend(range(pos, pos + n))
                continue
            if stretch:  # the leaves before this run that are not matrices
                group = tuple(b.leaves[p] for p in stretch)
                sizes = [b.sizes[p] for p in stretch]
                args = values(group)
                if any(v is not None and list(map(math.prod, v[1])) != sizes for v in args):
                    raise ValueError("map_matrices: `other` takes values of the leaves' sizes.")
                outs = calls.others(*[None if v is None else v[0] for v in args])
                shapes = tuple(b.shapes[p] for p in stretch)
                segments.append((group, tuple(shapes for _ in outs), outs))
                stretch = []
            if not n:
                break
            group, lead, k = b.leaves[pos : pos + n], shape[:-2], n * math.prod(shape[:-2])
            stacks = [
                None if v is None else _as_stack(v[0], v[1][0], shape, k) for v in values(group)
            ]
            outs = calls.matrices(*stacks)
            shapes_out = tuple(() if o is None else ((*lead, *o.shape[1:]),) * n for o in outs)
            segments.append((group, shapes_out, outs))
        per_buffer.append(segments)
    return tuple(_assemble(trees[0].layout, per_buffer, j) for j in range(calls.count(trees)))


def _assemble(layout: Layout, per_buffer: list[list[_Segment]], j: int) -> Packed:
    """Output ``j`` as a packed value: in the input's layout if it has its leaves, shapes and
    dtypes, else in a layout derived from it (the same tree; fewer leaves, other shapes)."""
    buffers, arrays = [], []
    for b, segments in zip(layout.buffers, per_buffer, strict=True):
        leaves: list[int] = []
        shapes: list[Shape] = []
        parts = []
        for group, seg_shapes, outs in segments:
            if outs[j] is None:
                continue
            if math.prod(jnp.shape(outs[j])) != sum(map(math.prod, seg_shapes[j])):
                raise ValueError(
                    f"map_matrices: `other` returned shape {jnp.shape(outs[j])} for leaves of "
                    f"shapes {seg_shapes[j]}; it must be elementwise."
                )
            leaves.extend(group)
            shapes.extend(seg_shapes[j])
            parts.append(outs[j])
        if not parts:
            continue
        dtypes = {jax.dtypes.canonicalize_dtype(p.dtype) for p in parts}
        if len(dtypes) != 1:
            raise ValueError(f"map_matrices: `fn` and `other` return different dtypes {dtypes}.")
        dtype = dtypes.pop()
        if b.whole:
            arrays.append(parts[0].reshape(shapes[0]))
            buffers.append(BufferLayout(dtype, tuple(leaves), (shapes[0],), (0,), whole=True))
            continue
        flat = [p.reshape(-1) for p in parts]
        arrays.append(flat[0] if len(flat) == 1 else jnp.concatenate(flat))
        offsets = tuple(itertools.accumulate((math.prod(s) for s in shapes[:-1]), initial=0))
        buffers.append(BufferLayout(dtype, tuple(leaves), tuple(shapes), offsets))
    derived = Layout(layout.treedef, layout.paths, tuple(buffers))
    return Packed(tuple(arrays), layout if derived == layout else derived)
