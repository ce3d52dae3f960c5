"""What the registry's shared tests cannot reach for the simple algorithms of
tests/reference_cat_simple.py: noisy_sgd in other dtypes, Optax's late rprop, asgd's averaged
parameters, polyak_sgd without a loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
import registry
from helpers import assert_trees_close, to_f32, trajectory

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


# ---------------------------------------------------------------------------------------
# rprop: Optax 0.2.8's applies each update one step late


def _updates(tx, grads, params):
    state = tx.init(params)
    out = []
    for g in grads:
        u, state = tx.update(g, state, params)
        out.append(np.asarray(u))
    return np.stack(out)


def test_optax_rprop_emits_each_update_one_step_late():
    """Optax 0.2.8's ``scale_by_rprop`` computes gdtx's step Δ·sign(g) but emits the one it
    stored at the previous step (zeroed where the sign flips now), so its first update is 0
    (google-deepmind/optax#1725). With gradients that do not depend on the parameters:
    Optax's update t = 0 where gdtx's is 0 (a flip), else gdtx's update t − 1."""
    rng = np.random.default_rng(0)
    grads = [jnp.asarray(rng.standard_normal(50), jnp.float32) for _ in range(40)]
    params = jnp.zeros(50)
    ours = _updates(gdtx.rprop(0.1, 0.4, 1.3, 1e-3, 1.0), grads, params)
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        theirs = _updates(optax.rprop(0.1, 0.4, 1.3, 1e-3, 1.0), grads, params)
    lagged = np.concatenate([np.zeros((1, 50)), ours[:-1]])
    expected = np.where(ours == 0, 0.0, lagged)
    np.testing.assert_allclose(theirs, expected, rtol=1e-6, atol=0)
    assert np.any(ours == 0) and np.any(np.abs(ours - theirs) > 1e-3)  # flips; not equal


# ---------------------------------------------------------------------------------------
# asgd: the averaged parameters


def _asgd_run():
    """The registry's ``asgd_nondefault`` case (averaging from t₀ = 20) over its 120 steps:
    the final state's θ̄, and the float64 reference's."""
    alg = registry.ALGORITHMS["asgd"]
    _, state = trajectory(alg.make("nondefault"), to_f32(registry.PARAMS), None, registry.GRADS)
    reference = alg.make_reference("nondefault")
    ref.run(reference, registry.PARAMS, registry.GRADS)
    return gdtx.asgd_eval_params(state), reference.state


def test_asgd_eval_params_match_the_reference_and_torch():
    ours, want = _asgd_run()
    assert_trees_close(ours, want, rtol=1e-5, what="asgd θ̄")
    last = {k: v[-1] for k, v in registry.gdtx_path("asgd_nondefault").items()}
    assert all(np.max(np.abs(ours[k] - last[k])) > 1e-2 for k in last)  # θ̄ is not θ
    torch = pytest.importorskip("torch")
    params = {
        k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float32))
        for k, v in registry.PARAMS.items()
    }
    kwargs = registry.ALGORITHMS["asgd"].torch["asgd_nondefault"].kwargs
    opt = torch.optim.ASGD(list(params.values()), **kwargs)
    for g in registry.GRADS:
        for k, p in params.items():
            p.grad = torch.tensor(g[k], dtype=torch.float32)
        opt.step()
    theirs = {k: opt.state[p]["ax"].numpy() for k, p in params.items()}
    assert_trees_close(ours, theirs, rtol=1e-5, what="asgd θ̄ against torch")


def test_asgd_eval_params_needs_one_average():
    with pytest.raises(ValueError, match="exactly one AverageState"):
        gdtx.asgd_eval_params(gdtx.sgd(0.1).init(jnp.zeros(2)))


# ---------------------------------------------------------------------------------------
# polyak_sgd: the registry's modules run it with a loss at every step (needs_value); here,
# the error without one


def test_polyak_sgd_needs_the_value():
    opt = gdtx.polyak_sgd()
    params = jnp.ones(2)
    with pytest.raises(ValueError, match=r"needs the loss: call update\(.*value=loss\)"):
        opt.update(params, opt.init(params), params)
    with pytest.raises(ValueError, match="`variant` must be 'sps' or 'sps\\+'"):
        gdtx.polyak_sgd(variant="sps-")
