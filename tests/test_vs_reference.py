"""gdtx in float32 against the float64 NumPy references of tests/reference.py.

Every block (chained with a learning rate where it needs one), every schedule, and every
case of every algorithm in tests/registry.py (its defaults and its variants). Each
optimizer runs ``registry.STEPS`` steps of random gradients over the multi-leaf tree of
``helpers.SHAPES``; the whole parameter trajectory must agree to a relative error of 1e-5
per leaf.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
import registry
from helpers import assert_trees_close, stack_trees, to_f32, trajectory

import gdtx

GRADS, PARAMS, MASK = registry.GRADS, registry.PARAMS, registry.MASK
MIN_MOVE = 0.02
"""Every leaf must move at least this far (max-norm) somewhere along the trajectory."""


def compare(opt, reference, *, rtol=1e-5, params=PARAMS, grads=GRADS, what=""):
    """Runs gdtx (float32) and the reference (float64); their trajectories must agree."""
    p32 = to_f32(params)
    got, _ = trajectory(opt, p32, None, grads)
    want = stack_trees(ref.run(reference, params, grads))
    assert_trees_close(got, want, rtol=rtol, what=what)
    for k, traj in want.items():
        moved = float(np.max(np.abs(traj - params[k])))
        assert moved >= MIN_MOVE, f"{what} [{k!r}] barely moved ({moved:.3g}): a weak test"


def lr_chain(block, lr):
    return gdtx.chain(block, gdtx.scale_by_learning_rate(lr))


def ref_lr_chain(block, lr):
    return ref.Chain(block, ref.LearningRate(lr))


# ---------------------------------------------------------------------------------------
# Schedules: (gdtx schedule, float64 reference) pairs.

SCHEDULES = {
    "constant": (gdtx.constant_schedule(0.1), ref.constant_schedule(0.1)),
    "inverse_time": (gdtx.inverse_time_decay(0.1, 0.5), ref.inverse_time_decay(0.1, 0.5)),
    "inverse_time_epochs": (
        gdtx.inverse_time_decay(0.1, decay_rate=1.0, steps_per_epoch=30),
        ref.inverse_time_decay(0.1, decay_rate=1.0, steps_per_epoch=30),
    ),
    "inverse_sqrt": (gdtx.inverse_sqrt_decay(0.1), ref.inverse_sqrt_decay(0.1)),
    "inverse_sqrt_epochs": (
        gdtx.inverse_sqrt_decay(0.1, steps_per_epoch=25),
        ref.inverse_sqrt_decay(0.1, steps_per_epoch=25),
    ),
    "exponential": (gdtx.exponential_decay(0.1, 1, 0.99), ref.exponential_decay(0.1, 1, 0.99)),
    "exponential_staircase": (
        gdtx.exponential_decay(0.1, 50, 0.5, staircase=True),
        ref.exponential_decay(0.1, 50, 0.5, staircase=True),
    ),
    "exponential_begin_end": (
        gdtx.exponential_decay(0.1, 20, 0.8, transition_begin=100, end_value=0.01),
        ref.exponential_decay(0.1, 20, 0.8, transition_begin=100, end_value=0.01),
    ),
    "exponential_growth_capped": (
        gdtx.exponential_decay(0.01, 10, 1.1, end_value=0.1),
        ref.exponential_decay(0.01, 10, 1.1, end_value=0.1),
    ),
    "piecewise_constant": (
        gdtx.piecewise_constant_schedule(0.1, {250: 0.1, 100: 0.5, 400: 2.0}),
        ref.piecewise_constant_schedule(0.1, {250: 0.1, 100: 0.5, 400: 2.0}),
    ),
    "linear_warmup": (gdtx.linear_schedule(0.0, 0.1, 200), ref.linear_schedule(0.0, 0.1, 200)),
    "linear_begin": (
        gdtx.linear_schedule(0.1, 0.01, 300, transition_begin=50),
        ref.linear_schedule(0.1, 0.01, 300, transition_begin=50),
    ),
    "cosine": (gdtx.cosine_decay_schedule(0.1, 400), ref.cosine_decay_schedule(0.1, 400)),
    "cosine_alpha_exponent": (
        gdtx.cosine_decay_schedule(0.1, 300, alpha=0.1, exponent=2.0),
        ref.cosine_decay_schedule(0.1, 300, alpha=0.1, exponent=2.0),
    ),
    "join": (
        gdtx.join_schedules(
            [
                gdtx.linear_schedule(0.0, 0.1, 50),
                gdtx.cosine_decay_schedule(0.1, 300),
                gdtx.constant_schedule(0.005),
            ],
            [50, 350],
        ),
        ref.join_schedules(
            [
                ref.linear_schedule(0.0, 0.1, 50),
                ref.cosine_decay_schedule(0.1, 300),
                ref.constant_schedule(0.005),
            ],
            [50, 350],
        ),
    ),
    "warmup_cosine": (
        gdtx.warmup_cosine_decay_schedule(0.0, 0.1, 50, 400),
        ref.warmup_cosine_decay_schedule(0.0, 0.1, 50, 400),
    ),
    "warmup_cosine_end_exponent": (
        gdtx.warmup_cosine_decay_schedule(0.01, 0.1, 30, 350, end_value=0.001, exponent=1.5),
        ref.warmup_cosine_decay_schedule(0.01, 0.1, 30, 350, end_value=0.001, exponent=1.5),
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_reference(name):
    schedule, reference = SCHEDULES[name]
    counts = np.arange(501)
    got = np.asarray(jax.vmap(schedule)(jnp.asarray(counts, jnp.int32)))
    want = np.array([reference(int(c)) for c in counts])
    assert_trees_close({name: got}, {name: want}, rtol=1e-6, what="schedule")
    # A scalar count gives the same value as the vectorised evaluation.
    for c in (0, 1, 99, 500):
        assert float(schedule(c)) == pytest.approx(got[c], rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_learning_rate_schedule_in_a_chain_matches_reference(name):
    schedule, reference = SCHEDULES[name]
    compare(
        gdtx.chain(gdtx.scale_by_learning_rate(schedule)),
        ref.Chain(ref.LearningRate(reference)),
        what=name,
    )


# ---------------------------------------------------------------------------------------
# Blocks, each followed by a learning rate where it needs one.

BLOCKS = {
    "ema_debiased": (
        lr_chain(gdtx.ema(0.9), 0.05),
        lambda: ref_lr_chain(ref.Ema(0.9), 0.05),
    ),
    "ema_biased_0.99": (
        lr_chain(gdtx.ema(0.99, debias=False), 0.1),
        lambda: ref_lr_chain(ref.Ema(0.99, debias=False), 0.1),
    ),
    "trace": (
        lr_chain(gdtx.trace(0.9), 0.01),
        lambda: ref_lr_chain(ref.Trace(0.9), 0.01),
    ),
    "trace_nesterov": (
        lr_chain(gdtx.trace(0.9, nesterov=True), 0.01),
        lambda: ref_lr_chain(ref.Trace(0.9, nesterov=True), 0.01),
    ),
    "trace_dampening": (
        lr_chain(gdtx.trace(0.8, dampening=0.5), 0.02),
        lambda: ref_lr_chain(ref.Trace(0.8, dampening=0.5), 0.02),
    ),
    "rms": (
        lr_chain(gdtx.scale_by_rms(), 0.01),
        lambda: ref_lr_chain(ref.ScaleByRms(), 0.01),
    ),
    "rms_eps_outside_sqrt": (
        lr_chain(gdtx.scale_by_rms(0.99, 1e-6, eps_in_sqrt=False), 0.01),
        lambda: ref_lr_chain(ref.ScaleByRms(0.99, 1e-6, eps_in_sqrt=False), 0.01),
    ),
    "rms_initial_scale": (
        lr_chain(gdtx.scale_by_rms(0.95, 1e-4, initial_scale=1.0), 0.01),
        lambda: ref_lr_chain(ref.ScaleByRms(0.95, 1e-4, initial_scale=1.0), 0.01),
    ),
    "rms_centered": (
        lr_chain(gdtx.scale_by_rms(centered=True), 0.005),
        lambda: ref_lr_chain(ref.ScaleByRms(centered=True), 0.005),
    ),
    "rms_bias_correction": (
        lr_chain(gdtx.scale_by_rms(0.99, bias_correction=True), 0.01),
        lambda: ref_lr_chain(ref.ScaleByRms(0.99, bias_correction=True), 0.01),
    ),
    # Centred and bias-corrected, the first step has v̂ − m̂² = 0: ε = 0.1 keeps it finite.
    "rms_centered_bias_correction_initial_scale": (
        lr_chain(
            gdtx.scale_by_rms(0.9, 0.1, initial_scale=0.5, centered=True, bias_correction=True),
            0.01,
        ),
        lambda: ref_lr_chain(
            ref.ScaleByRms(0.9, 0.1, initial_scale=0.5, centered=True, bias_correction=True),
            0.01,
        ),
    ),
    "rss": (
        lr_chain(gdtx.scale_by_rss(), 0.1),
        lambda: ref_lr_chain(ref.ScaleByRss(), 0.1),
    ),
    "rss_initial_value_eps_in_sqrt": (
        lr_chain(gdtx.scale_by_rss(0.1, 1e-7, eps_in_sqrt=True), 0.1),
        lambda: ref_lr_chain(ref.ScaleByRss(0.1, 1e-7, eps_in_sqrt=True), 0.1),
    ),
    "rss_large_eps": (
        lr_chain(gdtx.scale_by_rss(0.5, 1.0), 0.1),
        lambda: ref_lr_chain(ref.ScaleByRss(0.5, 1.0), 0.1),
    ),
    "adadelta": (
        lr_chain(gdtx.scale_by_adadelta(), 1.0),
        lambda: ref_lr_chain(ref.ScaleByAdadelta(), 1.0),
    ),
    "adadelta_rho_eps": (
        lr_chain(gdtx.scale_by_adadelta(0.9, 1e-4), 0.5),
        lambda: ref_lr_chain(ref.ScaleByAdadelta(0.9, 1e-4), 0.5),
    ),
    "adam": (
        lr_chain(gdtx.scale_by_adam(), 0.01),
        lambda: ref_lr_chain(ref.ScaleByAdam(), 0.01),
    ),
    "amsgrad": (
        lr_chain(gdtx.scale_by_amsgrad(0.8, 0.99, 1e-6), 0.01),
        lambda: ref_lr_chain(ref.ScaleByAmsgrad(0.8, 0.99, 1e-6), 0.01),
    ),
    "adam_eps_root": (
        lr_chain(gdtx.scale_by_adam(0.8, 0.99, 1e-6, eps_root=1e-4), 0.01),
        lambda: ref_lr_chain(ref.ScaleByAdam(0.8, 0.99, 1e-6, eps_root=1e-4), 0.01),
    ),
    "adamax": (
        lr_chain(gdtx.scale_by_adamax(), 0.02),
        lambda: ref_lr_chain(ref.ScaleByAdamax(), 0.02),
    ),
    "adamax_eps_in_max": (
        lr_chain(gdtx.scale_by_adamax(0.8, 0.99, 1e-3, eps_in_max=True), 0.02),
        lambda: ref_lr_chain(ref.ScaleByAdamax(0.8, 0.99, 1e-3, eps_in_max=True), 0.02),
    ),
    "adamax_eps_in_denominator": (
        lr_chain(gdtx.scale_by_adamax(0.8, 0.99, 1e-3, eps_in_max=False), 0.02),
        lambda: ref_lr_chain(ref.ScaleByAdamax(0.8, 0.99, 1e-3, eps_in_max=False), 0.02),
    ),
    "nadam": (
        lr_chain(gdtx.scale_by_nadam(), 0.01),
        lambda: ref_lr_chain(ref.ScaleByNadam(), 0.01),
    ),
    "nadam_constant_momentum": (
        lr_chain(gdtx.scale_by_nadam(momentum_decay=None), 0.01),
        lambda: ref_lr_chain(ref.ScaleByNadam(momentum_decay=None), 0.01),
    ),
    "nadam_fast_schedule": (
        lr_chain(gdtx.scale_by_nadam(0.95, 0.99, 1e-6, momentum_decay=0.05), 0.01),
        lambda: ref_lr_chain(ref.ScaleByNadam(0.95, 0.99, 1e-6, momentum_decay=0.05), 0.01),
    ),
    "trust_ratio": (
        lr_chain(gdtx.scale_by_trust_ratio(), 0.05),
        lambda: ref_lr_chain(ref.ScaleByTrustRatio(), 0.05),
    ),
    "trust_ratio_eps_min_norm": (
        lr_chain(gdtx.scale_by_trust_ratio(0.5, eps=0.1, min_norm=0.3), 0.05),
        lambda: ref_lr_chain(ref.ScaleByTrustRatio(0.5, eps=0.1, min_norm=0.3), 0.05),
    ),
    "add_decayed_weights": (
        lr_chain(gdtx.add_decayed_weights(0.1), 0.05),
        lambda: ref_lr_chain(ref.AddDecayedWeights(0.1), 0.05),
    ),
    "add_decayed_weights_masked": (
        lr_chain(gdtx.add_decayed_weights(0.5, mask=MASK), 0.05),
        lambda: ref_lr_chain(ref.AddDecayedWeights(0.5, mask=MASK), 0.05),
    ),
    "clip": (
        lr_chain(gdtx.clip(0.5), 0.05),
        lambda: ref_lr_chain(ref.Clip(0.5), 0.05),
    ),
    "clip_by_global_norm_active": (
        lr_chain(gdtx.clip_by_global_norm(2.0), 0.05),
        lambda: ref_lr_chain(ref.ClipByGlobalNorm(2.0), 0.05),
    ),
    "clip_by_global_norm_inactive": (
        lr_chain(gdtx.clip_by_global_norm(100.0), 0.05),
        lambda: ref_lr_chain(ref.ClipByGlobalNorm(100.0), 0.05),
    ),
    "scale": (gdtx.chain(gdtx.scale(-0.05)), lambda: ref.Chain(ref.Scale(-0.05))),
    "scale_by_schedule": (
        gdtx.chain(gdtx.scale_by_schedule(gdtx.linear_schedule(0.1, 0.01, 100)), gdtx.scale(-1.0)),
        lambda: ref.Chain(
            ref.ScaleBySchedule(ref.linear_schedule(0.1, 0.01, 100)), ref.Scale(-1.0)
        ),
    ),
    "learning_rate_no_flip": (
        gdtx.chain(gdtx.scale(-1.0), gdtx.scale_by_learning_rate(0.05, flip_sign=False)),
        lambda: ref.Chain(ref.Scale(-1.0), ref.LearningRate(0.05, flip_sign=False)),
    ),
    "masked_adam": (
        gdtx.chain(gdtx.masked(gdtx.scale_by_adam(), MASK), gdtx.scale_by_learning_rate(0.02)),
        lambda: ref_lr_chain(ref.Masked(ref.ScaleByAdam(), MASK), 0.02),
    ),
    "masked_clip_by_global_norm": (
        lr_chain(gdtx.masked(gdtx.clip_by_global_norm(1.0), MASK), 0.05),
        lambda: ref_lr_chain(ref.Masked(ref.ClipByGlobalNorm(1.0), MASK), 0.05),
    ),
    "clip_then_adam_then_decay": (
        gdtx.chain(
            gdtx.clip_by_global_norm(3.0),
            gdtx.scale_by_adam(),
            gdtx.add_decayed_weights(0.1),
            gdtx.scale_by_learning_rate(gdtx.cosine_decay_schedule(0.02, 100)),
        ),
        lambda: ref.Chain(
            ref.ClipByGlobalNorm(3.0),
            ref.ScaleByAdam(),
            ref.AddDecayedWeights(0.1),
            ref.LearningRate(ref.cosine_decay_schedule(0.02, 100)),
        ),
    ),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_matches_reference(name):
    opt, reference = BLOCKS[name]
    compare(opt, reference(), what=name)


# ---------------------------------------------------------------------------------------
# Algorithms, each case of tests/registry.py against its whole-algorithm reference.

CASES = registry.cases()


def check_moved(traj, what):
    for k, t in traj.items():
        moved = float(np.max(np.abs(t - PARAMS[k])))
        assert moved >= MIN_MOVE, f"{what} [{k!r}] barely moved ({moved:.3g}): a weak test"


@pytest.mark.parametrize("name", list(CASES))
def test_algorithm_matches_reference(name):
    want = registry.reference_path(name)
    assert_trees_close(registry.gdtx_path(name), want, rtol=1e-5, what=name)
    check_moved(want, name)
