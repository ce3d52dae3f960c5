"""Schedules against Optax and against PyTorch's ``torch.optim.lr_scheduler`` (issue 12).

Each gdtx schedule is evaluated over a range of counts against its Optax namesake with
matched arguments; the gdtx calls that the docstrings give for PyTorch's
``OneCycleLR``, ``CosineAnnealingWarmRestarts``, ``StepLR`` and ``MultiStepLR`` are
checked against the live torch schedulers. torch's ``scheduler.step()`` follows
``optimizer.step()``, so torch's step k + 1 runs at the learning rate after k
scheduler steps: the gdtx schedule at count k.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtx

COUNTS = jnp.arange(160)


def values(schedule, steps=None):
    """The schedule at counts 0, …, steps − 1. Always evaluated on the same counts (then
    cut), so the eager operations compile once for all schedules."""
    if isinstance(schedule, gdtx.Schedule):
        return np.asarray(schedule(COUNTS))[:steps]
    with jax.numpy_dtype_promotion("standard"):
        return np.asarray(jax.vmap(schedule)(COUNTS))[:steps]


def assert_values(got, want):
    want = np.asarray(want, np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


CYCLE_A = dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=30, end_value=0.1)
CYCLE_B = dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=20, exponent=2.0)
CYCLE_C = dict(init_value=0.2, peak_value=0.8, warmup_steps=10, decay_steps=40)

CASES = {
    "polynomial": [
        ("polynomial_schedule", (1.0, 0.01, 2, 100), {}),
        ("polynomial_schedule", (0.5, 1.5, 0.5, 37), {"transition_begin": 10}),
        ("polynomial_schedule", (1.0, 0.0, 1, 50), {}),
    ],
    "sgdr": [
        ("sgdr_schedule", ([CYCLE_A, CYCLE_B, CYCLE_C],), {}),
        ("sgdr_schedule", ([CYCLE_B] * 3,), {}),
    ],
    "piecewise_interpolate": [
        ("piecewise_interpolate_schedule", ("linear", 1.0, {4: 0.1, 8: 0.01}), {}),
        ("piecewise_interpolate_schedule", ("cosine", 2.0, {0: 0.5, 10: 3.0, 45: 0.1}), {}),
        ("piecewise_interpolate_schedule", ("cosine", 0.3), {}),
        ("piecewise_interpolate_schedule", ("linear", 0.3, {12.5: 2.0, 99: 0.0}), {}),
    ],
    "cosine_onecycle": [
        ("cosine_onecycle_schedule", (100, 1.0), {}),
        ("cosine_onecycle_schedule", (57, 0.3, 0.25, 10.0, 100.0), {}),
    ],
    "linear_onecycle": [
        ("linear_onecycle_schedule", (100, 1.0), {}),
        ("linear_onecycle_schedule", (57, 0.3, 0.2, 0.7, 10.0, 100.0), {}),
    ],
    "warmup_constant": [
        ("warmup_constant_schedule", (0.0, 1.0, 10), {}),
        ("warmup_constant_schedule", (0.5, 0.1, 7), {}),
    ],
    "warmup_exponential_decay": [
        ("warmup_exponential_decay_schedule", (0.0, 1.0, 10, 5, 0.9), {}),
        (
            "warmup_exponential_decay_schedule",
            (0.1, 1.0, 10, 7, 0.5),
            {"transition_begin": 3, "staircase": True, "end_value": 0.05},
        ),
        ("warmup_exponential_decay_schedule", (0.1, 1.0, 3, 20, 1.1), {"end_value": 2.0}),
    ],
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_matches_optax(kind):
    for name, args, kwargs in CASES[kind]:
        ours, theirs = getattr(gdtx, name)(*args, **kwargs), getattr(optax, name)(*args, **kwargs)
        assert isinstance(ours, gdtx.Schedule)
        hash(ours)  # Python numbers stay Python numbers: hashable, so static in Flax NNX
        assert_values(values(ours), values(theirs))


@pytest.mark.parametrize("name", sorted({case[0] for cases in CASES.values() for case in cases}))
def test_signature_matches_optax(name):
    ours = inspect.signature(getattr(gdtx, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


def test_schedules_take_traced_constants():
    peaks = jnp.array([1.0, 2.0])
    at_peak = jax.vmap(lambda p: gdtx.cosine_onecycle_schedule(100, p)(30))(peaks)
    np.testing.assert_allclose(np.asarray(at_peak), [1.0, 2.0], rtol=1e-6)
    s = gdtx.polynomial_schedule(1.0, 0.0, 2.0, 10)
    leaves = jax.tree.leaves(s)
    assert leaves == [1.0, 0.0, 2.0, 10, 0]  # every constant a leaf, as given


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gdtx.polynomial_schedule(1.0, 0.0, 1.0, 0), "transition_steps"),
        (lambda: gdtx.piecewise_interpolate_schedule("spline", 1.0), "interpolate_type"),
        (lambda: gdtx.piecewise_interpolate_schedule("linear", 1.0, {5: -1.0}), "scale at 5"),
        (lambda: gdtx.linear_onecycle_schedule(100, 1.0, 0.5, 0.4), "pct_final"),
        (lambda: gdtx.cosine_onecycle_schedule(100, 1.0, div_factor=0.0), "div_factor"),
        (lambda: gdtx.warmup_constant_schedule(0.0, 1.0, 0), "warmup_steps"),
        (lambda: gdtx.warmup_exponential_decay_schedule(0.0, 1.0, 5, 5, 0.0), "decay_rate"),
        (lambda: gdtx.sgdr_schedule([]), "at least one cycle"),
        (lambda: gdtx.sgdr_schedule([dict(CYCLE_A, decay_steps=0)]), "decay_steps"),
    ],
)
def test_invalid_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sgdr_names_bad_cycle_arguments():
    with pytest.raises(TypeError, match="unknown: \\['alpha'\\], missing: \\['warmup_steps'\\]"):
        gdtx.sgdr_schedule([{"init_value": 0.0, "peak_value": 1.0, "decay_steps": 5, "alpha": 0}])


# ---------------------------------------------------------------------------------------
# PyTorch's schedulers, live


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def torch_lrs(torch, make, steps, lr=0.1):
    """The learning rate of each of torch's first ``steps`` optimizer steps."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)
    scheduler = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.asarray(out)


@pytest.mark.parametrize(
    ("T", "pct", "strategy", "three_phase"),
    [
        (100, 0.3, "cos", False),
        (37, 0.25, "cos", False),  # pct·T = 9.25: a fractional boundary
        (100, 0.3, "linear", False),
        (60, 0.2, "linear", True),
        (50, 0.4, "cos", True),
    ],
)
def test_onecycle_lr(torch, T, pct, strategy, three_phase):
    max_lr, d, f = 0.5, 25.0, 1e4
    want = torch_lrs(
        torch,
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr, total_steps=T, pct_start=pct, anneal_strategy=strategy,
            div_factor=d, final_div_factor=f, three_phase=three_phase,
        ),
        T,
    )  # fmt: skip
    kind = "cosine" if strategy == "cos" else "linear"
    if three_phase:
        bounds = {pct * T - 1: d, 2 * pct * T - 2: 1 / d, T - 1: 1 / f}
    else:
        bounds = {pct * T - 1: d, T - 1: 1 / (d * f)}
    s = gdtx.piecewise_interpolate_schedule(kind, max_lr / d, bounds)
    assert_values(values(s, T), want)
    if float(pct * T).is_integer():  # the peak at step pT − 1, one step before Optax's
        assert int(np.argmax(want)) == round(pct * T) - 1
    if strategy == "cos" and not three_phase:  # Optax's one-cycle: the same, a step later
        optax_like = values(gdtx.cosine_onecycle_schedule(T, max_lr, pct, d, f))
        assert int(np.argmax(optax_like)) == int(pct * T)


@pytest.mark.parametrize(("T_0", "T_mult", "eta_min", "cycles"), [(7, 1, 0.0, 5), (10, 2, 1e-3, 3)])
def test_cosine_annealing_warm_restarts(torch, T_0, T_mult, eta_min, cycles):
    lr = 0.1
    steps = sum(T_0 * T_mult**i for i in range(cycles))
    want = torch_lrs(
        torch,
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min),
        steps,
        lr,
    )
    s = gdtx.sgdr_schedule(
        [
            dict(
                init_value=lr,
                peak_value=lr,
                warmup_steps=0,
                decay_steps=T_0 * T_mult**i,
                end_value=eta_min,
            )
            for i in range(cycles)
        ]
    )
    assert_values(values(s, steps), want)


def test_step_lr(torch):
    lr, step_size, gamma = 0.1, 7, 0.5
    want = torch_lrs(torch, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 40)
    s = gdtx.exponential_decay(lr, step_size, gamma, staircase=True)
    assert_values(values(s, 40), want)


def test_multi_step_lr(torch):
    lr, gamma, milestones = 0.1, 0.3, [5, 12, 12, 30]  # 12 twice: γ² there
    want = torch_lrs(
        torch, lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma), 40
    )
    s = gdtx.piecewise_constant_schedule(lr, {5: gamma, 12: gamma**2, 30: gamma})
    assert_values(values(s, 40), want)
    single = [m for i, m in enumerate(milestones) if m not in milestones[:i]]
    want = torch_lrs(torch, lambda o: torch.optim.lr_scheduler.MultiStepLR(o, single, gamma), 40)
    s = gdtx.piecewise_constant_schedule(lr, {m: gamma for m in single})
    assert_values(values(s, 40), want)
