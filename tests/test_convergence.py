"""Every algorithm, jitted, converges on the sources' problems from a fixed start.

The runs are the ``converges`` entries of tests/registry.py: each brings f from its start
to below the problem's tolerance in its number of steps. An algorithm that reads the loss
(``needs_value``) is given f(x) at every step.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import registry

import gdtx


def quadratic(x):
    """003's ill-conditioned quadratic, f(x) = 0.1x₁² + 2x₂² (condition number 20)."""
    return 0.1 * x[0] ** 2 + 2.0 * x[1] ** 2


def rosenbrock(x):
    """(1 − x₁)² + 100(x₂ − x₁²)², minimum 0 at (1, 1)."""
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


PROBLEMS = {
    # f, start, the test f(x) passes
    "quadratic": (quadratic, (-5.0, -2.0), lambda f, f0: f < 1e-3 * f0),
    "rosenbrock": (rosenbrock, (-1.5, 2.0), lambda f, f0: f < 1e-2),
}
CASES = registry.converge_cases()


@functools.partial(jax.jit, static_argnums=(0, 4))
def _minimise(f, opt, x0, steps, needs_value):
    """``steps`` (a traced count: runs of any length share the program) updates from x0;
    with ``needs_value``, each given f(x) as ``value=``."""

    def body(_, carry):
        x, state = carry
        value, grads = jax.value_and_grad(f)(x)
        extra = {"value": value} if needs_value else {}
        updates, state = opt.update(grads, state, x, **extra)
        return gdtx.apply_updates(x, updates), state

    return jax.lax.fori_loop(0, steps, body, (x0, opt.init(x0)))[0]


@pytest.mark.parametrize("name", list(CASES))
def test_converges(name):
    alg, run = CASES[name]
    f, start, ok = PROBLEMS[run.problem]
    x0 = jnp.array(start)
    x = _minimise(f, alg.make(args=run.args), x0, jnp.int32(run.steps), alg.needs_value)
    assert ok(float(f(x)), float(f(x0))), (name, np.asarray(x))
