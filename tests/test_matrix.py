"""Matrix-shaped runs in the packed layout, and Adafactor's factored second moment.

Leaves of equal shape are adjacent in a packed buffer, so ``map_matrices`` calls its
function once per run on a ``(k, r, c)`` reshape; ``scale_by_factored_rms`` runs on
it per leaf and packed, against the float64 reference of tests/reference.py (written
from the paper with row and column sums), and its per-matrix state converts between
the per-leaf and the packed form.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_trees_close, gradient_sequence, random_tree, stack_trees, to_f32

import gdtx
from gdtx._matrix import map_matrices

# One size (12) in three shapes, two runs of equal matrices, a stack of matrices (3-D),
# a matrix too thin to factor, a vector and a scalar.
SHAPES = {
    "a": (4, 3),
    "b": (3, 4),
    "c": (4, 3),
    "v12": (12,),
    "bias": (4,),
    "d": (5, 4),
    "e": (5, 4),
    "k": (2, 3, 4),
    "s": (),
    "thin": (1, 6),
}
PARAMS = random_tree(1, SHAPES)
GRADS = gradient_sequence(2, 50, SHAPES)
FACTORED = {"a", "b", "c", "d", "e", "k"}
DECAY, LR, MIN_DIM = 0.9, 0.01, 2


def _opt():
    return gdtx.chain(
        gdtx.scale_by_factored_rms(decay=DECAY, min_dim_size_to_factor=MIN_DIM),
        gdtx.scale_by_learning_rate(LR),
    )


def _reference():
    return ref.Chain(ref.FactoredRms(DECAY, 1e-30, MIN_DIM), ref.LearningRate(LR))


@jax.jit
def _step(opt, params, state, g):
    updates, state = opt.update(g, state, params)
    return gdtx.apply_updates(params, updates), state


def _run(opt, params, state, grads, pk=None):
    """Runs from ``state``; returns every step's parameters as NumPy trees, and the state."""
    path = []
    for g in grads:
        g = to_f32(g)
        params, state = _step(opt, params, state, g if pk is None else pk.pack(g))
        path.append(jax.tree.map(np.asarray, params if pk is None else pk.unpack(params)))
    return path, state


def _start(opt, packed):
    params = to_f32(PARAMS)
    if not packed:
        return None, params, opt.init(params)
    pk = gdtx.packing(params, opt)
    flat = pk.pack(params)
    return pk, flat, opt.init(flat)


@functools.cache
def _trajectory(packed):
    pk, params, state = _start(_opt(), packed)
    return _run(_opt(), params, state, GRADS, pk)


# ---------------------------------------------------------------------------------------
# The layout and the matrix view


def test_equal_shapes_are_adjacent_within_equal_sizes():
    layout = gdtx.packing(to_f32(PARAMS)).layout
    (buffer,) = layout.buffers
    order = [layout.paths[i] for i in buffer.leaves]
    want = ["a", "c", "b", "v12", "bias", "d", "e", "k", "s", "thin"]
    assert order == [f"['{k}']" for k in want]
    assert buffer.runs == ((0, 4, 12), (4, 1, 4), (5, 2, 20), (7, 1, 24), (8, 1, 1), (9, 1, 6))
    assert buffer.shape_runs == (
        (0, 2, (4, 3)),
        (2, 1, (3, 4)),
        (3, 1, (12,)),
        (4, 1, (4,)),
        (5, 2, (5, 4)),
        (7, 1, (2, 3, 4)),
        (8, 1, ()),
        (9, 1, (1, 6)),
    )


def _record_calls(tree):
    """``map_matrices`` with a row-sum output, recording what ``fn`` and ``other`` see."""
    seen = {"fn": [], "other": []}

    def fn(x):
        seen["fn"].append(x.shape)
        return 2 * x, jnp.sum(x, axis=2)

    def other(x):
        seen["other"].append(x.shape)
        return 2 * x, None

    return map_matrices(fn, tree, other=other), seen


def test_map_matrices_reshapes_each_run_once():
    params = to_f32(PARAMS)
    pk = gdtx.packing(params)
    flat = pk.pack(params)
    (doubled, rows), seen = _record_calls(flat)
    # one call per run of equal-shape matrices, (k, r, c); one per stretch of other leaves
    assert seen["fn"] == [(2, 4, 3), (1, 3, 4), (2, 5, 4), (2, 3, 4), (1, 1, 6)]
    assert seen["other"] == [(12 + 4,), (1,)]
    assert doubled.layout == flat.layout
    assert_trees_close(pk.unpack(doubled), jax.tree.map(lambda x: 2 * x, params), rtol=0)

    (doubled_tree, rows_tree), seen = _record_calls(params)
    assert len(seen["fn"]) == 7 and (2, 3, 4) in seen["fn"]  # per leaf, a 3-D leaf stacked
    assert sorted(k for k, v in rows_tree.items() if v is not None) == sorted(FACTORED | {"thin"})
    assert rows_tree["k"].shape == (2, 3) and rows_tree["thin"].shape == (1,)
    # the packed row sums are a Packed over a derived layout; unpacked, the per-leaf tree
    assert isinstance(rows, gdtx.Packed) and rows.buffers[0].shape == (2 * 4 + 3 + 2 * 5 + 6 + 1,)
    assert_trees_close(pk.unpack_state(rows), rows_tree, rtol=0)
    assert_trees_close(pk.unpack(doubled), doubled_tree, rtol=0)


def test_map_matrices_on_an_empty_tree():
    tx = gdtx.scale_by_factored_rms()
    for tree in ({}, gdtx.packing({}).pack({})):
        state = tx.init(tree)
        assert jax.tree.leaves(state) == [jnp.zeros([], jnp.int32)]
        assert jax.tree.leaves(tx.update(tree, state)[0]) == []


# ---------------------------------------------------------------------------------------
# scale_by_factored_rms against the reference, per leaf and packed


@pytest.mark.parametrize("packed", [False, True], ids=["per_leaf", "packed"])
def test_factored_rms_matches_reference(packed):
    got, _ = _trajectory(packed)
    want = ref.run(_reference(), PARAMS, GRADS)
    assert_trees_close(stack_trees(got), stack_trees(want), rtol=1e-5, what="scale_by_factored_rms")


def test_packed_matches_per_leaf():
    leafwise, state = _trajectory(False)
    packed, packed_state = _trajectory(True)
    assert_trees_close(stack_trees(packed), stack_trees(leafwise), rtol=1e-6, what="packed")
    inner = state.inner[0]
    assert sorted(k for k, v in inner.v_row.items() if v is not None) == sorted(FACTORED)
    assert sorted(k for k, v in inner.v.items() if v is not None) == ["bias", "s", "thin", "v12"]
    assert inner.v_row["k"].shape == (2, 3) and inner.v_col["k"].shape == (2, 4)
    assert all(isinstance(x, gdtx.Packed) for x in packed_state.inner[0])
    pk = gdtx.packing(to_f32(PARAMS), _opt())
    assert_trees_close(pk.unpack_state(packed_state).inner, state.inner, rtol=1e-6, what="state")


def test_state_converts_both_ways_and_the_run_continues():
    opt = _opt()
    pk, flat, _ = _start(opt, packed=True)
    assert pk is not None
    leafwise, _ = _trajectory(False)
    half = 25
    # the per-leaf state after `half` steps, packed, continues as the per-leaf run does
    params = to_f32(PARAMS)
    _, mid = _run(opt, params, opt.init(params), GRADS[:half])
    packed_mid = pk.pack_state(mid, opt)
    assert jax.tree.structure(packed_mid) == jax.tree.structure(opt.init(flat))
    back = pk.unpack_state(packed_mid)
    assert jax.tree.structure(back) == jax.tree.structure(mid)
    assert_trees_close(back.inner, mid.inner, rtol=0, what="round trip")
    start = pk.pack(jax.tree.map(jnp.asarray, leafwise[half - 1]))
    rest, _ = _run(opt, start, packed_mid, GRADS[half:], pk)
    assert_trees_close(stack_trees(rest), stack_trees(leafwise[half:]), rtol=1e-6, what="continued")


# ---------------------------------------------------------------------------------------
# Inside chains, masks and parameter groups; a leaf kept whole


def _compare_forms(opt, steps=10, what=""):
    grads = GRADS[:steps]
    _, params, state = _start(opt, packed=False)
    leafwise, _ = _run(opt, params, state, grads)
    pk, flat, packed_state = _start(opt, packed=True)
    packed, _ = _run(opt, flat, packed_state, grads, pk)
    assert_trees_close(stack_trees(packed), stack_trees(leafwise), rtol=1e-6, what=what)
    return leafwise


def test_masked_packed_matches_per_leaf_and_reference():
    mask = {k: k in {"a", "b", "k", "bias", "s"} for k in SHAPES}
    opt = gdtx.chain(
        gdtx.masked(gdtx.scale_by_factored_rms(DECAY, min_dim_size_to_factor=MIN_DIM), mask),
        gdtx.scale_by_learning_rate(LR),
    )
    leafwise = _compare_forms(opt, what="masked")
    reference = ref.Chain(
        ref.Masked(ref.FactoredRms(DECAY, 1e-30, MIN_DIM), mask), ref.LearningRate(LR)
    )
    want = ref.run(reference, PARAMS, GRADS[:10])
    assert_trees_close(
        stack_trees(leafwise), stack_trees(want), rtol=1e-5, what="masked vs reference"
    )


def test_partition_packed_matches_per_leaf():
    def labels(params):
        return jax.tree.map(lambda x: "matrix" if len(x.shape) >= 2 else "rest", params)

    opt = gdtx.partition(
        {
            "matrix": gdtx.chain(
                gdtx.scale_by_factored_rms(0.99, min_dim_size_to_factor=MIN_DIM),
                gdtx.scale_by_learning_rate(LR),
            ),
            "rest": gdtx.chain(gdtx.scale_by_factored_rms(0.5), gdtx.scale_by_learning_rate(LR)),
        },
        labels,
    )
    _compare_forms(opt, what="partition")


def test_leaf_kept_whole():
    params = to_f32(PARAMS)
    layout = gdtx.packing(params).layout
    (buffer,) = layout.buffers
    whole = buffer.leaves.index(layout.paths.index("['k']"))  # the 3-D leaf, in its own shape
    rest = [p for p in range(len(buffer.leaves)) if p != whole]
    sizes = [buffer.sizes[p] for p in rest]
    flat_buffer = gdtx.BufferLayout(
        buffer.dtype,
        tuple(buffer.leaves[p] for p in rest),
        tuple(buffer.shapes[p] for p in rest),
        tuple(int(x) for x in np.cumsum([0, *sizes[:-1]])),
    )
    k = buffer.leaves[whole]
    whole_buffer = gdtx.BufferLayout(buffer.dtype, (k,), (SHAPES["k"],), (0,), whole=True)
    layout = dataclasses.replace(layout, buffers=(whole_buffer, flat_buffer))
    pk = gdtx.Packing(tuple(jnp.int32(o) for o in flat_buffer.offsets), layout)
    opt = _opt()
    flat = pk.pack(params)
    got, state = _run(opt, flat, opt.init(flat), GRADS[:10], pk)
    assert state.inner[0].v_row.layout.buffers[0].whole
    assert_trees_close(
        stack_trees(got), stack_trees(_trajectory(False)[0][:10]), rtol=1e-6, what="whole"
    )


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="decay"):
        gdtx.scale_by_factored_rms(decay=1.0)
    with pytest.raises(ValueError, match="min_dim_size_to_factor"):
        gdtx.scale_by_factored_rms(min_dim_size_to_factor=-1)
