"""Packed parameters: conversion, the packed and per-leaf paths, state conversion, errors.

Every case of every algorithm of tests/registry.py runs on packed parameters against the
float64 NumPy references of tests/reference.py (the reference trajectories
test_vs_reference.py checks), and each form against the per-leaf path over trees with
many leaves of repeated and distinct sizes, where the packed
path's per-leaf reductions (LARS, block RMS clipping) run as segment sums.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
import registry
from helpers import (
    assert_trees_close,
    continue_run,
    gradient_sequence,
    random_tree,
    run_gdtx,
    stack_trees,
    to_f32,
    trajectory,
)
from test_vs_reference import BLOCKS, GRADS, PARAMS

import gdtx


def run_packed(opt, params, grads, pk=None, values=None):
    """Runs ``opt`` on packed parameters; returns each step's params as trees (NumPy)
    (``values``: each step's loss, for the algorithms that read one)."""
    params = to_f32(params)
    pk = pk or gdtx.packing(params, opt)
    # packed and initialised under jit
    return continue_run(opt, params, None, grads, pk, values=values)


# ---------------------------------------------------------------------------------------
# Packing and unpacking


MIXED = {
    "w": jnp.arange(12.0).reshape(3, 4),
    "b": jnp.arange(4.0),
    "s": jnp.asarray(2.5),
    "empty": jnp.zeros((0, 3)),
    "half": jnp.arange(6.0, dtype=jnp.bfloat16).reshape(2, 3),
    "z": jnp.asarray([1 + 2j, 3 - 1j], jnp.complex64),
    "layers": [{"w": jnp.full((3, 4), i, jnp.float32), "gone": None} for i in range(3)],
}


def test_pack_unpack_round_trip_mixed_dtypes():
    pk = gdtx.packing(MIXED)
    flat = pk.pack(MIXED)
    dtypes = sorted(np.dtype(b.dtype).name for b in flat.buffers)
    assert dtypes == ["bfloat16", "complex64", "float32"]
    f32 = next(b for b in flat.buffers if b.dtype == jnp.float32)
    assert f32.shape == (12 + 4 + 1 + 0 + 3 * 12,)
    back = pk.unpack(flat)
    assert jax.tree.structure(back) == jax.tree.structure(MIXED)
    for got, want in zip(jax.tree.leaves(back), jax.tree.leaves(MIXED), strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_equal_sizes_are_stored_together():
    params = [{"w": jnp.ones((4, 4)), "b": jnp.ones(4)} for _ in range(3)]
    layout = gdtx.packing(params).layout
    (buffer,) = layout.buffers
    assert buffer.sizes == (4, 4, 4, 16, 16, 16)  # tree order is b, w, b, w, b, w
    assert buffer.runs == ((0, 3, 4), (3, 3, 16))
    assert [layout.paths[i] for i in buffer.leaves[:2]] == ["[0]['b']", "[1]['b']"]


def test_gradient_of_unpack_arrives_packed():
    params = to_f32(random_tree(0, {"a": (3, 4), "b": (4,), "c": (5,), "d": ()}))
    pk = gdtx.packing(params)
    flat = pk.pack(params)

    def loss(tree):
        return jnp.sum(jnp.tanh(tree["a"] @ tree["b"]) * tree["d"]) + jnp.sum(tree["c"] ** 3)

    got = jax.jit(jax.grad(lambda f, pk: loss(pk.unpack(f))))(flat, pk)
    assert isinstance(got, gdtx.Packed) and got.layout == flat.layout
    want = jax.grad(loss)(params)
    assert_trees_close(pk.unpack(got), want, rtol=1e-6, what="gradient")


def test_packing_is_a_pytree_of_offsets():
    params = {"a": jnp.ones(3), "b": jnp.ones((2, 2))}
    pk = gdtx.packing(params)
    assert [int(o) for o in jax.tree.leaves(pk)] == [0, 3]


# ---------------------------------------------------------------------------------------
# Every algorithm, packed, against the float64 references


PACKED_STEPS = 25  # test_vs_reference.py runs the per-leaf path over all 120 steps


def _packed_path(opt, values=None):
    params = to_f32(PARAMS)
    pk = gdtx.packing(params, opt)
    return trajectory(opt, params, None, GRADS[:PACKED_STEPS], pk, values=values)[0]


def _compare_packed(opt, reference, name, rtol=1e-5):
    want = ref.run(reference(), PARAMS, GRADS[:PACKED_STEPS])
    assert_trees_close(_packed_path(opt), stack_trees(want), rtol=rtol, what=name)


@pytest.mark.parametrize("name", list(registry.cases()))
def test_packed_algorithm_matches_reference(name):
    """Every case of tests/registry.py, packed, against the first steps of its reference."""
    alg, key = registry.cases()[name]
    want = {k: v[:PACKED_STEPS] for k, v in registry.reference_path(name).items()}
    got = _packed_path(alg.make(key), alg.values(PACKED_STEPS))
    assert_trees_close(got, want, rtol=1e-5, what=name)


@pytest.mark.parametrize(
    "name", ["masked_adam", "masked_clip_by_global_norm", "clip_then_adam_then_decay"]
)
def test_packed_block_matches_reference(name):
    opt, reference = BLOCKS[name]
    _compare_packed(opt, reference, name)


# ---------------------------------------------------------------------------------------
# Packed against per-leaf on a many-leaf tree

MANY = {
    **{f"layer{i}": {"w": (6, 5), "b": (5,)} for i in range(8)},
    "embed": (7, 3),
    "scale": (),
    "empty": (0,),
    "odd": [(2, 3, 2), (12,), (1,)],
}


def _flatten_shapes(spec, prefix=""):
    if isinstance(spec, dict):
        return {
            k: v
            for key, sub in spec.items()
            for k, v in _flatten_shapes(sub, f"{prefix}{key}/").items()
        }
    if isinstance(spec, list):
        return {
            k: v
            for i, sub in enumerate(spec)
            for k, v in _flatten_shapes(sub, f"{prefix}{i}/").items()
        }
    return {prefix.rstrip("/"): spec}


MANY_SHAPES = _flatten_shapes(MANY)
MANY_PARAMS = random_tree(3, MANY_SHAPES)
MANY_GRADS = gradient_sequence(4, 16, MANY_SHAPES)
MATRICES = {k: len(s) >= 2 for k, s in MANY_SHAPES.items()}

ELEMENTWISE_SAMPLE = ["rmsprop_centered_momentum", "nadam"]
"""Two elementwise forms run here too (Adam runs in the compositions below); every case
of every algorithm runs packed against its reference above."""

PER_LEAF_FORMS = {
    # the registry's forms whose updates couple the elements of a leaf (per-layer norms),
    # where the packed path reduces by segments, and a sample of elementwise ones
    name: (alg, key)
    for name, (alg, key) in registry.forms().items()
    if not alg.elementwise or name in ELEMENTWISE_SAMPLE
}
PER_LEAF_CASES = {
    **{name: alg.make(key) for name, (alg, key) in PER_LEAF_FORMS.items()},
    # and variants and compositions
    "adamw_ndim_mask": gdtx.adamw(0.01, weight_decay=0.3, mask=gdtx.ndim_mask()),
    "sgd_nesterov_l2": gdtx.sgd(0.02, momentum=0.9, nesterov=True, weight_decay=0.01),
    "momentum_ewma_debias": gdtx.momentum(0.1, debias=True),
    "lars_matrices_mask": gdtx.lars(
        0.5, weight_decay=0.01, trust_coefficient=0.02, weight_decay_mask=MATRICES
    ),
    "clip_by_block_rms_adam": gdtx.chain(gdtx.clip_by_block_rms(0.5), gdtx.adam(0.01)),
    "clip_by_global_norm_sgd": gdtx.chain(gdtx.clip_by_global_norm(1.0), gdtx.sgd(0.05)),
    "partition_accumulate_frozen": gdtx.partition(
        {
            "train": gdtx.accumulate(gdtx.adamw(0.01, mask=gdtx.ndim_mask()), every_k=2),
            "frozen": gdtx.set_to_zero(),
            "slow": gdtx.sgd(1e-3, momentum=0.9),
        },
        {
            "layer[0-3]/*": "frozen",
            "embed": "slow",
            re.compile(r"layer[4-7]/.*|scale|empty|odd/.*"): "train",
        },
    ),
    "masked_trust_ratio": gdtx.chain(
        gdtx.masked(gdtx.scale_by_trust_ratio(), gdtx.ndim_mask()), gdtx.sgd(0.05)
    ),
    "apply_if_finite_adam": gdtx.apply_if_finite(gdtx.adam(0.01), max_consecutive_errors=3),
}


@pytest.mark.parametrize("name", list(PER_LEAF_CASES))
def test_packed_equals_per_leaf(name):
    opt = PER_LEAF_CASES[name]
    grads = MANY_GRADS
    if name == "apply_if_finite_adam":  # a non-finite step, skipped by both paths
        grads = [*grads[:5], {**grads[5], "embed": np.full((7, 3), np.nan)}, *grads[6:]]
    # the loss for the registry's forms that read one (its VALUES, as for every run)
    values = PER_LEAF_FORMS[name][0].values(len(grads)) if name in PER_LEAF_FORMS else None
    tree_path, tree_state = run_gdtx(opt, MANY_PARAMS, grads, values=values)
    packed_path, packed_state = run_packed(opt, MANY_PARAMS, grads, values=values)
    assert_trees_close(stack_trees(packed_path), stack_trees(tree_path), rtol=2e-6, what=name)
    assert int(packed_state.count) == int(tree_state.count)
    moved = max(
        float(np.max(np.abs(tree_path[-1][k] - MANY_PARAMS[k]), initial=0.0)) for k in MANY_PARAMS
    )
    assert moved > 1e-3, f"{name}: the parameters barely moved"


@pytest.mark.parametrize(
    ("opt", "reduced"),
    [
        (gdtx.adafactor(0.1, min_dim_size_to_factor=3), lambda s: min(s[-2:]) >= 3),
        (gdtx.sm3(0.1), lambda s: 0 not in s[-2:]),
        (gdtx.chain(gdtx.centralize(), gdtx.sgd(0.1)), lambda s: len(s) >= 2),
        (gdtx.chain(gdtx.adaptive_grad_clip(0.1), gdtx.adam(0.1)), lambda s: len(s) >= 2),
    ],
    ids=["adafactor", "sm3", "centralize", "adaptive_grad_clip"],
)
def test_blocks_reducing_matrix_axes_get_a_buffer_per_matrix_shape(opt, reduced):
    """Row, column or unit statistics reduce whole buffers: the matrices a block reduces
    (Adafactor: those it factors; SM3: the non-empty ones) sit in buffers of one shape each,
    every other leaf in one buffer; an elementwise optimizer keeps one buffer."""
    want = {s for s in MANY_SHAPES.values() if len(s) >= 2 and reduced(s)}
    shapes = [set(b.shapes) for b in gdtx.packing(MANY_PARAMS, opt).layout.buffers]
    own = sorted(next(iter(b)) for b in shapes if b <= want)
    assert own == sorted(want)  # a buffer each
    rest = [b for b in shapes if not b <= want]
    assert len(rest) == 1 and rest[0] == set(MANY_SHAPES.values()) - want
    assert len(gdtx.packing(MANY_PARAMS, gdtx.adam(0.1)).layout.buffers) == 1


CHUNKED_GRADS = {  # every size a multiple of 16: reductions read 16-element chunks
    **{f"w{i}": np.linspace(-3.0, 3.0, 64).reshape(4, 16) * (i + 1) for i in range(3)},
    "stack": np.linspace(0.1, 2.0, 96).reshape(2, 3, 16),
    "b": np.linspace(-0.2, 0.1, 32),
    "u": np.linspace(5.0, 9.0, 48),
}


@pytest.mark.parametrize("chunked", [False, True], ids=["runs", "chunks"])
def test_segment_reductions_match_optax_block_rms(chunked):
    """Per-leaf RMS clipping on packed buffers against Optax's per-array implementation,
    both ways a buffer's per-leaf sums are read: run by run, and by chunks."""
    grads = to_f32(CHUNKED_GRADS if chunked else MANY_GRADS[0])
    if not chunked:
        grads = {k: v * (1.0 + 3.0 * (i % 3)) for i, (k, v) in enumerate(grads.items())}
    (buffer,) = gdtx.packing(grads).layout.buffers
    assert (buffer.chunk >= 16 and len(buffer.runs) > 1) == chunked
    want, _ = jax.jit(optax.clip_by_block_rms(1.2).update)(grads, optax.EmptyState())
    tx = gdtx.clip_by_block_rms(1.2)
    got_tree, _ = jax.jit(tx.update)(grads, tx.init(grads))
    pk = gdtx.packing(grads)
    got_packed, _ = jax.jit(tx.update)(pk.pack(grads), tx.init(pk.pack(grads)))
    want = {k: v for k, v in want.items() if v.size}
    assert_trees_close({k: got_tree[k] for k in want}, want, rtol=1e-6, what="tree")
    unpacked = pk.unpack(got_packed)
    assert_trees_close({k: unpacked[k] for k in want}, want, rtol=1e-6, what="packed")


def test_complex_and_bfloat16_parameters():
    params = {
        "z": jnp.asarray(np.arange(6).reshape(2, 3) * (1 + 0.5j), jnp.complex64),
        "h": jnp.linspace(-1, 1, 8).astype(jnp.bfloat16),
        "f": jnp.linspace(0, 1, 5),
    }
    rng = np.random.default_rng(0)
    grads = [
        {
            "z": rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3)),
            "h": rng.standard_normal(8),
            "f": rng.standard_normal(5),
        }
        for _ in range(10)
    ]
    grads = [jax.tree.map(lambda g, p: jnp.asarray(g, p.dtype), g, params) for g in grads]
    for opt in (gdtx.adam(0.01), gdtx.lars(0.1, weight_decay=0.01)):
        pk = gdtx.packing(params, opt)
        want, _ = continue_run(opt, params, opt.init(params), grads)
        got, _ = continue_run(opt, pk.pack(params), opt.init(pk.pack(params)), grads, pk)
        for k in params:
            assert got[-1][k].dtype == params[k].dtype
            np.testing.assert_allclose(
                np.asarray(got[-1][k], np.complex128),
                np.asarray(want[-1][k], np.complex128),
                rtol=1e-6,
                atol=1e-6,
            )


# ---------------------------------------------------------------------------------------
# The training step: parameters stay packed


def test_training_step_keeps_parameters_packed():
    """A jitted step with the packing as an argument: gradients arrive packed (one
    concatenation per buffer), and neither the parameters nor the state are concatenated,
    split or copied into place."""
    key = jax.random.key(0)
    params = [
        {"w": jax.random.normal(k, (6, 6)) / 3, "b": jnp.zeros(6)}
        for k in jax.random.split(key, 12)
    ]
    x = jax.random.normal(jax.random.key(1), (16, 6))
    y = jnp.sin(x)

    def loss_fn(tree):
        h = x
        for layer in tree:
            h = jnp.tanh(h @ layer["w"] + layer["b"][None, :])
        return jnp.mean((h - y) ** 2)

    opt = gdtx.adamw(1e-2, weight_decay=0.01, mask=gdtx.ndim_mask())
    pk = gdtx.packing(params, opt)
    assert len(pk.layout.buffers) == 2  # matrices (decayed) and biases

    def train_step(pk, flat, state):
        loss, grads = jax.value_and_grad(lambda f: loss_fn(pk.unpack(f)))(flat)
        updates, state = opt.update(grads, state, flat)
        return gdtx.apply_updates(flat, updates), state, loss

    step = jax.jit(train_step, donate_argnums=(1, 2))
    flat = pk.pack(params)
    state = opt.init(flat)
    hlo = step.lower(pk, flat, state).as_text()  # StableHLO
    assert hlo.count("stablehlo.concatenate") == 2  # the two gradient buffers
    assert "dynamic_update_slice" not in hlo and "stablehlo.pad" not in hlo
    assert hlo.count("stablehlo.dynamic_slice") == 24  # a view per leaf, none for the state

    @jax.jit
    def tree_step(tree, state):
        loss, g = jax.value_and_grad(loss_fn)(tree)
        u, state = opt.update(g, state, tree)
        return gdtx.apply_updates(tree, u), state, loss

    tree, tree_state = params, opt.init(params)
    for _ in range(20):
        flat, state, loss = step(pk, flat, state)
        tree, tree_state, tree_loss = tree_step(tree, tree_state)
        np.testing.assert_allclose(float(loss), float(tree_loss), rtol=1e-5)
    assert_trees_close(pk.unpack(flat), tree, rtol=1e-5, what="trained")


def test_vmap_over_seeds_of_packed_parameters():
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    pk = gdtx.packing(params)
    opt = gdtx.adam(0.1)
    seeds = jnp.arange(4)

    def train(seed):
        tree = jax.tree.map(
            lambda p: p + 0.1 * jax.random.normal(jax.random.key(seed), p.shape), params
        )
        flat = pk.pack(tree)
        state = opt.init(flat)
        for _ in range(3):
            g = jax.grad(lambda f: jnp.sum(pk.unpack(f)["w"] ** 2) + jnp.sum(pk.unpack(f)["b"]))(
                flat
            )
            u, state = opt.update(g, state, flat)
            flat = gdtx.apply_updates(flat, u)
        return pk.unpack(flat)

    batched = jax.jit(jax.vmap(train))(seeds)
    one = jax.jit(train)
    for i in range(4):
        single = one(seeds[i])
        assert_trees_close(
            jax.tree.map(lambda x, i=i: x[i], batched), single, rtol=1e-6, what=f"seed {i}"
        )


# ---------------------------------------------------------------------------------------
# State in both forms (checkpoints)


@pytest.mark.parametrize(
    "name",
    [
        "adamw_ndim_mask",
        "partition_accumulate_frozen",
        "lars_matrices_mask",
        "novograd_nondefault",
        "sm3",
    ],
)
def test_state_converts_both_ways(name):
    """Seven steps in one form, the state converted, seven more in the other: as fourteen
    steps in one form. Every run starts from a given state, so each form compiles once."""
    opt = PER_LEAF_CASES[name]
    params = to_f32(MANY_PARAMS)
    first, second = MANY_GRADS[:7], MANY_GRADS[7:14]
    pk = gdtx.packing(params, opt)
    flat = pk.pack(params)

    # fourteen per-leaf steps (the state carried from the seventh to the eighth unchanged)
    path, tree_state = continue_run(opt, params, opt.init(params), first)
    straight, _ = continue_run(opt, to_f32(path[-1]), tree_state, second)

    # per-leaf for 7 steps, then packed from the converted state
    state = pk.pack_state(tree_state, opt)
    assert jax.tree.structure(state) == jax.tree.structure(opt.init(flat))
    got, _ = continue_run(opt, pk.pack(to_f32(path[-1])), state, second, pk)
    assert_trees_close(got[-1], straight[-1], rtol=2e-6, what=f"{name} tree→packed")

    # packed for 7 steps, then per-leaf from the converted state
    path, packed_state = continue_run(opt, flat, opt.init(flat), first, pk)
    tree = to_f32(path[-1])
    state = pk.unpack_state(packed_state)
    assert jax.tree.structure(state) == jax.tree.structure(opt.init(tree))
    got, _ = continue_run(opt, tree, state, second)
    assert_trees_close(got[-1], straight[-1], rtol=2e-6, what=f"{name} packed→tree")


def test_faster_path_cases_from_torch_suite():
    """Seven steps with a zero-size parameter, a frozen parameter and a step where one
    parameter gets no gradient (zeros), saved and restored in the middle."""
    shapes = {"w": (4, 3), "b": (3,), "empty": (0, 2), "frozen": (5,)}
    params = to_f32(random_tree(5, shapes))
    grads = gradient_sequence(6, 7, shapes)
    grads[3] = {**grads[3], "w": np.zeros((4, 3))}
    opt = gdtx.partition(
        {"train": gdtx.adam(0.05, weight_decay=0.01), "frozen": gdtx.set_to_zero()},
        {"frozen": "frozen", "w": "train", "b": "train", "empty": "train"},
    )
    want, _ = run_gdtx(opt, params, grads)
    pk = gdtx.packing(params, opt)
    flat = pk.pack(params)
    state = opt.init(flat)
    for i, g in enumerate(grads):
        if i == 4:  # checkpoint in per-leaf form and restore
            state = pk.pack_state(pk.unpack_state(state), opt)
        u, state = opt.update(pk.pack(to_f32(g)), state, flat)
        flat = gdtx.apply_updates(flat, u)
    got = pk.unpack(flat)
    assert_trees_close(got, want[-1], rtol=1e-6, what="torch-suite cases")
    np.testing.assert_array_equal(np.asarray(got["frozen"]), np.asarray(params["frozen"]))


# ---------------------------------------------------------------------------------------
# Errors


def test_mixed_mask_buffer_names_the_leaves():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    opt = gdtx.adamw(0.1, mask=gdtx.ndim_mask())
    flat = gdtx.packing(params).pack(params)  # made without the optimizer: one buffer
    state = opt.init(flat)
    with pytest.raises(
        ValueError, match=r"packed buffer 0 .*\['b'\].*\['w'\].*packing\(params, opt\)"
    ):
        opt.update(flat, state, flat)
    assert len(gdtx.packing(params, opt).layout.buffers) == 2


def test_optax_transformation_refuses_packed_parameters():
    params = {"w": jnp.ones(3)}
    flat = gdtx.packing(params).pack(params)
    with pytest.raises(TypeError, match="Optax transformation cannot run on packed"):
        gdtx.chain(optax.scale_by_trust_ratio(), gdtx.sgd(0.1)).init(flat)


def test_pack_names_mismatched_leaves():
    pk = gdtx.packing({"w": jnp.ones((2, 3)), "b": jnp.ones(3)})
    with pytest.raises(ValueError, match=r"\['w'\]: shape \(3, 2\), expected \(2, 3\)"):
        pk.pack({"w": jnp.ones((3, 2)), "b": jnp.ones(3)})
    with pytest.raises(ValueError, match="1 leaves"):
        pk.pack({"w": jnp.ones((2, 3))})
    with pytest.raises(TypeError, match="expected the Packed value made by this packing"):
        pk.unpack({"w": jnp.ones((2, 3)), "b": jnp.ones(3)})


def test_packing_rejects_integer_leaves():
    with pytest.raises(TypeError, match=r"params\['n'\] has dtype int32"):
        gdtx.packing({"n": jnp.arange(3), "w": jnp.ones(2)})


def test_update_with_tree_gradients_on_packed_state_names_the_problem():
    params = {"w": jnp.ones((2, 3))}
    pk = gdtx.packing(params)
    opt = gdtx.adam(0.1)
    state = opt.init(pk.pack(params))
    with pytest.raises(ValueError, match="does not match the parameters"):
        opt.update(params, state)


def test_a_packing_pickled_in_another_process_matches_a_fresh_one():
    """Layouts compare by content, not by hashes that differ between processes (string
    hashes do), so a packing saved by one process unpacks the packed values another
    process makes."""
    code = (
        "import pickle, sys, jax.numpy as jnp, gdtx\n"
        "params = {'w': jnp.ones((2, 3)), 'b': jnp.zeros(3)}\n"
        "pk = gdtx.packing(params)\n"
        "hash(pk.layout)\n"
        "sys.stdout.buffer.write(pickle.dumps(pk))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONHASHSEED": "1", "PYTHONPATH": root}
    saved = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=env
    ).stdout
    loaded = pickle.loads(saved)
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    fresh = gdtx.packing(params)
    assert loaded.layout == fresh.layout and hash(loaded.layout) == hash(fresh.layout)
    tree = loaded.unpack(fresh.pack(params))
    np.testing.assert_array_equal(tree["w"], params["w"])
