"""Mini-batch training with a plain data iterator (index sets S₁…S_k and epochs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtx


def batches(n: int, m: int, rng: np.random.Generator):
    """One epoch: a shuffled partition of {0…n−1} into k = ⌈n/m⌉ index sets, |S_k| ≤ m."""
    order = rng.permutation(n)
    for start in range(0, n, m):
        yield order[start : start + m]


def make_data(n=256, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w_true = rng.standard_normal(d).astype(np.float32)
    y = x @ w_true + np.float32(0.01) * rng.standard_normal(n).astype(np.float32)
    return x, y, w_true


def loss(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


@pytest.mark.parametrize(
    ("name", "m", "epochs"), [("batch", 256, 300), ("minibatch", 32, 40), ("stochastic", 1, 5)]
)
def test_minibatch_sgd_recovers_the_weights(name, m, epochs):
    x, y, w_true = make_data()
    # α₀/(1 + γ·epoch), one of the sources' decay rules, with epochs of ⌈n/m⌉ updates.
    opt = gdtx.sgd(gdtx.inverse_time_decay(0.1, decay_rate=0.01, steps_per_epoch=-(-256 // m)))
    params = {"w": jnp.zeros(5), "b": jnp.zeros([])}
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        grads = jax.grad(loss)(params, xb, yb)
        updates, state = opt.update(grads, state, params)
        return gdtx.apply_updates(params, updates), state

    rng = np.random.default_rng(1)
    for _ in range(epochs):
        for idx in batches(len(x), m, rng):
            params, state = step(params, state, x[idx], y[idx])
    updates_per_epoch = -(-256 // m)
    assert int(state.count) == epochs * updates_per_epoch
    np.testing.assert_allclose(params["w"], w_true, atol=0.02, err_msg=name)
    assert float(loss(params, x, y)) < 2e-3
