"""Packed parameters: a few contiguous buffers instead of a tree of many arrays.

An optimizer step over a tree of L arrays runs at least one kernel per array, and
compiling it costs time per array too; with hundreds of small arrays the step is
dominated by that overhead rather than by the bytes it moves. A :class:`Packed`
value holds the same numbers in a few flat buffers, one per dtype (and per
placement, and per group of leaves that the optimizer treats differently), so
the optimizer's elementwise arithmetic is one kernel per buffer.

Leaves inside a buffer are stored back to back, grouped by size and, within a
size, by shape. So a per-leaf reduction (a layer's norm in LARS, per-leaf RMS
clipping) is a reshape to ``(count, size)`` and a sum over one axis per run of
equal sizes, and a run of k matrices of shape (r, c) is a reshape to ``(k, r, c)``
(Adafactor's row and column statistics): exact, with no per-leaf kernels.

:class:`Packing` converts between the tree and the packed form. Its
:meth:`Packing.unpack` gives the model the tree of arrays it was written for (as
slices at run-time offsets: every slice of one shape compiles to the same kernel,
so compile time does not grow with the number of leaves) and its gradient
arrives packed (one concatenation per buffer), so a training step never
concatenates or splits the parameters themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._base import OptState, PytreeDataclass, static
from ._layout import BufferLayout, Layout, Packed, is_packed
from ._validate import params_spec

_INT32_MAX = int(np.iinfo(np.int32).max)

# ---------------------------------------------------------------------------------------
# Converting leaves to buffers and back


def _pack_buffers(
    layout: Layout, by_index: dict[int, Any], dtypes: Sequence[Any], lead: tuple[int, ...] = ()
) -> tuple:
    """Concatenates the leaves of each buffer (one ``concatenate`` per flat buffer).

    With ``lead``, each leaf has shape ``(*lead, *shape)`` (state with leading axes, such
    as L-BFGS's memory slots) and a flat buffer ``(*lead, size)``.
    """
    out = []
    for b, dtype in zip(layout.buffers, dtypes, strict=True):
        parts = [jnp.asarray(by_index[i]).astype(dtype) for i in b.leaves]
        if b.whole:
            out.append(parts[0])
        elif len(parts) == 1:
            out.append(parts[0].reshape(*lead, -1))
        else:
            out.append(jnp.concatenate([p.reshape(*lead, -1) for p in parts], axis=-1))
    return tuple(out)


def _leaf_slices(
    layout: Layout, buffers: Sequence[Any], offsets: Sequence[Any] | None
) -> dict[int, Any]:
    """Each leaf as a slice of its buffer; run-time ``offsets`` when given, else static.

    A flat buffer with leading axes, ``(*lead, size)``, gives leaves ``(*lead, *shape)``.
    """
    it = iter(offsets) if offsets is not None else None
    out: dict[int, Any] = {}
    for b, buf in zip(layout.buffers, buffers, strict=True):
        if b.whole:
            out[b.leaves[0]] = buf
            continue
        axis = jnp.ndim(buf) - 1
        for i, shape, size, static_off in zip(b.leaves, b.shapes, b.sizes, b.offsets, strict=True):
            if it is None:
                piece = jax.lax.slice_in_dim(buf, static_off, static_off + size, axis=axis)
            else:
                piece = jax.lax.dynamic_slice_in_dim(buf, next(it), size, axis=axis)
            out[i] = piece.reshape(*jnp.shape(buf)[:-1], *shape)
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _unpack(layout: Layout, buffers: tuple, offsets: tuple) -> tuple:
    slices = _leaf_slices(layout, buffers, offsets)
    return tuple(slices[i] for i in layout.leaf_indices)


def _unpack_fwd(layout: Layout, buffers: tuple, offsets: tuple) -> tuple[tuple, None]:
    return _unpack(layout, buffers, offsets), None


def _unpack_bwd(layout: Layout, residual: None, cotangents: tuple) -> tuple[tuple, None]:
    # The gradient of "slice every leaf" is "concatenate every leaf's gradient": one
    # concatenation per buffer, instead of a zero-padded copy of the buffer per leaf.
    del residual
    by_index = dict(zip(layout.leaf_indices, cotangents, strict=True))
    return _pack_buffers(layout, by_index, [b.dtype for b in layout.buffers]), None


_unpack.defvjp(_unpack_fwd, _unpack_bwd)


class Packing(PytreeDataclass):
    """Converts a parameter tree to packed buffers and back; made by :func:`packing`.

    A pytree: its leaves are the run-time offsets of the leaves in their
    buffers (``int32`` scalars), and its :class:`Layout` is static. Pass it to
    the jitted training step as an argument: slices at run-time offsets compile
    to one kernel per leaf shape, while closing over it bakes every offset into
    its own kernel (the same result, compiled more slowly).

    Attributes:
        offsets: run-time offset of every leaf of a flat buffer, in layout order.
        layout: static: the buffers and the leaves each one holds.
    """

    offsets: tuple[Any, ...]
    layout: Layout = static()

    def __repr__(self) -> str:
        return f"Packing({self.layout.treedef.num_leaves} leaves)\n{self.layout.describe()}"

    def pack(self, tree: Any) -> Packed:
        """Packs a tree with the parameters' structure (parameters, gradients).

        Raises:
            ValueError: naming the key paths where ``tree`` differs from the
                parameters the packing was made for.
        """
        leaves = _leaves_like(self.layout, "Packing.pack", "tree", tree)
        by_index = dict(enumerate(leaves))
        buffers = _pack_buffers(self.layout, by_index, [b.dtype for b in self.layout.buffers])
        return Packed(buffers, self.layout)

    def unpack(self, packed: Packed) -> Any:
        """The tree of arrays held by ``packed``, for the model to use.

        Differentiable: the gradient with respect to ``packed`` is a
        :class:`Packed` assembled with one concatenation per buffer.
        """
        if not isinstance(packed, Packed) or packed.layout != self.layout:
            raise TypeError(
                "Packing.unpack: expected the Packed value made by this packing's pack(), "
                f"got {_describe(packed)}."
            )
        leaves: tuple[Any, ...] = _unpack(  # type: ignore[assignment]
            self.layout, tuple(packed.buffers), tuple(self.offsets)
        )
        return self.layout.arrange(dict(zip(self.layout.leaf_indices, leaves, strict=True)))

    def unpack_state(self, state: Any) -> Any:
        """The optimizer state of packed parameters, in the form per-leaf parameters have.

        Every packed moment becomes a tree like the parameters (with ``None`` in
        place of the leaves a ``masked`` or ``partition`` group does not hold), so
        a checkpoint written from it restores into an optimizer that runs on the
        tree. Per-matrix state over a derived layout (Adafactor's row statistics,
        shape ``(..., r)`` per matrix leaf) becomes a tree of those shapes, with
        ``None`` at the leaves that have none.
        """

        def convert(x: Any) -> Any:
            if not isinstance(x, Packed):
                return x
            slices = _leaf_slices(x.layout, x.buffers, None)
            return x.layout.arrange(slices)

        inner = state.inner if isinstance(state, OptState) else state
        inner = jax.tree.map(convert, inner, is_leaf=is_packed)
        if not isinstance(state, OptState):
            return inner
        spec = params_spec("Packing.unpack_state", self.layout.view())
        return OptState(count=state.count, inner=inner, spec=spec)

    def pack_state(self, state: Any, opt: Any) -> Any:
        """Packs the state of an optimizer that ran on the parameter tree.

        Args:
            state: ``opt``'s state for the tree (``opt.init(params)`` and updates).
            opt: the optimizer; its state for packed parameters gives the shape
                of the result.

        Returns:
            The same numbers in the form ``opt.init(packing.pack(params))`` has:
            each packed value in that state's layout, per-matrix state (over a
            layout derived from the parameters') included.
        """
        abstract = Packed(
            tuple(jax.ShapeDtypeStruct(b.shape, b.dtype) for b in self.layout.buffers),
            self.layout,
        )
        template = jax.eval_shape(opt.init, abstract)

        def convert(t: Any, x: Any) -> Any:
            if not isinstance(t, Packed):
                return x
            lead = _lead(t)
            leaves = _leaves_like(t.layout, "Packing.pack_state", "state", x, lead)
            by_index = dict(zip(t.layout.leaf_indices, leaves, strict=True))
            buffers = _pack_buffers(t.layout, by_index, [b.dtype for b in t.buffers], lead)
            return Packed(buffers, t.layout)

        if not isinstance(state, OptState):
            return jax.tree.map(convert, template, state, is_leaf=is_packed)
        inner = jax.tree.map(convert, template.inner, state.inner, is_leaf=is_packed)
        return OptState(count=state.count, inner=inner, spec=template.spec)


def _describe(x: Any) -> str:
    if isinstance(x, Packed):
        return f"a Packed value of another layout:\n{x.layout.describe()}"
    return type(x).__name__


def _lead(packed: Packed) -> tuple[int, ...]:
    """The leading axes a packed state carries before its layout's shapes (``()`` for
    parameter-shaped state; ``(m,)`` for L-BFGS's m memory slots)."""
    if not packed.buffers:
        return ()
    b, shape = packed.layout.buffers[0], np.shape(packed.buffers[0])
    return tuple(shape[: len(shape) - (len(b.shapes[0]) if b.whole else 1)])


def _leaves_like(
    layout: Layout, owner: str, name: str, tree: Any, lead: tuple[int, ...] = ()
) -> list[Any]:
    """The leaves of ``tree``, checked against the layout's view (structure and shapes,
    each after the leading axes ``lead``)."""
    view = layout.view()
    leaves, treedef = jax.tree.flatten(tree)
    want_leaves, want_def = jax.tree.flatten(view)
    shapes = [tuple(np.shape(x)) for x in leaves]
    want = [(*lead, *s.shape) for s in want_leaves]
    if len(leaves) == len(want_leaves) and shapes == want:
        return leaves
    paths = [layout.paths[i] for i in layout.leaf_indices]
    if len(leaves) != len(want_leaves):
        detail = f"{len(leaves)} leaves ({treedef}), expected {len(want_leaves)} ({want_def})"
    else:
        detail = "; ".join(
            f"{p}: shape {g}, expected {w}"
            for p, g, w in zip(paths, shapes, want, strict=True)
            if g != w
        )
    raise ValueError(f"{owner}: `{name}` does not match the packed parameters: {detail}.")


# ---------------------------------------------------------------------------------------
# Building a packing


def _placement(x: Any) -> Any:
    """Where a leaf lives: None (unknown or one device), a device set (replicated), or
    ``"partitioned"`` for a leaf split across devices, which stays in its own buffer."""
    try:  # concrete arrays only: a traced value has no sharding to read
        sharding = x.sharding if isinstance(x, jax.Array) else None
    except AttributeError:
        sharding = None
    if sharding is None:
        return None
    if not sharding.is_fully_replicated:
        return "partitioned"
    return frozenset(d.id for d in sharding.device_set)


def packing(params: Any, opt: Any = None) -> Packing:
    """A packing of ``params``: one buffer per dtype, placement and optimizer group.

    Leaves of one dtype are concatenated into one flat buffer. They are split
    further where ``opt`` treats them differently (a ``masked`` selection, a
    ``partition`` label, an ``add_decayed_weights`` mask, a block that reduces along
    the axes of matrices: a buffer per matrix shape), so that every
    buffer is uniform for each of ``opt``'s masks, and by placement: leaves
    replicated on different device sets go to different buffers, and a leaf
    partitioned across devices stays in a buffer of its own, in its own shape
    and sharding. Within a buffer, leaves of equal shape are stored next to each
    other, and the shapes of one size next to each other (in order of first
    appearance in the tree): ``BufferLayout.runs`` and ``BufferLayout.shape_runs``
    are each one run per size and per shape.

    Args:
        params: the parameter tree (float or complex leaves; ``None`` leaves
            are left out).
        opt: the optimizer that will run on the packed parameters, if it holds
            masks or parameter groups.

    Returns:
        The :class:`Packing`.

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
        >>> pk = gdtx.packing(params)
        >>> flat = pk.pack(params)
        >>> flat.buffers[0].shape
        (9,)
        >>> opt = gdtx.adam(0.1)
        >>> state = opt.init(flat)
        >>> grads = jax.grad(lambda f: jnp.sum(pk.unpack(f)["w"] ** 2))(flat)
        >>> updates, state = opt.update(grads, state, flat)
        >>> pk.unpack(gdtx.apply_updates(flat, updates))["w"][0]
        Array([0.9, 0.9, 0.9], dtype=float32)
    """
    params_spec("packing", params)
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    leaves = [x for _, x in with_paths]
    paths = tuple(jax.tree_util.keystr(p) for p, _ in with_paths)
    if opt is not None and hasattr(opt, "packing_keys"):
        opt_keys = list(opt.packing_keys(params))
    else:
        opt_keys = [() for _ in leaves]
    dtypes = [
        jax.dtypes.canonicalize_dtype(x.dtype if hasattr(x, "dtype") else jnp.asarray(x).dtype)
        for x in leaves
    ]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, leaf in enumerate(leaves):
        place = _placement(leaf)
        key = ("whole", i) if place == "partitioned" else (dtypes[i], place, opt_keys[i])
        groups.setdefault(key, []).append(i)
    buffers = []
    for key, members in groups.items():
        first, dtype = leaves[members[0]], dtypes[members[0]]
        if key[0] == "whole":
            buffers.append(
                BufferLayout(dtype, (members[0],), (tuple(np.shape(first)),), (0,), whole=True)
            )
            continue
        # Grouped by size, and within a size by shape: equal-size runs stay contiguous
        # (per-leaf sums) and equal-shape runs reshape to (count, *shape) (matrices).
        by_size: dict[int, dict[tuple[int, ...], list[int]]] = {}
        for i in members:
            shape = tuple(np.shape(leaves[i]))
            size = int(np.prod(shape, dtype=np.int64))
            by_size.setdefault(size, {}).setdefault(shape, []).append(i)
        order = [i for by_shape in by_size.values() for same in by_shape.values() for i in same]
        shapes = tuple(tuple(np.shape(leaves[i])) for i in order)
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        starts = tuple(int(x) for x in np.cumsum([0, *sizes[:-1]]))
        if sum(sizes) > _INT32_MAX:
            raise ValueError(
                f"packing: a buffer of {np.dtype(dtype).name} leaves would hold {sum(sizes)} "
                f"elements, more than int32 offsets address; pass the larger leaves unpacked."
            )
        buffers.append(BufferLayout(dtype, tuple(order), shapes, starts))
    layout = Layout(treedef, paths, tuple(buffers))
    offsets = tuple(
        jnp.asarray(off, jnp.int32) for b in buffers if not b.whole for off in b.offsets
    )
    return Packing(offsets, layout)
