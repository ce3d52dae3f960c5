"""The demo behind ``python -m gdtx``: every algorithm on three small problems.

1. An ill-conditioned quadratic bowl, f(x) = 0.1x₁² + 2x₂² (condition number 20: one
   direction is 20 times steeper than the other), from (−5, −2);
2. A 10→5→1 sigmoid network fit by mean squared error to 100 random samples;
3. Batch, mini-batch and stochastic gradient descent on a linear regression (512
   samples, 8 features), drawing shuffled index sets each epoch from a plain iterator.

It prints a comparison table and, when matplotlib is installed, writes a figure to a
path it prints (by default in the system's temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._averaging import asgd
from ._base import apply_updates
from ._noise import noisy_sgd
from ._optim_adam import adam, adamax, adamw, adan, amsgrad, nadam
from ._optim_adam_recent import ademamix, adopt
from ._optim_adam_variants import adabelief, adamaxw, nadamw, radam, yogi
from ._optim_adaptive import adadelta, adagrad, rmsprop, sm3
from ._optim_layer import fromage, lamb, novograd
from ._optim_momentum import lion, momentum, sgd
from ._optim_quasi_newton import lbfgs
from ._optimistic import optimistic_adam, optimistic_gradient_descent
from ._polyak import polyak_sgd
from ._schedules import inverse_time_decay
from ._sign import rprop, sign_sgd, signum

# Each algorithm with the learning rate it uses on the quadratic and on the network, chosen
# per problem from a sweep over α = 10^(−4 … 0.5) in half-decades (the best on the bowl
# reaches f < 1e-3 soonest, the best on the network ends lowest), rounded; the table
# reports what they reach. ``None``: the algorithm has no learning rate (L-BFGS's step
# comes from its line search).
OPTIMIZERS: dict[str, tuple[Callable[[float], Any], float | None, float | None]] = {
    "sgd": (sgd, 0.4, 0.2),
    "momentum (ewma)": (lambda lr: momentum(lr, 0.9), 0.4, 0.5),
    "sgd + momentum": (lambda lr: sgd(lr, momentum=0.9), 0.04, 0.05),
    "sgd + nesterov": (lambda lr: sgd(lr, momentum=0.9, nesterov=True), 0.04, 0.05),
    "adagrad": (adagrad, 1.0, 0.01),
    "rmsprop": (lambda lr: rmsprop(lr, decay=0.99, eps_in_sqrt=False), 0.1, 0.001),
    "adadelta": (adadelta, 1.0, 1.0),
    "adam": (adam, 0.3, 0.001),
    "adamw": (lambda lr: adamw(lr, weight_decay=1e-2), 0.3, 0.001),
    "amsgrad": (amsgrad, 0.3, 0.001),
    "adamax": (adamax, 0.3, 0.002),
    "nadam": (nadam, 0.3, 0.001),
    "nadamw": (nadamw, 1.0, 0.03),
    "adamaxw": (adamaxw, 3.0, 0.1),
    "radam": (radam, 1.0, 0.3),
    "adabelief": (adabelief, 1.0, 0.03),
    "yogi": (yogi, 1.0, 0.1),
    "adopt": (adopt, 1.0, 0.03),
    "ademamix": (ademamix, 1.0, 0.03),
    "adan": (adan, 3.0, 0.01),
    "lamb": (lamb, 0.3, 0.01),
    "novograd": (novograd, 0.03, 0.03),
    "fromage": (fromage, 1.0, 0.01),
    "sm3": (sm3, 1.0, 0.3),
    "lion": (lambda lr: lion(lr, weight_decay=0.0), 0.1, 0.01),
    "sign_sgd": (sign_sgd, 1.0, 0.01),
    "signum": (signum, 0.1, 0.01),
    "rprop": (rprop, 1.0, 0.3),
    "optimistic gd": (optimistic_gradient_descent, 0.1, 0.1),
    "optimistic adam": (optimistic_adam, 3.0, 0.03),
    "asgd": (asgd, 0.3, 0.3),
    "noisy_sgd": (lambda lr: noisy_sgd(lr, key=0), 0.3, 0.3),
    "polyak_sgd": (lambda lr: polyak_sgd(max_learning_rate=lr), 1.0, 1.0),
    "lbfgs": (lambda lr: lbfgs(), None, None),
}


def quadratic(x: jax.Array) -> jax.Array:
    """f(x) = 0.1x₁² + 2x₂²: Hessian diag(0.2, 4), condition number 20."""
    return 0.1 * x[0] ** 2 + 2.0 * x[1] ** 2


def run_path(
    opt: Any, loss: Callable[[Any], jax.Array], params: Any, steps: int
) -> tuple[Any, Any]:
    """Runs ``steps`` full-gradient updates under ``lax.scan``; returns params and losses.

    An optimizer that reads the loss gets ``value=`` (Polyak's step size), one that may
    evaluate it gets ``grad=`` and ``value_fn=`` too (L-BFGS's line search)."""
    reads = opt.consumed_args()

    def body(carry: Any, _: None) -> tuple[Any, tuple[Any, jax.Array]]:
        p, state = carry
        value, grads = jax.value_and_grad(loss)(p)
        extra: dict[str, Any] = {}
        if reads is None or "value" in reads:
            extra["value"] = value
        if reads is None or "value_fn" in reads:
            extra |= {"grad": grads, "value_fn": loss}
        updates, state = opt.update(grads, state, p, **extra)
        p = apply_updates(p, updates)
        return (p, state), (p, value)

    _, (path, losses) = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), None, length=steps))(
        params
    )
    return path, losses


def network_problem(seed: int = 0) -> tuple[dict[str, jax.Array], Callable[[Any], jax.Array]]:
    """004's network: Linear(10→5), sigmoid, Linear(5→1), MSE on X ~ N(0, I), y ~ N(0, 1)."""
    kx, ky, k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 6)
    x = jax.random.normal(kx, (100, 10))
    y = jax.random.normal(ky, (100, 1))
    b1, b2 = 1 / np.sqrt(10), 1 / np.sqrt(5)  # PyTorch's default Linear initialisation bounds
    params = {
        "W1": jax.random.uniform(k1, (5, 10), minval=-b1, maxval=b1),
        "b1": jax.random.uniform(k2, (5,), minval=-b1, maxval=b1),
        "W2": jax.random.uniform(k3, (1, 5), minval=-b2, maxval=b2),
        "b2": jax.random.uniform(k4, (1,), minval=-b2, maxval=b2),
    }

    def loss(p: dict[str, jax.Array]) -> jax.Array:
        hidden = jax.nn.sigmoid(x @ p["W1"].T + p["b1"][None, :])
        return jnp.mean((hidden @ p["W2"].T + p["b2"][None, :] - y) ** 2)

    return params, loss


def index_sets(n: int, m: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """One epoch of 001's mini-batches: a shuffled partition into ⌈n/m⌉ sets of size ≤ m."""
    order = rng.permutation(n)
    for start in range(0, n, m):
        yield order[start : start + m]


def minibatch_runs(epochs: int = 20) -> dict[str, list[float]]:
    """Batch (m = n), mini-batch (m = 32) and stochastic (m = 1) SGD on a linear regression."""
    rng = np.random.default_rng(0)
    n, d = 512, 8
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def loss(p: dict[str, jax.Array], xb: Any, yb: Any) -> jax.Array:
        return jnp.mean((xb @ p["w"] + p["b"] - yb) ** 2)

    curves: dict[str, list[float]] = {}
    for name, m in (("batch (m = n)", n), ("mini-batch (m = 32)", 32), ("stochastic (m = 1)", 1)):
        per_epoch = -(-n // m)
        opt = sgd(inverse_time_decay(0.05, decay_rate=0.1, steps_per_epoch=per_epoch))
        params = {"w": jnp.zeros(d), "b": jnp.zeros([])}
        state = opt.init(params)

        @jax.jit
        def step(params: Any, state: Any, xb: Any, yb: Any, opt: Any = opt) -> Any:
            updates, state = opt.update(jax.grad(loss)(params, xb, yb), state, params)
            return apply_updates(params, updates), state

        curve = [float(loss(params, x, y))]
        for _ in range(epochs):
            for idx in index_sets(n, m, rng):
                params, state = step(params, state, x[idx], y[idx])
            curve.append(float(loss(params, x, y)))
        curves[name] = curve
    return curves


def _rate(lr: float | None) -> str:
    return "—" if lr is None else f"{lr:g}"


def first_below(losses: np.ndarray, threshold: float) -> str:
    """The first step (from 1) whose loss is below ``threshold``, or '—'."""
    hits = np.nonzero(losses < threshold)[0]
    return str(int(hits[0]) + 1) if hits.size else "—"


def main(argv: list[str] | None = None) -> None:
    """Runs the demo: prints a table and writes the figure to ``--figure``."""
    parser = argparse.ArgumentParser(
        prog="python -m gdtx",
        description="Runs gdtx's optimizers on a quadratic bowl, a small network and a "
        "mini-batch regression.",
    )
    default_figure = Path(tempfile.gettempdir()) / "gdtx_demo.png"
    parser.add_argument(
        "--figure",
        default=str(default_figure),
        help=f"where to write the figure ({default_figure})",
    )
    parser.add_argument("--steps", type=int, default=200, help="steps on the quadratic")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    x0 = jnp.array([-5.0, -2.0])
    net_params, net_loss = network_problem()
    quad, net = {}, {}
    for name, (build, lr_quad, lr_net) in OPTIMIZERS.items():
        quad[name] = run_path(build(lr_quad or 1.0), quadratic, x0, args.steps)
        net[name] = run_path(build(lr_net or 1.0), net_loss, net_params, 5 * args.steps)[1]
    curves = minibatch_runs()

    print(
        f"gdtx demo: {args.steps} steps on the quadratic bowl 0.1·x₁² + 2·x₂² from (−5, −2), "
        f"whose minimum is 0 at the origin;\n{5 * args.steps} full-batch steps on a 10→5→1 "
        f"sigmoid network (MSE on 100 random samples; loss {float(net_loss(net_params)):.4f} "
        "at the start).\n"
    )
    header = (
        f"{'algorithm':<18}{'α bowl':>8}{'f(x) at end':>13}{'steps to f<1e-3':>17}"
        f"{'α net':>8}{'net loss at end':>17}"
    )
    print(header)
    print("-" * len(header))
    for name, (_, lr_quad, lr_net) in OPTIMIZERS.items():
        losses = np.asarray(quad[name][1])
        reach = first_below(losses, 1e-3)
        print(
            f"{name:<18}{_rate(lr_quad):>8}{losses[-1]:>13.2e}{reach:>17}"
            f"{_rate(lr_net):>8}{float(net[name][-1]):>17.4f}"
        )
    print(
        "(steps '—': not below 1e-3 within the steps. Adadelta has no learning rate to tune:\n"
        " α = 1. Polyak's α caps its step size; L-BFGS has none (α '—'): its line search picks\n"
        " each step.)"
    )
    print(
        "\nSGD on a linear regression (512 samples, 8 features), α = 0.05/(1 + 0.1·epoch), "
        "full-data loss after each epoch:"
    )
    for name, curve in curves.items():
        marks = ", ".join(f"{curve[e]:.4f}" for e in (0, 1, 2, 5, len(curve) - 1))
        print(f"  {name:<22} epochs 0, 1, 2, 5, {len(curve) - 1}: {marks}")
    print(f"\n(ran in {time.perf_counter() - t0:.1f} s)")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure (pip install 'gdtx[plot]').")
        return

    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    ax = axes[0]
    g1, g2 = np.meshgrid(np.linspace(-5.5, 1.5, 200), np.linspace(-2.5, 2.5, 200))
    ax.contour(g1, g2, 0.1 * g1**2 + 2 * g2**2, levels=20, cmap="Greys", linewidths=0.6)
    for name in ("sgd", "momentum (ewma)", "sgd + nesterov", "rmsprop", "adam", "adadelta"):
        path = np.concatenate([np.asarray(x0)[None], np.asarray(quad[name][0])])[:60]
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
    ax.set(title="0.1·x₁² + 2·x₂²: first 60 steps", xlabel="x₁", ylabel="x₂")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    for name, losses in net.items():
        ax.plot(np.asarray(losses), label=name)
    ax.set(title="10→5→1 network, MSE", xlabel="step", ylabel="loss", yscale="log")
    ax.legend(fontsize=7, ncol=2)
    ax = axes[2]
    for name, curve in curves.items():
        ax.plot(curve, "o-", ms=3, label=name)
    ax.set(title="SGD on a regression: loss per epoch", xlabel="epoch", ylabel="loss", yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"figure written to {Path(args.figure).resolve()}")
