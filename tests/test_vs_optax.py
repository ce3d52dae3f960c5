"""gdtx against Optax with matched arguments, for every block, algorithm and schedule Optax has.

Both run in float32 on the same random gradients over the multi-leaf tree of
``helpers.SHAPES``; the whole parameter trajectories must agree to 1e-5 relative per
leaf. The algorithms' cases and their Optax twins are tests/registry.py's; where the two
libraries' defaults differ, the twins' arguments are the ones that make them the same
algorithm (README.md, "Differences from torch.optim and Optax").
"""

from __future__ import annotations

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
    run_optax,
    to_f32,
    trajectory,
)

import gdtx

STEPS = 100
GRADS = gradient_sequence(21, STEPS)
PARAMS = {k: v.astype(np.float32).astype(np.float64) for k, v in random_tree(22).items()}
MASK = {"w": True, "b": False, "s": True, "k": False}
MIN_MOVE = 0.02


def trajectories(opt, tx, params=PARAMS, grads=GRADS):
    p32 = to_f32(params)
    got, _ = trajectory(opt, p32, None, grads)
    return got, run_optax(tx, params, grads)


def check(got, want, params, *, rtol=1e-5, what=""):
    assert_trees_close(got, want, rtol=rtol, what=what)
    for k, traj in want.items():
        moved = float(np.max(np.abs(traj - params[k])))
        assert moved >= MIN_MOVE, f"{what} [{k!r}] barely moved ({moved:.3g}): a weak test"


def compare(opt, tx, *, rtol=1e-5, what=""):
    got, want = trajectories(opt, tx)
    check(got, want, PARAMS, rtol=rtol, what=what)


def lr_chain(block, lr):
    return gdtx.chain(block, gdtx.scale_by_learning_rate(lr))


def optax_lr_chain(block, lr):
    return optax.chain(block, optax.scale_by_learning_rate(lr))


# ---------------------------------------------------------------------------------------
# Schedules

SCHEDULES = {
    "exponential_decay": (
        gdtx.exponential_decay(0.1, 1, 0.99),
        optax.exponential_decay(0.1, 1, 0.99),
    ),
    "exponential_decay_staircase": (
        gdtx.exponential_decay(0.1, 40, 0.5, staircase=True),
        optax.exponential_decay(0.1, 40, 0.5, staircase=True),
    ),
    "exponential_decay_begin_end": (
        gdtx.exponential_decay(0.1, 20, 0.8, transition_begin=50, end_value=0.01),
        optax.exponential_decay(0.1, 20, 0.8, transition_begin=50, end_value=0.01),
    ),
    "exponential_growth_capped": (
        gdtx.exponential_decay(0.01, 10, 1.1, end_value=0.1),
        optax.exponential_decay(0.01, 10, 1.1, end_value=0.1),
    ),
    "piecewise_constant": (
        gdtx.piecewise_constant_schedule(0.1, {50: 0.5, 150: 0.1, 250: 3.0}),
        optax.piecewise_constant_schedule(0.1, {50: 0.5, 150: 0.1, 250: 3.0}),
    ),
    "linear": (gdtx.linear_schedule(0.0, 0.1, 120), optax.linear_schedule(0.0, 0.1, 120)),
    "linear_begin": (
        gdtx.linear_schedule(0.1, 0.01, 200, transition_begin=40),
        optax.linear_schedule(0.1, 0.01, 200, transition_begin=40),
    ),
    "cosine_decay": (
        gdtx.cosine_decay_schedule(0.1, 250),
        optax.cosine_decay_schedule(0.1, 250),
    ),
    "cosine_decay_alpha_exponent": (
        gdtx.cosine_decay_schedule(0.1, 200, alpha=0.1, exponent=2.0),
        optax.cosine_decay_schedule(0.1, 200, alpha=0.1, exponent=2.0),
    ),
    "join_schedules": (
        gdtx.join_schedules(
            [gdtx.linear_schedule(0.0, 0.1, 30), gdtx.cosine_decay_schedule(0.1, 200)], [30]
        ),
        optax.join_schedules(
            [optax.linear_schedule(0.0, 0.1, 30), optax.cosine_decay_schedule(0.1, 200)], [30]
        ),
    ),
    "warmup_cosine_decay": (
        gdtx.warmup_cosine_decay_schedule(0.0, 0.1, 40, 250),
        optax.warmup_cosine_decay_schedule(0.0, 0.1, 40, 250),
    ),
    "warmup_cosine_decay_end_exponent": (
        gdtx.warmup_cosine_decay_schedule(0.01, 0.1, 25, 220, end_value=0.001, exponent=1.5),
        optax.warmup_cosine_decay_schedule(0.01, 0.1, 25, 220, end_value=0.001, exponent=1.5),
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_optax(name):
    ours, theirs = SCHEDULES[name]
    counts = jnp.arange(301, dtype=jnp.int32)
    got = np.asarray(jax.vmap(ours)(counts), np.float64)
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        want = np.asarray(jax.vmap(theirs)(counts), np.float64)
    assert_trees_close({name: got}, {name: want}, rtol=1e-6, what="schedule")


# ---------------------------------------------------------------------------------------
# Blocks

WARMUP_COSINE = (
    gdtx.warmup_cosine_decay_schedule(0.0, 0.05, 20, 100),
    optax.warmup_cosine_decay_schedule(0.0, 0.05, 20, 100),
)

BLOCKS = {
    "ema_debiased": (
        lr_chain(gdtx.ema(0.9), 0.05),
        optax_lr_chain(optax.ema(0.9), 0.05),
    ),
    "ema_biased": (
        lr_chain(gdtx.ema(0.99, debias=False), 0.1),
        optax_lr_chain(optax.ema(0.99, debias=False), 0.1),
    ),
    "trace": (
        lr_chain(gdtx.trace(0.9), 0.01),
        optax_lr_chain(optax.trace(0.9), 0.01),
    ),
    "trace_nesterov": (
        lr_chain(gdtx.trace(0.9, nesterov=True), 0.01),
        optax_lr_chain(optax.trace(0.9, nesterov=True), 0.01),
    ),
    "scale_by_rms": (
        lr_chain(gdtx.scale_by_rms(), 0.01),
        optax_lr_chain(optax.scale_by_rms(), 0.01),
    ),
    "scale_by_rms_nondefault": (
        lr_chain(gdtx.scale_by_rms(0.99, 1e-6, 1.0, eps_in_sqrt=False, bias_correction=True), 0.01),
        optax_lr_chain(
            optax.scale_by_rms(0.99, 1e-6, 1.0, eps_in_sqrt=False, bias_correction=True), 0.01
        ),
    ),
    "scale_by_stddev": (
        lr_chain(gdtx.scale_by_rms(centered=True), 0.005),
        optax_lr_chain(optax.scale_by_stddev(), 0.005),
    ),
    "scale_by_stddev_nondefault": (
        lr_chain(
            gdtx.scale_by_rms(
                0.95, 0.01, 0.5, eps_in_sqrt=False, centered=True, bias_correction=True
            ),
            0.005,
        ),
        optax_lr_chain(
            optax.scale_by_stddev(0.95, 0.01, 0.5, eps_in_sqrt=False, bias_correction=True),
            0.005,
        ),
    ),
    "scale_by_rss": (
        lr_chain(gdtx.scale_by_rss(0.1, 1e-7, eps_in_sqrt=True), 0.1),
        optax_lr_chain(optax.scale_by_rss(), 0.1),
    ),
    "scale_by_rss_zero_start": (
        lr_chain(gdtx.scale_by_rss(0.0, 1e-3, eps_in_sqrt=True), 0.1),
        optax_lr_chain(optax.scale_by_rss(0.0, 1e-3), 0.1),
    ),
    "scale_by_adadelta": (
        lr_chain(gdtx.scale_by_adadelta(0.9, 1e-6), 2.0),
        optax_lr_chain(optax.scale_by_adadelta(0.9, 1e-6), 2.0),
    ),
    "scale_by_adam": (
        lr_chain(gdtx.scale_by_adam(), 0.01),
        optax_lr_chain(optax.scale_by_adam(), 0.01),
    ),
    "scale_by_adam_nondefault": (
        lr_chain(gdtx.scale_by_adam(0.8, 0.99, 1e-6, eps_root=1e-4), 0.01),
        optax_lr_chain(optax.scale_by_adam(0.8, 0.99, 1e-6, eps_root=1e-4), 0.01),
    ),
    "scale_by_adam_nesterov": (
        lr_chain(gdtx.scale_by_nadam(momentum_decay=None), 0.01),
        optax_lr_chain(optax.scale_by_adam(nesterov=True), 0.01),
    ),
    "scale_by_adamax": (
        lr_chain(gdtx.scale_by_adamax(0.8, 0.99, 1e-3, eps_in_max=True), 0.02),
        optax_lr_chain(optax.scale_by_adamax(0.8, 0.99, 1e-3), 0.02),
    ),
    "scale_by_trust_ratio": (
        lr_chain(gdtx.scale_by_trust_ratio(), 0.05),
        optax_lr_chain(optax.scale_by_trust_ratio(), 0.05),
    ),
    "scale_by_trust_ratio_nondefault": (
        lr_chain(gdtx.scale_by_trust_ratio(0.5, eps=0.1), 0.05),
        optax_lr_chain(optax.scale_by_trust_ratio(trust_coefficient=0.5, eps=0.1), 0.05),
    ),
    "add_decayed_weights": (
        lr_chain(gdtx.add_decayed_weights(0.1), 0.05),
        optax_lr_chain(optax.add_decayed_weights(0.1), 0.05),
    ),
    "add_decayed_weights_masked": (
        lr_chain(gdtx.add_decayed_weights(0.5, mask=MASK), 0.05),
        optax_lr_chain(optax.add_decayed_weights(0.5, mask=MASK), 0.05),
    ),
    "clip": (lr_chain(gdtx.clip(0.5), 0.05), optax_lr_chain(optax.clip(0.5), 0.05)),
    "clip_by_global_norm": (
        lr_chain(gdtx.clip_by_global_norm(2.0), 0.05),
        optax_lr_chain(optax.clip_by_global_norm(2.0), 0.05),
    ),
    "scale": (gdtx.chain(gdtx.scale(-0.05)), optax.scale(-0.05)),
    "scale_by_schedule": (
        gdtx.chain(gdtx.scale_by_schedule(gdtx.linear_schedule(0.1, 0.01, 80)), gdtx.scale(-1.0)),
        optax.chain(
            optax.scale_by_schedule(optax.linear_schedule(0.1, 0.01, 80)), optax.scale(-1.0)
        ),
    ),
    "scale_by_learning_rate_schedule": (
        gdtx.chain(gdtx.scale_by_learning_rate(WARMUP_COSINE[0])),
        optax.scale_by_learning_rate(WARMUP_COSINE[1]),
    ),
    "masked_adam": (
        lr_chain(gdtx.masked(gdtx.scale_by_adam(), MASK), 0.02),
        optax_lr_chain(optax.masked(optax.scale_by_adam(), MASK), 0.02),
    ),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_matches_optax(name):
    opt, tx = BLOCKS[name]
    compare(opt, tx, what=name)


# ---------------------------------------------------------------------------------------
# Algorithms: every case of tests/registry.py with an Optax twin, on the inputs of
# test_vs_reference.py (the gdtx trajectory is computed once for both).

EXPONENTIAL = (gdtx.exponential_decay(0.03, 10, 0.8), optax.exponential_decay(0.03, 10, 0.8))
CASES = registry.optax_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_algorithm_matches_optax(name):
    alg, key = CASES[name]
    with jax.numpy_dtype_promotion("standard"):  # Optax builds under standard promotion
        tx = alg.make_optax(key)
    want = run_optax(tx, registry.PARAMS, registry.GRADS, alg.values())
    what = f"{name}: {alg.describe(key)}"
    check(registry.gdtx_path(name), want, registry.PARAMS, rtol=alg.optax_rtol, what=what)


# ---------------------------------------------------------------------------------------
# Documented differences


def test_rmsprop_momentum_differs_from_optax_under_a_schedule():
    """gdtx applies the current α to the whole momentum buffer (as torch.optim.RMSprop);
    Optax's trace comes after the learning rate, so old steps keep their old α."""
    opt = gdtx.rmsprop(EXPONENTIAL[0], momentum=0.9)
    tx = optax.rmsprop(EXPONENTIAL[1], momentum=0.9)
    got, want = trajectories(opt, tx)
    err = max(np.max(np.abs(got[k] - want[k])) / np.max(np.abs(want[k])) for k in got)
    assert err > 1e-3


def test_optax_adadelta_defaults_climb_while_gdtx_adadelta_descends():
    """Optax's ``adadelta()`` has ``learning_rate=None``, which skips the sign flip: it
    ascends. gdtx's default α = 1 (Zeiler's) descends."""

    def f(x):
        return jnp.sum(x**2)

    def losses(tx):
        x = jnp.array([1.0, 2.0, 3.0])
        state = tx.init(x)

        @jax.jit
        def one(x, state):
            updates, state = tx.update(jax.grad(f)(x), state, x)
            return optax.apply_updates(x, updates), state

        out = [float(f(x))]
        for _ in range(200):
            x, state = one(x, state)
            out.append(float(f(x)))
        return np.array(out)

    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        theirs = losses(optax.adadelta())
    ours = losses(gdtx.adadelta())
    assert theirs[0] == ours[0] == 14.0
    assert theirs[-1] > 14.0 and np.all(np.diff(theirs) > 0)
    assert ours[-1] < 14.0 and np.all(np.diff(ours) < 0)
