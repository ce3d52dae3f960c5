"""What the registry's shared tests cannot reach for the simple algorithms of
tests/reference_cat_simple.py: noisy_sgd in other dtypes."""

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
# polyak_sgd: update(..., value=loss) at every step

POLYAK = registry.ALGORITHMS["polyak_sgd"]
VALUES = np.random.default_rng(13).uniform(0.2, 2.5, registry.STEPS).astype(np.float32)
"""The losses given with the registry's gradients (float32 numbers, exact in float64)."""


@jax.jit
def _polyak_scan(opt, params, grads, values, pk):
    """The whole run as one scan, ``value=`` given at every step (packed with ``pk``)."""
    if pk is not None:
        params = pk.pack(params)

    def body(carry, x):
        params, state = carry
        g, value = x
        updates, state = opt.update(g if pk is None else pk.pack(g), state, params, value=value)
        params = gdtx.apply_updates(params, updates)
        return (params, state), params if pk is None else pk.unpack(params)

    return jax.lax.scan(body, (params, opt.init(params)), (grads, values))[1]


def _stacked_grads(dtype=jnp.float32):
    return {
        k: jnp.asarray(np.stack([g[k] for g in registry.GRADS]), dtype) for k in registry.PARAMS
    }


def _polyak_reference(key):
    reference = POLYAK.make_reference(key)
    params = {k: np.array(v, np.float64) for k, v in registry.PARAMS.items()}
    reference.init(params)
    path = []
    for g, value in zip(registry.GRADS, VALUES, strict=True):
        params = reference.step(params, g, float(value))
        path.append(params)
    return {k: np.stack([p[k] for p in path]) for k in params}


@pytest.mark.parametrize("key", POLYAK.case_keys())
def test_polyak_sgd_matches_the_reference(key):
    """Every case, float32 per leaf and packed, against the float64 reference (120 steps)."""
    opt = POLYAK.make(key)
    want = _polyak_reference(key)
    params = to_f32(registry.PARAMS)
    got = _polyak_scan(opt, params, _stacked_grads(), jnp.asarray(VALUES), None)
    assert_trees_close(got, want, rtol=1e-5, what=POLYAK.case_id(key))
    packed = _polyak_scan(opt, params, _stacked_grads(), VALUES, gdtx.packing(params, opt))
    assert_trees_close(packed, want, rtol=1e-5, what=f"{POLYAK.case_id(key)} packed")
    for k, traj in want.items():
        assert np.max(np.abs(traj - registry.PARAMS[k])) >= 0.02, k


@pytest.mark.parametrize("key", list(POLYAK.optax))
def test_polyak_sgd_matches_optax(key):
    params = to_f32(registry.PARAMS)
    got = _polyak_scan(POLYAK.make(key), params, _stacked_grads(), VALUES, None)
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        tx = POLYAK.make_optax(key)

        def body(carry, x):
            params, state = carry
            updates, state = tx.update(x[0], state, params, value=x[1])
            params = optax.apply_updates(params, updates)
            return (params, state), params

        run = jax.jit(lambda p, gs, vs: jax.lax.scan(body, (p, tx.init(p)), (gs, vs))[1])
        want = run(params, _stacked_grads(), jnp.asarray(VALUES))
    assert_trees_close(got, want, rtol=1e-5, what=f"{POLYAK.case_id(key)} against Optax")


def test_polyak_sgd_in_float64_and_bfloat16():
    """float64 meets the reference at 1e-10; bfloat16 parameters keep their dtype."""
    want = _polyak_reference("default")
    with jax.enable_x64(True):
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), registry.PARAMS)
        got = _polyak_scan(POLYAK.make(), params, _stacked_grads(jnp.float64), VALUES, None)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.bfloat16), registry.PARAMS)
    low = _polyak_scan(POLYAK.make(), params, _stacked_grads(jnp.bfloat16), VALUES, None)
    for k in want:
        assert low[k].dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(low[k])))


def test_polyak_sgd_converges_with_the_loss_as_value():
    """The registry's ``converges`` runs, each given f(x) as its value."""
    problems = {
        "quadratic": (lambda x: 0.1 * x[0] ** 2 + 2.0 * x[1] ** 2, (-5.0, -2.0), 1e-3 * 10.5),
        "rosenbrock": (
            lambda x: (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2,
            (-1.5, 2.0),
            1e-2,
        ),
    }
    for run in POLYAK.converges:
        f, start, tol = problems[run.problem]
        opt = POLYAK.make(args=run.args)

        def body(_, carry, f=f, opt=opt):
            x, state = carry
            value, grads = jax.value_and_grad(f)(x)
            updates, state = opt.update(grads, state, x, value=value)
            return gdtx.apply_updates(x, updates), state

        x0 = jnp.array(start)
        x = jax.jit(
            lambda x0, opt=opt, body=body, n=run.steps: jax.lax.fori_loop(
                0, n, body, (x0, opt.init(x0))
            )[0]
        )(x0)
        assert float(f(x)) < tol, (run.problem, np.asarray(x))


def test_polyak_sgd_needs_the_value():
    opt = gdtx.polyak_sgd()
    params = jnp.ones(2)
    with pytest.raises(ValueError, match=r"needs the loss: call update\(.*value=loss\)"):
        opt.update(params, opt.init(params), params)
    with pytest.raises(ValueError, match="`variant` must be 'sps' or 'sps\\+'"):
        gdtx.polyak_sgd(variant="sps-")
