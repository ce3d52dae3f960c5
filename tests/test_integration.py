"""Training loops that really train: Flax NNX, Flax Linen TrainState, Equinox, plain JAX.

Each reaches a target loss, and with Adam gives Optax's loss curve on the same model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtx

STEPS = 150
X = jax.random.normal(jax.random.key(0), (128, 4))
Y = jnp.sin(X[:, :1]) + 0.5 * X[:, 1:2] * X[:, 2:3]


def _both(train):
    ours = train(gdtx.adam(1e-2))
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        theirs = train(optax.adam(1e-2))
    assert ours[-1] < 0.25 * ours[0], ours[[0, -1]]
    np.testing.assert_allclose(ours, theirs, rtol=2e-4)
    return ours


def test_flax_nnx_optimizer():
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(4, 32, rngs=rngs)
            self.out = nnx.Linear(32, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(jax.nn.tanh(self.hidden(x)))

    def train(tx):
        model = MLP(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

        @nnx.jit
        def step(model, optimizer):
            loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(X) - Y) ** 2))(model)
            optimizer.update(model, grads)
            return loss

        return np.array([float(step(model, optimizer)) for _ in range(STEPS)])

    _both(train)


def test_flax_linen_train_state():
    nn = pytest.importorskip("flax.linen")
    from flax.training import train_state

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(jax.nn.tanh(nn.Dense(32)(x)))

    model = MLP()

    def train(tx):
        params = model.init(jax.random.key(1), X)["params"]
        state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)

        @jax.jit
        def step(state):
            def loss_fn(p):
                return jnp.mean((state.apply_fn({"params": p}, X) - Y) ** 2)

            loss, grads = jax.value_and_grad(loss_fn)(state.params)
            return state.apply_gradients(grads=grads), loss

        losses = []
        for _ in range(STEPS):
            state, loss = step(state)
            losses.append(float(loss))
        return np.array(losses)

    _both(train)


def test_equinox_filter_value_and_grad():
    eqx = pytest.importorskip("equinox")

    def train(opt):
        model = eqx.nn.MLP(4, 1, 32, depth=1, activation=jax.nn.tanh, key=jax.random.key(2))
        state = opt.init(eqx.filter(model, eqx.is_array))

        @eqx.filter_jit
        def step(model, state):
            def loss_fn(m):
                return jnp.mean((jax.vmap(m)(X) - Y) ** 2)

            loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
            updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
            return eqx.apply_updates(model, updates), state, loss

        losses = []
        for _ in range(STEPS):
            model, state, loss = step(model, state)
            losses.append(float(loss))
        return np.array(losses)

    _both(train)


def test_plain_jax_with_partition_and_accumulation():
    """Frozen first layer, decay on matrices only, two micro-batches per step."""
    key1, key2 = jax.random.split(jax.random.key(3))
    params = {
        "l1": {"w": jax.random.normal(key1, (4, 32)) / 2, "b": jnp.zeros(32)},
        "l2": {"w": jax.random.normal(key2, (32, 1)) / 6, "b": jnp.zeros(1)},
    }
    opt = gdtx.accumulate(
        gdtx.partition(
            {"frozen": gdtx.set_to_zero(), "train": gdtx.adamw(1e-2, mask=gdtx.ndim_mask())},
            {"l1/*": "frozen", "l2/*": "train"},
        ),
        every_k=2,
    )
    state = opt.init(params)

    def loss_fn(p, x, y):
        h = jax.nn.tanh(x @ p["l1"]["w"] + p["l1"]["b"][None, :])
        return jnp.mean((h @ p["l2"]["w"] + p["l2"]["b"][None, :] - y) ** 2)

    @jax.jit
    def step(p, s, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(grads, s, p)
        return gdtx.apply_updates(p, updates), s, loss

    first = float(loss_fn(params, X, Y))
    p = params
    for _ in range(STEPS):
        for half in (slice(0, 64), slice(64, 128)):
            p, state, _ = step(p, state, X[half], Y[half])
    assert int(state.count) == STEPS
    assert float(loss_fn(p, X, Y)) < 0.5 * first
    np.testing.assert_array_equal(p["l1"]["w"], params["l1"]["w"])  # frozen
