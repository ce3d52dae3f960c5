"""An Optax training loop switches to gdtx by changing only the optimizer line.

The loop below is written as Optax's documentation writes it (init, grad, update,
``optax.apply_updates``). It runs once with ``optax.<name>(...)`` and once with
``gdtx.<name>(...)``, the same arguments, on a quadratic bowl and the Rosenbrock valley
side by side; both must train, and where the two libraries define the algorithm the same
way (their defaults agree), their trajectories must agree. The algorithms and their
arguments are the registry's ``loop`` entries (tests/registry.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from registry import loop_cases

import gdtx

LOOPS = loop_cases()

LOOP = """
params = {{"bowl": jnp.array([-5.0, -2.0]), "valley": jnp.array([-1.2, 1.0])}}
opt = {lib}.{name}({args})
state = opt.init(params)


def loss(p):
    bowl = 0.1 * p["bowl"][0] ** 2 + 2.0 * p["bowl"][1] ** 2
    x, y = p["valley"]
    return bowl + (1 - x) ** 2 + 100 * (y - x**2) ** 2


@jax.jit
def train(params, state):
    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss(params)

    return jax.lax.scan(step, (params, state), None, length={steps})


(params, state), losses = train(params, state)
"""


def _run(lib: str, name: str):
    loop = LOOPS[name][1]
    args, steps = loop.args, loop.steps
    namespace = {"jax": jax, "jnp": jnp, "optax": optax, "gdtx": gdtx}
    code = LOOP.format(lib=lib, name=name, args=args.format(lib=lib), steps=steps)
    with jax.numpy_dtype_promotion("standard" if lib == "optax" else "strict"):
        exec(compile(code, f"<{lib}.{name} loop>", "exec"), namespace)
    return np.asarray(namespace["losses"]), namespace["params"]


@pytest.mark.parametrize("name", list(LOOPS))
def test_the_optax_loop_trains_with_gdtx(name):
    ours, _ = _run("gdtx", name)
    theirs, _ = _run("optax", name)
    assert ours[-1] < 1e-2 * ours[0], f"gdtx.{name}: {ours[0]:.3g} → {ours[-1]:.3g}"
    assert theirs[-1] < 0.1 * theirs[0]  # the loop and its arguments are fair ones
    if LOOPS[name][1].agrees:
        np.testing.assert_allclose(ours[:200], theirs[:200], rtol=2e-3)
