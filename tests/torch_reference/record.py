"""Records ``torch.optim`` trajectories into ``tests/data/torch_trajectories.npz``.

Run by hand when the cases change or to refresh against a new PyTorch::

    python tests/torch_reference/record.py

``tests/test_vs_torch.py`` replays every recorded case with the matching gdtx
optimizer. The fixture holds, for each case in :data:`CASES`:

- ``{case}/init/{leaf}``: the initial parameters (float32, seeded);
- ``{case}/grads/{leaf}``: ``STEPS`` gradients, shape ``(STEPS, *shape)``,
  assigned to ``.grad`` before each ``optimizer.step()`` (they do not depend
  on the parameters, so both libraries see exactly the same inputs);
- ``{case}/path/{leaf}``: the parameters after every step, ``(STEPS, *shape)``;
- ``{case}/lr``: ``param_groups[0]["lr"]`` during each step (float64).

A configuration with ``others`` gives the 2-d leaves to its optimizer and the other
leaves to ``others(**others_kwargs)`` (``torch.optim.Muon`` takes matrices only);
``newton_schulz_float32`` runs Muon's iteration in float32 (:func:`float32_newton_schulz`).

and for 004's network (``nn.Linear(10, 5)``, sigmoid, ``nn.Linear(5, 1)``,
MSE, full batch, ``torch.manual_seed(0)``): ``net/X``, ``net/y``,
``net/init/{W1,b1,W2,b2}`` and, per optimizer in :data:`NET_OPTIMIZERS`,
``net/{name}/loss`` (the loss before each of the ``NET_STEPS`` updates) and
``net/{name}/final/{W1,b1,W2,b2}``.

``meta`` is a JSON string with the configurations, shapes and library
versions; ``torch_version`` is ``torch.__version__``.

PyTorch is imported inside the functions only, so this module imports (and
pytest's doctest collection passes) where PyTorch is not installed.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # run as a script: the registry lives in tests/
    sys.path.insert(0, str(TESTS))

import registry  # noqa: E402

FIXTURE = TESTS / "data" / "torch_trajectories.npz"

SHAPES: dict[str, tuple[int, ...]] = {"w": (3, 4), "b": (4,), "k": (2, 1, 3)}
"""The parameter tree: a matrix, a vector and a 3-d array with a unit axis."""

STEPS = 100

CASES: dict[str, dict[str, Any]] = {
    name: twin.config() for name, (_, twin) in registry.torch_cases().items()
}
"""Name → torch optimizer class, its kwargs and optionally an lr_scheduler and its kwargs:
the ``torch`` entries of tests/registry.py's algorithms (lr_schedulers stepped once after
every ``optimizer.step()``)."""

NET_STEPS = 200
NET_OPTIMIZERS: dict[str, dict[str, Any]] = {
    name: twin.config() for name, (_, twin) in registry.torch_nets().items()
}
"""004's optimizers (the ``torch_net`` entries), each trained from the same initial weights."""

NET_LEAVES = ("W1", "b1", "W2", "b2")
"""The network's parameters in torch's layout: W1 (5, 10), b1 (5,), W2 (1, 5), b2 (1,)."""


def case_seed(name: str) -> int:
    """A seed fixed by the case's name (stable when cases are added or reordered)."""
    return zlib.crc32(name.encode())


def case_inputs(name: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The case's initial parameters and its ``(STEPS, *shape)`` gradients, float32."""
    rng = np.random.default_rng(case_seed(name))
    init = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    grads = {k: rng.standard_normal((STEPS, *s)).astype(np.float32) for k, s in SHAPES.items()}
    return init, grads


def torch_trajectory(
    config: dict[str, Any], init: dict[str, np.ndarray], grads: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Runs ``config``'s torch optimizer (and scheduler) over the recorded gradients.

    Returns the parameters after every step, ``{leaf: (steps, *shape)}``, and
    the learning rate each step used.
    """
    import torch

    params = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in init.items()}
    optimizers = []
    if "others" in config:  # the matrices to one optimizer (Muon), the other leaves to another
        matrices = [p for p in params.values() if p.ndim == 2]
        others = [p for p in params.values() if p.ndim != 2]
        opt = getattr(torch.optim, config["optimizer"])(matrices, **config["kwargs"])
        optimizers.append(getattr(torch.optim, config["others"])(others, **config["others_kwargs"]))
    else:
        opt = getattr(torch.optim, config["optimizer"])(list(params.values()), **config["kwargs"])
    optimizers.insert(0, opt)
    scheduler = None
    if "scheduler" in config:
        scheduler_class = getattr(torch.optim.lr_scheduler, config["scheduler"])
        scheduler = scheduler_class(opt, **config["scheduler_kwargs"])
    steps = len(next(iter(grads.values())))
    path: dict[str, list[np.ndarray]] = {k: [] for k in params}
    lrs = []
    for i in range(steps):
        lrs.append(float(opt.param_groups[0]["lr"]))
        for k, p in params.items():
            p.grad = torch.tensor(grads[k][i])
        with float32_newton_schulz(config.get("newton_schulz_float32", False)):
            for o in optimizers:
                o.step()
        if scheduler is not None:
            scheduler.step()
        for k, p in params.items():
            path[k].append(p.detach().numpy().copy())
    return {k: np.stack(v) for k, v in path.items()}, np.asarray(lrs, np.float64)


@contextlib.contextmanager
def float32_newton_schulz(active: bool) -> Iterator[None]:
    """While active, ``torch.optim.Muon`` runs its Newton–Schulz iteration in float32.

    torch casts the momentum to bfloat16 before its iteration (a speed choice), which
    alone moves the trajectory by ~3e-3 relative: far above the float32 rounding these
    tests compare at. The recording keeps everything else of torch's code and turns that
    one cast into a copy; the configuration says so (``newton_schulz_float32``), so the
    test id shows it.
    """
    if not active:
        yield
        return
    import torch
    from torch.optim import _muon

    original = _muon._zeropower_via_newtonschulz

    def in_float32(grad: Any, *args: Any) -> Any:
        cast = torch.Tensor.bfloat16
        torch.Tensor.bfloat16 = lambda self, *a, **k: self.clone()  # type: ignore[method-assign]
        try:
            return original(grad, *args)
        finally:
            torch.Tensor.bfloat16 = cast  # type: ignore[method-assign]

    _muon._zeropower_via_newtonschulz = in_float32
    try:
        yield
    finally:
        _muon._zeropower_via_newtonschulz = original


def net_data() -> dict[str, np.ndarray]:
    """004's data and initial weights: ``torch.manual_seed(0)``, then X, y, then the layers."""
    import torch

    torch.manual_seed(0)
    X = torch.randn(100, 10)
    y = torch.randn(100, 1)
    first, second = torch.nn.Linear(10, 5), torch.nn.Linear(5, 1)
    weights = (first.weight, first.bias, second.weight, second.bias)
    data = {"X": X.numpy().copy(), "y": y.numpy().copy()}
    data.update({k: w.detach().numpy().copy() for k, w in zip(NET_LEAVES, weights, strict=True)})
    return data


def train_torch_net(
    data: dict[str, np.ndarray], config: dict[str, Any], steps: int = NET_STEPS
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Trains 004's network full batch; returns the loss before each step and the final weights."""
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 1))
    weights = (model[0].weight, model[0].bias, model[2].weight, model[2].bias)
    with torch.no_grad():
        for name, w in zip(NET_LEAVES, weights, strict=True):
            w.copy_(torch.tensor(data[name]))
    X, y = torch.tensor(data["X"]), torch.tensor(data["y"])
    opt = getattr(torch.optim, config["optimizer"])(model.parameters(), **config["kwargs"])
    loss_fn = torch.nn.MSELoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = {k: w.detach().numpy().copy() for k, w in zip(NET_LEAVES, weights, strict=True)}
    return np.asarray(losses, np.float32), final


def record(path: Path = FIXTURE) -> dict[str, np.ndarray]:
    """Runs every case and the network, and writes the fixture to ``path``."""
    import torch

    torch.set_num_threads(1)  # the same reductions, whatever the machine
    arrays: dict[str, np.ndarray] = {}
    for name, config in CASES.items():
        init, grads = case_inputs(name)
        traj, lrs = torch_trajectory(config, init, grads)
        for k in SHAPES:
            arrays[f"{name}/init/{k}"] = init[k]
            arrays[f"{name}/grads/{k}"] = grads[k]
            arrays[f"{name}/path/{k}"] = traj[k]
        arrays[f"{name}/lr"] = lrs

    data = net_data()
    arrays["net/X"], arrays["net/y"] = data["X"], data["y"]
    for k in NET_LEAVES:
        arrays[f"net/init/{k}"] = data[k]
    for name, config in NET_OPTIMIZERS.items():
        losses, final = train_torch_net(data, config)
        arrays[f"net/{name}/loss"] = losses
        for k in NET_LEAVES:
            arrays[f"net/{name}/final/{k}"] = final[k]

    meta = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "steps": STEPS,
        "shapes": {k: list(s) for k, s in SHAPES.items()},
        "cases": {name: {**config, "seed": case_seed(name)} for name, config in CASES.items()},
        "net_steps": NET_STEPS,
        "net_optimizers": NET_OPTIMIZERS,
    }
    arrays["meta"] = np.asarray(json.dumps(meta, sort_keys=True))
    arrays["torch_version"] = np.asarray(torch.__version__)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def main() -> None:
    arrays = record()
    size = FIXTURE.stat().st_size
    print(
        f"wrote {FIXTURE} ({size / 1024:.1f} KiB): {len(CASES)} cases, "
        f"{len(NET_OPTIMIZERS)} network runs, torch {arrays['torch_version']}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
