"""Packed layouts: which leaves each buffer holds, and per-leaf operations on buffers.

A :class:`Packed` value holds the arrays of a tree in a few flat buffers. Leaves
inside a buffer are stored back to back, those of equal shape next to each other
and runs of equal size contiguous, so a per-leaf reduction (a layer's norm in LARS,
per-leaf RMS clipping) is a reshape to ``(count, size)`` and a sum over one axis
per run of equal sizes: exact, and without a kernel per leaf. Where every leaf of a
buffer is a multiple of c ≥ :data:`MIN_CHUNK` elements, the whole buffer is read as
c-element chunks instead (one free reshape, no slices), and the chunks' sums add up
per leaf. Likewise a run of k
matrices of shape (r, c) is a free reshape of its slice to ``(k, r, c)``: blocks
that treat weights as matrices (Adafactor's factored moments) read them through
:func:`gdtx._matrix.map_matrices`. Masks and parameter groups select whole
buffers: :func:`gdtx.packing` keeps leaves that an optimizer treats differently in
different buffers.

Blocks ask for the view they need, and the same code runs per leaf and packed:

- elementwise arithmetic: nothing to do (``elementwise``, ``map_leaves``);
- per-leaf reductions: :func:`leaf_sums`, then :func:`scale_leaves`; a number per
  leaf kept as state: :func:`leaf_scalars` and :func:`scalar_values`;
- matrices: :func:`gdtx._matrix.map_matrices`, with per-matrix state (row and
  column statistics) in the per-leaf or the packed form.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._base import PytreeDataclass, static
from ._tree import abs_sq_leaf, leaf_dtype


@dataclasses.dataclass(frozen=True)
class BufferLayout:
    """Where the leaves of one packed buffer live.

    Attributes:
        dtype: the buffer's dtype (every leaf in it has this dtype).
        leaves: indices of the leaves it holds, into the tree's leaves, in
            storage order.
        shapes: each leaf's shape, in storage order.
        offsets: each leaf's first element in the buffer, in storage order.
        whole: the buffer is a single leaf kept in its own shape (a leaf
            partitioned across devices, which concatenation would move).
    """

    dtype: Any
    leaves: tuple[int, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    whole: bool = False

    @functools.cached_property
    def sizes(self) -> tuple[int, ...]:
        """Each leaf's number of elements, in storage order."""
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The buffer's shape: the leaf's own if ``whole``, else ``(total size,)``."""
        return self.shapes[0] if self.whole else (sum(self.sizes),)

    @functools.cached_property
    def runs(self) -> tuple[tuple[int, int, int], ...]:
        """Runs of consecutive equal-size leaves: (first position, count, size)."""
        return _runs(self.sizes)

    @functools.cached_property
    def shape_runs(self) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
        """Runs of consecutive equal-shape leaves: (first position, count, shape).

        :func:`gdtx.packing` stores leaves of equal shape together, so each shape
        of a buffer makes one run, and a run of k leaves of shape s is a reshape of
        its slice to ``(k, *s)``.
        """
        return _runs(self.shapes)

    @functools.cached_property
    def chunk(self) -> int:
        """The largest c dividing every leaf's size: each leaf is a whole number of
        consecutive c-element chunks, so the buffer reshaped to ``(size/c, c)`` has no
        row that straddles two leaves."""
        return math.gcd(*self.sizes)


def _runs(keys: Sequence[Any]) -> tuple[tuple[int, int, Any], ...]:
    """Runs of consecutive equal keys: (first position, count, key)."""
    runs: list[tuple[int, int, Any]] = []
    for pos, key in enumerate(keys):
        if runs and runs[-1][2] == key:
            first, count, _ = runs[-1]
            runs[-1] = (first, count + 1, key)
        else:
            runs.append((pos, 1, key))
    return tuple(runs)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Static description of a packed tree: its structure and its buffers.

    A layout may cover a subset of the tree's leaves: the part of the
    parameters a ``masked`` or ``partition`` group sees.

    Attributes:
        treedef: the tree structure of the parameters (``None`` leaves included).
        paths: the key path of every leaf of the tree, for error messages.
        buffers: the buffers, in order.
    """

    treedef: Any
    paths: tuple[str, ...]
    buffers: tuple[BufferLayout, ...]

    @functools.cached_property
    def leaf_indices(self) -> tuple[int, ...]:
        """The tree leaves this layout holds, in tree order."""
        return tuple(sorted(i for b in self.buffers for i in b.leaves))

    def view(self) -> Any:
        """The leaves as ``jax.ShapeDtypeStruct``, in the parameters' tree.

        This is what a per-leaf optimizer would see: the whole parameter tree, or,
        inside ``masked`` and ``partition``, the tree with ``None`` in place of the
        leaves the group does not hold. Masks and labels are evaluated on it.
        """
        structs = {
            i: jax.ShapeDtypeStruct(shape, b.dtype)
            for b in self.buffers
            for i, shape in zip(b.leaves, b.shapes, strict=True)
        }
        return self.arrange(structs)

    def arrange(self, by_index: dict[int, Any]) -> Any:
        """Leaves given by tree index, arranged as :meth:`view` arranges them."""
        leaves = [by_index.get(i) for i in range(self.treedef.num_leaves)]
        return jax.tree.unflatten(self.treedef, leaves)

    def subset(self, which: Sequence[int]) -> Layout:
        """The layout of some of the buffers (by position)."""
        return dataclasses.replace(self, buffers=tuple(self.buffers[k] for k in which))

    def describe(self) -> str:
        """One line per buffer: dtype, shape and the number of leaves."""
        lines = []
        for k, b in enumerate(self.buffers):
            kind = "one leaf, kept whole" if b.whole else f"{len(b.leaves)} leaves"
            lines.append(f"  buffer {k}: {np.dtype(b.dtype).name}{list(b.shape)}, {kind}")
        return "\n".join(lines)


class Packed(PytreeDataclass):
    """Arrays of a tree held in a few buffers; a pytree whose leaves are the buffers.

    Optimizers, ``apply_updates`` and any elementwise code treat it like any
    other pytree. Blocks that need leaf boundaries (masks, parameter groups,
    per-leaf norms) read them from the static :class:`Layout`.

    Attributes:
        buffers: one array per buffer of the layout.
        layout: static: which leaves each buffer holds, and where.
    """

    buffers: tuple[Any, ...]
    layout: Layout = static()

    def __repr__(self) -> str:
        return f"Packed({len(self.layout.leaf_indices)} leaves)\n{self.layout.describe()}"


def is_packed(x: Any) -> bool:
    """Whether ``x`` is a :class:`Packed` value."""
    return isinstance(x, Packed)


# ---------------------------------------------------------------------------------------
# Per-leaf operations that work on trees and on packed buffers alike


def leaf_view(tree: Any) -> Any:
    """What masks and labels are evaluated on: the tree, or a packed value's view."""
    return tree.layout.view() if isinstance(tree, Packed) else tree


def _uniform_buffers(owner: str, layout: Layout, flags: Sequence[Any]) -> list[Any]:
    """One flag per buffer, given one per leaf of the layout's view (in tree order)."""
    by_index = dict(zip(layout.leaf_indices, flags, strict=True))
    out = []
    for k, b in enumerate(layout.buffers):
        values = {by_index[i] for i in b.leaves}
        if len(values) > 1:
            groups = {v: [layout.paths[i] for i in b.leaves if by_index[i] == v] for v in values}
            detail = "; ".join(f"{v!r}: {', '.join(p[:4])}" for v, p in groups.items())
            raise ValueError(
                f"{owner}: packed buffer {k} holds leaves that this transformation treats "
                f"differently ({detail}). Make the packing with gdtx.packing(params, opt) "
                "so that each buffer holds one group."
            )
        out.append(values.pop() if values else None)
    return out


def select_leaves(owner: str, tree: Any, flags: Sequence[Any], value: Any = True) -> Any:
    """The leaves whose flag equals ``value``: the tree with ``None`` in place of the
    others (an empty subtree, as in Equinox's filtered trees), or a :class:`Packed` of
    their buffers."""
    if isinstance(tree, Packed):
        per_buffer = _uniform_buffers(owner, tree.layout, flags)
        keep = [k for k, f in enumerate(per_buffer) if f == value]
        return Packed(tuple(tree.buffers[k] for k in keep), tree.layout.subset(keep))
    leaves, treedef = jax.tree.flatten(tree)
    kept = [x if f == value else None for x, f in zip(leaves, flags, strict=True)]
    return jax.tree.unflatten(treedef, kept)


def merge_leaves(tree: Any, flags: Sequence[Any], new: Any, value: Any = True) -> Any:
    """``tree`` with the leaves selected by ``select_leaves(..., value)`` replaced by ``new``."""
    if isinstance(tree, Packed):
        per_buffer = _uniform_buffers("merge", tree.layout, flags)
        it = iter(new.buffers)
        merged = [
            next(it) if f == value else x for x, f in zip(tree.buffers, per_buffer, strict=True)
        ]
        return Packed(tuple(merged), tree.layout)
    leaves, treedef = jax.tree.flatten(tree)
    it = iter(jax.tree.leaves(new))
    merged = [next(it) if f == value else x for x, f in zip(leaves, flags, strict=True)]
    return jax.tree.unflatten(treedef, merged)


MIN_CHUNK = 16
"""Per-leaf reductions and scalings of a flat buffer whose leaves are all multiples of
this many elements read the whole buffer as ``(size/c, c)`` chunks, a free reshape,
rather than slicing it run by run: an XLA slice that feeds a reduction is often copied
first, a pass over the buffer more than the arithmetic needs."""


def _run_blocks(b: BufferLayout, x: jax.Array) -> list[tuple[int, int, jax.Array]]:
    """Each run of equal-size leaves of a flat buffer as a ``(count, size)`` array."""
    out = []
    for pos, count, size in b.runs:
        start = b.offsets[pos]
        block = jax.lax.slice_in_dim(x, start, start + count * size).reshape(count, size)
        out.append((pos, count, block))
    return out


def _chunked(b: BufferLayout) -> bool:
    return len(b.runs) > 1 and b.chunk >= MIN_CHUNK


def _buffer_sums(b: BufferLayout, x: jax.Array) -> jax.Array:
    """Σ over each leaf of a flat buffer ``x`` (already mapped): one sum per leaf.

    Chunked (:data:`MIN_CHUNK`): one pass gives each c-element chunk's sum, and each
    run's leaves add up their chunks; else one sum per run of equal sizes.
    """
    if not _chunked(b):
        parts = [jnp.sum(block, axis=1) for _, _, block in _run_blocks(b, x)]
        return jnp.concatenate(parts) if len(parts) != 1 else parts[0]
    c = b.chunk
    partial = jnp.sum(x.reshape(-1, c), axis=1)
    parts = []
    for pos, count, size in b.runs:
        start = b.offsets[pos] // c
        chunks = jax.lax.slice_in_dim(partial, start, start + count * size // c)
        parts.append(jnp.sum(chunks.reshape(count, size // c), axis=1))
    return jnp.concatenate(parts)


def _chunk_leaves(b: BufferLayout) -> jax.Array:
    """The storage position of the leaf each chunk of a chunked buffer belongs to.

    Computed from an iota rather than stored: a constant of one index per chunk would
    grow the program with the model."""
    c = b.chunk
    j = jax.lax.iota(jnp.int32, b.shape[0] // c)
    where = jnp.zeros_like(j)
    for pos, _, size in b.runs:
        start = b.offsets[pos] // c
        where = jnp.where(j >= start, pos + (j - start) // (size // c), where)
    return where


def leaf_sums(tree: Any, fn: Callable[[jax.Array], jax.Array]) -> Any:
    """Σ fn(x) over each leaf, for an elementwise ``fn``: a tree of scalars, or for packed
    values one vector per buffer (a sum per leaf, in storage order)."""
    if not isinstance(tree, Packed):
        return jax.tree.map(lambda x: jnp.sum(fn(x)), tree)
    return tuple(
        jnp.sum(fn(x))[None] if b.whole else _buffer_sums(b, fn(x))
        for b, x in zip(tree.layout.buffers, tree.buffers, strict=True)
    )


def leaf_sizes(tree: Any) -> Any:
    """The number of elements of each leaf, shaped like :func:`leaf_sums`'s result."""
    if not isinstance(tree, Packed):
        return jax.tree.map(lambda x: np.float32(np.size(x)), tree)
    return tuple(np.asarray(b.sizes, np.float32) for b in tree.layout.buffers)


def leaf_norms(tree: Any) -> Any:
    """‖x‖ = √(Σ|x|²) of each leaf, shaped like :func:`leaf_sums`'s result."""
    return jax.tree.map(jnp.sqrt, leaf_sums(tree, abs_sq_leaf))


def leaf_rms(tree: Any) -> Any:
    """rms(x) = √(Σ|x|²/n) of each leaf (0 for an empty one), shaped like :func:`leaf_sums`."""

    def rms(sq: jax.Array, n: Any) -> jax.Array:
        return jnp.sqrt(sq / jnp.maximum(jnp.asarray(n, sq.dtype), 1))

    return jax.tree.map(rms, leaf_sums(tree, abs_sq_leaf), leaf_sizes(tree))


def leaf_scalars(tree: Any, values: Any) -> Any:
    """One number per leaf as state: ``values`` (shaped like :func:`leaf_sums`'s result)
    in ``tree``'s form.

    For a tree that is the tree of scalars itself. For a :class:`Packed` value it is a
    :class:`Packed` whose buffers are the per-buffer vectors, over a layout of one
    scalar leaf per leaf (in storage order), so ``Packing.unpack_state`` turns it into
    the per-leaf tree of scalars and ``Packing.pack_state`` back. Read it back with
    :func:`scalar_values`.
    """
    if not isinstance(tree, Packed):
        return values
    buffers = tuple(
        BufferLayout(
            jax.dtypes.canonicalize_dtype(v.dtype),
            b.leaves,
            ((),) * len(b.leaves),
            tuple(range(len(b.leaves))),
        )
        for b, v in zip(tree.layout.buffers, values, strict=True)
    )
    layout = Layout(tree.layout.treedef, tree.layout.paths, buffers)
    return Packed(tuple(values), layout)


def leaf_zeros(tree: Any, dtype: Callable[[Any], Any]) -> Any:
    """Zero per leaf, shaped like :func:`leaf_sums`'s result, in ``dtype(leaf dtype)``."""
    if not isinstance(tree, Packed):
        return jax.tree.map(lambda x: jnp.zeros([], dtype(leaf_dtype(x))), tree)
    return tuple(jnp.zeros(len(b.leaves), dtype(b.dtype)) for b in tree.layout.buffers)


def scalar_values(state: Any) -> Any:
    """The per-leaf numbers of :func:`leaf_scalars`, shaped like :func:`leaf_sums`'s result."""
    return tuple(state.buffers) if isinstance(state, Packed) else state


def scale_leaves(tree: Any, factors: Any) -> Any:
    """Multiplies each leaf by its factor (from a :func:`leaf_sums`-shaped result)."""

    def scale(x: jax.Array, f: jax.Array) -> jax.Array:
        return (x * f.astype(x.dtype)).astype(x.dtype)

    if not isinstance(tree, Packed):
        return jax.tree.map(scale, tree, factors)
    out = []
    for b, x, f in zip(tree.layout.buffers, tree.buffers, factors, strict=True):
        if b.whole:
            out.append(scale(x, f[0]))
        elif _chunked(b):  # each chunk's factor, and one pass over the buffer
            c = b.chunk
            out.append(scale(x.reshape(-1, c), f[_chunk_leaves(b)][:, None]).reshape(-1))
        else:
            pieces = [
                scale(block, f[pos : pos + count, None]).reshape(-1)
                for pos, count, block in _run_blocks(b, x)
            ]
            out.append(jnp.concatenate(pieces) if len(pieces) != 1 else pieces[0])
    return Packed(tuple(out), tree.layout)
