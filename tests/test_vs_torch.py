"""gdtx against ``torch.optim``: every recorded trajectory, step by step, in float32.

The fixture ``tests/data/torch_trajectories.npz`` is written by
``python tests/torch_reference/record.py`` (see its docstring for the layout).
These tests need no PyTorch: they replay the recorded gradients through the
gdtx optimizer that tests/registry.py pairs with each torch configuration (the
``torch`` entries of its algorithms)
and compare the parameters after every step, norm-wise relative, with
``rtol = 1e-5``. Each test id reads ``case:Torch(args)->gdtx(args)``; the
fixture's own record of the torch arguments builds the left-hand side, so an
id cannot drift from what was recorded.

The arguments that reproduce torch (beyond plain renames such as lr → the
first argument, weight_decay → ``weight_decay``):

- ``SGD(momentum, dampening, nesterov)`` → ``sgd(momentum=, dampening=, nesterov=)``;
  torch's first-step rule (buffer = g) is :class:`gdtx.Trace`'s.
- ``Adagrad`` → ``adagrad`` with its defaults (ε = 1e-10 outside the root, v₀ = 0);
  ``lr_decay=γ`` → ``learning_rate=inverse_time_decay(lr, decay_rate=γ)``.
- ``RMSprop(alpha)`` → ``rmsprop(decay=alpha, eps=1e-8, eps_in_sqrt=False)``:
  gdtx's defaults (β = 0.9, ε inside the root) are Optax's, not torch's.
- ``Adadelta()`` → ``adadelta(1.0, rho=0.9, eps=1e-6)`` (gdtx's ρ default is the paper's 0.95).
- ``Adam(weight_decay)`` is L2 → ``adam(weight_decay=)``; ``AdamW`` → ``adamw``.
- ``Adamax`` (ε inside the max, lr = 2e-3) → ``adamax(2e-3)``.
- ``Adam(amsgrad=True)`` → ``amsgrad``.
- ``NAdam`` (ψ = 4e-3) → ``nadam(2e-3)``; ``decoupled_weight_decay=True`` is the chain
  ``scale_by_nadam, add_decayed_weights, scale_by_learning_rate``.
- ``Muon`` (matrices only, its Newton–Schulz iteration recorded in float32) with
  ``AdamW`` for the other leaves → ``muon(debias=False, fan_in_axis=-1,
  other_optimizer=adamw(...))``: torch reads a matrix as (fan_out, fan_in) and does not
  bias-correct its momentum.
- ``lr_scheduler.X`` stepped after every ``optimizer.step()`` → a gdtx schedule of
  ``count``, the number of ``scheduler.step()`` calls before the optimizer step: step k
  (from 1) uses torch epoch k − 1 = gdtx ``count``. No shift is needed, and a shift by one
  step would fail (``test_schedule_matches_torch_learning_rates`` checks both).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import registry
from helpers import assert_trees_close, run_gdtx, to_f32

import gdtx

FIXTURE = Path(__file__).parent / "data" / "torch_trajectories.npz"
RTOL = 1e-5
NET_RTOL = 1e-5  # the loss curves of 004's network
NET_WEIGHTS_RTOL = 1e-5  # its final weights


def _load_fixture() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


DATA = _load_fixture()
META: dict[str, Any] = json.loads(str(DATA["meta"]))
LEAVES = tuple(META["shapes"])
NET_LEAVES = ("W1", "b1", "W2", "b2")


TORCH_CASES = registry.torch_cases()
"""Case name (as recorded) → the algorithm and the torch configuration with its gdtx twin."""
NET_CASES = registry.torch_nets()
"""004's optimizers: torch's defaults spelled out in gdtx's arguments."""
SCHEDULE_CASES = sorted(n for n, c in META["cases"].items() if "scheduler" in c)


def build(alg: registry.Algorithm, twin: registry.Torch) -> Any:
    """The gdtx optimizer that reproduces a torch configuration."""
    return twin.build() if twin.build is not None else alg.make(args=twin.args)


def gdtx_call(alg: registry.Algorithm, twin: registry.Torch) -> str:
    return twin.label or f"{alg.build.__name__}({twin.args!r})"


# ---------------------------------------------------------------------------------------
# Helpers


def torch_signature(config: dict[str, Any]) -> str:
    """``Class(k=v, ...)`` (with ``+Scheduler(...)``) from a recorded configuration."""

    def call(name: str, kwargs: dict[str, Any]) -> str:
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"

    text = call(config["optimizer"], config["kwargs"])
    if config.get("newton_schulz_float32"):
        text += "[float32 Newton-Schulz]"
    if "others" in config:
        text = f"{text}[2-d]+{call(config['others'], config['others_kwargs'])}[others]"
    if "scheduler" in config:
        text += "+" + call(config["scheduler"], config["scheduler_kwargs"])
    return text


def case_id(name: str) -> str:
    return f"{name}:{torch_signature(META['cases'][name])}->{gdtx_call(*TORCH_CASES[name])}"


def net_id(name: str) -> str:
    return f"{name}:{torch_signature(META['net_optimizers'][name])}->{gdtx_call(*NET_CASES[name])}"


def case_arrays(name: str, fixture: dict[str, np.ndarray] = DATA) -> dict[str, Any]:
    """A case's initial params, per-step gradient trees, per-step torch params and lrs."""
    steps = META["steps"]
    grads = {k: fixture[f"{name}/grads/{k}"] for k in LEAVES}
    path = {k: fixture[f"{name}/path/{k}"] for k in LEAVES}
    return {
        "init": {k: fixture[f"{name}/init/{k}"] for k in LEAVES},
        "grads": grads,
        "grad_steps": [{k: grads[k][i] for k in LEAVES} for i in range(steps)],
        "path": path,
        "path_steps": [{k: path[k][i] for k in LEAVES} for i in range(steps)],
        "lr": fixture[f"{name}/lr"],
    }


def relative_error(actual: Any, expected: Any) -> float:
    """The largest leaf-wise ``max|a − e| / max|e|``, the measure of ``assert_trees_close``."""
    errs = [
        float(np.max(np.abs(np.float64(a) - np.float64(e)))) / max(float(np.max(np.abs(e))), 1e-30)
        for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True)
    ]
    return max(errs)


def assert_paths_close(actual_steps: list[Any], expected_steps: list[Any], what: str) -> None:
    """Every step's parameters within ``RTOL`` (norm-wise relative, per leaf)."""
    assert len(actual_steps) == len(expected_steps)
    for i, (a, e) in enumerate(zip(actual_steps, expected_steps, strict=True)):
        assert_trees_close(a, e, rtol=RTOL, what=f"{what}, after step {i + 1}")


@functools.cache
def gdtx_trajectory(name: str) -> list[Any]:
    """The parameters after each step of the case's gdtx equivalent (jitted, float32),
    computed once for the fixture's test and the live one."""
    arrays = case_arrays(name)
    path, _ = run_gdtx(build(*TORCH_CASES[name]), arrays["init"], arrays["grad_steps"])
    return path


def trajectory_error(name: str) -> float:
    """The largest relative error over all steps between gdtx and the recorded torch path."""
    steps = case_arrays(name)["path_steps"]
    return max(relative_error(a, e) for a, e in zip(gdtx_trajectory(name), steps, strict=True))


def net_loss(params: dict[str, jax.Array], X: jax.Array, y: jax.Array) -> jax.Array:
    """004's network in torch's layout: Linear(10, 5) → sigmoid → Linear(5, 1), MSE."""
    h = jax.nn.sigmoid(X @ params["W1"].T + params["b1"][None, :])
    pred = h @ params["W2"].T + params["b2"][None, :]
    return jnp.mean((pred - y) ** 2)


@functools.partial(jax.jit, static_argnames="steps")
def train_net(opt: Any, params: Any, X: jax.Array, y: jax.Array, steps: int) -> tuple[Any, Any]:
    """Full-batch training; returns the loss before each step and the final parameters."""

    def body(carry: Any, _: None) -> tuple[Any, jax.Array]:
        p, state = carry
        loss, grads = jax.value_and_grad(net_loss)(p, X, y)
        updates, state = opt.update(grads, state, p)
        return (gdtx.apply_updates(p, updates), state), loss

    (params, _), losses = jax.lax.scan(body, (params, opt.init(params)), None, length=steps)
    return losses, params


@functools.cache
def gdtx_net(name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    params = to_f32({k: DATA[f"net/init/{k}"] for k in NET_LEAVES})
    X, y = jnp.asarray(DATA["net/X"]), jnp.asarray(DATA["net/y"])
    losses, final = train_net(build(*NET_CASES[name]), params, X, y, META["net_steps"])
    return np.asarray(losses), jax.tree.map(np.asarray, final)


def loss_curve_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """The largest pointwise relative error of a loss curve."""
    return float(np.max(np.abs(np.float64(actual) - expected) / np.abs(np.float64(expected))))


# ---------------------------------------------------------------------------------------
# Against the recorded fixture (no PyTorch needed)


def test_fixture_records_exactly_the_registry_cases():
    """The fixture holds the registry's torch configurations, no more, no fewer: a changed
    configuration needs ``python tests/torch_reference/record.py``."""
    recorded = {n: {k: v for k, v in c.items() if k != "seed"} for n, c in META["cases"].items()}
    assert recorded == {n: t.config() for n, (_, t) in TORCH_CASES.items()}
    assert META["net_optimizers"] == {n: t.config() for n, (_, t) in NET_CASES.items()}
    assert str(DATA["torch_version"]) == META["torch_version"]
    assert FIXTURE.stat().st_size < 2 * 2**20


@pytest.mark.parametrize("name", sorted(TORCH_CASES), ids=case_id)
def test_matches_torch_trajectory(name):
    """gdtx's parameters equal torch's after each of the recorded steps (rtol 1e-5).

    The id reads ``case:TorchOptimizer(torch arguments)->gdtx_call(gdtx arguments)``.
    """
    arrays = case_arrays(name)
    assert_paths_close(gdtx_trajectory(name), arrays["path_steps"], case_id(name))


@pytest.mark.parametrize("name", SCHEDULE_CASES, ids=case_id)
def test_schedule_matches_torch_learning_rates(name):
    """gdtx's schedule at ``count = k`` is the lr torch used in its step k + 1.

    torch's ``scheduler.step()`` follows ``optimizer.step()``, so the (k+1)-th optimizer
    step runs at epoch k, after k scheduler steps; gdtx evaluates its schedule at
    ``count`` = the number of updates before this one. They align with no shift; the
    schedule shifted by one step (count + 1) would not match.
    """
    torch_lr = case_arrays(name)["lr"]
    (block,) = build(*TORCH_CASES[name]).learning_rate_blocks()
    counts = jnp.arange(len(torch_lr), dtype=jnp.int32)
    aligned = np.asarray(block.rate_at(counts), np.float64)
    np.testing.assert_allclose(aligned, torch_lr, rtol=1e-5, err_msg=case_id(name))
    shifted = np.asarray(block.rate_at(counts + 1), np.float64)
    assert np.max(np.abs(shifted - torch_lr) / torch_lr) > 1e-3


@pytest.mark.parametrize("name", sorted(NET_CASES), ids=net_id)
def test_network_loss_curve_matches_torch(name):
    """004's 10→5→1 network trained full batch for 200 steps: the same loss curve as torch.

    The forward pass is written in JAX with torch's ``nn.Linear`` layout (x @ W.T + b);
    gradients come from ``jax.grad`` instead of autograd, so the curves agree to float32
    rounding of the gradients, not bit for bit.
    """
    losses, final = gdtx_net(name)
    expected = DATA[f"net/{name}/loss"]
    err = loss_curve_error(losses, expected)
    assert err <= NET_RTOL, f"{net_id(name)}: loss curve relative error {err:.3g}"
    torch_final = {k: DATA[f"net/{name}/final/{k}"] for k in NET_LEAVES}
    assert_trees_close(final, torch_final, rtol=NET_WEIGHTS_RTOL, what=net_id(name))


# ---------------------------------------------------------------------------------------
# Against the installed PyTorch, when there is one


@pytest.mark.parametrize("name", sorted(TORCH_CASES), ids=case_id)
def test_live_torch_matches_fixture_and_gdtx(name):
    """Re-runs the case with the installed torch: it must still match the fixture and gdtx
    (whose trajectory is the one test_matches_torch_trajectory computed).

    A mismatch with the fixture means torch's behaviour changed since the recording
    (``python tests/torch_reference/record.py`` refreshes it after review).
    """
    pytest.importorskip("torch")
    from torch_reference import record

    arrays = case_arrays(name)
    config = {k: v for k, v in META["cases"][name].items() if k != "seed"}
    live, live_lr = record.torch_trajectory(config, arrays["init"], arrays["grads"])
    live_steps = [{k: live[k][i] for k in LEAVES} for i in range(META["steps"])]
    recorded = f"recorded with torch {META['torch_version']}"
    np.testing.assert_allclose(live_lr, arrays["lr"], rtol=1e-12, err_msg=recorded)
    assert_paths_close(live_steps, arrays["path_steps"], f"live torch vs fixture ({recorded})")
    assert_paths_close(gdtx_trajectory(name), live_steps, f"gdtx vs live torch: {case_id(name)}")


def test_live_network_matches_fixture_and_gdtx():
    """004's network re-trained with the installed torch: the fixture's data, weights, curves."""
    pytest.importorskip("torch")
    from torch_reference import record

    data = record.net_data()
    for k in ("X", "y"):
        np.testing.assert_array_equal(data[k], DATA[f"net/{k}"])
    for k in NET_LEAVES:
        np.testing.assert_array_equal(data[k], DATA[f"net/init/{k}"])
    for name in NET_CASES:
        losses, _ = record.train_torch_net(data, META["net_optimizers"][name])
        err = loss_curve_error(losses, DATA[f"net/{name}/loss"])
        assert err <= NET_RTOL, f"live torch vs fixture, {name}: {err:.3g}"
        err = loss_curve_error(gdtx_net(name)[0], losses)
        assert err <= NET_RTOL, f"gdtx vs live torch, {net_id(name)}: {err:.3g}"
