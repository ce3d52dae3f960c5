"""The protocol: pytree hyperparameters, one counter, jit/vmap behaviour, Optax and Flax interop."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry
from helpers import (
    assert_trees_close,
    gradient_sequence,
    random_tree,
    run_gdtx,
    to_f32,
    trajectory,
)

import gdtx

FORMS = registry.forms()
"""Each form of each algorithm of tests/registry.py, by case id."""


def make(name, lr):
    """The form ``name`` with learning rate ``lr``."""
    alg, key = FORMS[name]
    return alg.make(args=alg.args(key).with_learning_rate(lr))


ALGORITHMS = {name: functools.partial(make, name) for name in FORMS}


def _step(opt, params, state, grads, value=None):
    extra = {} if value is None else {"value": value}
    updates, state = opt.update(grads, state, params, **extra)
    return gdtx.apply_updates(params, updates), state


def _fresh_jitted_step():
    """A jitted step with a cache of its own (jit caches are shared per Python function)."""

    def step(opt, params, state, grads, value=None):
        return _step(opt, params, state, grads, value)

    return jax.jit(step)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_learning_rate_change_and_second_call_do_not_recompile(name):
    """Three learning rates, and a second call with the state the first returned: one
    compilation; the learning rate takes effect, and the state keeps its form. Only the
    parameters after the THIRD step are compared: ADOPT's first step is zero (it only sets
    v), and SAM's first k − 1 steps are adversarial ones (ρ's), k = 3 in the form
    sam_adam_momentum_no_reset, so the third step is the first where every form's learning
    rate acts."""
    params = to_f32(random_tree(0))
    grads = to_f32(random_tree(1))
    value = jnp.float32(1.5) if FORMS[name][0].needs_value else None  # the loss, if read
    step = _fresh_jitted_step()
    results = []
    for lr in (0.1, 0.01, 0.003):
        opt = ALGORITHMS[name](lr)
        p, s = params, opt.init(params)
        for _ in range(3):
            p, s = step(opt, p, s, grads, value)
        results.append(p["w"])
    assert step._cache_size() == 1  # one compilation for three learning rates
    # ... and the learning rate did take effect: different values give different steps.
    assert not np.allclose(results[0], results[1])

    opt = ALGORITHMS[name](0.01)
    state = opt.init(params)
    p1, s1 = step(opt, params, state, grads, value)
    p2, s2 = step(opt, p1, s1, to_f32(random_tree(2)), value)
    assert step._cache_size() == 1  # the returned state compiles to the same program
    for before, after in ((state, s1), (s1, s2), (params, p2)):
        assert jax.tree.structure(before) == jax.tree.structure(after)
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_run_resumed_from_its_state_is_bit_identical(name):
    """Stopped halfway and resumed from the parameters and the state it returned, a run
    goes on bit for bit as the registry's uninterrupted one: the state carries everything
    the algorithm reads (a count, a buffer or a period kept anywhere else, or restarted,
    would show). Both halves run in a program of their own (the state given, half the
    steps), compiled apart from the registry's."""
    alg, key = FORMS[name]
    opt, half = alg.make(key), registry.STEPS // 2
    values = alg.values()
    params = to_f32(registry.PARAMS)
    first, state = trajectory(
        opt,
        params,
        opt.init(params),
        registry.GRADS[:half],
        values=None if values is None else values[:half],
    )
    middle = {k: jnp.asarray(v[-1]) for k, v in first.items()}
    second, _ = trajectory(
        opt, middle, state, registry.GRADS[half:], values=None if values is None else values[half:]
    )
    whole = registry.gdtx_path(name)
    assert set(first) == set(whole)
    for leaf in whole:
        resumed = np.concatenate([first[leaf], second[leaf]])
        np.testing.assert_array_equal(resumed, whole[leaf], err_msg=f"{name}: {leaf}")


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_jit_and_eager_agree(name):
    """Eager steps against the jitted run test_vs_reference.py checks (the same inputs):
    eight, past every algorithm's first-step special cases (ADOPT, schedule-free, SAM's
    period), without dispatching one op at a time for long."""
    steps = 8
    alg, key = FORMS[name]
    jitted = registry.gdtx_path(name)
    eager, _ = run_gdtx(
        alg.make(key), registry.PARAMS, registry.GRADS[:steps], jit=False, values=alg.values(steps)
    )
    # relative to each leaf's largest entry: Muon's Newton-Schulz products mix entries
    want = {k: v[steps - 1] for k, v in jitted.items()}
    assert_trees_close(want, eager[-1], rtol=2e-6, what=name)


def _trajectory(opt, params, grads):
    def body(carry, g):
        params, state = carry
        params, state = _step(opt, params, state, g)
        return (params, state), params

    return jax.lax.scan(body, (params, opt.init(params)), grads)[1]


_single_run = jax.jit(_trajectory)
"""One run, compiled once per optimizer structure (the optimizer is an argument)."""


VMAP_CASES = {
    "sgd_momentum": ALGORITHMS["sgd_momentum"],
    "adam": ALGORITHMS["adam"],
    "rmsprop_centered_momentum": lambda lr: gdtx.rmsprop(lr, centered=True, momentum=0.5),
    "nadam": ALGORITHMS["nadam"],
}


@pytest.mark.parametrize("name", list(VMAP_CASES))
def test_vmap_over_learning_rates_matches_separate_runs(name):
    params = to_f32(random_tree(0))
    seq = gradient_sequence(4, 30)
    grads = jax.tree.map(lambda *xs: jnp.stack(xs), *[to_f32(g) for g in seq])
    lrs = jnp.array([0.003, 0.01, 0.03, 0.1])
    make = VMAP_CASES[name]

    batched = jax.jit(jax.vmap(lambda lr: _trajectory(make(lr), params, grads)))(lrs)
    for i, lr in enumerate([0.003, 0.01, 0.03, 0.1]):
        single = _single_run(make(lr), params, grads)
        for k in single:
            np.testing.assert_allclose(batched[k][i], single[k], rtol=1e-6, atol=1e-7)


def test_vmap_over_a_batch_of_optimizers_and_betas():
    """The optimizer itself is the vmapped argument: its leaves carry the batch axis."""
    params = to_f32(random_tree(0))
    grads = jax.tree.map(lambda *xs: jnp.stack(xs), *[to_f32(g) for g in gradient_sequence(5, 25)])
    b1s = jnp.array([0.0, 0.5, 0.9])
    opts = jax.vmap(lambda b1: gdtx.adam(0.05, b1=b1))(b1s)
    assert jax.tree.leaves(opts)[0].shape == (3,)
    batched = jax.jit(jax.vmap(lambda opt: _trajectory(opt, params, grads)))(opts)
    for i, b1 in enumerate([0.0, 0.5, 0.9]):
        single = _single_run(gdtx.adam(0.05, b1=b1), params, grads)
        np.testing.assert_allclose(batched["w"][i], single["w"], rtol=1e-6, atol=1e-7)


def test_hyperparameters_are_leaves_and_flags_are_static():
    opt = gdtx.rmsprop(0.1, decay=0.95, eps=1e-6, centered=True, momentum=0.5)
    leaves = jax.tree.leaves(opt)
    for value in (0.1, 0.95, 1e-6, 0.5):
        assert value in leaves
    assert True not in leaves  # `centered` is static
    twin = jax.tree.unflatten(jax.tree.structure(opt), leaves)
    assert twin == opt
    flipped = gdtx.rmsprop(0.1, decay=0.95, eps=1e-6, centered=False, momentum=0.5)
    assert jax.tree.structure(flipped) != jax.tree.structure(opt)


def test_blocks_of_two_classes_with_the_same_fields_have_different_tree_definitions():
    """jit finds a compiled program by its arguments' tree definitions: two blocks that
    differ only by class (the same field names and values) must not share one, or a hash
    collision in jit's cache would run one block's program for the other."""
    norm, rms = gdtx.scale_by_param_block_norm(0.5), gdtx.scale_by_param_block_rms(0.5)
    assert jax.tree.structure(norm) != jax.tree.structure(rms)
    assert jax.tree.structure(gdtx.scale(2.0)) == jax.tree.structure(gdtx.scale(3.0))
    step = jax.jit(lambda tx, g: tx.update(g, tx.init(g), g)[0])
    g = {"w": jnp.full(4, 2.0)}  # ‖θ‖ = 4, rms(θ) = 2
    assert float(step(norm, g)["w"][0]) == 8.0 and float(step(rms, g)["w"][0]) == 4.0


def test_schedule_constants_are_leaves():
    sched = gdtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=100)
    opt = gdtx.adam(sched)
    step = _fresh_jitted_step()
    params = to_f32(random_tree(0))
    grads = to_f32(random_tree(1))
    step(opt, params, opt.init(params), grads)
    other = gdtx.adam(gdtx.warmup_cosine_decay_schedule(0.0, 3.0, warmup_steps=20, decay_steps=50))
    step(other, params, other.init(params), grads)
    assert step._cache_size() == 1


def test_one_counter_per_optimizer():
    opt = gdtx.chain(gdtx.scale_by_adam(), gdtx.ema(0.9), gdtx.scale_by_learning_rate(0.1))
    state = opt.init(to_f32(random_tree(0)))
    int_leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.integer)]
    assert len(int_leaves) == 1 and int_leaves[0] is state.count


def test_counter_saturates_instead_of_overflowing():
    opt = gdtx.adam(0.1)
    params = {"x": jnp.ones(2)}
    limit = np.iinfo(np.int32).max
    state = opt.init(params)._replace(count=jnp.asarray(limit - 2, jnp.int32))
    step = _fresh_jitted_step()
    for _ in range(5):
        params, state = step(opt, params, state, {"x": jnp.ones(2)})
        assert int(state.count) > 0
        assert np.all(np.isfinite(params["x"]))
    assert int(state.count) == limit


def test_current_learning_rate_follows_the_schedule():
    sched = gdtx.piecewise_constant_schedule(1.0, {2: 0.1, 4: 0.1})
    opt = gdtx.sgd(sched, momentum=0.9)
    params = {"x": jnp.ones(1)}
    state = opt.init(params)
    assert float(opt.current_learning_rate(state)) == 1.0
    seen = []
    for _ in range(5):
        params, state = _step(opt, params, state, {"x": jnp.ones(1)})
        seen.append(round(float(opt.current_learning_rate(state)), 6))
    # The rate the k-th update applied: steps 1-2 use 1.0, 3-4 use 0.1, 5 uses 0.01.
    assert seen == [1.0, 1.0, 0.1, 0.1, 0.01]


def test_current_learning_rate_under_jit_and_constant():
    opt = gdtx.adam(3e-4)
    state = opt.init({"x": jnp.ones(1)})
    assert jax.jit(opt.current_learning_rate)(state) == pytest.approx(3e-4)
    with pytest.raises(ValueError, match="scale_by_learning_rate"):
        gdtx.scale_by_adam().current_learning_rate(state)


def test_apply_updates_keeps_dtypes_and_none_leaves():
    params = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(2, jnp.float32), "c": None}
    updates = {"a": jnp.full(2, 0.5, jnp.float32), "b": jnp.full(2, 0.5, jnp.float32), "c": None}
    out = gdtx.apply_updates(params, updates)
    assert out["a"].dtype == jnp.bfloat16 and out["b"].dtype == jnp.float32 and out["c"] is None
    np.testing.assert_allclose(np.asarray(out["a"], np.float32), 1.5)


def test_update_rejects_a_foreign_state():
    opt = gdtx.adam(0.1)
    with pytest.raises(TypeError, match="OptState"):
        opt.update({"x": jnp.ones(1)}, (), None)


def test_gdtx_inside_optax_chain_matches_gdtx_alone():
    params = to_f32(random_tree(0))
    grads = gradient_sequence(6, 10)
    mixed = optax.chain(gdtx.scale_by_adam(), optax.scale(-0.01))
    ours = gdtx.adam(0.01)
    s_mixed, s_ours = mixed.init(params), ours.init(params)
    mixed_update, ours_update = jax.jit(mixed.update), jax.jit(ours.update)
    for g in grads:
        g = to_f32(g)
        u_mixed, s_mixed = mixed_update(g, s_mixed, params)
        u_ours, s_ours = ours_update(g, s_ours, params)
        for k in u_ours:
            np.testing.assert_allclose(u_mixed[k], u_ours[k], rtol=1e-6)


def test_optax_inside_gdtx_chain_matches_optax_alone():
    with jax.numpy_dtype_promotion("standard"):  # Optax itself is not strict-promotion clean
        _optax_inside_gdtx()


def _optax_inside_gdtx():
    params = to_f32(random_tree(0))
    grads = gradient_sequence(7, 10)
    mixed = gdtx.chain(optax.scale_by_adam(), gdtx.scale_by_learning_rate(0.01))
    ref = optax.adam(0.01)
    s_mixed, s_ref = mixed.init(params), ref.init(params)
    step = _fresh_jitted_step()
    p_mixed = p_ref = params
    for g in grads:
        g = to_f32(g)
        p_mixed, s_mixed = step(mixed, p_mixed, s_mixed, g)
        u, s_ref = ref.update(g, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, u)
    for k in p_ref:
        np.testing.assert_allclose(p_mixed[k], p_ref[k], rtol=1e-6, atol=1e-7)


def test_flax_nnx_optimizer_trains_with_gdtx():
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(3, 8, rngs=rngs)
            self.out = nnx.Linear(8, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(jax.nn.tanh(self.hidden(x)))

    x = jax.random.normal(jax.random.key(0), (64, 3))
    y = jnp.sin(x[:, :1]) + 0.5 * x[:, 1:2]

    def losses(tx):
        model = Net(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

        @nnx.jit
        def train_step(model, optimizer):
            loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
            optimizer.update(model, grads)
            return loss

        return np.array([float(train_step(model, optimizer)) for _ in range(100)])

    ours = losses(gdtx.adam(0.01))
    with jax.numpy_dtype_promotion("standard"):  # Optax itself is not strict-promotion clean
        theirs = losses(optax.adam(0.01))
    assert ours[-1] < 0.2 * ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


def test_masked_updates_only_selected_leaves_and_keeps_state_for_them_alone():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    ndim_mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)  # noqa: E731
    opt = gdtx.masked(gdtx.scale_by_adam(), ndim_mask)
    state = opt.init(params)
    m = optax.tree_utils.tree_get(state, "m")  # the selection: the tree with None holes
    assert m["b"] is None and m["w"].shape == (2, 2)
    grads = {"w": jnp.full((2, 2), 3.0), "b": jnp.full(2, 3.0)}
    out, _ = jax.jit(opt.update)(grads, state)
    np.testing.assert_allclose(out["w"], 1.0, rtol=1e-6)  # Adam's first step: sign(g)
    np.testing.assert_allclose(out["b"], 3.0)  # passed through unchanged


def test_adamw_mask_decays_only_selected_leaves():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    opt = gdtx.adamw(0.1, weight_decay=0.5, mask={"w": True, "b": False})
    zero = jax.tree.map(jnp.zeros_like, params)
    out, _ = opt.update(zero, opt.init(params), params)
    np.testing.assert_allclose(out["w"], -0.05, rtol=1e-6)
    np.testing.assert_allclose(out["b"], 0.0)
