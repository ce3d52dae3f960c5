"""Property-based tests: random chains of blocks on random trees and dtypes.

For finite inputs, zero gradients included, every chain keeps shapes and dtypes, agrees
between jit and eager execution, and never produces NaN or inf.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gdtx  # noqa: E402

DECAY = st.sampled_from([0.0, 0.5, 0.9, 0.999])
EPS = st.sampled_from([0.0, 1e-8, 1e-3])

BLOCKS = [
    st.builds(gdtx.ema, DECAY, debias=st.booleans()),
    st.builds(gdtx.trace, DECAY, nesterov=st.booleans()),
    st.builds(
        gdtx.scale_by_rms,
        DECAY,
        EPS,
        st.sampled_from([0.0, 0.1]),
        eps_in_sqrt=st.booleans(),
        centered=st.booleans(),
        bias_correction=st.booleans(),
    ),
    st.builds(gdtx.scale_by_rss, st.sampled_from([0.0, 0.1]), EPS, eps_in_sqrt=st.booleans()),
    st.builds(gdtx.scale_by_adadelta, DECAY, st.sampled_from([1e-6, 1e-3])),
    st.builds(gdtx.scale_by_adam, DECAY, DECAY, EPS, EPS),
    st.builds(gdtx.scale_by_adamax, DECAY, DECAY, EPS, eps_in_max=st.booleans()),
    st.builds(gdtx.scale_by_amsgrad, DECAY, DECAY, EPS),
    st.builds(gdtx.scale_by_nadam, DECAY, DECAY, EPS, st.sampled_from([None, 0.0, 4e-3])),
    st.builds(gdtx.scale_by_trust_ratio, st.sampled_from([1e-3, 1.0]), EPS),
    st.builds(gdtx.add_decayed_weights, st.sampled_from([0.0, 1e-2])),
    st.builds(gdtx.clip, st.sampled_from([0.0, 0.5, 10.0])),
    st.builds(gdtx.clip_by_global_norm, st.sampled_from([0.0, 1.0])),
    st.builds(gdtx.scale, st.sampled_from([-1.0, 0.5])),
    st.builds(gdtx.scale_by_learning_rate, st.sampled_from([0.0, 1e-2, 1.0])),
]

DTYPES = {
    "float32": (jnp.float32, 1e-5),
    "bfloat16": (jnp.bfloat16, 2e-2),
    "float16": (jnp.float16, 2e-3),
    "complex64": (jnp.complex64, 1e-5),
}

SHAPE = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)


@st.composite
def problems(draw):
    shapes = draw(st.dictionaries(st.sampled_from("abcd"), SHAPE, min_size=1, max_size=4))
    dtype_name = draw(st.sampled_from(sorted(DTYPES)))
    chain = gdtx.chain(*draw(st.lists(st.one_of(BLOCKS), min_size=1, max_size=4)))
    seed = draw(st.integers(0, 2**16))
    zero_step = draw(st.integers(0, 3))  # which step gets all-zero gradients (3: none)
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]))
    return shapes, dtype_name, chain, seed, zero_step, scale


def _tree(rng, shapes, dtype, scale):
    def leaf(shape):
        x = scale * rng.standard_normal(shape)
        if jnp.issubdtype(dtype, jnp.complexfloating):
            x = x + 1j * scale * rng.standard_normal(shape)
        return jnp.asarray(x).astype(dtype)

    return {k: leaf(s) for k, s in shapes.items()}


def _spec(tree):
    return jax.tree.structure(tree), [(x.shape, x.dtype) for x in jax.tree.leaves(tree)]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(problems())
def test_random_chains_keep_form_agree_under_jit_and_stay_finite(problem):
    shapes, dtype_name, opt, seed, zero_step, scale = problem
    dtype, tol = DTYPES[dtype_name]
    rng = np.random.default_rng(seed)
    params = _tree(rng, shapes, dtype, 1.0)
    grads = [_tree(rng, shapes, dtype, scale) for _ in range(3)]
    if zero_step < 3:
        grads[zero_step] = jax.tree.map(jnp.zeros_like, grads[zero_step])

    state0 = opt.init(params)
    eager_state, jit_state = state0, state0
    jitted = jax.jit(opt.update)
    for g in grads:
        eager_out, eager_state = opt.update(g, eager_state, params)
        jit_out, jit_state = jitted(g, jit_state, params)
        assert _spec(eager_out) == _spec(g)
        assert _spec(jit_state) == _spec(state0)
        for tree in (eager_out, jit_out, jit_state):
            for leaf in jax.tree.leaves(tree):
                assert bool(jnp.all(jnp.isfinite(leaf))), (opt, dtype_name)
        for a, b in zip(jax.tree.leaves(jit_out), jax.tree.leaves(eager_out), strict=True):
            a64 = np.asarray(a.astype(jnp.complex64 if dtype_name == "complex64" else jnp.float32))
            b64 = np.asarray(b.astype(a64.dtype))
            bound = tol * max(float(np.max(np.abs(b64), initial=0.0)), 1e-30)
            assert float(np.max(np.abs(a64 - b64), initial=0.0)) <= bound
