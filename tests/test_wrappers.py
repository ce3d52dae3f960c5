"""Wrappers nested in each other, both ways, against Optax's own wrappers.

Six wrappers: ``accumulate`` (Optax ``MultiSteps``), ``apply_if_finite``,
``partition``, ``masked``, ``reduce_on_plateau`` (Optax ``contrib``) and ``chain``.
Every ordered pair wraps Adam; gdtx and Optax see the same gradients (one step
holds a NaN when ``apply_if_finite`` is in the pair) and the same losses, and their
parameter trajectories must agree.

Two Optax wrappers cannot serve as the reference here, so the Optax side uses small
references written from the rules both libraries document:

- Optax's ``apply_if_finite`` does not forward extra ``update`` arguments (the loss a
  plateau controller needs). Reference: a step whose gradients are not all finite gives
  zero updates and leaves the inner state as it was.
- Optax's ``MultiSteps`` resets its running mean by multiplying it by 0, so one NaN
  micro-batch turns every later window into NaN. Where a NaN reaches the accumulator
  (``accumulate(apply_if_finite(...))``) the reference is the mean of each window of k
  micro-batches, reset to zero after each window.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtx

STEPS = 8
NAN_STEP = 3
SHAPES = {"a": (3,), "b": (2, 2)}
LABELS = {"a": "x", "b": "y"}
MASK = {"a": True, "b": False}


def _optax_apply_if_finite(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """Zero updates and the old inner state on a step with a non-finite gradient."""
    inner = optax.with_extra_args_support(inner)

    def update(updates, state, params=None, **extra):
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(updates)]))
        new_updates, new_state = inner.update(updates, state, params, **extra)
        out = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), new_updates)
        return out, jax.tree.map(lambda n, o: jnp.where(finite, n, o), new_state, state)

    return optax.GradientTransformationExtraArgs(inner.init, update)


def _optax_accumulate(inner: optax.GradientTransformation, k: int = 2):
    """The inner transformation on the mean of every k micro-batch gradients, 0 between."""
    inner = optax.with_extra_args_support(inner)

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return (inner.init(params), zeros, jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra):
        inner_state, total, micro = state
        total = jax.tree.map(jnp.add, total, updates)
        if int(micro) + 1 < k:
            return jax.tree.map(jnp.zeros_like, updates), (inner_state, total, micro + 1)
        mean = jax.tree.map(lambda s: s / k, total)
        out, inner_state = inner.update(mean, inner_state, params, **extra)
        return out, (inner_state, jax.tree.map(jnp.zeros_like, total), jnp.zeros_like(micro))

    return optax.GradientTransformationExtraArgs(init, update)


# name → (gdtx wrapper, Optax wrapper): each takes the inner optimizer.
WRAPPERS = {
    "accumulate": (
        lambda tx: gdtx.accumulate(tx, every_k=2),
        lambda tx: optax.MultiSteps(tx, every_k_schedule=2).gradient_transformation(),
    ),
    "apply_if_finite": (lambda tx: gdtx.apply_if_finite(tx, 5), _optax_apply_if_finite),
    "partition": (
        lambda tx: gdtx.partition({"x": tx, "y": gdtx.sgd(0.05)}, {"a": "x", "b": "y"}),
        lambda tx: optax.partition({"x": tx, "y": optax.sgd(0.05)}, LABELS),
    ),
    "masked": (lambda tx: gdtx.masked(tx, MASK), lambda tx: optax.masked(tx, MASK)),
    "reduce_on_plateau": (
        lambda tx: gdtx.chain(tx, gdtx.reduce_on_plateau(factor=0.5, patience=1)),
        # Optax reduces after `patience` bad averages, torch and gdtx after more than `patience`.
        lambda tx: optax.chain(tx, optax.contrib.reduce_on_plateau(factor=0.5, patience=2)),
    ),
    "chain": (
        lambda tx: gdtx.chain(gdtx.clip_by_global_norm(2.0), tx),
        lambda tx: optax.chain(optax.clip_by_global_norm(2.0), tx),
    ),
}
PAIRS = list(itertools.permutations(WRAPPERS, 2))


def _inputs(with_nan: bool):
    rng = np.random.default_rng(3)
    grads = [
        {k: jnp.asarray(rng.standard_normal(s), jnp.float32) for k, s in SHAPES.items()}
        for _ in range(STEPS)
    ]
    if with_nan:
        grads[NAN_STEP]["a"] = grads[NAN_STEP]["a"].at[1].set(jnp.nan)
    losses = [3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 1.5, 1.5]
    params = {k: jnp.ones(s, jnp.float32) for k, s in SHAPES.items()}
    return params, grads, losses


@jax.jit
def _gdtx_update(opt, g, state, params, kwargs):
    """gdtx's update, jitted once per optimizer structure (the optimizer is an argument)."""
    return opt.update(g, state, params, **kwargs)


def _run(opt, params, grads, losses, extra: bool, *, jit: bool = True):
    """The parameters after each step; jitted, gdtx's update is ``_gdtx_update`` and an Optax
    transformation's is jitted with it closed over."""
    if not jit:
        update = opt.update
    elif isinstance(opt, gdtx.Transform):
        update = lambda g, s, p, **kw: _gdtx_update(opt, g, s, p, kw)  # noqa: E731
    else:
        update = jax.jit(opt.update)
    state = opt.init(params)
    path = []
    for g, loss in zip(grads, losses, strict=True):
        kwargs = {"value": jnp.float32(loss)} if extra else {}
        updates, state = update(g, state, params, **kwargs)
        params = optax.apply_updates(params, updates)
        path.append(jax.tree.map(np.asarray, params))
    return path


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=[f"{a}({b})" for a, b in PAIRS])
def test_nested_wrappers_match_optax(outer, inner):
    pair = (outer, inner)
    (g_out, o_out), (g_in, o_in) = WRAPPERS[outer], WRAPPERS[inner]
    ours = g_out(g_in(gdtx.adam(0.1)))
    if pair == ("accumulate", "apply_if_finite"):
        o_out = _optax_accumulate
    theirs = o_out(o_in(optax.adam(0.1)))
    params, grads, losses = _inputs(with_nan="apply_if_finite" in pair)
    extra = "reduce_on_plateau" in pair
    got = _run(ours, params, grads, losses, extra)
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        # the reference of accumulate(apply_if_finite) branches in Python: eager
        jit = o_out is not _optax_accumulate
        want = _run(theirs, params, grads, losses, extra, jit=jit)
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for k in SHAPES:
            np.testing.assert_allclose(
                a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=f"step {step}, leaf {k!r}"
            )
    assert all(np.all(np.isfinite(p["b"])) for p in got)


def test_skipped_micro_batch_does_not_enter_the_window():
    """apply_if_finite(accumulate(adam)): the NaN micro-batch is dropped and the window
    completes with the next finite one, as in the run without it."""
    opt = gdtx.apply_if_finite(gdtx.accumulate(gdtx.adam(0.1), every_k=2), 5)
    state = opt.init(jnp.zeros(2))
    outs = []
    for g in ([1.0, 1.0], [jnp.nan, 1.0], [1.0, 1.0]):
        out, state = opt.update(jnp.asarray(g, jnp.float32), state)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], [0.0, 0.0])
    np.testing.assert_array_equal(outs[1], [0.0, 0.0])
    np.testing.assert_allclose(outs[2], [-0.1, -0.1], rtol=1e-6)


def test_optax_transformation_in_a_chain_receives_extra_arguments():
    opt = gdtx.chain(gdtx.adam(1e-2), optax.contrib.reduce_on_plateau(factor=0.5, patience=1))
    state = opt.init(jnp.zeros(2))
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        for loss in (1.0, 2.0, 2.0):
            _, state = opt.update(jnp.ones(2), state, value=jnp.float32(loss))
    assert float(state.inner[1].scale) == 0.25


def test_optax_transformation_in_a_partition_receives_extra_arguments():
    opt = gdtx.partition(
        {
            "x": optax.chain(optax.sgd(0.1), optax.contrib.reduce_on_plateau(patience=1)),
            "y": gdtx.sgd(0.1),
        },
        {"a": "x", "b": "y"},
    )
    params = {"a": jnp.zeros(2), "b": jnp.zeros(2)}
    state = opt.init(params)
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        for loss in (1.0, 2.0):
            _, state = opt.update(params, state, params, value=jnp.float32(loss))
    assert float(state.inner["x"][1].scale) == pytest.approx(0.1)


def test_an_update_keyword_no_block_reads_is_refused():
    opt = gdtx.adam(0.1)
    state = opt.init(jnp.zeros(2))
    with pytest.raises(TypeError, match="'parms'"):
        opt.update(jnp.ones(2), state, parms=jnp.zeros(2))


def test_the_count_each_block_sees_is_reported_for_the_learning_rate():
    """current_learning_rate reads the schedule at the count its block has seen."""
    sched = gdtx.linear_schedule(1.0, 0.0, 10)
    opt = gdtx.apply_if_finite(gdtx.accumulate(gdtx.sgd(sched), every_k=2), 5)
    state = opt.init(jnp.zeros(1))
    for g in ([1.0], [jnp.nan], [1.0], [1.0], [1.0]):
        _, state = opt.update(jnp.asarray(g, jnp.float32), state)
    # 4 finite micro-batches: 2 optimizer steps; the last applied α = schedule(1) = 0.9
    assert float(opt.current_learning_rate(state)) == pytest.approx(0.9)
