"""Optimizer-step benchmarks: gdtx against Optax, torch.optim and the memory floor.

Usage:
    python benchmarks/run.py [--quick] [--out DIR] [--steps N]

An optimizer step is memory-bound: Adam reads parameters, gradients and two moments
and writes three arrays. The *floor* is one jitted, donated kernel over flat buffers
that moves exactly those bytes; every library is quoted as a ratio to the floor
measured in the same run, and to the fastest peer.

Cases: SGD with momentum, RMSProp and Adam on float32 trees of 1×10M, 100×100k,
1000×1k and 1000×10k floats, plus the full training step (gradient and update) of a
deep MLP with many parameter arrays. ``--quick`` keeps the cheaper cases and fewer
repetitions (a few minutes on 2 CPU cores). ``--out DIR`` writes ``DIR/results.json``
(a list of records: library, variant, algorithm, leaves, size, compile_s, step_s,
plus extra fields) and ``DIR/results.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gdtx

ALGORITHMS = ("sgd_momentum", "rmsprop", "adam")
# Arrays an algorithm's step reads and writes, per parameter: (reads, writes).
TRAFFIC = {"sgd_momentum": (3, 2), "rmsprop": (3, 2), "adam": (4, 3)}
TREES = [(1, 10_000_000), (100, 100_000), (1000, 1_000), (1000, 10_000)]
QUICK_TREES = [(1, 1_000_000), (100, 10_000), (1000, 1_000)]
LR = 1e-3


def gdtx_optimizer(name: str) -> Any:
    return {
        "sgd_momentum": lambda: gdtx.sgd(LR, momentum=0.9),
        "rmsprop": lambda: gdtx.rmsprop(LR, decay=0.99, eps=1e-8, eps_in_sqrt=False),
        "adam": lambda: gdtx.adam(LR),
    }[name]()


def optax_optimizer(name: str) -> Any:
    return {
        "sgd_momentum": lambda: optax.sgd(LR, momentum=0.9),
        "rmsprop": lambda: optax.rmsprop(LR, decay=0.99, eps=1e-8, eps_in_sqrt=False),
        "adam": lambda: optax.adam(LR),
    }[name]()


def make_tree(leaves: int, size: int, seed: int = 0) -> list[jax.Array]:
    key = jax.random.key(seed)
    return [jax.random.normal(k, (size,), jnp.float32) for k in jax.random.split(key, leaves)]


def time_jax(fn: Callable[..., Any], args: tuple[Any, ...], steps: int) -> tuple[float, float]:
    """Compile time and median step time of a jitted, donating ``fn`` that returns new args."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()  # type: ignore[attr-defined]
    compile_s = time.perf_counter() - t0
    fixed = args[len(args) - 1 :]  # the last argument (gradients) is reused every step
    carry = compiled(*args)
    jax.block_until_ready(carry)
    for _ in range(3):  # warm-up
        carry = compiled(*carry, *fixed)
        jax.block_until_ready(carry)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        carry = compiled(*carry, *fixed)
        jax.block_until_ready(carry)
        times.append(time.perf_counter() - t)
    return compile_s, statistics.median(times)


def bench_floor(algorithm: str, leaves: int, size: int, steps: int) -> tuple[float, float]:
    """One flat buffer per array: read ``reads`` arrays, write ``writes`` (donated)."""
    reads, writes = TRAFFIC[algorithm]
    n = leaves * size
    bufs = [jnp.full((n,), 0.5 + i, jnp.float32) for i in range(reads)]

    def kernel(*arrays: jax.Array) -> tuple[jax.Array, ...]:
        *state, g = arrays
        return tuple(s * 0.999 + g * 1e-3 for s in state[:writes])

    fn = jax.jit(kernel, donate_argnums=tuple(range(writes)))
    return time_jax(fn, (*bufs[:writes], bufs[-1]), steps)


def bench_jax_optimizer(opt: Any, leaves: int, size: int, steps: int) -> tuple[float, float]:
    params = make_tree(leaves, size)
    grads = make_tree(leaves, size, seed=1)
    state = opt.init(params)

    def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    fn = jax.jit(step, donate_argnums=(0, 1))
    return time_jax(fn, (params, state, grads), steps)


def bench_torch(
    algorithm: str, variant: str, leaves: int, size: int, steps: int
) -> tuple[float, float]:
    import torch

    params = [torch.nn.Parameter(torch.randn(size)) for _ in range(leaves)]
    for p in params:
        p.grad = torch.randn(size)
    flags = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    kwargs = flags[variant]
    make = {
        "sgd_momentum": lambda: torch.optim.SGD(params, lr=LR, momentum=0.9, **kwargs),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=LR, **kwargs),
        "adam": lambda: torch.optim.Adam(params, lr=LR, **kwargs),
    }[algorithm]
    try:
        opt = make()
        for _ in range(3):
            opt.step()
    except (TypeError, RuntimeError):
        return None  # this torch build has no such variant (e.g. fused RMSprop)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t)
    return 0.0, statistics.median(times)


def mlp_problem(layers: int, width: int) -> tuple[list[dict[str, jax.Array]], Any, Any]:
    key = jax.random.key(0)
    params = []
    for k in jax.random.split(key, layers):
        params.append(
            {
                "w": jax.random.normal(k, (width, width), jnp.float32) / np.sqrt(width),
                "b": jnp.zeros((width,), jnp.float32),
            }
        )
    x = jax.random.normal(jax.random.key(1), (32, width), jnp.float32)
    y = jax.random.normal(jax.random.key(2), (32, width), jnp.float32)
    return params, x, y


def bench_training_step(opt: Any, layers: int, width: int, steps: int) -> tuple[float, float]:
    params, x, y = mlp_problem(layers, width)

    def loss(params: Any) -> jax.Array:
        h = x
        for layer in params:
            h = jnp.tanh(h @ layer["w"] + layer["b"][None, :])
        return jnp.mean((h - y) ** 2)

    def step(params: Any, state: Any, _: Any) -> tuple[Any, Any]:
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    fn = jax.jit(step, donate_argnums=(0, 1))
    return time_jax(fn, (params, opt.init(params), jnp.zeros([])), steps)


def progress(i: int, total: int, label: str) -> None:
    width = 30
    done = int(width * i / total)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{total} {label:<48}")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="cheaper cases, fewer steps")
    parser.add_argument("--out", type=Path, default=None, help="write results.json and results.png")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per case (≥ 20)")
    args = parser.parse_args(argv)
    steps = max(args.steps or (20 if args.quick else 30), 20)
    trees = QUICK_TREES if args.quick else TREES
    mlp_layers, mlp_width = (250, 32) if args.quick else (300, 64)
    try:
        import torch

        torch_variants = ["for-loop", "foreach", "fused"]
        torch_version = torch.__version__
    except ImportError:
        torch_variants, torch_version = [], None

    jobs: list[tuple[str, str, str, int, int, Callable[[], tuple[float, float] | None]]] = []
    for algorithm in ALGORITHMS:
        for leaves, size in trees:
            jobs.append(
                (
                    "floor",
                    "jit+donate",
                    algorithm,
                    leaves,
                    size,
                    lambda a=algorithm, n=leaves, s=size: bench_floor(a, n, s, steps),
                )
            )
            jobs.append(
                (
                    "gdtx",
                    "per-leaf",
                    algorithm,
                    leaves,
                    size,
                    lambda a=algorithm, n=leaves, s=size: bench_jax_optimizer(
                        gdtx_optimizer(a), n, s, steps
                    ),
                )
            )
            jobs.append(
                (
                    "optax",
                    "jit+donate",
                    algorithm,
                    leaves,
                    size,
                    lambda a=algorithm, n=leaves, s=size: bench_jax_optimizer(
                        optax_optimizer(a), n, s, steps
                    ),
                )
            )
            for variant in torch_variants:
                jobs.append(
                    (
                        "torch",
                        variant,
                        algorithm,
                        leaves,
                        size,
                        lambda a=algorithm, v=variant, n=leaves, s=size: bench_torch(
                            a, v, n, s, steps
                        ),
                    )
                )
    mlp_leaves = 2 * mlp_layers
    mlp_size = mlp_width * mlp_width + mlp_width
    for lib, make in (("gdtx", gdtx.adam), ("optax", optax.adam)):
        jobs.append(
            (
                lib,
                "train-step",
                "adam",
                mlp_leaves,
                mlp_size,
                lambda m=make: bench_training_step(m(LR), mlp_layers, mlp_width, steps),
            )
        )

    records = []
    for i, (library, variant, algorithm, leaves, size, run) in enumerate(jobs):
        progress(i, len(jobs), f"{library} {variant} {algorithm} {leaves}x{size}")
        with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
            result = run()
        if result is None:
            continue
        compile_s, step_s = result
        records.append(
            {
                "library": library,
                "variant": variant,
                "algorithm": algorithm,
                "leaves": leaves,
                "size": size,
                "compile_s": compile_s,
                "step_s": step_s,
            }
        )
    progress(len(jobs), len(jobs), "done")
    sys.stderr.write("\n")

    device = jax.devices()[0]
    peak = _peak_bandwidth(device)
    for r in records:
        reads, writes = TRAFFIC[r["algorithm"]]
        if r["variant"] != "train-step":
            moved = (reads + writes) * 4 * r["leaves"] * r["size"]
            r["bandwidth_gbs"] = moved / r["step_s"] / 1e9
            if peak:
                r["bandwidth_fraction"] = r["bandwidth_gbs"] / peak
        key = (r["algorithm"], r["leaves"], r["size"])
        same = [q for q in records if (q["algorithm"], q["leaves"], q["size"]) == key]
        floor = [q["step_s"] for q in same if q["library"] == "floor"]
        peers = [q["step_s"] for q in same if q["library"] not in ("floor", "gdtx")]
        r["vs_floor"] = r["step_s"] / floor[0] if floor else None
        r["vs_best_peer"] = r["step_s"] / min(peers) if peers else None

    machine = (
        f"{platform.machine()}, {jax.device_count()}× {device.device_kind}, "
        f"jax {jax.__version__}, optax {optax.__version__}, torch {torch_version}"
    )
    print(f"\n{machine}\n")
    header = (
        f"{'algorithm':<13}{'tree':>12} {'library':<7}{'variant':<12}"
        f"{'compile s':>10}{'step ms':>10}{'× floor':>9}{'× best peer':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in records:
        vs_f = f"{r['vs_floor']:.2f}" if r["vs_floor"] else "–"
        vs_p = f"{r['vs_best_peer']:.2f}" if r["vs_best_peer"] else "–"
        print(
            f"{r['algorithm']:<13}{str(r['leaves']) + '×' + str(r['size']):>12} {r['library']:<7}"
            f"{r['variant']:<12}{r['compile_s']:>10.2f}{1e3 * r['step_s']:>10.3f}"
            f"{vs_f:>9}{vs_p:>12}"
        )

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(
            json.dumps({"machine": machine, "records": records}, indent=1), encoding="utf-8"
        )
        _plot(records, args.out / "results.png", machine)
        print(f"\nwrote {args.out / 'results.json'} and {args.out / 'results.png'}")


def _peak_bandwidth(device: Any) -> float | None:
    """Nominal peak memory bandwidth in GB/s for known accelerators, else None."""
    kind = device.device_kind.lower()
    table = {"h100": 3350.0, "h200": 4800.0, "a100": 2039.0}
    return next((v for k, v in table.items() if k in kind), None)


def _plot(records: list[dict[str, Any]], path: Path, machine: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    cases = sorted(
        {(r["algorithm"], r["leaves"], r["size"]) for r in records if r["variant"] != "train-step"},
        key=lambda c: (ALGORITHMS.index(c[0]), c[1], c[2]),
    )
    series = sorted(
        {
            (r["library"], r["variant"])
            for r in records
            if r["library"] != "floor" and r["variant"] != "train-step"
        }
    )
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(cases)), 4.5))
    width = 0.8 / max(len(series), 1)
    for j, (lib, var) in enumerate(series):
        ys = []
        for c in cases:
            match = [
                r["vs_floor"]
                for r in records
                if (r["algorithm"], r["leaves"], r["size"]) == c
                and (r["library"], r["variant"]) == (lib, var)
            ]
            ys.append(match[0] if match else np.nan)
        ax.bar(np.arange(len(cases)) + j * width, ys, width, label=f"{lib} {var}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{a}\n{n}×{s}" for a, n, s in cases], fontsize=7)
    ax.set_ylabel("step time / floor")
    ax.set_yscale("log")
    ax.set_title(f"Optimizer step vs the memory floor ({machine})", fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
