"""L-BFGS with its zoom line search, against Optax, torch and a float64 NumPy reference.

The line searches, which the registry cannot express: its harness feeds each optimizer a
fixed sequence of gradients, while a line search evaluates the objective itself
(``value_fn``) at points of its choosing, so every run here is a minimisation of a
function (gdtx.problems' Rosenbrock, quadratic and Beale, and a small tree-shaped
least-squares problem for the packed layout). ``lbfgs(..., linesearch=None)`` is the
registry's ``lbfgs`` entry (tests/registry.py), checked there against its float64
reference, Optax, and in every module that draws from the registry; γ = ⟨s, y⟩/⟨y, y⟩
and γ₀ = min(1, 1/‖g‖), which the registry's random gradients cannot check (see its
entry), are checked here.

Each run is one jitted ``lax.scan`` over the steps, the step's value and gradient
reused from the line search (``value_and_grad_from_state``), computed once per
configuration and shared by the tests that read it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference_cat_lbfgs as ref
from jax.flatten_util import ravel_pytree

import gdtx
from gdtx import problems

D = np.array([0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 0.1])
X0 = np.array([-0.3, 0.2, 0.1, -0.1, 0.05, 0.02, -0.03, 0.5])  # ‖∇f(x₀)‖₁ = 0.74 ≤ 1


def _quadratic8(x):
    """½ Σ dᵢxᵢ² in eight dimensions, from X0 (condition number 40)."""
    return 0.5 * jnp.sum(jnp.asarray(D, x.dtype) * x * x)


CASES = {
    "rosenbrock": (problems.rosenbrock, problems.rosenbrock.start, problems.rosenbrock.minimum),
    "quadratic": (problems.quadratic, problems.quadratic.start, problems.quadratic.minimum),
    "beale": (problems.beale, problems.beale.start, problems.beale.minimum),
    "quadratic8": (_quadratic8, tuple(X0), (0.0,) * 8),
}
"""name: (objective, start, minimiser); the reference has each in tests/reference_cat_lbfgs.py."""
NAMES = tuple(CASES)
STEPS = 100


def _scan(opt, from_state, f, x0, steps, **data):
    """(iterates, f before each step, final state) of ``steps`` line-search steps."""
    value_and_grad = from_state(f)

    def body(carry, _):
        x, state = carry
        value, grad = value_and_grad(x, state=state, **data)
        u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f, **data)
        x = optax.apply_updates(x, u)
        return (x, state), (x, value)

    (_, state), (xs, values) = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
    return xs, values, state


@functools.cache
def _problem_runs(lib: str, dtype: str) -> dict[str, tuple[np.ndarray, np.ndarray, object]]:
    """Each case's run with the default ``lbfgs``, all in one program: (iterates, values
    before each step, final state)."""
    opt, from_state = {
        "gdtx": (gdtx.lbfgs(), gdtx.value_and_grad_from_state),
        "optax": (optax.lbfgs(), optax.value_and_grad_from_state),
    }[lib]

    def go(x0s):
        return {n: _scan(opt, from_state, CASES[n][0], x0s[n], STEPS) for n in NAMES}

    promotion = "standard" if lib == "optax" else "strict"  # Optax in x64 mixes int widths
    with jax.enable_x64(dtype == "float64"), jax.numpy_dtype_promotion(promotion):
        x0s = {n: jnp.asarray(CASES[n][1], jnp.dtype(dtype)) for n in NAMES}
        out = jax.jit(go)(x0s)
        return {
            n: (np.asarray(xs, np.float64), np.asarray(v, np.float64), state)
            for n, (xs, v, state) in out.items()
        }


def _converged_at(values: np.ndarray, tol: float) -> int:
    """The number of steps taken before f fell below ``tol``."""
    below = values < tol
    return int(np.argmax(below)) if below.any() else len(values)


def _rel_err(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per step: max |a − b| over max |b| (the iterates' scale)."""
    return np.max(np.abs(a - b), axis=1) / np.max(np.abs(b), axis=1)


# ---------------------------------------------------------------------------------------
# Against Optax and the float64 reference


@pytest.mark.parametrize("name", NAMES)
def test_matches_optax_lbfgs_over_100_steps(name):
    """In float64: two float32 programs (different HLO, so different rounding) part on
    Rosenbrock after about ten steps, as each parts from the float64 reference."""
    got, got_values, _ = _problem_runs("gdtx", "float64")[name]
    want, want_values, _ = _problem_runs("optax", "float64")[name]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(got_values, want_values, rtol=1e-5, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got[-1], CASES[name][2], atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_every_float32_step_matches_the_float64_reference(name):
    """Up to convergence, each float32 step agrees with the reference's float64 step taken
    from the same iterate and history: relative error ≤ 1e-5."""
    xs, values, _ = _problem_runs("gdtx", "float32")[name]
    n = _converged_at(values, 1e-9)
    assert n >= 5, (name, n)
    start = np.array(CASES[name][1])
    want, _ = ref.Lbfgs().minimize(ref.PROBLEMS[name], start, n, path=xs)
    err = _rel_err(xs[:n], want)
    assert err.max() <= 1e-5, (name, int(err.argmax()), err.max())


@pytest.mark.parametrize("name", NAMES)
def test_float64_run_matches_the_float64_reference(name):
    """In float64 the whole trajectory follows the reference's up to convergence."""
    xs, values, _ = _problem_runs("gdtx", "float64")[name]
    start = np.array(CASES[name][1])
    want, want_values = ref.Lbfgs().minimize(
        ref.PROBLEMS[name], start, _converged_at(values, 1e-20)
    )
    n = _converged_at(want_values, 1e-14)
    assert n >= 5, (name, n)
    err = _rel_err(xs[:n], want[:n])
    assert err.max() <= 1e-6, (name, int(err.argmax()), err.max())
    np.testing.assert_allclose(xs[-1], CASES[name][2], atol=1e-12)


# ---------------------------------------------------------------------------------------
# Against torch.optim.LBFGS(line_search_fn="strong_wolfe")


def _torch_lbfgs(fn, x0: np.ndarray, steps: int) -> np.ndarray:
    """torch's L-BFGS with one iteration per ``step(closure)`` (max_iter=1; max_eval=26
    leaves its line search its 25 evaluations) and no stopping rule."""
    torch = pytest.importorskip("torch")
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [x],
        lr=1,
        max_iter=1,
        max_eval=26,
        history_size=10,
        line_search_fn="strong_wolfe",
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )

    def closure():
        opt.zero_grad()
        loss = fn(x)
        loss.backward()
        return loss

    path = []
    for _ in range(steps):
        opt.step(closure)
        path.append(x.detach().numpy().copy())
    return np.array(path)


def test_same_steps_as_torch_on_a_quadratic():
    """Where the two agree by construction, they take the same steps: on a quadratic from
    a point with ‖g‖₁ ≤ 1 both first step along −g from η = 1 (torch's min(1, 1/‖g‖₁) and
    Optax's min(1, 1/‖g‖₂) are both 1), and both line searches find the exact minimiser
    along the line where η = 1 fails (a cubic or a quadratic fit is exact)."""
    torch = pytest.importorskip("torch")

    d = torch.tensor(D)
    want = _torch_lbfgs(lambda x: 0.5 * (d * x * x).sum(), X0, 10)
    got, _, _ = _problem_runs("gdtx", "float64")["quadratic8"]
    np.testing.assert_allclose(got[:10], want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["rosenbrock", "beale"])
def test_converges_like_torch(name):
    """Elsewhere the line searches choose different points (torch brackets and
    interpolates its own way, and starts from min(1, 1/‖g‖₁) along −g), so the paths
    differ: both reach the minimum to 1e-6, in about as many iterations."""

    def fn(x):
        a, b = x[0], x[1]
        if name == "rosenbrock":
            return (1 - a) ** 2 + 100 * (b - a * a) ** 2
        return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2

    p = getattr(problems, name)
    torch_path = _torch_lbfgs(fn, np.array(p.start), 60)
    gdtx_path, _, _ = _problem_runs("gdtx", "float64")[name]
    iterations = []
    for path in (torch_path, gdtx_path):
        err = np.max(np.abs(path - np.array(p.minimum)), axis=1)
        assert err[-1] < 1e-6, (name, err[-1])
        iterations.append(int(np.argmax(err < 1e-6)) + 1)
    assert max(iterations) <= 1.3 * min(iterations), (name, iterations)


# ---------------------------------------------------------------------------------------
# Layouts, data arguments, maximize


SHAPES = {"w": (3, 2), "b": (2,), "c": ()}
RNG = np.random.default_rng(0)
A = RNG.standard_normal((6, 3)).astype(np.float32)
T = RNG.standard_normal((6, 2)).astype(np.float32)


def _loss(p, a=A, t=T):
    """Least squares with a softplus term: smooth, not quadratic, over three leaves."""
    z = a @ p["w"] + p["b"][None, :] + p["c"]
    return jnp.mean((z - t) ** 2) + 0.1 * jnp.mean(jax.nn.softplus(z)) + 0.01 * p["c"] ** 2


def test_packed_per_leaf_and_flat_vector_agree():
    """The inner products run over the whole tree: per-leaf, packed and as one flat
    vector, the runs agree to float32 rounding (the memory keeps a leading axis of m
    slots on every leaf or buffer)."""
    params = {k: jnp.asarray(RNG.standard_normal(s), jnp.float32) for k, s in SHAPES.items()}
    pk = gdtx.packing(params)
    flat0, unravel = ravel_pytree(params)
    opt = gdtx.lbfgs(memory_size=4)
    from_state = gdtx.value_and_grad_from_state

    @jax.jit
    def go(params, packed, flat):
        tree_run = _scan(opt, from_state, _loss, params, 15)
        packed_run = _scan(opt, from_state, lambda q: _loss(pk.unpack(q)), packed, 15)
        flat_run = _scan(opt, from_state, lambda v: _loss(unravel(v)), flat, 15)
        return tree_run, packed_run, flat_run

    tree_run, packed_run, flat_run = go(params, pk.pack(params), flat0)
    assert [b.shape for b in packed_run[2].inner[0].s.buffers] == [(4, 9)]  # m = 4 slots
    tree_path = np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(tree_run[0]))
    packed_path = np.asarray(jax.vmap(lambda q: ravel_pytree(pk.unpack(q))[0])(packed_run[0]))
    np.testing.assert_allclose(packed_path, tree_path, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(flat_run[0]), tree_path, rtol=1e-5, atol=1e-6)
    assert float(tree_run[1][-1]) < 0.5 * float(tree_run[1][0])  # it minimises

    # The memory converts between the forms (checkpoints): slots stay slots.
    unpacked = pk.unpack_state(packed_run[2])
    assert jax.tree.structure(unpacked) == jax.tree.structure(tree_run[2])
    for a, b in zip(jax.tree.leaves(unpacked), jax.tree.leaves(tree_run[2]), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    packed = pk.pack_state(tree_run[2], opt)
    assert jax.tree.structure(packed) == jax.tree.structure(packed_run[2])
    for a, b in zip(jax.tree.leaves(packed), jax.tree.leaves(packed_run[2]), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_data_keywords_reach_value_fn_as_in_optax():
    """``update(..., a=batch_a, t=batch_t)``: keywords besides value, grad and value_fn go
    to ``value_fn``, as in Optax; the runs match."""
    params = {k: jnp.zeros(s, jnp.float32) for k, s in SHAPES.items()}
    data = {"a": jnp.asarray(A), "t": jnp.asarray(T)}

    @jax.jit
    def go(params, data):
        ours = _scan(gdtx.lbfgs(), gdtx.value_and_grad_from_state, _loss, params, 8, **data)
        theirs = _scan(optax.lbfgs(), optax.value_and_grad_from_state, _loss, params, 8, **data)
        return ours[:2], theirs[:2]

    ours, theirs = go(params, data)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_maximize_ascends_the_objective():
    """``maximize=True`` on −f takes the steps that the default takes on f."""
    f = problems.beale

    @jax.jit
    def go(x0):
        up = _scan(
            gdtx.lbfgs(maximize=True), gdtx.value_and_grad_from_state, lambda x: -f(x), x0, 12
        )
        down = _scan(gdtx.lbfgs(), gdtx.value_and_grad_from_state, f, x0, 12)
        return up[:2], down[:2]

    (up_x, up_v), (down_x, down_v) = go(f.x0())
    np.testing.assert_allclose(np.asarray(up_x), np.asarray(down_x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(up_v), -np.asarray(down_v), rtol=1e-5)


def test_backtracking_line_search_matches_optax():
    """``scale_by_backtracking_linesearch`` after gradient descent and inside ``lbfgs``,
    against Optax's, its gradient reused through ``value_and_grad_from_state``."""
    rosenbrock, beale = problems.rosenbrock, problems.beale

    def runs(lib, x0):
        search = lib.scale_by_backtracking_linesearch(15, store_grad=True)
        descent = lib.chain(lib.sgd(1.0), search)
        quasi_newton = lib.lbfgs(
            linesearch=lib.scale_by_backtracking_linesearch(20, store_grad=True)
        )
        return (
            _scan(descent, lib.value_and_grad_from_state, rosenbrock, x0, 30)[:2],
            _scan(quasi_newton, lib.value_and_grad_from_state, beale, beale.x0(), 30)[:2],
        )

    x0 = rosenbrock.x0()
    ours = jax.jit(functools.partial(runs, gdtx))(x0)
    theirs = jax.jit(functools.partial(runs, optax))(x0)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert float(ours[1][1][-1]) < 1e-3 * float(ours[1][1][0])  # and it minimises


def test_optax_reads_the_line_search_state():
    """The line search's state has Optax's field names: ``optax.value_and_grad_from_state``
    finds the value and gradient in a gdtx state."""
    f = problems.rosenbrock
    xs, _, state = _problem_runs("gdtx", "float32")["rosenbrock"]
    x = jnp.asarray(xs[-1], jnp.float32)
    ours = gdtx.value_and_grad_from_state(f)(x, state=state)
    theirs = optax.value_and_grad_from_state(f)(x, state=state)
    np.testing.assert_allclose(np.asarray(ours[1]), np.asarray(theirs[1]))
    assert float(ours[0]) == float(theirs[0]) == float(state.inner[-1].value)
    np.testing.assert_allclose(float(ours[0]), float(f(x)), atol=1e-12)


# ---------------------------------------------------------------------------------------
# Errors


def _first_update(opt, **kwargs):
    """One update, traced under jit: an error raised while tracing needs no compilation."""
    x = jnp.array([1.0, 2.0])
    return jax.jit(lambda x: opt.update(x, opt.init(x), x, **kwargs))(x)


def test_missing_value_fn_names_it():
    with pytest.raises(ValueError, match=r"value_fn=f.*`value_fn` is missing"):
        _first_update(gdtx.lbfgs(), value=1.0, grad=jnp.ones(2))
    with pytest.raises(ValueError, match=r"scale_by_backtracking_linesearch needs the objective"):
        _first_update(gdtx.scale_by_backtracking_linesearch(), value=1.0, grad=jnp.ones(2))


def test_reusing_a_gradient_the_line_search_does_not_keep_is_refused():
    opt = gdtx.chain(gdtx.sgd(1.0), gdtx.scale_by_backtracking_linesearch(5))
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="store_grad=True"):
        gdtx.value_and_grad_from_state(jnp.sum)(x, state=opt.init(x))


def test_keywords_value_fn_does_not_take_are_named():
    with pytest.raises(TypeError, match=r"no keyword argument\(s\) \['batch'\]"):
        _first_update(gdtx.scale_by_zoom_linesearch(), value_fn=lambda x: jnp.sum(x), batch=3)


def test_value_fn_must_return_a_scalar():
    with pytest.raises(ValueError, match="must return a scalar, got shape"):
        _first_update(gdtx.scale_by_zoom_linesearch(), value_fn=lambda x: x)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: gdtx.lbfgs(memory_size=0), r"lbfgs: `memory_size` must be a positive integer"),
        (lambda: gdtx.scale_by_lbfgs(memory_size=2.5), r"scale_by_lbfgs: `memory_size`"),
        (lambda: gdtx.lbfgs(learning_rate=-1.0), r"lbfgs: `learning_rate` must lie in"),
        (lambda: gdtx.scale_by_zoom_linesearch(0), r"`max_linesearch_steps` must be a positive"),
        (lambda: gdtx.scale_by_zoom_linesearch(5, slope_rtol=1.5), r"`slope_rtol` must lie in"),
        (lambda: gdtx.scale_by_zoom_linesearch(5, curv_rtol=-1.0), r"`curv_rtol` must lie in"),
        (
            lambda: gdtx.scale_by_zoom_linesearch(5, initial_guess_strategy="two"),
            r"`initial_guess_strategy` must be 'one' or 'keep', got 'two'",
        ),
        (lambda: gdtx.scale_by_backtracking_linesearch(0), r"`max_backtracking_steps` must be"),
        (
            lambda: gdtx.scale_by_backtracking_linesearch(5, decrease_factor=1.0),
            r"scale_by_backtracking_linesearch: `decrease_factor` must lie in \(0.0, 1.0\)",
        ),
        (
            lambda: gdtx.lbfgs(linesearch=optax.scale_by_zoom_linesearch(5), maximize=True),
            r"lbfgs: `maximize=True` needs a gdtx line search",
        ),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_complex_parameters_are_refused():
    with pytest.raises(
        TypeError, match=r"scale_by_lbfgs: real parameters only.*complex64 at \['z'\]"
    ):
        gdtx.lbfgs().init({"z": jnp.ones(2, jnp.complex64)})


def test_curvature_condition_can_be_dropped():
    """curv_rtol=∞ (Optax's note) keeps sufficient decrease alone: a backtracking search.

    f(x) = ‖x‖²/32 from x₀ = (1, −2) along u = −∇f(x₀) = −x₀/16: f(x₀ + ηu) =
    (1 − η/16)²f(x₀) and φ′(η) = (1 − η/16)φ′(0). The first trial, η = 1, decreases f
    by far more than c₁ asks, but |φ′(1)| = (15/16)|φ′(0)| > c₂|φ′(0)| (c₂ = 0.9) with
    φ′(1) < 0: the strong Wolfe search grows η to 2, where |φ′(2)| = (7/8)|φ′(0)| passes,
    after two evaluations; without the curvature condition it takes η = 1 after one. Every
    number here is exact in float32."""

    def f(x):
        return jnp.sum(x * x) / 32

    x = jnp.array([1.0, -2.0])
    value, grad = jax.value_and_grad(f)(x)
    for curv_rtol, eta, evaluations in ((0.9, 2.0, 2), (float("inf"), 1.0, 1)):
        tx = gdtx.scale_by_zoom_linesearch(10, curv_rtol=curv_rtol)
        u, state = tx.update(-grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
        np.testing.assert_array_equal(x + u, (1 - eta / 16) * np.array([1.0, -2.0]))
        assert float(state.inner.learning_rate) == eta, curv_rtol
        assert int(state.inner.info.num_linesearch_steps) == evaluations, curv_rtol
