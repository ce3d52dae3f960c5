"""An Optax training loop switches to gdtx by changing only the optimizer line, in plain
JAX and in Flax NNX, Flax Linen and Equinox loops.

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


# ---------------------------------------------------------------------------------------
# The same switch in the framework loops: Flax NNX (`nnx.Optimizer` under `nnx.jit`, as
# Flax's documentation writes it), Flax Linen (`TrainState.apply_gradients`) and Equinox
# (`eqx.filter_jit`, `eqx.apply_updates`). Each optimizer runs in one of the three, taken
# in turn, so every optimizer and every framework is covered once a round.

FRAMEWORK_LOOPS = {
    "nnx": """
from flax import nnx

rngs = nnx.Rngs(0)
model = nnx.Sequential(nnx.Linear(4, 8, rngs=rngs), nnx.tanh, nnx.Linear(8, 1, rngs=rngs))
optimizer = nnx.Optimizer(model, {lib}.{name}({args}), wrt=nnx.Param)


@nnx.jit
def train_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    optimizer.update(model, grads)
    return loss
""",
    "linen": """
import flax.linen as nn
from flax.training import train_state


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(1)(jnp.tanh(nn.Dense(8)(x)))


model = MLP()
state = train_state.TrainState.create(
    apply_fn=model.apply, params=model.init(jax.random.key(0), X)["params"], tx={lib}.{name}({args})
)


@jax.jit
def train_step(state, x, y):
    loss_fn = lambda p: jnp.mean((state.apply_fn({{"params": p}}, x) - y) ** 2)
    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss
""",
    "equinox": """
import equinox as eqx

model = eqx.nn.MLP(4, 1, 8, 1, activation=jnp.tanh, key=jax.random.key(0))
opt = {lib}.{name}({args})
opt_state = opt.init(eqx.filter(model, eqx.is_array))


@eqx.filter_jit
def train_step(model, opt_state, x, y):
    loss, grads = eqx.filter_value_and_grad(lambda m: jnp.mean((jax.vmap(m)(x) - y) ** 2))(model)
    updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss
""",
}
TRAIN = {
    "nnx": "losses = [train_step(model, optimizer, X, Y) for _ in range(STEPS)]",
    "linen": "losses = []\nfor _ in range(STEPS):\n    state, loss = train_step(state, X, Y)\n"
    "    losses.append(loss)",
    "equinox": "losses = []\nfor _ in range(STEPS):\n    model, opt_state, loss = "
    "train_step(model, opt_state, X, Y)\n    losses.append(loss)",
}
FRAMEWORK_OF = {name: sorted(FRAMEWORK_LOOPS)[i % 3] for i, name in enumerate(sorted(LOOPS))}


def _run_framework(lib: str, name: str) -> np.ndarray:
    framework = FRAMEWORK_OF[name]
    x = jax.random.normal(jax.random.key(1), (32, 4))
    namespace = {"jax": jax, "jnp": jnp, "optax": optax, "gdtx": gdtx, "STEPS": 20}
    namespace |= {"X": x, "Y": jnp.sin(x[:, :1])}
    loop = LOOPS[name][1]
    code = FRAMEWORK_LOOPS[framework].format(lib=lib, name=name, args=loop.args.format(lib=lib))
    with jax.numpy_dtype_promotion("standard" if lib == "optax" else "strict"):
        exec(compile(code + TRAIN[framework], f"<{framework}: {lib}.{name}>", "exec"), namespace)
    return np.asarray(namespace["losses"])


@pytest.mark.parametrize("name", list(LOOPS), ids=lambda n: f"{FRAMEWORK_OF[n]}-{n}")
def test_the_framework_loop_trains_with_gdtx(name):
    """Only the optimizer line differs between the two runs; both must lower the loss, and
    their losses agree where the two libraries' defaults do."""
    ours, theirs = _run_framework("gdtx", name), _run_framework("optax", name)
    assert ours[-1] < ours[0], (
        f"gdtx.{name} in {FRAMEWORK_OF[name]}: {ours[0]:.3g} → {ours[-1]:.3g}"
    )
    assert theirs[-1] < theirs[0]
    if LOOPS[name][1].agrees:
        np.testing.assert_allclose(ours, theirs, rtol=2e-3)
