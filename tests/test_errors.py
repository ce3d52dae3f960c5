"""Bad input gets a clear error naming the argument, the value and the allowed range."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import gdtx


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: gdtx.adam(0.1, b1=1.5), r"adam: `b1` must lie in \[0.0, 1.0\), got 1.5"),
        (lambda: gdtx.adam(0.1, eps=-1.0), r"`eps` must lie in \[0.0, inf\], got -1.0"),
        (lambda: gdtx.adam(-0.1), r"`learning_rate` must lie in \[0.0, inf\], got -0.1"),
        (lambda: gdtx.sgd(0.1, momentum=1.0), r"sgd: `momentum` must lie in \[0.0, 1.0\)"),
        (lambda: gdtx.sgd(0.1, nesterov=True), r"sgd: `nesterov=True` needs a `momentum`"),
        (lambda: gdtx.sgd(0.1, 0.9, True, dampening=0.1), r"Nesterov momentum needs `dampening`"),
        (lambda: gdtx.rmsprop(0.1, decay=-0.5), r"rmsprop: `decay`"),
        (lambda: gdtx.adagrad(0.1, initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: gdtx.adadelta(rho=1.0), r"adadelta: `rho`"),
        (lambda: gdtx.adadelta(eps=0.0), r"`eps` must lie in \(0.0, inf\]"),
        (lambda: gdtx.adamw(0.1, weight_decay=-1e-4), r"`weight_decay` must lie in \[0.0, inf\]"),
        (lambda: gdtx.nadam(0.1, momentum_decay=-1.0), "momentum_decay"),
        (lambda: gdtx.momentum(0.1, form="heavy"), r"`form` must be 'ewma' or 'trace'"),
        (lambda: gdtx.exponential_decay(1.0, 0, 0.5), r"`transition_steps` must be a positive"),
        (lambda: gdtx.cosine_decay_schedule(1.0, -5), r"`decay_steps` must be a positive"),
        (lambda: gdtx.inverse_time_decay(1.0, steps_per_epoch=0), "steps_per_epoch"),
        (lambda: gdtx.adam(float("nan")), "learning_rate"),
        (lambda: gdtx.lamb(0.1, weight_decay=-1.0), r"lamb: `weight_decay` must lie in \[0.0"),
        (lambda: gdtx.novograd(0.1, b2=1.0), r"novograd: `b2` must lie in \[0.0, 1.0\)"),
        (lambda: gdtx.adan(0.1, b3=-0.5), r"adan: `b3` must lie in \[0.0, 1.0\), got -0.5"),
        (lambda: gdtx.fromage(0.1, min_norm=-1.0), r"fromage: `min_norm` must lie in \[0.0"),
        (lambda: gdtx.sm3(0.1, momentum=1.0), r"sm3: `momentum` must lie in \[0.0, 1.0\)"),
        (lambda: gdtx.scale_by_sm3(eps=-1.0), r"scale_by_sm3: `eps` must lie in \[0.0"),
        (lambda: gdtx.signum(0.1, beta=1.0), r"signum: `beta` must lie in \[0.0, 1.0\)"),
        (lambda: gdtx.optimistic_gradient_descent(0.1, beta=-1.0), "optimistic_gradient_descent"),
        (
            lambda: gdtx.optimistic_adam(gdtx.cosine_decay_schedule(0.1, 10), optimism=0.1),
            "an explicit `optimism` needs a constant `learning_rate`",
        ),
        (lambda: gdtx.noisy_sgd(0.1, eta=-1.0, key=0), r"noisy_sgd: `eta` must lie in"),
        (lambda: gdtx.rprop(0.0), r"rprop: `learning_rate` must lie in \(0.0, inf\]"),
        (lambda: gdtx.rprop(0.1, eta_plus=0.9), r"rprop: `eta_plus` must lie in \[1.0, inf\]"),
        (lambda: gdtx.rprop(0.1, min_step_size=1.0, max_step_size=0.5), "at least `min_step"),
        (lambda: gdtx.asgd(0.1, t0=-1.0), r"asgd: `t0` must lie in"),
        (lambda: gdtx.polyak_sgd(scaling=-1.0), r"polyak_sgd: `scaling` must lie in"),
        (
            lambda: gdtx.warmup_cosine_decay_schedule(0.0, 1.0, 10, 5),
            "`decay_steps` must exceed `warmup_steps`",
        ),
    ],
)
def test_bad_hyperparameters_raise_value_error(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        build()


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: gdtx.noisy_sgd(0.1), "noisy_sgd: `key` is required"),
        (lambda: gdtx.rprop(gdtx.cosine_decay_schedule(0.1, 10)), "rprop: `learning_rate` is"),
        (lambda: gdtx.asgd(gdtx.cosine_decay_schedule(0.1, 10)), "asgd: `learning_rate` is"),
    ],
)
def test_missing_key_or_a_schedule_where_a_number_is_needed_raise_type_error(build, pattern):
    with pytest.raises(TypeError, match=pattern):
        build()


def test_traced_hyperparameters_are_not_checked():
    """Inside jit or vmap values are abstract; they pass (and are the caller's responsibility)."""
    out = jax.jit(lambda b1: gdtx.adam(0.1, b1=b1).init({"x": jnp.ones(1)}).count)(0.9)
    assert int(out) == 0


def test_weight_decay_without_params_names_the_optimizer():
    opt = gdtx.adamw(0.1)
    params = {"x": jnp.ones(2)}
    with pytest.raises(ValueError, match="adamw reads the parameters"):
        opt.update(params, opt.init(params))
    block = gdtx.add_decayed_weights(0.1)  # a block on its own names its class
    with pytest.raises(ValueError, match="AddDecayedWeights reads the parameters"):
        block.update(params, block.init(params))


def test_mask_with_a_different_structure_is_rejected():
    opt = gdtx.masked(gdtx.scale(2.0), {"a": True})
    with pytest.raises(ValueError, match="mask's tree structure differs"):
        opt.init({"a": jnp.ones(1), "b": jnp.ones(1)})


def test_chain_rejects_non_transformations():
    with pytest.raises(TypeError, match="expected a gdtx transformation"):
        gdtx.chain(gdtx.scale(1.0), 3.0)
