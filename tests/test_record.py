"""gdtx.record and gdtx.record_many: what is recorded, and that it equals a plain loop."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close

import gdtx
from gdtx import problems

OPTIMIZERS = {
    "sgd": gdtx.sgd(1e-3),
    "nesterov": gdtx.sgd(5e-4, momentum=0.9, nesterov=True),
    "momentum_ewma": gdtx.momentum(5e-3, 0.9),
    "adagrad": gdtx.adagrad(0.5),
    "rmsprop": gdtx.rmsprop(0.05, centered=True),
    "adadelta": gdtx.adadelta(),
    "adam": gdtx.adam(0.1),
    "nadam": gdtx.nadam(0.1),
    "lars": gdtx.lars(1.0, trust_coefficient=0.1),
}


def loop(opt, f, x, steps):
    """The reference: a Python loop of jitted steps, returning every point, loss and state."""

    @jax.jit
    def step(x, state):
        value, g = jax.value_and_grad(f)(x)
        updates, state = opt.update(g, state, x)
        return gdtx.apply_updates(x, updates), state, value, g

    state = opt.init(x)
    xs, states, losses, grads = [x], [state], [], []
    for _ in range(steps):
        x, state, value, g = step(x, state)
        xs.append(x)
        states.append(state)
        losses.append(value)
        grads.append(g)
    losses.append(f(x))
    return xs, states, losses, grads


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_record_equals_a_python_loop(name):
    opt, f = OPTIMIZERS[name], problems.rosenbrock
    traj = gdtx.record(opt, f, steps=25)
    xs, states, losses, grads = loop(opt, f, f.x0(), 25)
    # relative to each array's largest entry: Rosenbrock's gradient amplifies rounding
    assert_trees_close(traj.params, np.stack(xs), what=f"{name} params")
    assert_trees_close(traj.loss, np.stack(losses), what=f"{name} loss")
    assert_trees_close(traj.grads, np.stack(grads), rtol=1e-4, what=f"{name} grads")
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *states)
    assert_trees_close(traj.state, stacked, rtol=1e-4, what=f"{name} state")


def test_shapes_include_the_start():
    f = problems.quadratic
    traj = gdtx.record(gdtx.adam(0.1), f, f.x0(), 10)
    assert traj.steps == 10
    assert traj.params.shape == (11, 2) and traj.loss.shape == (11,)
    assert traj.grads.shape == (10, 2)
    assert traj.learning_rate.shape == (11,)
    assert traj.batch_loss is None
    np.testing.assert_array_equal(np.asarray(traj.params[0]), [-5.0, -2.0])
    assert float(traj.loss[0]) == pytest.approx(10.5)
    np.testing.assert_array_equal(np.asarray(traj.state.count), np.arange(11))
    for leaf in jax.tree.leaves(traj.state):
        assert leaf.shape[0] == 11


def test_zero_steps_records_only_the_start():
    traj = gdtx.record(gdtx.sgd(0.1), problems.beale, steps=0)
    assert traj.steps == 0 and traj.params.shape == (1, 2) and traj.grads.shape == (0, 2)


def test_named_state_fields():
    traj = gdtx.record(gdtx.adadelta(), problems.quadratic, steps=5)
    assert set(traj.fields("v")) == {"inner[0][0][1][0].v"}  # adadelta's RMSProp branch
    assert traj.field("d").shape == (6, 2)
    np.testing.assert_array_equal(np.asarray(traj.field("count")), np.arange(6))
    np.testing.assert_array_equal(np.asarray(traj.field("v")[0]), [0.0, 0.0])
    with pytest.raises(KeyError, match="found 0"):
        traj.field("nu")


def test_field_names_every_match_when_ambiguous():
    opt = gdtx.chain(gdtx.ema(0.9), gdtx.scale_by_adam(), gdtx.scale_by_learning_rate(0.1))
    traj = gdtx.record(opt, problems.quadratic, steps=3)
    assert set(traj.fields("m")) == {"inner[0][0].m", "inner[1][0][0].m"}
    with pytest.raises(KeyError, match=r"found 2 \(inner\[0\]\[0\].m, inner\[1\]\[0\]\[0\].m\)"):
        traj.field("m")


def test_fields_do_not_look_inside_parameter_shaped_values():
    class Params(NamedTuple):
        v: jax.Array
        w: jax.Array

    params = Params(v=jnp.ones(2), w=jnp.ones(3))
    traj = gdtx.record(gdtx.adam(0.1), lambda p: jnp.sum(p.v**2) + jnp.sum(p.w**2), params, 4)
    found = traj.fields("v")
    (path,) = found  # Adam's v, not the parameter called v inside m
    assert path == "inner[0][1][0][0].v"
    assert isinstance(found[path], Params)
    assert found[path].w.shape == (5, 3)


def test_learning_rate_follows_the_schedule():
    schedule = gdtx.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
    traj = gdtx.record(gdtx.sgd(schedule), problems.quadratic, steps=4)
    # entry k ≥ 1: the rate update k applied, schedule(k − 1); entry 0: the first update's
    np.testing.assert_allclose(np.asarray(traj.learning_rate), [0.1, 0.1, 0.05, 0.025, 0.0125])
    step1 = np.asarray(traj.params[1] - traj.params[0])
    np.testing.assert_allclose(step1, -0.1 * np.asarray(traj.grads[0]), rtol=1e-6)


def test_no_learning_rate_without_a_single_learning_rate_block():
    traj = gdtx.record(gdtx.scale_by_adam(), problems.quadratic, steps=3)
    assert traj.learning_rate is None
    assert traj.params.shape == (4, 2)


def test_optax_transformations_are_recorded_too():
    traj = gdtx.record(optax.sgd(0.1, momentum=0.9), problems.quadratic, steps=20)
    ref = gdtx.record(gdtx.sgd(0.1, momentum=0.9), problems.quadratic, steps=20)
    assert traj.learning_rate is None
    np.testing.assert_allclose(np.asarray(traj.params), np.asarray(ref.params), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(traj.field("trace")), np.asarray(ref.field("m")), rtol=1e-5
    )  # Optax's own state names


def test_pytree_parameters():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}

    def f(p):
        return jnp.sum((p["w"] - 2.0) ** 2) + jnp.sum(p["b"] ** 2)

    traj = gdtx.record(gdtx.adam(0.1), f, params, 7)
    assert traj.params["w"].shape == (8, 2, 3) and traj.params["b"].shape == (8, 3)
    assert traj.field("m")["w"].shape == (8, 2, 3)


def test_minibatches_equal_a_loop_and_record_the_objective():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5, 2)).astype(np.float32)  # 12 batches of 5 samples
    y = rng.normal(size=(12, 5)).astype(np.float32)

    def batch_loss(w, batch):
        xb, yb = batch
        return jnp.mean((xb @ w - yb) ** 2)

    def full(w):
        return jnp.mean((x.reshape(-1, 2) @ w - y.reshape(-1)) ** 2)

    opt, w0 = gdtx.sgd(0.1, momentum=0.5), jnp.zeros(2)
    traj = gdtx.record(opt, batch_loss, w0, batches=(x, y), objective=full)
    assert traj.steps == 12 and traj.loss.shape == (13,) and traj.batch_loss.shape == (12,)
    w, state = w0, opt.init(w0)
    for k in range(12):
        value, g = jax.value_and_grad(batch_loss)(w, (x[k], y[k]))
        assert float(traj.batch_loss[k]) == pytest.approx(float(value), rel=1e-5)
        updates, state = opt.update(g, state, w)
        w = gdtx.apply_updates(w, updates)
        np.testing.assert_allclose(np.asarray(traj.params[k + 1]), np.asarray(w), rtol=1e-5)
        assert float(traj.loss[k + 1]) == pytest.approx(float(full(w)), rel=1e-5)
    no_objective = gdtx.record(opt, batch_loss, w0, batches=(x, y))
    assert no_objective.loss is None and no_objective.batch_loss.shape == (12,)
    with pytest.raises(ValueError, match="no loss"):
        no_objective.first_step_below(1.0)


def test_argument_errors():
    f = problems.quadratic
    with pytest.raises(ValueError, match="`params` is required"):
        gdtx.record(gdtx.sgd(0.1), lambda x: jnp.sum(x**2), steps=3)
    with pytest.raises(ValueError, match="non-negative integer"):
        gdtx.record(gdtx.sgd(0.1), f)
    batches = (np.zeros((3, 2)), np.zeros((4,)))
    with pytest.raises(ValueError, match="same leading"):
        gdtx.record(gdtx.sgd(0.1), lambda w, b: jnp.sum(w), jnp.zeros(2), batches=batches)
    with pytest.raises(ValueError, match="holds 3 batches"):
        gdtx.record(gdtx.sgd(0.1), lambda w, b: jnp.sum(w), jnp.zeros(2), 5, batches=np.ones(3))


def test_first_step_below():
    traj = gdtx.record(gdtx.sgd(0.25), lambda x: jnp.sum(x**2), jnp.ones(1), 4)
    assert traj.first_step_below(0.1) == 2
    assert traj.first_step_below(1e-9) is None
    bouncing = gdtx.Trajectory(
        params=None,
        loss=jnp.array([3.0, 0.5, 2.0, 0.5, 0.1]),
        grads=jnp.zeros((4, 1)),
        state=None,
        learning_rate=None,
        batch_loss=None,
    )
    assert bouncing.first_step_below(1.0) == 1
    assert bouncing.first_step_below(1.0, stay=True) == 3


def test_a_new_learning_rate_does_not_retrace():
    traces = []

    def f(x):
        traces.append(None)
        return jnp.sum(x**2)

    gdtx.record(gdtx.adam(0.1), f, jnp.ones(2), 5)
    n = len(traces)
    gdtx.record(gdtx.adam(0.3, b1=0.5), f, jnp.ones(2), 5)
    assert len(traces) == n


def test_record_many_vmaps_same_structures_and_matches_separate_runs():
    traces = []

    def f(x):
        traces.append(None)
        return problems.rosenbrock(x)

    x0 = problems.rosenbrock.x0()
    opts = {
        "adam 0.01": gdtx.adam(0.01),
        "sgd": gdtx.sgd(1e-3, momentum=0.9),
        "adam 0.1": gdtx.adam(0.1, b1=0.8),
        "adam 0.03": gdtx.adam(0.03),
    }
    many = gdtx.record_many(opts, f, x0, 200)
    assert list(many) == list(opts)  # order kept
    traced_once_per_structure = len(traces)
    for name, opt in opts.items():
        alone = gdtx.record(opt, problems.rosenbrock, x0, 200)
        # relative to each leaf's largest magnitude: Adam's m/√v near a zero gradient
        # amplifies the batched program's different rounding element by element
        assert_trees_close(many[name], alone, rtol=1e-5, what=name)
    looped = gdtx.record_many(opts, f, x0, 200, vectorize=False)
    assert len(traces) > traced_once_per_structure  # the loop traced each separately
    for name in opts:
        assert_trees_close(looped[name].params, many[name].params, rtol=1e-5, what=name)


def test_record_many_with_schedules_and_mixed_number_types():
    opts = {
        "int": gdtx.sgd(gdtx.inverse_time_decay(0.1, decay_rate=1, steps_per_epoch=2)),
        "float": gdtx.sgd(gdtx.inverse_time_decay(0.2, decay_rate=0.5, steps_per_epoch=3)),
    }
    many = gdtx.record_many(opts, problems.quadratic, steps=6)
    for name, opt in opts.items():
        alone = gdtx.record(opt, problems.quadratic, steps=6)
        np.testing.assert_allclose(
            np.asarray(many[name].learning_rate), np.asarray(alone.learning_rate), rtol=1e-6
        )


def test_trajectory_is_a_pytree():
    traj = gdtx.record(gdtx.adam(0.1), problems.quadratic, steps=3)
    last = jax.tree.map(lambda x: x[-1], traj)
    assert isinstance(last, gdtx.Trajectory) and last.params.shape == (2,)


def test_record_many_falls_back_to_a_loop_when_leaves_cannot_stack():
    opts = {"per coordinate": gdtx.sgd(jnp.array([0.3, 0.1])), "one": gdtx.sgd(jnp.array([0.2]))}
    many = gdtx.record_many(opts, problems.quadratic, steps=5)
    for name, opt in opts.items():
        alone = gdtx.record(opt, problems.quadratic, steps=5)
        np.testing.assert_allclose(np.asarray(many[name].params), np.asarray(alone.params))


def test_record_many_accepts_any_hashable_names():
    runs = gdtx.record_many({0.1: gdtx.adam(0.1), 0.3: gdtx.adam(0.3)}, problems.beale, steps=3)
    assert list(runs) == [0.1, 0.3]
