"""Every algorithm, jitted, converges on the sources' problems from a fixed start."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtx


def quadratic(x):
    """003's ill-conditioned quadratic, f(x) = 0.1x₁² + 2x₂² (condition number 20)."""
    return 0.1 * x[0] ** 2 + 2.0 * x[1] ** 2


def rosenbrock(x):
    """(1 − x₁)² + 100(x₂ − x₁²)², minimum 0 at (1, 1)."""
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


# (optimizer, steps) tuned per problem; each must bring f from its start to below `tol`.
QUADRATIC = {
    "sgd": (gdtx.sgd(0.4), 200),
    "sgd_momentum": (gdtx.sgd(0.05, momentum=0.9), 300),
    "sgd_nesterov": (gdtx.sgd(0.05, momentum=0.9, nesterov=True), 300),
    "momentum_ewma": (gdtx.momentum(0.4, 0.9), 300),
    "adagrad": (gdtx.adagrad(1.0), 300),
    "rmsprop": (gdtx.rmsprop(0.05), 300),
    "adadelta": (gdtx.adadelta(), 3000),
    "adam": (gdtx.adam(0.1), 400),
    "adamw": (gdtx.adamw(0.1, weight_decay=1e-3), 400),
    "adamax": (gdtx.adamax(0.1), 400),
    "amsgrad": (gdtx.amsgrad(0.1), 400),
    "nadam": (gdtx.nadam(0.1), 400),
    "lars": (gdtx.lars(20.0, momentum=0.9, trust_coefficient=0.01), 400),
}

ROSENBROCK = {
    "sgd": (gdtx.sgd(1e-3), 20000),
    "sgd_momentum": (gdtx.sgd(5e-4, momentum=0.9), 10000),
    "sgd_nesterov": (gdtx.sgd(5e-4, momentum=0.9, nesterov=True), 10000),
    "momentum_ewma": (gdtx.momentum(5e-3, 0.9), 10000),
    "adagrad": (gdtx.adagrad(0.5), 10000),
    "rmsprop": (gdtx.rmsprop(1e-3, decay=0.99), 10000),
    # With a constant rate Adadelta's ε-sized steps stall in the valley (f ≈ 0.6 after
    # 20k steps); a decaying rate lets it settle.
    "adadelta": (gdtx.adadelta(gdtx.cosine_decay_schedule(1.0, 50000)), 50000),
    "adam": (gdtx.adam(0.02), 5000),
    "adamw": (gdtx.adamw(0.02, weight_decay=0.0), 5000),
    "adamax": (gdtx.adamax(0.02), 10000),
    "amsgrad": (gdtx.amsgrad(0.02), 5000),
    "nadam": (gdtx.nadam(0.02), 5000),
    "lars": (gdtx.lars(0.5, trust_coefficient=0.002), 20000),
}


def _minimise(f, opt, x0, steps):
    def body(carry, _):
        x, state = carry
        updates, state = opt.update(jax.grad(f)(x), state, x)
        return (gdtx.apply_updates(x, updates), state), None

    run = jax.jit(lambda x: jax.lax.scan(body, (x, opt.init(x)), None, length=steps)[0][0])
    return run(x0)


@pytest.mark.parametrize("name", sorted(QUADRATIC))
def test_converges_on_the_ill_conditioned_quadratic(name):
    opt, steps = QUADRATIC[name]
    x0 = jnp.array([-5.0, -2.0])
    x = _minimise(quadratic, opt, x0, steps)
    assert float(quadratic(x)) < 1e-3 * float(quadratic(x0)), (name, x)


@pytest.mark.parametrize("name", sorted(ROSENBROCK))
def test_converges_on_rosenbrock(name):
    opt, steps = ROSENBROCK[name]
    x0 = jnp.array([-1.5, 2.0])
    x = _minimise(rosenbrock, opt, x0, steps)
    assert float(rosenbrock(x)) < 1e-2, (name, np.asarray(x))
