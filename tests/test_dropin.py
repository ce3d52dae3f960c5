"""Optax habits that must work on gdtx, or fail with an error naming what the user wrote."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from registry import maximize_cases

import gdtx

PARAMS = {"encoder": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, "head": jnp.full(3, 2.0)}


def _grads(seed=0):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape), jnp.float32), PARAMS)


def _steps(opt, steps=3, params=PARAMS, standard=False):
    state = opt.init(params)
    with jax.numpy_dtype_promotion("standard" if standard else "strict"):
        for k in range(steps):
            updates, state = opt.update(_grads(k), state, params)
            params = optax.apply_updates(params, updates)
    return params


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------
# Optimizers built from Python numbers are hashable (Flax NNX keeps them static)

SCHEDULES = [
    gdtx.warmup_cosine_decay_schedule(0.0, 3e-3, 30, 300, 1e-5),
    gdtx.cosine_decay_schedule(1e-3, 100, alpha=0.1),
    gdtx.exponential_decay(1e-3, 10, 0.9, end_value=1e-5),
    gdtx.piecewise_constant_schedule(1e-3, {10: 0.5}),
    gdtx.join_schedules([gdtx.linear_schedule(0.0, 1e-3, 5), gdtx.constant_schedule(1e-3)], [5]),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_schedules_built_from_numbers_hold_only_python_numbers(schedule):
    assert all(isinstance(x, int | float) for x in jax.tree.leaves(schedule))
    hash(gdtx.adamw(schedule, mask=gdtx.ndim_mask()))


def test_nnx_optimizer_takes_a_warmup_cosine_adamw():
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    schedule = gdtx.warmup_cosine_decay_schedule(0.0, 3e-3, 30, 300, 1e-5)
    optimizer = nnx.Optimizer(model, gdtx.adamw(schedule), wrt=nnx.Param)
    grads = nnx.grad(lambda m: jnp.sum(m(jnp.ones((1, 2)))))(model)
    optimizer.update(model, grads)


def test_warmup_cosine_allows_a_zero_peak_and_vmaps_over_peaks():
    peaks = jnp.array([0.0, 1e-3, 3e-3])
    counts = jnp.arange(0, 60, 7)

    def ours(peak):
        return gdtx.warmup_cosine_decay_schedule(0.0, peak, 10, 50, 1e-5)(counts)

    def theirs(peak):
        return optax.warmup_cosine_decay_schedule(0.0, peak, 10, 50, 1e-5)(counts)

    got = jax.vmap(ours)(peaks)
    with jax.numpy_dtype_promotion("standard"):
        want = np.stack([theirs(float(p)) for p in peaks[1:]])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[1:], want, rtol=1e-5, atol=1e-9)
    zero = gdtx.warmup_cosine_decay_schedule(0.0, 0.0, 10, 50)  # Optax gives 0 here too
    assert float(jnp.max(jnp.abs(zero(counts)))) == 0.0


# ---------------------------------------------------------------------------------------
# Masks and labels: callable pytrees, nested trees, label trees


def test_a_callable_pytree_mask_is_a_tree_not_a_function():
    eqx = pytest.importorskip("equinox")
    model = eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_array)
    mask = jax.tree.map(lambda x: x.ndim > 1, params)  # an MLP of bools: callable
    assert callable(mask)
    grads = jax.tree.map(jnp.ones_like, params)
    ours = gdtx.masked(gdtx.scale(0.0), mask)
    out = ours.update(grads, ours.init(params))[0]
    assert all(float(jnp.sum(w)) == 0.0 for w in jax.tree.leaves(out.layers[0].weight))
    np.testing.assert_array_equal(out.layers[0].bias, 1.0)
    decayed = gdtx.adamw(0.1, weight_decay=0.5, mask=mask)
    decayed.update(grads, decayed.init(params), params)


def test_tree_masks_inside_groups_and_nested_masks_match_optax():
    mask = {"encoder": {"w": True, "b": False}, "head": True}
    labels = {"encoder": {"w": "train", "b": "train"}, "head": "other"}
    ours = gdtx.partition({"train": gdtx.adamw(0.1, mask=mask), "other": gdtx.sgd(0.1)}, labels)
    theirs = optax.partition(
        {"train": optax.adamw(0.1, mask=mask), "other": optax.sgd(0.1)}, labels
    )
    _close(_steps(ours), _steps(theirs, standard=True))
    outer = {"encoder": {"w": True, "b": True}, "head": False}
    nested = gdtx.masked(gdtx.masked(gdtx.adam(0.1), mask), outer)
    nested_optax = optax.masked(optax.masked(optax.adam(0.1), mask), outer)
    _close(_steps(nested), _steps(nested_optax, standard=True))


def test_partition_takes_a_label_tree_as_optax_does():
    labels = {"encoder": {"w": "frozen", "b": "frozen"}, "head": "train"}
    ours = gdtx.partition({"frozen": gdtx.set_to_zero(), "train": gdtx.adam(0.1)}, labels)
    theirs = optax.partition({"frozen": optax.set_to_zero(), "train": optax.adam(0.1)}, labels)
    got = _steps(ours)
    _close(got, _steps(theirs, standard=True))
    _close(got["encoder"], PARAMS["encoder"])


# ---------------------------------------------------------------------------------------
# Parameters and state


def test_python_float_parameters_update():
    opt = gdtx.adam(0.1)
    params = {"a": 1.0, "b": 2.0}
    updates, _ = opt.update({"a": 1.0, "b": -1.0}, opt.init(params), params)
    np.testing.assert_allclose([updates["a"], updates["b"]], [-0.1, 0.1], rtol=1e-5)


@pytest.mark.parametrize(
    "opt",
    [
        gdtx.adamw(0.1, mask=gdtx.ndim_mask()),
        gdtx.accumulate(gdtx.adam(0.1), 2),
        gdtx.partition(
            {"x": gdtx.adam(0.1), "y": gdtx.sgd(0.1, 0.9)}, {"encoder": "x", "head": "y"}
        ),
        gdtx.masked(gdtx.rmsprop(0.1), {"encoder": {"w": True, "b": False}, "head": True}),
    ],
    ids=["adamw", "accumulate", "partition", "masked"],
)
def test_optax_state_utilities_read_gdtx_states(opt):
    state = opt.init(PARAMS)
    marked = optax.tree_map_params(opt, lambda p: jnp.full(p.shape, 7.0), state)
    assert jax.tree.structure(marked) == jax.tree.structure(state)
    for before, after in zip(jax.tree.leaves(state), jax.tree.leaves(marked), strict=True):
        if jnp.ndim(before) >= 1:  # every per-parameter array is mapped by the function
            np.testing.assert_array_equal(after, 7.0)
        else:  # counters and scalars are not
            assert after is before
    assert int(optax.tree_utils.tree_get(state, "count")) == 0


# ---------------------------------------------------------------------------------------
# Errors that name what the user wrote


def test_the_structure_check_compares_key_paths():
    opt = gdtx.adam(0.1)
    state = opt.init({"w": jnp.ones(2), "bias": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"(?s)updates.*\['bias'\].*\['gamma'\]"):
        opt.update({"w": jnp.ones(2), "gamma": jnp.ones(2)}, state)
    with pytest.raises(ValueError, match=r"(?s)`params` does not match.*\[0\]"):
        opt.update({"w": jnp.ones(2), "bias": jnp.ones(2)}, state, [jnp.ones(2), jnp.ones(2)])


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: gdtx.sgd(0.1, momentum=1.0), r"sgd: `momentum` must lie in"),
        (lambda: gdtx.adam("1e-3"), r"adam: `learning_rate` must be a number.*'1e-3'"),
        (
            lambda: gdtx.warmup_cosine_decay_schedule(0.0, float("nan"), 10, 50),
            r"warmup_cosine_decay_schedule: `peak_value`",
        ),
        (
            lambda: gdtx.lars(0.1).update(jnp.ones(2), gdtx.lars(0.1).init(jnp.ones(2))),
            r"lars reads the parameters",
        ),
    ],
    ids=["sgd-momentum", "adam-string", "warmup-cosine-nan", "lars-params"],
)
def test_errors_name_the_users_words(build, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        build()


# ---------------------------------------------------------------------------------------
# maximize=True, as torch.optim has it: g ← −g first, before L2 weight decay

MAXIMIZE = maximize_cases()


@pytest.mark.parametrize("name", list(MAXIMIZE))
def test_maximize_matches_torch(name):
    torch = pytest.importorskip("torch")
    alg, config = MAXIMIZE[name]
    rng = np.random.default_rng(1)
    start = rng.standard_normal(5).astype(np.float32)
    grads = rng.standard_normal((20, 5)).astype(np.float32)
    param = torch.nn.Parameter(torch.tensor(start))
    topt = getattr(torch.optim, config.optimizer)([param], **config.kwargs)
    want = []
    for g in grads:
        param.grad = torch.tensor(g)
        topt.step()
        want.append(param.detach().numpy().copy())
    opt = alg.make(args=config.args)
    p = jnp.asarray(start)
    state = opt.init(p)
    step = jax.jit(lambda p, s, g: opt.update(g, s, p))
    for g, w in zip(grads, want, strict=True):
        updates, state = step(p, state, jnp.asarray(g))
        p = gdtx.apply_updates(p, updates)
        np.testing.assert_allclose(p, w, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(np.asarray(p) - start)) > 0.01


def test_none_updates_take_no_step_and_none_params_are_fine_where_unused():
    params = {"a": jnp.ones(2), "b": None}
    for opt in (gdtx.sgd(0.1), gdtx.adam(0.1)):
        state = opt.init(params)
        out, same = opt.update(None, state, params)
        assert out is None and same is state  # Optax's sgd also maps None to None
        updates, _ = opt.update({"a": jnp.ones(2), "b": None}, state, None)
        np.testing.assert_allclose(updates["a"], -0.1, rtol=1e-6)
        assert updates["b"] is None


def test_an_optimizer_passed_to_jit_lowers_ahead_of_time():
    """JAX rebuilds jit arguments with placeholder leaves when lowering: validation must
    let them through (and still reject text at construction)."""
    opt, params = gdtx.adamw(0.1, mask=gdtx.ndim_mask()), {"w": jnp.ones((2, 2))}
    step = jax.jit(lambda opt, g, s, p: opt.update(g, s, p))
    compiled = step.trace(opt, params, opt.init(params), params).lower().compile()
    updates, _ = compiled(opt, params, opt.init(params), params)
    assert updates["w"].shape == (2, 2)
