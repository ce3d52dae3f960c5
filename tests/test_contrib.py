"""What the registry's gradient-sequence harness cannot express for the algorithms of Optax's
contrib: schedule-free evaluation parameters, lookahead's slow weights, SAM's adversarial
steps and Sophia's Hessian estimates, each against its float64 reference
(tests/reference_cat_contrib.py) and its Optax twin."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref_base
import reference_cat_contrib as refc
import registry
from helpers import assert_trees_close, run_gdtx, run_optax, to_f32
from registry import GRADS, PARAMS

import gdtx

# ---------------------------------------------------------------------------------------
# Schedule-Free: x = (y − (1 − β₁)z)/β₁


SF_CASES = {"sgd": "schedule_free_sgd_warmup_decay", "adamw": "schedule_free_adamw_nondefault"}
"""The registry's case of each schedule-free algorithm with warm-up and weight decay."""


@pytest.mark.parametrize("name", sorted(SF_CASES))
def test_schedule_free_eval_params_match_reference_and_optax(name):
    """x, which the registry's runs (of y) do not see, against the reference's and Optax's
    after 60 steps."""
    alg, key = registry.cases()[SF_CASES[name]]
    grads = GRADS[:60]
    path, state = run_gdtx(alg.make(key), PARAMS, grads)
    x = gdtx.schedule_free_eval_params(state, path[-1])

    ref = alg.make_reference(key)
    ref_base.run(ref, PARAMS, grads)
    want = {k: s["x"] for k, s in ref.state.items()}
    assert_trees_close(x, want, rtol=1e-5, what=f"{name} x vs reference")
    assert max(float(np.max(np.abs(want[k] - path[-1][k]))) for k in want) > 1e-3  # x ≠ y

    with jax.numpy_dtype_promotion("standard"):
        tx = alg.make_optax(key)
        params = to_f32(PARAMS)
        opt_state = tx.init(params)
        update = jax.jit(tx.update)
        for g in grads:
            updates, opt_state = update(to_f32(g), opt_state, params)
            params = optax.apply_updates(params, updates)
        x_optax = optax.contrib.schedule_free_eval_params(opt_state, params)
    assert_trees_close(x, x_optax, rtol=1e-5, what=f"{name} x vs Optax")


def test_schedule_free_eval_params_needs_a_schedule_free_state():
    state = gdtx.adam(0.1).init({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"exactly one ScheduleFreeState.*found 0"):
        gdtx.schedule_free_eval_params(state, {"w": jnp.ones(2)})


def test_schedule_free_needs_params():
    opt = gdtx.schedule_free_sgd(0.1)
    with pytest.raises(ValueError, match="reads the parameters"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


# ---------------------------------------------------------------------------------------
# Lookahead: Optax's form (LookaheadParams) against optax.lookahead, both weights


# Here because a run of gradients on plain parameters cannot drive Optax's lookahead; the
# cases are the registry's.
LOOKAHEAD = registry.ALGORITHMS["lookahead"]


@pytest.mark.parametrize("key", LOOKAHEAD.case_keys())
def test_lookahead_with_lookahead_params_matches_optax(key):
    """Each of the registry's cases, on LookaheadParams and on plain parameters, against
    Optax's lookahead (``optax_fn``: the registry's runs cannot feed it LookaheadParams)."""
    name = LOOKAHEAD.case_id(key)
    opt = LOOKAHEAD.make(key)
    params = gdtx.LookaheadParams.init_synced(to_f32(PARAMS))
    state = opt.init(params)
    update = jax.jit(opt.update)
    with jax.numpy_dtype_promotion("standard"):
        optax_fn = LOOKAHEAD.optax_fn
        assert optax_fn is not None
        tx = LOOKAHEAD.args(key).call(optax_fn, optax)
        o_params = optax.LookaheadParams.init_synced(to_f32(PARAMS))
        o_state = tx.init(o_params)
        o_update = jax.jit(tx.update)
    # Plain parameters: the fast weights, the slow ones in the state.
    plain_opt = LOOKAHEAD.make(key)
    plain = to_f32(PARAMS)
    plain_state = plain_opt.init(plain)
    plain_update = jax.jit(plain_opt.update)
    for g in GRADS[:40]:
        g = to_f32(g)
        updates, state = update(g, state, params)
        assert isinstance(updates, gdtx.LookaheadParams)
        params = gdtx.apply_updates(params, updates)
        with jax.numpy_dtype_promotion("standard"):
            o_updates, o_state = o_update(g, o_state, o_params)
            o_params = optax.apply_updates(o_params, o_updates)
        updates, plain_state = plain_update(g, plain_state, plain)
        plain = gdtx.apply_updates(plain, updates)
    assert_trees_close(params.fast, o_params.fast, what=f"{name} fast")
    assert_trees_close(params.slow, o_params.slow, what=f"{name} slow")
    assert_trees_close(plain, o_params.fast, what=f"{name} plain fast")
    assert_trees_close(gdtx.lookahead_slow_params(plain_state), o_params.slow, what=name)
    assert max(float(np.max(np.abs(params.slow[k] - PARAMS[k]))) for k in PARAMS) > 1e-3


def test_lookahead_slow_params_needs_plain_parameters():
    opt = gdtx.lookahead(gdtx.sgd(0.1), 2, 0.5)
    state = opt.init(gdtx.LookaheadParams.init_synced(jnp.ones(2)))
    with pytest.raises(ValueError, match="exactly one LookaheadState with slow weights"):
        gdtx.lookahead_slow_params(state)


def test_lookahead_checks_its_arguments():
    with pytest.raises(ValueError, match="lookahead: `sync_period`"):
        gdtx.lookahead(gdtx.sgd(0.1), 0, 0.5)
    with pytest.raises(ValueError, match="lookahead: `slow_step_size`"):
        gdtx.lookahead(gdtx.sgd(0.1), 2, 1.5)


# ---------------------------------------------------------------------------------------
# Prodigy: the default case's documented difference from Optax


def test_prodigy_default_is_nearer_the_reference_than_optax():
    """Optax forms the bias correction 1 − β₂ᵗ by subtraction in float32; the d estimate
    amplifies that rounding, so Optax's default trajectory strays past 1e-5 of the float64
    reference while gdtx's (expm1) stays within it: the registry twins Optax elsewhere."""
    got, want = registry.gdtx_path("prodigy"), registry.reference_path("prodigy")
    with jax.numpy_dtype_promotion("standard"):
        theirs = run_optax(optax.contrib.prodigy(estim_lr0=0.02), PARAMS, GRADS)

    def err(x):
        return max(float(np.max(np.abs(x[k] - want[k])) / np.max(np.abs(want[k]))) for k in x)

    assert err(got) < 2e-6 < 1e-5 < err(theirs)


def test_prodigy_eps0_gives_a_zero_step_where_no_gradient_came():
    """With ε = 0, a coordinate whose gradients were all zero has m = v = 0: its step is 0
    (the shared inverse root's rule), not 0/0 = NaN; the other coordinate steps."""
    opt = gdtx.prodigy(eps=0.0, estim_lr0=0.1)
    params = jnp.array([0.0, 3.0])
    updates, _ = opt.update(jnp.array([0.0, 2.0]), opt.init(params), params)
    assert float(updates[0]) == 0.0
    assert np.isfinite(float(updates[1])) and float(updates[1]) < 0


# ---------------------------------------------------------------------------------------
# SAM: the opaque mode (a whole period per call, gradients from grad_fn)


def _sam_loss(p):
    """A smooth non-quadratic loss over helpers.SHAPES, so gradients depend on the point."""
    return sum(jnp.sum(jnp.cos(x) + 0.5 * x**2 * (1 + jnp.sin(x) ** 2)) for x in p.values())


# Here because the opaque mode needs a gradient function, not a gradient sequence; the
# cases are the registry's forms, with opaque_mode=True.
SAM = registry.ALGORITHMS["sam"]


@pytest.mark.parametrize("key", SAM.forms)
def test_sam_opaque_mode_matches_reference_and_optax(key):
    """Each of the registry's forms of SAM in opaque mode against Optax's opaque mode and
    against the float64 reference run in transparent form with gradients of the same loss
    at the points it visits (the opaque call's result is the reference after each whole
    period)."""
    name = SAM.case_id(key)
    opaque = SAM.args(key).with_kwargs(opaque_mode=True)
    grad = jax.grad(_sam_loss)

    def grad_fn(params, i):
        del i
        return grad(params)

    opt = SAM.make(args=opaque)
    params = to_f32(PARAMS)
    state = opt.init(params)
    step = jax.jit(lambda p, s: opt.update(grad(p), s, p, grad_fn=grad_fn))
    with jax.numpy_dtype_promotion("standard"):
        optax_fn = SAM.optax_fn
        assert optax_fn is not None
        tx = opaque.call(optax_fn, optax)
        o_params = to_f32(PARAMS)
        o_state = tx.init(o_params)
        o_step = jax.jit(lambda p, s: tx.update(grad(p), s, p, grad_fn=grad_fn))

    ref = SAM.make_reference(key)  # transparent: k calls a period
    ref_params = {k: np.array(v) for k, v in PARAMS.items()}
    ref.init(ref_params)
    jax_grad = jax.jit(grad)
    for _ in range(15):
        updates, state = step(params, state)
        params = gdtx.apply_updates(params, updates)
        with jax.numpy_dtype_promotion("standard"):
            o_updates, o_state = o_step(o_params, o_state)
            o_params = optax.apply_updates(o_params, o_updates)
        for _ in range(ref.k):  # the reference in transparent form: k calls per period
            with jax.enable_x64(True):  # float64 gradients at the reference's float64 points
                g = jax.tree.map(np.asarray, jax_grad(jax.tree.map(jnp.asarray, ref_params)))
            assert all(v.dtype == np.float64 for v in g.values())
            ref_params = ref.step(ref_params, g)
    assert_trees_close(params, ref_params, rtol=1e-5, what=f"{name} vs reference")
    assert_trees_close(params, o_params, rtol=1e-5, what=f"{name} vs Optax")
    assert max(float(np.max(np.abs(params[k] - PARAMS[k]))) for k in PARAMS) > 1e-2


def test_sam_opaque_mode_needs_grad_fn():
    opt = gdtx.sam(gdtx.sgd(0.1), gdtx.chain(gdtx.normalize(), gdtx.sgd(0.05)), opaque_mode=True)
    with pytest.raises(ValueError, match="grad_fn"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)), jnp.ones(2))


def test_sam_with_sync_period_one_is_its_outer_optimizer():
    """Every step an outer step from the current parameters (Optax's transparent mode
    instead returns to the previous step's parameters when k = 1): against the float64
    reference's Adam, and its SAM with k = 1. Here, not a registry variant, because it
    compares SAM with another algorithm's reference, which a case's own cannot."""
    opt = gdtx.sam(gdtx.adam(0.05), gdtx.chain(gdtx.normalize(), gdtx.sgd(0.1)), 1)
    got, _ = run_gdtx(opt, PARAMS, GRADS[:30])
    adam64 = ref_base.run(ref_base.Adam(0.05), PARAMS, GRADS[:30])
    sam64 = ref_base.run(refc.SAM(ref_base.Adam(0.05), ref_base.SGD(0.1), 1), PARAMS, GRADS[:30])
    for step in range(30):
        assert_trees_close(got[step], adam64[step], rtol=1e-6, what=f"sam(k=1) step {step}")
        assert_trees_close(got[step], sam64[step], rtol=1e-6, what=f"sam(k=1) step {step}")


def test_sam_checks_sync_period():
    with pytest.raises(ValueError, match="sam: `sync_period`"):
        gdtx.sam(gdtx.sgd(0.1), gdtx.sgd(0.1), 0)


# ---------------------------------------------------------------------------------------
# Sophia-H: Hutchinson's estimate from update(..., obj_fn=f)


def _separable(p):
    """Σ x⁴/4 + cos x: a diagonal Hessian, 3x² − cos x, on which Hutchinson's u ⊙ Hu is
    the exact diagonal whatever the signs u."""
    return sum(jnp.sum(x**4 / 4 + jnp.cos(x)) for x in p.values())


def _separable_grad(p):
    return p**3 - np.sin(p)  # ∂/∂x (x⁴/4 + cos x)


def _separable_diag(p, g):
    del g
    return 3 * p**2 - np.cos(p)  # ∂²/∂x² (x⁴/4 + cos x)


def _coupled(p):
    """A loss whose Hessian is not diagonal: Hutchinson's estimate depends on the draws."""
    flat = jnp.concatenate([x.ravel() for x in p.values()])
    return _separable(p) + 0.5 * jnp.sum(flat) ** 2 + jnp.sum(jnp.sin(flat[:-1]) * flat[1:])


def _run_sophia_h(loss, opt, params, steps):
    grad = jax.grad(loss)
    step = jax.jit(lambda p, s: opt.update(grad(p), s, p, obj_fn=loss))
    state = opt.init(params)
    for _ in range(steps):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
    return params


SOPHIA_KW = {"b1": 0.9, "gamma": 0.5, "clip_threshold": 2.0, "update_interval": 3}


def test_sophia_h_matches_reference_on_a_separable_loss():
    """On a diagonal Hessian the estimate is exact, so the float64 reference computes ĥ in
    closed form; the run checks obj_fn's path, the interval and the clipping."""
    got = _run_sophia_h(_separable, gdtx.sophia(0.05, **SOPHIA_KW), to_f32(PARAMS), 40)
    ref = refc.Sophia(0.05, **SOPHIA_KW)
    ref.estimate = _separable_diag
    params = {k: np.array(v) for k, v in PARAMS.items()}
    ref.init(params)
    for _ in range(40):
        params = ref.step(params, {k: _separable_grad(v) for k, v in params.items()})
    assert_trees_close(got, params, rtol=1e-5, what="sophia-h vs reference")
    assert max(float(np.max(np.abs(params[k] - PARAMS[k]))) for k in PARAMS) > 1e-2


def test_sophia_h_matches_optax_with_the_same_key():
    """Hutchinson's draws as Optax makes them: the same key gives the same trajectory on a
    loss whose Hessian is not diagonal."""
    key = jax.random.PRNGKey(7)
    kw = {**SOPHIA_KW, "weight_decay": 0.01}
    opt = gdtx.sophia(0.05, hessian_diagonal_fn=gdtx.hutchinson_estimator_diag_hessian(key), **kw)
    got = _run_sophia_h(_coupled, opt, to_f32(PARAMS), 40)
    with jax.numpy_dtype_promotion("standard"):
        hess = optax.contrib.hutchinson_estimator_diag_hessian(key)
        tx = optax.contrib.sophia(0.05, hessian_diagonal_fn=hess, **kw)
        want = _run_sophia_h(_coupled, tx, to_f32(PARAMS), 40)
    assert_trees_close(got, want, rtol=1e-5, what="sophia-h vs Optax")
    other = gdtx.sophia(0.05, hessian_diagonal_fn=gdtx.hutchinson_estimator_diag_hessian(), **kw)
    elsewhere = _run_sophia_h(_coupled, other, to_f32(PARAMS), 40)  # another key: other draws
    assert max(float(np.max(np.abs(elsewhere[k] - want[k]))) for k in want) > 1e-4


def _all_coupled(p):
    """Σ x⁴/4 + cos x + (Σx)²/2 over every element of a tree or of a Packed value's buffers
    (the same sums in any order): ∇²f = diag(3x² − cos x) + 11ᵀ is not diagonal, so
    Hutchinson's u ⊙ ∇²f u = diag + u·Σu depends on the signs drawn."""
    xs = jax.tree.leaves(p)
    return sum(jnp.sum(x**4 / 4 + jnp.cos(x)) for x in xs) + 0.5 * sum(jnp.sum(x) for x in xs) ** 2


@pytest.mark.parametrize("through", ["buffers", "unpack"])
def test_hutchinson_on_packed_parameters_draws_the_per_leaf_signs(through):
    """Packed parameters get the signs the tree gets, leaf by leaf (one key per array, over
    runs of equal-size leaves of different shapes): the estimate, unpacked, is the per-leaf
    one at two steps (the key advances). obj_fn reads the buffers, or the tree through
    Packing.unpack (a custom_vjp, which the packed path's reverse-over-reverse product
    differentiates)."""
    rng = np.random.default_rng(3)
    shapes = {"a": (3, 4), "b": (4, 3), "c": (12,), "d": (5,), "e": (2, 2), "f": (3, 4)}
    params = {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in shapes.items()}
    pk = gdtx.packing(params)
    flat = pk.pack(params)
    packed_fn = _all_coupled if through == "buffers" else lambda p: _all_coupled(pk.unpack(p))
    tx = gdtx.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(5))
    tree_state, packed_state = tx.init(params), tx.init(flat)
    tree_update = jax.jit(functools.partial(tx.update, obj_fn=_all_coupled))
    packed_update = jax.jit(functools.partial(tx.update, obj_fn=packed_fn))
    for _ in range(2):
        want, tree_state = tree_update(params, tree_state, params)
        got, packed_state = packed_update(flat, packed_state, flat)
        assert isinstance(got, gdtx.Packed)
        assert_trees_close(pk.unpack(got), want, rtol=1e-6, what="packed Hutchinson")
        diag = {k: 3 * x**2 - jnp.cos(x) for k, x in params.items()}
        assert max(float(jnp.max(jnp.abs(want[k] - diag[k]))) for k in want) > 0.5  # u·Σu ≠ 0


def test_sophia_h_needs_obj_fn():
    opt = gdtx.sophia(0.1)
    with pytest.raises(ValueError, match="obj_fn"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)), jnp.ones(2))
    with pytest.raises(TypeError, match="'objective'"):  # a misspelt keyword is refused
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)), jnp.ones(2), objective=_separable)
