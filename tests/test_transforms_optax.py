"""Everyday transformations against Optax (issue 12, "Drop-in for Optax users").

Each gdtx transformation runs a few steps on a small multi-leaf tree against its
Optax counterpart with matched arguments; those that work per parameter array also
run on packed parameters, where they must give the per-leaf results to float32
rounding. Each run is one jitted program (a ``lax.scan`` over the steps).
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import stack_trees

import gdtx

SMALL = {"w": (3, 4), "b": (4,), "s": (), "layers": [(3, 4), (3, 4)]}
"""Several leaves and shapes, a scalar, and a repeated shape (a run in a packed buffer)."""
KERNELS = {"row": (1, 5), "heads": (2, 3, 4), "conv": (2, 2, 3, 4), "conv3d": (2, 1, 2, 3, 2)}
"""The shapes whose unit-wise norms differ (adaptive_grad_clip, centralize)."""
STEPS = 4


def _tree(rng, shapes, scale=1.0):
    return jax.tree.map(
        lambda s: (scale * rng.standard_normal(s)).astype(np.float32),
        shapes,
        is_leaf=lambda x: isinstance(x, tuple),
    )


def _problem(shapes):
    params = _tree(np.random.default_rng(0), shapes)
    if "b" in params:
        params["b"] = np.full(4, 1e-4, np.float32)  # below the default min_scale and eps
    grads = [_tree(np.random.default_rng(10 + i), shapes, 0.5 * (i + 1)) for i in range(STEPS)]
    return params, grads


PARAMS, GRADS = _problem(SMALL)
BIG_PARAMS, BIG_GRADS = _problem({**SMALL, **KERNELS})


def run(tx, params=PARAMS, grads=GRADS, packed=False):
    """Runs ``tx`` (gdtx or Optax) over the gradients in one jitted program; returns the
    stacked updates (as trees) and the final state."""
    grads = jax.tree.map(jnp.asarray, stack_trees(grads))
    if isinstance(tx, gdtx.Transform):  # a pytree: an argument, so reruns share programs
        return _run_gdtx(tx, gdtx.packing(params, tx) if packed else None, params, grads)
    with jax.numpy_dtype_promotion("standard"):
        return jax.jit(functools.partial(_scan, tx, None))(params, grads)


def _scan(tx, pk, params, grads):
    p = pk.pack(params) if pk else params

    def body(state, g):
        u, state = tx.update(pk.pack(g) if pk else g, state, p)
        return state, (pk.unpack(u) if pk else u)

    state, us = jax.lax.scan(body, tx.init(p), grads)
    return us, state


_run_gdtx = jax.jit(_scan)


def assert_close(got, want, rtol=1e-5, atol=1e-6):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def check(gdtx_tx, optax_tx, params=PARAMS, grads=GRADS, packed=True):
    """gdtx against Optax, and (for per-leaf operations) packed against per-leaf.
    Returns gdtx's final state, Optax's, and the packed run's."""
    got, state = run(gdtx_tx, params, grads)
    want, optax_state = run(optax_tx, params, grads)
    assert_close(got, want)
    packed_state = None
    if packed:
        got_packed, packed_state = run(gdtx_tx, params, grads, packed=True)
        assert_close(got_packed, got, rtol=1e-6, atol=1e-7)
    return state, optax_state, packed_state


# ---------------------------------------------------------------------------------------
# Names and signatures


NAMES = [
    "zero_nans",
    "add_noise",
    "centralize",
    "named_chain",
    "apply_every",
    "adaptive_grad_clip",
    "scale_by_param_block_rms",
    "scale_by_param_block_norm",
]


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_optax(name):
    ours = inspect.signature(getattr(gdtx, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    assert list(ours) == [p for p in theirs if p != "seed"]  # add_noise's deprecated seed
    for p in ours.values():  # the same defaults, but add_noise's key is required
        if not (name == "add_noise" and p.name == "key"):
            assert p.default == theirs[p.name].default, p.name


def test_freeze_signature_matches_optax():
    ours = inspect.signature(gdtx.freeze).parameters
    assert list(ours) == list(inspect.signature(optax.transforms.freeze).parameters)


def test_hashable_with_python_numbers():
    txs = [
        gdtx.zero_nans(),
        gdtx.add_noise(0.1, 0.55, 0),
        gdtx.centralize(),
        gdtx.named_chain(("a", gdtx.scale(2.0)), ("b", gdtx.sgd(0.1))),
        gdtx.apply_every(3),
        gdtx.adaptive_grad_clip(0.1, axis=[0]),
        gdtx.scale_by_param_block_rms(),
        gdtx.scale_by_param_block_norm(),
        gdtx.skip_large_updates(gdtx.adam(0.1), 10.0),
        gdtx.freeze({"w": True, "b": False}),
    ]
    for tx in txs:
        assert hash(tx) == hash(jax.tree.unflatten(*reversed(jax.tree.flatten(tx))))


# ---------------------------------------------------------------------------------------
# Per-leaf and elementwise blocks


def test_zero_nans():
    grads = [jax.tree.map(np.copy, g) for g in GRADS]
    grads[1]["w"][0, 2] = np.nan
    grads[1]["layers"][1][2, 3] = np.nan
    grads[3]["s"] = np.float32(np.nan)
    grads[2]["b"][0] = np.inf  # passes unchanged
    tx = gdtx.zero_nans()
    state, want, packed = check(tx, optax.zero_nans(), grads=grads)
    assert_close(state.inner.found_nan, want.found_nan)
    # packed: one flag per leaf, in the buffers' storage order
    layout = gdtx.packing(PARAMS, tx).layout
    by_index = {
        i: flags[j]
        for b, flags in zip(layout.buffers, packed.inner.found_nan, strict=True)
        for j, i in enumerate(b.leaves)
    }
    assert_close(layout.arrange(by_index), want.found_nan)


def test_add_noise_matches_optax_key_for_key():
    params, grads = _problem({"w": (3, 4), "s": (), "layers": [(3, 4), (3, 4)]})
    check(gdtx.add_noise(0.3, 0.55, 42), optax.add_noise(0.3, 0.55, 42), params, grads)
    g = {"a": jnp.zeros(3), "b": jnp.zeros(3)}  # one size: one batched draw (threefry)
    seeds = (jax.random.key(5), 5, jax.random.PRNGKey(5))
    out = [tx.update(g, tx.init(g))[0] for tx in (gdtx.add_noise(1.0, 0.55, k) for k in seeds)]
    assert_close(out[0], out[1], rtol=0, atol=0)
    assert_close(out[0], out[2], rtol=0, atol=0)
    # rbg keys draw differently when batched: drawn leaf by leaf, still Optax's numbers
    key = jax.random.key(5, impl="rbg")
    ours, theirs = gdtx.add_noise(1.0, 0.55, key), optax.add_noise(1.0, 0.55, key)
    pk = gdtx.packing(g)
    packed = pk.unpack(ours.update(pk.pack(g), ours.init(pk.pack(g)))[0])
    with jax.numpy_dtype_promotion("standard"):
        want = theirs.update(g, theirs.init(g))[0]
    assert_close(ours.update(g, ours.init(g))[0], want)
    assert_close(packed, want)


def test_add_noise_variance_schedule_and_determinism():
    params = {"a": np.zeros(20_000, np.float32), "b": np.zeros((100, 100), np.float32)}
    # (Optax's variance is eta/t^gamma too: the test above matches it number for number.)
    grads = [jax.tree.map(np.zeros_like, params)] * 3
    eta, gamma = 0.5, 0.55
    out, _ = run(gdtx.add_noise(eta, gamma, 3), params, grads)
    for leaf in jax.tree.leaves(out):
        for k in range(3):
            var = float(jnp.var(leaf[k]))
            assert var == pytest.approx(eta / (k + 1) ** gamma, rel=0.05)
    again, _ = run(gdtx.add_noise(eta, gamma, 3), params, grads)
    other, _ = run(gdtx.add_noise(eta, gamma, 4), params, grads)
    assert_close(again, out, rtol=0, atol=0)
    assert not np.allclose(np.asarray(other["a"]), np.asarray(out["a"]))
    with pytest.raises(TypeError, match="add_noise: `key` is required"):
        gdtx.add_noise(0.1, 0.55, None)


def test_centralize():
    check(gdtx.centralize(), optax.centralize(), BIG_PARAMS, BIG_GRADS)


def test_adaptive_grad_clip():
    # every default rule: scalar, vectors, (1, 5), 2-D, 3-D, 4-D, 5-D; eps engages on b
    check(gdtx.adaptive_grad_clip(0.2), optax.adaptive_grad_clip(0.2), BIG_PARAMS, BIG_GRADS)
    params, grads = _problem({"w": (3, 4), "heads": (2, 3, 4)})  # no scalar for axis -1
    ours, theirs = (m.adaptive_grad_clip(0.3, eps=0.5, axis=-1) for m in (gdtx, optax))
    check(ours, theirs, params, grads, packed=False)


def test_adaptive_grad_clip_rejects_unknown_shapes():
    tx = gdtx.adaptive_grad_clip(0.1)
    p = jnp.ones((2, 2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="adaptive_grad_clip: no unit-wise norm"):
        tx.update(p, tx.init(p), p)


@pytest.mark.parametrize(("kind", "min_scale"), [("rms", 1e-3), ("norm", 0.5)])
def test_scale_by_param_block(kind, min_scale):
    ours = getattr(gdtx, f"scale_by_param_block_{kind}")(min_scale)
    theirs = getattr(optax, f"scale_by_param_block_{kind}")(min_scale)
    check(ours, theirs)


def test_freeze():
    mask = {"w": True, "b": False, "s": False, "layers": [True, False]}
    check(gdtx.freeze(mask), optax.transforms.freeze(mask))
    prefix = {"w": False, "b": True, "s": False, "layers": True}  # one bool for the list
    check(gdtx.freeze(prefix), optax.transforms.freeze(prefix), packed=False)
    g = {"a": jnp.ones(2), "b": [jnp.ones(1)]}
    for flag in (True, False, jnp.asarray(True)):
        tx = gdtx.freeze(flag)
        out = tx.update(g, tx.init(g))[0]
        assert float(out["a"][0] + out["b"][0][0]) == (0.0 if flag else 2.0)
    assert gdtx.freeze(dict(mask)) == gdtx.freeze(mask)
    with pytest.raises(ValueError, match="freeze: the mask must be"):
        gdtx.freeze({"a": True}).init(g)


# ---------------------------------------------------------------------------------------
# Containers and wrappers


def test_named_chain():
    lr = gdtx.linear_schedule(0.1, 0.01, 3)
    ours = gdtx.named_chain(("clip", gdtx.clip_by_global_norm(1.0)), ("adam", gdtx.adam(lr)))
    theirs = optax.named_chain(
        ("clip", optax.clip_by_global_norm(1.0)),
        ("adam", optax.adam(optax.linear_schedule(0.1, 0.01, 3))),
    )
    state, _, _ = check(ours, theirs, packed=False)
    assert list(state.inner) == ["clip", "adam"]  # order kept through jit
    assert float(ours.current_learning_rate(state)) == pytest.approx(float(lr(STEPS - 1)))
    with pytest.raises(ValueError, match="names must be unique"):
        gdtx.named_chain(("a", gdtx.scale(1.0)), ("a", gdtx.scale(2.0)))


def test_named_chain_passes_extra_args():
    tx = gdtx.named_chain(("plateau", gdtx.reduce_on_plateau(patience=0, factor=0.5)))
    p = jnp.ones(2)
    state = tx.init(p)
    for loss in (1.0, 2.0, 3.0):
        out, state = tx.update(p, state, value=jnp.asarray(loss))
    assert float(out[0]) < 1.0


def test_apply_every():
    grads = GRADS * 2
    check(
        gdtx.chain(gdtx.adam(0.1), gdtx.apply_every(3)),
        optax.chain(optax.adam(0.1), optax.apply_every(3)),
        grads=grads,
        packed=False,
    )


def _spiky(grads):
    grads = [jax.tree.map(np.copy, g) for g in grads]
    grads[1]["w"][0, 0] = 100.0  # ‖g‖² beyond the threshold
    grads[4]["b"][1] = np.nan
    return grads


@pytest.mark.parametrize("every_k", [1, 2])
def test_skip_large_updates_matches_multisteps(every_k):
    grads = _spiky(GRADS * 2)
    c = 2000.0
    inner = gdtx.sgd(gdtx.linear_schedule(0.1, 0.01, 4), momentum=0.9)
    ours = gdtx.skip_large_updates(inner if every_k == 1 else gdtx.accumulate(inner, every_k), c)
    theirs = optax.MultiSteps(
        optax.sgd(optax.linear_schedule(0.1, 0.01, 4), momentum=0.9),
        every_k,
        should_skip_update_fn=functools.partial(optax.skip_large_updates, max_squared_norm=c),
    )
    state, _, _ = check(ours, theirs, grads=grads, packed=False)
    assert int(state.inner.skipped) == 2
    applied = (len(grads) - 2) // every_k  # optimizer steps taken
    want = float(gdtx.linear_schedule(0.1, 0.01, 4)(applied - 1))
    assert float(ours.current_learning_rate(state)) == pytest.approx(want)
