"""gdtx in float32 against the float64 NumPy references of tests/reference.py.

Every block (chained with a learning rate where it needs one), every algorithm with
its defaults and with non-default arguments, and every schedule. Each optimizer runs
STEPS steps of random gradients over the multi-leaf tree of ``helpers.SHAPES``; the
whole parameter trajectory must agree to a relative error of 1e-5 per leaf.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_trees_close, gradient_sequence, random_tree, run_gdtx

import gdtx

STEPS = 120
GRADS = gradient_sequence(11, STEPS)
PARAMS = {k: v.astype(np.float32).astype(np.float64) for k, v in random_tree(12).items()}
MASK = {"w": True, "b": False, "s": True, "k": False}
MIN_MOVE = 0.02
"""Every leaf must move at least this far (max-norm) somewhere along the trajectory."""


def _stack(path):
    """A list of parameter trees → one tree of (steps, …) arrays: the whole trajectory."""
    return {k: np.stack([np.asarray(p[k], np.float64) for p in path]) for k in path[0]}


def compare(opt, reference, *, rtol=1e-5, params=PARAMS, grads=GRADS, what=""):
    """Runs gdtx (float32) and the reference (float64); their trajectories must agree."""
    got, _ = run_gdtx(opt, params, grads)
    want = ref.run(reference, params, grads)
    want_traj = _stack(want)
    assert_trees_close(_stack(got), want_traj, rtol=rtol, what=what)
    for k, traj in want_traj.items():
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
# Algorithms, each against its whole-algorithm reference.

WARMUP_COSINE = (
    gdtx.warmup_cosine_decay_schedule(0.0, 0.05, 20, 120),
    ref.warmup_cosine_decay_schedule(0.0, 0.05, 20, 120),
)
EXPONENTIAL = (gdtx.exponential_decay(0.03, 10, 0.8), ref.exponential_decay(0.03, 10, 0.8))
INVERSE_TIME = (gdtx.inverse_time_decay(0.3, 0.05), ref.inverse_time_decay(0.3, 0.05))

ALGORITHMS = {
    # SGD
    "sgd": (gdtx.sgd(0.05), lambda: ref.SGD(0.05)),
    "sgd_momentum": (gdtx.sgd(0.02, momentum=0.9), lambda: ref.SGD(0.02, momentum=0.9)),
    "sgd_nesterov": (
        gdtx.sgd(0.02, momentum=0.9, nesterov=True),
        lambda: ref.SGD(0.02, momentum=0.9, nesterov=True),
    ),
    "sgd_dampening": (
        gdtx.sgd(0.02, momentum=0.8, dampening=0.5),
        lambda: ref.SGD(0.02, momentum=0.8, dampening=0.5),
    ),
    "sgd_weight_decay": (
        gdtx.sgd(0.05, weight_decay=0.1),
        lambda: ref.SGD(0.05, weight_decay=0.1),
    ),
    "sgd_momentum_weight_decay_schedule": (
        gdtx.sgd(WARMUP_COSINE[0], momentum=0.9, weight_decay=0.05),
        lambda: ref.SGD(WARMUP_COSINE[1], momentum=0.9, weight_decay=0.05),
    ),
    # Momentum, both forms
    "momentum_ewma": (gdtx.momentum(0.1), lambda: ref.Momentum(0.1)),
    "momentum_ewma_debias": (
        gdtx.momentum(0.1, 0.8, debias=True),
        lambda: ref.Momentum(0.1, 0.8, debias=True),
    ),
    "momentum_trace": (
        gdtx.momentum(0.02, form="trace"),
        lambda: ref.Momentum(0.02, form="trace"),
    ),
    "momentum_trace_nesterov": (
        gdtx.momentum(0.02, 0.95, form="trace", nesterov=True),
        lambda: ref.Momentum(0.02, 0.95, form="trace", nesterov=True),
    ),
    # AdaGrad
    "adagrad": (gdtx.adagrad(0.1), lambda: ref.Adagrad(0.1)),
    "adagrad_optax_style_weight_decay": (
        gdtx.adagrad(0.2, 0.1, 1e-7, eps_in_sqrt=True, weight_decay=0.01),
        lambda: ref.Adagrad(0.2, 0.1, 1e-7, eps_in_sqrt=True, weight_decay=0.01),
    ),
    "adagrad_lr_decay": (
        gdtx.adagrad(INVERSE_TIME[0], eps=1e-3),
        lambda: ref.Adagrad(INVERSE_TIME[1], eps=1e-3),
    ),
    # RMSProp
    "rmsprop": (gdtx.rmsprop(0.01), lambda: ref.RMSProp(0.01)),
    "rmsprop_torch_style": (
        gdtx.rmsprop(0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False),
        lambda: ref.RMSProp(0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    ),
    "rmsprop_centered_momentum": (
        gdtx.rmsprop(0.003, centered=True, momentum=0.9),
        lambda: ref.RMSProp(0.003, centered=True, momentum=0.9),
    ),
    "rmsprop_nesterov_weight_decay": (
        gdtx.rmsprop(0.005, 0.95, momentum=0.5, nesterov=True, weight_decay=0.01),
        lambda: ref.RMSProp(0.005, 0.95, momentum=0.5, nesterov=True, weight_decay=0.01),
    ),
    "rmsprop_initial_scale_bias_correction": (
        gdtx.rmsprop(0.01, 0.95, 1e-6, initial_scale=1.0, bias_correction=True),
        lambda: ref.RMSProp(0.01, 0.95, 1e-6, initial_scale=1.0, bias_correction=True),
    ),
    "rmsprop_centered_bias_correction_momentum_schedule": (
        gdtx.rmsprop(EXPONENTIAL[0], 0.9, 0.1, centered=True, momentum=0.7, bias_correction=True),
        lambda: ref.RMSProp(
            EXPONENTIAL[1], 0.9, 0.1, centered=True, momentum=0.7, bias_correction=True
        ),
    ),
    # Adadelta
    "adadelta": (gdtx.adadelta(), lambda: ref.Adadelta()),
    "adadelta_torch_style": (
        gdtx.adadelta(2.0, rho=0.9, eps=1e-6),
        lambda: ref.Adadelta(2.0, rho=0.9, eps=1e-6),
    ),
    "adadelta_eps_weight_decay": (
        gdtx.adadelta(0.5, rho=0.99, eps=1e-4, weight_decay=0.01),
        lambda: ref.Adadelta(0.5, rho=0.99, eps=1e-4, weight_decay=0.01),
    ),
    # Adam family
    "adam": (gdtx.adam(0.01), lambda: ref.Adam(0.01)),
    "amsgrad": (
        gdtx.amsgrad(0.01, b2=0.9, weight_decay=0.01),
        lambda: ref.Chain(
            ref.AddDecayedWeights(0.01),
            ref.ScaleByAmsgrad(b2=0.9),
            ref.LearningRate(0.01),
        ),
    ),
    "adam_nondefault": (
        gdtx.adam(0.02, 0.5, 0.99, 1e-6, eps_root=1e-8, weight_decay=0.01),
        lambda: ref.Adam(0.02, 0.5, 0.99, 1e-6, eps_root=1e-8, weight_decay=0.01),
    ),
    "adam_b2_0.9999_schedule": (
        gdtx.adam(EXPONENTIAL[0], b2=0.9999),
        lambda: ref.Adam(EXPONENTIAL[1], b2=0.9999),
    ),
    "adamw": (gdtx.adamw(0.01), lambda: ref.AdamW(0.01)),
    "adamw_weight_decay": (
        gdtx.adamw(0.01, 0.8, 0.99, weight_decay=0.2),
        lambda: ref.AdamW(0.01, 0.8, 0.99, weight_decay=0.2),
    ),
    "adamw_masked": (
        gdtx.adamw(WARMUP_COSINE[0], weight_decay=0.5, mask=MASK),
        lambda: ref.AdamW(WARMUP_COSINE[1], weight_decay=0.5, mask=MASK),
    ),
    "adamax": (gdtx.adamax(0.02), lambda: ref.Adamax(0.02)),
    "adamax_eps_in_max": (
        gdtx.adamax(0.02, eps=1e-3, eps_in_max=True),
        lambda: ref.Adamax(0.02, eps=1e-3, eps_in_max=True),
    ),
    "adamax_nondefault": (
        gdtx.adamax(0.02, 0.8, 0.99, 1e-3, weight_decay=0.01),
        lambda: ref.Adamax(0.02, 0.8, 0.99, 1e-3, weight_decay=0.01),
    ),
    "nadam": (gdtx.nadam(0.01), lambda: ref.NAdam(0.01)),
    "nadam_constant_momentum": (
        gdtx.nadam(0.01, momentum_decay=None),
        lambda: ref.NAdam(0.01, momentum_decay=None),
    ),
    "nadam_nondefault": (
        gdtx.nadam(0.01, 0.95, 0.99, 1e-6, momentum_decay=0.02, weight_decay=0.01),
        lambda: ref.NAdam(0.01, 0.95, 0.99, 1e-6, momentum_decay=0.02, weight_decay=0.01),
    ),
    # LARS
    "lars": (gdtx.lars(5.0), lambda: ref.LARS(5.0)),
    "lars_weight_decay_eps_nesterov": (
        gdtx.lars(0.5, weight_decay=0.01, trust_coefficient=0.02, eps=1e-3, nesterov=True),
        lambda: ref.LARS(0.5, weight_decay=0.01, trust_coefficient=0.02, eps=1e-3, nesterov=True),
    ),
    "lars_masks_schedule": (
        gdtx.lars(
            WARMUP_COSINE[0],
            weight_decay=0.05,
            weight_decay_mask=MASK,
            trust_coefficient=0.5,
            trust_ratio_mask={"w": True, "b": True, "s": False, "k": True},
            momentum=0.8,
        ),
        lambda: ref.LARS(
            WARMUP_COSINE[1],
            weight_decay=0.05,
            weight_decay_mask=MASK,
            trust_coefficient=0.5,
            trust_ratio_mask={"w": True, "b": True, "s": False, "k": True},
            momentum=0.8,
        ),
    ),
}


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_algorithm_matches_reference(name):
    opt, reference = ALGORITHMS[name]
    compare(opt, reference(), what=name)
