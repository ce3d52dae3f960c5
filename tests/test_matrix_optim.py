"""The matrix optimizers beyond the registry: batched packed runs, stacks, errors, dtypes."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
import reference_cat_matrix as ref_matrix
from helpers import assert_trees_close, continue_run, gradient_sequence, random_tree
from jax.extend import core as jax_core

import gdtx

SHAPES = {
    **{f"layer{i}/{name}": (8, 16) for i in range(3) for name in ("q", "o")},
    **{f"layer{i}/up": (16, 4) for i in range(3)},
    **{f"layer{i}/bias": (16,) for i in range(3)},
    "scanned": (3, 4, 6),
}
PARAMS = random_tree(0, SHAPES)
GRADS = gradient_sequence(1, 4, SHAPES)


def _matmuls(fn, *args) -> int:
    """The number of dot_general equations in ``fn``'s jaxpr (nested jaxprs included)."""

    def count(jaxpr) -> int:
        n = sum(eqn.primitive.name == "dot_general" for eqn in jaxpr.eqns)
        return n + sum(count(sub) for sub in jax_core.subjaxprs(jaxpr))

    return count(jax.make_jaxpr(fn)(*args).jaxpr)


def test_packed_muon_is_one_batched_iteration_per_shape():
    """Packed, each run of equal-shape matrices is one batched product per Newton-Schulz
    multiplication; per leaf, one per matrix. The two agree to float32 rounding."""
    opt = gdtx.muon(0.02, muon_mask=gdtx.ndim_mask(2))
    params = jax.tree.map(jnp.asarray, PARAMS)
    pk = gdtx.packing(params, opt)
    packed = pk.pack(params)
    g = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), GRADS[0])
    per_step = 3 * 5  # XXᵀ, A², (bA + cA²)X, five steps
    shapes = 3  # (8, 16), (16, 4) and the stack (3, 4, 6)
    assert _matmuls(opt.update, pk.pack(g), opt.init(packed), packed) == shapes * per_step
    leaves = 6 + 3 + 1
    assert _matmuls(opt.update, g, opt.init(params), params) == leaves * per_step
    tree_path, _ = continue_run(opt, params, opt.init(params), GRADS)
    packed_path, _ = continue_run(opt, packed, opt.init(packed), GRADS, pk)
    for a, b in zip(packed_path, tree_path, strict=True):
        assert_trees_close(a, b, rtol=2e-6, what="packed vs per-leaf")


def test_stacked_matrices_match_optax_dimension_numbers():
    """A selected 3-d leaf is a stack of matrices over its last two axes: Optax's
    MuonDimensionNumbers(reduction_axis=1, output_axis=2) for that leaf."""
    dims = optax.contrib.MuonDimensionNumbers
    spec: Any = {
        k: (dims(1, 2) if len(s) == 3 else dims() if len(s) == 2 else None)
        for k, s in SHAPES.items()
    }
    ours = gdtx.muon(0.02, weight_decay=0.1, muon_mask=gdtx.ndim_mask(2))
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), PARAMS)
    with jax.numpy_dtype_promotion("standard"):
        theirs = optax.contrib.muon(0.02, weight_decay=0.1, muon_weight_dimension_numbers=spec)
        update = jax.jit(theirs.update)
        p, state, want = params, theirs.init(params), []
        for g in GRADS:
            u, state = update(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state, p)
            p = optax.apply_updates(p, u)
            want.append(jax.tree.map(np.asarray, p))
    got, _ = continue_run(ours, params, ours.init(params), GRADS)
    for a, b in zip(got, want, strict=True):
        assert_trees_close(a, b, rtol=1e-5, what="stacked muon vs Optax")


def test_muon_mask_on_a_vector_is_an_error_naming_it():
    opt = gdtx.muon(0.02, muon_mask={"w": True, "b": True})
    with pytest.raises(ValueError, match=r"muon: `muon_mask` selects .*\['b'\]"):
        opt.init({"w": jnp.ones((2, 2)), "b": jnp.ones(2)})


def test_bad_coefficients_and_layout_are_errors():
    with pytest.raises(ValueError, match="scale_by_muon: `ns_coeffs` must be one of"):
        gdtx.muon(0.02, ns_coeffs="polar")
    with pytest.raises(ValueError, match=r"`ns_coeffs` must be three numbers"):
        gdtx.muon(0.02, ns_coeffs=(1.0, 2.0))
    with pytest.raises(ValueError, match="scale_by_shape: `fan_in_axis` must be -2 or -1"):
        gdtx.muon(0.02, fan_in_axis=0)
    with pytest.raises(ValueError, match="muon: `beta` must lie in"):
        gdtx.muon(0.02, beta=1.0)


def test_dion_coefficients_are_one_triple_per_step():
    ortho = gdtx.scale_by_muon(ns_coeffs="dion").transforms[1]
    assert isinstance(ortho, gdtx.Orthogonalize)
    assert len(ortho.coeffs) == 5
    assert ortho.coeffs[0] == (4.0848, -6.8946, 2.9270)


def test_bfloat16_iteration_is_close_to_float32_and_keeps_dtypes():
    g = jnp.asarray(GRADS[0]["layer0/q"], jnp.float32)
    full = gdtx.orthogonalize()
    half = gdtx.orthogonalize(ns_dtype=jnp.bfloat16)
    a, _ = full.update(g, full.init(g))
    b, _ = half.update(g, half.init(g))
    assert b.dtype == jnp.float32
    err = float(jnp.max(jnp.abs(a - b)))
    assert 0 < err < 0.05, err


def test_orthogonalize_brings_singular_values_near_one():
    rng = np.random.default_rng(2)
    g = jnp.asarray(rng.standard_normal((2, 16, 8)) * np.logspace(-1, 1, 8), jnp.float32)
    tx = gdtx.orthogonalize()
    out, _ = tx.update(g, tx.init(g))
    s = np.linalg.svd(np.asarray(out), compute_uv=False)
    assert np.all((s > 0.5) & (s < 1.25)), s


@pytest.mark.parametrize(
    ("shape", "products"),
    [
        ((8, 32), 17),  # wide: Gram form, restarted every two steps (see below)
        ((40, 8), 17),  # tall: iterated as its transpose, then as wide
        ((3, 2, 8), 17),  # a stack of wide matrices
        ((8, 8), 15),  # square: the Gram form would need more products; standard
    ],
)
def test_gram_form_matches_the_float64_iteration(shape, products):
    """``ns_method="gram"`` is Jordan's iteration computed on the Gram matrices: it agrees
    with the float64 reference of the standard iteration as closely as the standard
    float32 one does. Products per shape: standard 3 per step (15); Gram, runs of 2, 2
    and 1 steps, each 4n − 1 (XXᵀ, n squares, n − 1 of PQ, 2(n − 1) of PAP, QX₀):
    7 + 7 + 3."""
    rng = np.random.default_rng(3)
    g = rng.standard_normal(shape).astype(np.float32)
    tx = gdtx.orthogonalize(ns_method="gram")
    got, _ = tx.update(jnp.asarray(g), tx.init(jnp.asarray(g)))
    g64 = g.astype(np.float64).reshape(-1, *shape[-2:])
    coeffs, eps = gdtx.Orthogonalize().coeffs[0], 1e-8
    want = np.stack([ref_matrix.newton_schulz(m, coeffs, 5, eps) for m in g64]).reshape(shape)
    np.testing.assert_allclose(np.asarray(got), want, atol=2e-6)
    assert _matmuls(lambda x: tx.update(x, tx.init(x))[0], jnp.asarray(g)) == products


@pytest.mark.parametrize("steps", [5, 8])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_gram_form_stays_as_stable_as_the_standard_one(dtype, steps):
    """On ill-conditioned and low-rank matrices, in bfloat16 and over more steps than five,
    the Gram form's rounding stays bounded (its restarts): finite, singular values in the
    standard form's range, and in float32 no further from the float64 iteration than
    the standard form (twice its error at most)."""
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.standard_normal((2, 256, 32)))[0].transpose(0, 2, 1)
    ill = (rng.standard_normal((2, 32, 32)) * np.logspace(0, -6, 32)) @ basis  # κ = 1e6
    low = rng.standard_normal((2, 32, 2)) @ rng.standard_normal((2, 2, 256))  # rank 2
    g = jnp.asarray(np.concatenate([ill, low]), jnp.float32)
    coeffs = gdtx.Orthogonalize().coeffs[:1] * steps
    out = {}
    for method in ("standard", "gram"):
        tx = gdtx.orthogonalize(coeffs, ns_dtype=dtype, ns_method=method)
        out[method] = tx.update(g, tx.init(g))[0]
    assert bool(jnp.all(jnp.isfinite(out["gram"])))
    s_std, s_gram = (np.linalg.svd(np.asarray(out[m], np.float64), compute_uv=False) for m in out)
    assert s_gram.max() <= max(1.25, s_std.max() + 0.05), (s_gram.max(), s_std.max())
    if dtype == "float32":
        g64 = np.asarray(g, np.float64)
        want = np.stack([ref_matrix.newton_schulz(m, coeffs[0], steps, 1e-8) for m in g64])
        err = {m: float(np.max(np.abs(np.asarray(x, np.float64) - want))) for m, x in out.items()}
        assert err["gram"] <= 2 * err["standard"] + 1e-6, err


def test_packed_gram_muon_matches_the_float64_reference():
    """Muon with the Gram form, packed (one batched Gram iteration per shape), follows the
    float64 reference of the standard iteration over several steps."""
    opt = gdtx.muon(0.02, ns_method="gram", muon_mask=gdtx.ndim_mask(2))
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), PARAMS)
    pk = gdtx.packing(params, opt)
    packed = pk.pack(params)
    got, _ = continue_run(opt, packed, opt.init(packed), GRADS, pk)
    reference = ref_matrix.Muon(0.02, muon_mask=lambda p: p.ndim >= 2)
    want = ref.run(reference, PARAMS, GRADS)
    for a, b in zip(got, want, strict=True):
        assert_trees_close(a, b, rtol=1e-5, what="packed Gram Muon vs float64 reference")


def test_bad_ns_method_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"muon: `ns_method` must be one of .*got 'polar'"):
        gdtx.muon(0.02, ns_method="polar")
    with pytest.raises(ValueError, match=r"orthogonalize: `ns_method` must be one of"):
        gdtx.orthogonalize(ns_method="fast")
