"""The dtype policy: float16, bfloat16, float32, float64 and complex64 for every algorithm
(each form of tests/registry.py in the dtypes its entry lists)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry
from helpers import gradient_sequence, random_tree, trajectory

import gdtx


def _maker(alg, key):
    return lambda: alg.make(key)


# Each form of each algorithm in tests/registry.py, and a chain of clipping blocks: the
# builder, the dtypes, and whether update reads the loss (registry.Algorithm.needs_value).
ALGORITHMS = {
    name: (_maker(alg, key), alg.dtypes, alg.needs_value)
    for name, (alg, key) in registry.forms().items()
}
ALGORITHMS["clipped_sgd"] = (
    lambda: gdtx.chain(gdtx.clip_by_global_norm(1.0), gdtx.clip(0.5), gdtx.sgd(0.1)),
    registry.ALL_DTYPES,
    False,
)


def _supporting(dtype_name):
    return sorted(n for n, (_, dtypes, _) in ALGORITHMS.items() if dtype_name in dtypes)


LOW = {"float16": (jnp.float16, 2e-3), "bfloat16": (jnp.bfloat16, 1.6e-2)}


def _step(opt, params, state, grads, value=None):
    extra = {} if value is None else {"value": value}
    updates, state = opt.update(grads, state, params, **extra)
    return gdtx.apply_updates(params, updates), updates, state


def _cast(tree, dtype):
    return jax.tree.map(lambda x: jnp.asarray(x).astype(dtype), tree)


def _run(opt, params, grads, needs_value=False):
    """Jitted steps over ``grads``; the last parameters, updates and state. With
    ``needs_value``, step t is given the loss ``registry.VALUES[t]`` (float32)."""
    state = opt.init(params)
    step = jax.jit(_step)
    updates = None
    values = registry.VALUES[: len(grads)] if needs_value else [None] * len(grads)
    for g, v in zip(grads, values, strict=True):
        params, updates, state = step(opt, params, state, g, None if v is None else np.float32(v))
    return params, updates, state


def _complex_tree(seed):
    re, im = random_tree(seed), random_tree(seed + 100)
    return jax.tree.map(lambda a, b: (a + 1j * b).astype(np.complex64), re, im)


def _check_policy(params, updates, state, dtype):
    """Params and updates keep ``dtype``; m has it too; v is real, at least float32."""
    _check_policy_by_leaf(params, updates, state, lambda path: dtype)


def _check_policy_by_leaf(params, updates, state, dtype_of):
    """As :func:`_check_policy`, each leaf's dtype given by ``dtype_of(key path)``."""
    for tree in (params, updates):
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            assert leaf.dtype == dtype_of(path), (jax.tree_util.keystr(path), leaf.dtype)
            assert bool(jnp.all(jnp.isfinite(leaf)))
    for name in ("m", "v", "d", "v_max"):
        for _, field in optax.tree_utils.tree_get_all_with_path(state, name):
            for path, leaf in jax.tree_util.tree_flatten_with_path(field)[0]:
                dtype = dtype_of(path)
                real = jnp.finfo(gdtx.compute_dtype(dtype)).dtype
                assert leaf.dtype == (dtype if name == "m" else real), (name, path, leaf.dtype)
                assert bool(jnp.all(jnp.isfinite(leaf)))


MIXED = {"w": "bfloat16", "s": "bfloat16", "b": "float16", "k": "float16"}
"""Which low precision each leaf of the test tree gets when an algorithm takes both: each
dtype holds a matrix or stack of matrices and a vector or scalar, and one compilation
checks both."""


@pytest.mark.parametrize("name", sorted(set(_supporting("float16")) | set(_supporting("bfloat16"))))
def test_low_precision_parameters(name):
    """float16 and bfloat16 parameters in one tree: m follows each parameter's dtype, v is
    float32; arithmetic runs in float32, so the first update equals float32's to each
    dtype's rounding."""
    make, supported, needs_value = ALGORITHMS[name]
    low = [d for d in sorted(LOW) if d in supported]
    dtype_name = {k: d if len(low) == 2 else low[0] for k, d in MIXED.items()}
    tree = random_tree(0)
    params = {k: _cast(v, LOW[dtype_name[k]][0]) for k, v in tree.items()}
    grads = [
        {k: _cast(v, LOW[dtype_name[k]][0]) for k, v in g.items()} for g in gradient_sequence(1, 10)
    ]
    out = _run(make(), params, grads, needs_value)
    # a leaf's state has its parameter's dtype; a scalar of the whole tree (Prodigy's d)
    # is real, float32, as for either dtype alone
    _check_policy_by_leaf(*out, lambda path: LOW[dtype_name[path[0].key] if path else low[0]][0])

    _, first, _ = _run(make(), params, grads[:1], needs_value)
    # float32's first step eagerly: one op at a time, shared by every algorithm, instead of
    # a compilation per form
    opt32, params32 = make(), _cast(params, jnp.float32)
    extra = {"value": np.float32(registry.VALUES[0])} if needs_value else {}
    first32, _ = opt32.update(_cast(grads[0], jnp.float32), opt32.init(params32), params32, **extra)
    for k, tree_name in dtype_name.items():
        a, b = first[k], first32[k]
        scale = float(jnp.max(jnp.abs(b))) or 1.0
        err = float(jnp.max(jnp.abs(a.astype(jnp.float32) - b))) / scale
        assert err <= LOW[tree_name][1], (name, k, tree_name, err)


@pytest.mark.parametrize("name", ["adam", "nadam", "amsgrad", "rmsprop", "adagrad"])
def test_bfloat16_parameters_follow_float32_for_300_steps(name):
    """bf16 parameters and gradients with float32 moments (the default for v, asked for m):
    the bias corrections are computed in float32, so each of 300 updates equals the
    float32-parameter run's to bf16 rounding."""
    make = {
        "adam": lambda: gdtx.adam(1e-3, m_dtype=jnp.float32),
        "nadam": lambda: gdtx.nadam(1e-3, m_dtype=jnp.float32),
        "amsgrad": lambda: gdtx.amsgrad(1e-3, m_dtype=jnp.float32),
        "rmsprop": lambda: gdtx.rmsprop(1e-3, decay=0.999, bias_correction=True),
        "adagrad": lambda: gdtx.adagrad(1e-2),
    }[name]
    rng = np.random.default_rng(0)
    grads = [{"w": jnp.asarray(rng.standard_normal(4) * 1e-2, jnp.bfloat16)} for _ in range(300)]
    opt16, opt32 = make(), make()
    s16 = opt16.init({"w": jnp.zeros(4, jnp.bfloat16)})
    s32 = opt32.init({"w": jnp.zeros(4, jnp.float32)})
    assert jax.tree.leaves(s16.inner[0])[-1].dtype == jnp.float32
    step16, step32 = jax.jit(opt16.update), jax.jit(opt32.update)
    for g in grads:
        u16, s16 = step16(g, s16)
        u32, s32 = step32({"w": g["w"].astype(jnp.float32)}, s32)
        assert u16["w"].dtype == jnp.bfloat16
        np.testing.assert_allclose(u16["w"].astype(jnp.float32), u32["w"], rtol=8e-3, atol=1e-9)


@pytest.mark.parametrize(
    "name", [n for n, (alg, _) in registry.forms().items() if "float64" in alg.dtypes]
)
def test_float64_matches_the_float64_reference_closely(name):
    """With x64 enabled each form of every algorithm runs in float64 and meets the NumPy
    reference at 1e-10 after each of its steps (the inputs and the reference trajectory
    are test_vs_reference.py's, which checks every case in float32)."""
    alg, key = registry.forms()[name]
    opt = alg.make(key)
    with jax.enable_x64(True):
        params = _cast(registry.PARAMS, jnp.float64)
        grads = [_cast(g, jnp.float64) for g in registry.GRADS]
        values = alg.values()
        values = None if values is None else jnp.asarray(values, jnp.float64)
        path, state = trajectory(opt, params, None, grads, values=values)
        last = jax.tree.map(lambda x: jnp.asarray(x[-1]), path)
        _check_policy(last, last, state, jnp.float64)
    expected = registry.reference_path(name)
    for key in expected:
        np.testing.assert_allclose(path[key], expected[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize(
    "name", [name for name, (alg, _) in registry.forms().items() if alg.refuses_complex]
)
def test_complex_parameters_are_refused_where_undefined(name):
    """An algorithm that does not define complex numbers refuses them at ``init``, naming
    the leaf, rather than running on them."""
    alg, key = registry.forms()[name]
    assert "complex64" not in alg.dtypes
    with pytest.raises(
        TypeError, match=r"real parameters only \(.+\), got complex64 at \['[bksw]'\]"
    ):
        alg.make(key).init(_complex_tree(0))


@pytest.mark.parametrize("name", _supporting("complex64"))
def test_complex64_parameters(name):
    """Complex moments are complex, second moments real (|g|²); a complex run whose imaginary
    parts are zero equals the real run."""
    make, _, needs_value = ALGORITHMS[name]
    params = _complex_tree(0)
    grads = [_complex_tree(10 + i) for i in range(10)]
    _check_policy(*_run(make(), params, grads, needs_value), jnp.complex64)

    real_params = _cast(random_tree(0), jnp.float32)
    real_grads = [_cast(g, jnp.float32) for g in gradient_sequence(3, 10)]
    as_complex, _, _ = _run(
        make(), _cast(real_params, jnp.complex64), _cast(real_grads, jnp.complex64), needs_value
    )
    real, _, _ = _run(make(), real_params, real_grads, needs_value)
    for c, r in zip(jax.tree.leaves(as_complex), jax.tree.leaves(real), strict=True):
        np.testing.assert_allclose(np.real(c), r, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(np.imag(c), 0.0)


def test_complex_adam_uses_the_squared_modulus():
    """Adam on complex parameters against NumPy: m complex, v = EWMA of |g|²."""
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    params = _complex_tree(0)
    grads = [_complex_tree(10 + i) for i in range(30)]
    got, _, _ = _run(gdtx.adam(lr, b1, b2, eps), params, grads)

    p = jax.tree.map(lambda x: np.asarray(x, np.complex128), params)
    m = jax.tree.map(np.zeros_like, p)
    v = jax.tree.map(lambda x: np.zeros(x.shape), p)
    for t, g in enumerate(grads, 1):
        g = jax.tree.map(lambda x: np.asarray(x, np.complex128), g)
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * np.abs(g) ** 2, v, g)
        c1, c2 = 1 - b1**t, 1 - b2**t
        p = jax.tree.map(
            lambda p, m, v, c1=c1, c2=c2: p - lr * (m / c1) / (np.sqrt(v / c2) + eps), p, m, v
        )
    for key in p:
        np.testing.assert_allclose(got[key], p[key], rtol=1e-5, atol=1e-6)
