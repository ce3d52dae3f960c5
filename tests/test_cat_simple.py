"""What the registry's shared tests cannot reach for the simple algorithms of
tests/reference_cat_simple.py: noisy_sgd in other dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtx

# ---------------------------------------------------------------------------------------
# noisy_sgd: the noise is drawn in each leaf's dtype


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float64", "complex64"])
def test_noisy_sgd_in_other_dtypes(dtype):
    """Parameters keep their dtype and stay finite; the noise (η = 1) has the variance
    η/t^γ in every dtype (for complex leaves, E|ξ|² = 1 split over both parts)."""
    with jax.enable_x64(dtype == "float64"):
        opt = gdtx.noisy_sgd(1.0, eta=1.0, gamma=0.55, key=4)
        params = {"a": jnp.zeros(4000, dtype), "b": jnp.zeros((50, 40), dtype)}
        state = opt.init(params)
        step = jax.jit(opt.update)
        for t in (1, 2, 3):
            updates, state = step(jax.tree.map(jnp.zeros_like, params), state, params)
            for leaf in jax.tree.leaves(updates):
                assert leaf.dtype == jnp.dtype(dtype)
                x = np.asarray(leaf.astype(jnp.complex64 if dtype == "complex64" else "float32"))
                assert np.all(np.isfinite(x))
                assert np.mean(np.abs(x) ** 2) == pytest.approx(t**-0.55, rel=0.08)
