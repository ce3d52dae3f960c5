"""Reliability: tree-mismatch errors, NaN gradients, skipped bad steps, checkpoints."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry
from helpers import gradient_sequence, random_tree, to_f32

import gdtx


def _step(opt, params, state, grads):
    updates, state = opt.update(grads, state, params)
    return gdtx.apply_updates(params, updates), state


# ---------------------------------------------------------------------------------------
# Structure mismatches name the key paths and the tree


def test_missing_leaf_in_updates_is_named():
    opt = gdtx.adam(0.1)
    params = {"w": jnp.ones(3), "b": jnp.ones(2)}
    state = opt.init(params)
    with pytest.raises(
        ValueError, match=r"`updates`.*\n.*in the state but not in updates: \['b'\]"
    ):
        opt.update({"w": jnp.ones(3)}, state)


def test_extra_leaf_in_params_is_named():
    opt = gdtx.adamw(0.1)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"`params`.*\n.*in params but not in the state: \['c'\]"):
        opt.update({"w": jnp.ones(3)}, state, {"w": jnp.ones(3), "c": jnp.ones(1)})


def test_shape_mismatch_names_the_path_and_both_shapes():
    opt = gdtx.sgd(0.1, momentum=0.9)
    state = opt.init({"layer": {"w": jnp.ones((3, 4))}})
    with pytest.raises(
        ValueError, match=r"\['layer'\]\['w'\]: updates has shape \(4, 3\), the state \(3, 4\)"
    ):
        opt.update({"layer": {"w": jnp.ones((4, 3))}}, state)


def test_mismatch_is_reported_under_jit_too():
    opt = gdtx.adam(0.1)
    state = opt.init({"w": jnp.ones(3), "b": jnp.ones(2)})
    with pytest.raises(ValueError, match="in the state but not in updates"):
        jax.jit(opt.update)({"w": jnp.ones(3)}, state)


@pytest.mark.parametrize(
    ("leaf", "problem"),
    [("relu", "is a str"), (jnp.arange(3), "has dtype int32"), (True, "is a bool")],
)
def test_non_array_parameter_leaves_are_rejected_with_their_path(leaf, problem):
    with pytest.raises(TypeError, match=rf"params\['act'\] {problem}"):
        gdtx.adam(0.1).init({"w": jnp.ones(2), "act": leaf})


def test_none_leaves_get_no_state_and_stay_none():
    """As Equinox's ``eqx.filter(model, eqx.is_array)`` produces: None for non-arrays."""
    opt = gdtx.adam(0.1)
    params = {"w": jnp.ones(2), "activation": None}
    state = opt.init(params)
    assert optax.tree_utils.tree_get(state, "m")["activation"] is None
    updates, state = jax.jit(opt.update)({"w": jnp.ones(2), "activation": None}, state, params)
    new = gdtx.apply_updates(params, updates)
    assert new["activation"] is None and new["w"].shape == (2,)


def _elementwise_optax_pairs():
    """The registry's cases with an Optax twin whose updates are element by element, with a
    constant learning rate (a warm-up from 0 would not step), no mask over named leaves and
    no loss to read (the first update is taken from a gradient alone), with the registry's
    tolerance against Optax."""
    out = {}
    for name, (alg, key) in registry.optax_cases().items():
        args = alg.args(key)
        scheduled = any(isinstance(v, registry.Sched) for v in args.args[:1])
        scheduled = scheduled or args.kwargs.get("warmup_steps") is not None
        masked = any("mask" in name for name in args.kwargs)
        if alg.elementwise and not scheduled and not masked and not alg.needs_value:
            out[name] = (
                lambda alg=alg, key=key: alg.make(key),
                alg.optax_twin(key),
                alg.optax_rtol,
            )
    return out


NAN_CASES = {  # gdtx optimizer, Optax optimizer with matched arguments, rtol against it
    **_elementwise_optax_pairs(),
    "adam_eps0": (lambda: gdtx.adam(0.1, eps=0.0), lambda: optax.adam(0.1, eps=0.0), 1e-5),
    "adam_traced_eps": (
        lambda: gdtx.adam(0.1, eps=jnp.float32(1e-8)),
        lambda: optax.adam(0.1),
        1e-5,
    ),
    # Optax's amsgrad takes its max over v̂ (no twin in the registry); NaNs flow the same.
    "amsgrad": (lambda: gdtx.amsgrad(0.1), lambda: optax.amsgrad(0.1), 1e-5),
}


@jax.jit
def _first_update(opt, g, params):
    return opt.update(g, opt.init(params), params)


@pytest.mark.parametrize("name", sorted(NAN_CASES))
def test_a_nan_gradient_shows_in_the_update_as_in_optax(name):
    """A NaN gradient element makes that update element NaN, as in Optax (it is never
    silently zeroed, which would freeze the parameter); the finite element steps by
    Optax's value (within the registry's tolerance against Optax; ADOPT's first step is 0
    in both), and a zero gradient still gives a zero step (where Optax's ε = 0 gives 0/0).
    The zero-gradient element's parameter is 0, so weight decay adds nothing to it.

    The step is checked against Optax's float32 update and against Optax's rule run in
    float64. The finite gradient is 2: with 0.5, Optax's float32 step strays from its own
    float64 value by 1.3e-5 (schedule_free_sgd; gdtx's by under 1e-7), and Optax's yogi
    starts m at v₀ = 1e-6 (gdtx: m₀ = 0, as in the paper), a relative difference of
    β₁v₀/((1 − β₁)g) = 1.8e-5 at g = 0.5 and 4.5e-6 at g = 2."""
    ours, theirs_fn, rtol = NAN_CASES[name]
    ours = ours()
    params = jnp.array([1.0, 0.0, 3.0])
    g = jnp.array([jnp.nan, 0.0, 2.0])
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        theirs = theirs_fn()
        expected, _ = theirs.update(g, theirs.init(params), params)
    got, _ = _first_update(ours, g, params)
    assert np.isnan(expected[0]) and np.isnan(got[0])
    assert float(got[1]) == 0.0
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        twin = theirs_fn()
        params64, g64 = params.astype(jnp.float64), g.astype(jnp.float64)
        expected64, _ = twin.update(g64, twin.init(params64), params64)
    assert expected64.dtype == jnp.float64 and np.isnan(expected64[0])
    assert np.isfinite(got[2]) and np.isfinite(expected[2]) and np.isfinite(expected64[2])
    np.testing.assert_allclose(got[2], expected[2], rtol=rtol, err_msg=f"{name} (float32)")
    np.testing.assert_allclose(got[2], expected64[2], rtol=rtol, err_msg=f"{name} (float64)")


# ---------------------------------------------------------------------------------------
# apply_if_finite


def test_non_finite_step_is_skipped_and_the_inner_state_kept():
    opt = gdtx.apply_if_finite(gdtx.adam(0.1), max_consecutive_errors=3)
    params = to_f32(random_tree(0))
    state = opt.init(params)
    params, state = _step(opt, params, state, to_f32(random_tree(1)))
    bad = to_f32(random_tree(2))
    bad["w"] = bad["w"].at[1, 2].set(jnp.inf)
    new_params, new_state = jax.jit(_step)(opt, params, state, bad)
    for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        jax.tree.leaves(new_state.inner.inner), jax.tree.leaves(state.inner.inner), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert int(new_state.inner.skipped) == 1 and int(new_state.inner.consecutive) == 1
    assert int(new_state.count) == 2


def test_skipped_steps_leave_the_trajectory_as_if_they_never_happened():
    """Bias correction and schedules see only applied steps."""
    lr = gdtx.exponential_decay(0.1, transition_steps=1, decay_rate=0.9)
    clean = gradient_sequence(3, 12)
    nan = jax.tree.map(lambda x: np.full_like(x, np.nan), clean[0])
    noisy = [*clean[:4], nan, nan, *clean[4:8], nan, *clean[8:]]

    def run(opt, grads):
        params = to_f32(random_tree(0))
        state = opt.init(params)
        for g in grads:
            params, state = jax.jit(_step)(opt, params, state, to_f32(g))
        return params, state

    ref, _ = run(gdtx.adam(lr), clean)
    got, state = run(gdtx.apply_if_finite(gdtx.adam(lr), 5), noisy)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        # Equal to float32 rounding (the wrapped step is a different compiled program).
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert int(state.inner.skipped) == 3
    opt = gdtx.apply_if_finite(gdtx.adam(lr), 5)
    assert float(opt.current_learning_rate(state)) == pytest.approx(0.1 * 0.9**11)


def test_gives_up_after_max_consecutive_errors():
    opt = gdtx.apply_if_finite(gdtx.sgd(1.0), max_consecutive_errors=2)
    params = jnp.zeros(1)
    state = opt.init(params)
    outs = []
    for _ in range(4):
        updates, state = opt.update(jnp.array([jnp.nan]), state)
        outs.append(float(updates[0]))
    assert outs[:2] == [0.0, 0.0] and all(np.isnan(outs[2:]))
    assert int(state.inner.skipped) == 2 and int(state.inner.consecutive) == 4
    updates, state = opt.update(jnp.array([1.0]), state)
    assert int(state.inner.consecutive) == 0 and float(updates[0]) == -1.0


def test_gradient_norm_spike_is_skipped():
    opt = gdtx.apply_if_finite(gdtx.sgd(1.0), spike_factor=5.0, spike_decay=0.9)
    state = opt.init(jnp.zeros(2))
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = jnp.asarray(rng.standard_normal(2), jnp.float32)
        updates, state = opt.update(g, state)
        np.testing.assert_allclose(updates, -g)  # ordinary steps pass
    updates, state = opt.update(jnp.array([300.0, 0.0]), state)
    np.testing.assert_array_equal(updates, 0.0)
    assert int(state.inner.skipped) == 1


def test_apply_if_finite_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_consecutive_errors"):
        gdtx.apply_if_finite(gdtx.sgd(0.1), 0)
    with pytest.raises(ValueError, match="spike_factor"):
        gdtx.apply_if_finite(gdtx.sgd(0.1), spike_factor=0.5)


# ---------------------------------------------------------------------------------------
# Checkpoints and reproducibility


def test_orbax_checkpoint_round_trip_and_bit_identical_resume(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    opt = gdtx.apply_if_finite(gdtx.adamw(gdtx.cosine_decay_schedule(0.05, 40), weight_decay=0.1))
    params = to_f32(random_tree(0))
    state = opt.init(params)
    grads = [to_f32(g) for g in gradient_sequence(9, 20)]
    step = jax.jit(_step)
    for g in grads[:10]:
        params, state = step(opt, params, state, g)

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "ckpt", {"params": params, "state": state})
    checkpointer.wait_until_finished()
    abstract = jax.eval_shape(lambda p: {"params": p, "state": opt.init(p)}, params)
    restored = checkpointer.restore(tmp_path / "ckpt", abstract)
    checkpointer.close()

    assert jax.tree.structure(restored) == jax.tree.structure({"params": params, "state": state})
    assert type(restored["state"]) is gdtx.OptState
    for a, b in zip(
        jax.tree.leaves(restored), jax.tree.leaves({"params": params, "state": state}), strict=True
    ):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)

    r_params, r_state = restored["params"], restored["state"]
    for g in grads[10:]:
        params, state = step(opt, params, state, g)
        r_params, r_state = step(opt, r_params, r_state, g)
    for a, b in zip(
        jax.tree.leaves((r_params, r_state)), jax.tree.leaves((params, state)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
