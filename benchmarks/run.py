"""Optimizer-step and training-step benchmarks: gdtx against Optax, torch.optim and the floor.

Usage:
    python benchmarks/run.py [--quick] [--out DIR] [--steps N] [--rounds N] [--chains] [--matrix]
    python benchmarks/run.py --frameworks [--matrix] [--quick] [--rounds N] [--out DIR]
    python benchmarks/run.py --readme

An optimizer step is memory-bound: Adam reads parameters, gradients and two moments
and writes three arrays. The *floor* is one jitted, donated kernel over flat buffers
that moves those bytes (benchmarks/cases.py, ``floor``). Every library is quoted as a
ratio to the floor measured in the same run, and to the fastest peer (Optax, torch).

Cases: SGD with momentum, RMSProp and Adam on float32 trees of 1×10M, 100×100k,
1000×1k and 1000×10k floats, for gdtx on the tree ("per-leaf") and on packed buffers
("packed"), Optax (jit with buffer donation) and torch.optim (for-loop, foreach, fused;
when torch is installed); then the full training step (gradient and Adam) of two
models with 512 parameter arrays, a deep MLP and a transformer-shaped tree, for gdtx
per-leaf, gdtx packed and Optax.

The variants of one case are compiled, then timed together in interleaved rounds, so
that drifts of the machine's speed hit all of them alike; a step time is the median
over rounds. ``--quick`` runs smaller trees, one model and fewer steps (about two
minutes on 2 CPU cores); ``--smoke`` runs tiny cases, to check that everything runs.
``--matrix`` runs only the matrix optimizers, Muon, Adafactor and SM3, on a
transformer-shaped tree (24 blocks of q, k, v, o and MLP in and out matrices with their
biases, and two layer norms each): gdtx packed (Muon also with ``ns_method="gram"``) and
per-leaf, Optax (``contrib.muon``, ``adafactor``, ``sm3``; jit + donate), torch
(``Muon`` on the matrices with ``AdamW`` on the rest; ``Adafactor`` for-loop and
foreach; no SM3) and the bytes floor, with step and compile times; ``--matrix
--smoke`` checks that it runs. ``--out DIR`` writes ``DIR/results.json`` and
``DIR/results.png``. On a GPU the same script also reports achieved memory bandwidth as a
fraction of the device's peak.

``--frameworks`` times only training steps of Flax NNX and Equinox models, each in the
frameworks' own loops with Optax and through gdtx's integrations (benchmarks/frameworks.py),
and prints the README's table; ``--readme DIR`` rewrites that table in README.md from
``DIR/results.json`` (default benchmarks/results/frameworks), for the committed run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cases
import fused
import jax
import numpy as np
import optax

import gdtx

TREES = [(1, 10_000_000), (100, 100_000), (1000, 1_000), (1000, 10_000)]
MATRIX_TREES = {"full": [(24, 128), (24, 32)], "quick": [(24, 32)], "smoke": [(2, 8)]}
"""--matrix: (blocks, width) of the transformer-shaped trees: at width 128 Muon's matrix
products dominate its step, at width 32 the per-matrix overhead that batching removes."""
QUICK_TREES = [(1, 1_000_000), (100, 10_000), (1000, 1_000)]
MODELS = {
    "mlp": lambda: cases.mlp(layers=256, width=32, batch=16),
    "transformer": lambda: cases.transformer(blocks=32, dim=32, seq=8, batch=4),
}
QUICK_MODELS = ("mlp",)
SMOKE_TREES = [(16, 256)]  # --smoke: checks that everything runs (tests do)
MODELS["tiny-mlp"] = lambda: cases.mlp(layers=4, width=8, batch=4)
# Nominal peak memory bandwidth in GB/s, by device kind.
PEAK_GBS = {"h100 pcie": 2000.0, "h100": 3350.0, "h200": 4800.0, "a100": 2039.0}

Build = Callable[[], "cases.Stepper | None"]


def optimizer_variants(algorithm: str, leaves: int, size: int, torch_variants: list[str]):
    """(library, variant, builder) for every contender of one optimizer-step case."""
    out: list[tuple[str, str, Build]] = [
        ("floor", "jit+donate", lambda: cases.floor(algorithm, leaves, size)),
        (
            "gdtx",
            "packed",
            lambda: cases.packed_optimizer(cases.optimizer(gdtx, algorithm), leaves, size),
        ),
        (
            "gdtx",
            "per-leaf",
            lambda: cases.tree_optimizer(cases.optimizer(gdtx, algorithm), leaves, size),
        ),
        (
            "optax",
            "jit+donate",
            lambda: cases.tree_optimizer(cases.optimizer(optax, algorithm), leaves, size),
        ),
    ]
    if algorithm in fused.FUSED:  # the same arithmetic as one hand-fused block
        make = lambda: fused.fused(algorithm, cases.LR)  # noqa: E731
        out.append(("fused", "packed", lambda: cases.packed_optimizer(make(), leaves, size)))
        out.append(("fused", "per-leaf", lambda: cases.tree_optimizer(make(), leaves, size)))
    for v in torch_variants:
        out.append(("torch", v, lambda v=v: cases.torch_optimizer(algorithm, v, leaves, size)))
    return out


def matrix_variants(algorithm: str, params: Any, torch_variants: list[str]):
    """(library, variant, builder) for Muon, Adafactor or SM3 on the transformer-shaped tree."""
    mine = lambda: cases.matrix_optimizer_of(gdtx, algorithm)  # noqa: E731
    theirs = lambda: cases.matrix_optimizer_of(optax, algorithm)  # noqa: E731
    out: list[tuple[str, str, Build]] = [
        ("floor", "jit+donate", lambda: cases.matrix_floor(algorithm, params)),
        ("gdtx", "packed", lambda: cases.matrix_step(mine(), params, True)),
        ("gdtx", "per-leaf", lambda: cases.matrix_step(mine(), params, False)),
        ("optax", "jit+donate", lambda: cases.matrix_step(theirs(), params, False)),
    ]
    if algorithm == "muon":  # the same iteration on the Gram matrices of the wide ones
        gram = lambda: cases.matrix_optimizer_of(gdtx, algorithm, ns_method="gram")  # noqa: E731
        out.insert(2, ("gdtx", "packed, Gram", lambda: cases.matrix_step(gram(), params, True)))
    for v in torch_variants:
        if v != "fused":
            out.append(("torch", v, lambda v=v: cases.torch_matrix_optimizer(algorithm, v, params)))
    return out


def training_variants(model: str):
    params, loss = MODELS[model]()
    return [
        ("floor", "grad+sgd", lambda: cases.training_step(None, params, loss, True)),
        ("gdtx", "packed", lambda: cases.training_step(gdtx.adam(cases.LR), params, loss, True)),
        ("gdtx", "per-leaf", lambda: cases.training_step(gdtx.adam(cases.LR), params, loss, False)),
        (
            "optax",
            "jit+donate",
            lambda: cases.training_step(optax.adam(cases.LR), params, loss, False),
        ),
    ], params


def time_interleaved(steppers: list[Any], steps: int, rounds: int) -> list[list[float]]:
    """Each stepper's median step time in each of ``rounds`` interleaved rounds.

    A round runs every stepper in turn: one untimed step (it pays for the cache the
    previous stepper took), then ``steps // rounds`` timed steps. Comparing steppers
    round by round cancels the slow drifts of a shared machine's speed.
    """
    per_round = max(3, -(-steps // rounds))
    for s in steppers:  # warm-up
        for _ in range(3):
            s()
    out: list[list[float]] = [[] for _ in steppers]
    for _ in range(rounds):
        for i, s in enumerate(steppers):
            s()
            times = []
            for _ in range(per_round):
                t = time.perf_counter()
                s()
                times.append(time.perf_counter() - t)
            out[i].append(statistics.median(times))
    return out


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<44}")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases, fewer steps")
    parser.add_argument("--out", type=Path, default=None, help="write results.json and .png")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant (≥ 20)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved rounds (default 32; 8 with --quick or --smoke): more rounds, a "
        "steadier median of the paired ratios",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny cases: check that it runs")
    parser.add_argument(
        "--chains",
        action="store_true",
        help="only gdtx's chains against their hand-fused blocks (Adam, RMSProp), timed "
        "alone so that no other variant's buffers sit in the cache between them",
    )
    parser.add_argument(
        "--frameworks",
        action="store_true",
        help="only training steps of Flax NNX and Equinox models: the frameworks' loops "
        "with Optax against gdtx's per-leaf and packed (gdtx.nnx, gdtx.equinox) steps",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="rewrite README.md's framework and matrix tables from the committed runs "
        "(benchmarks/results/frameworks and cpu-matrix) and exit",
    )
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="only the matrix optimizers (Muon, Adafactor, SM3) on a transformer-shaped tree",
    )
    args = parser.parse_args(argv)
    if args.readme:
        write_readme_tables()
        return
    # Many short rounds: a shared machine's speed drifts within seconds, and the median
    # of many paired ratios is steadier (repeated estimates of one ratio spread over about
    # ±2% with 32 rounds here, ±5% with 8).
    steps = max(args.steps or (24 if args.quick or args.smoke else 96), 20)
    rounds = args.rounds or (8 if args.quick or args.smoke else 32)
    trees = SMOKE_TREES if args.smoke else QUICK_TREES if args.quick else TREES
    models = ("tiny-mlp",) if args.smoke else QUICK_MODELS if args.quick else ("mlp", "transformer")
    try:
        import torch

        torch_variants = ["for-loop", "foreach", "fused"]
        torch_version = torch.__version__
        if jax.default_backend() != "cpu" and not torch.cuda.is_available():
            torch_variants = []  # a CPU torch is no peer for an accelerator
    except ImportError:
        torch_variants, torch_version = [], None

    groups: list[tuple[dict[str, Any], list[tuple[str, str, Build]]]] = []
    if args.matrix:
        size = "smoke" if args.smoke else "quick" if args.quick else "full"
        for (blocks, width), algorithm in itertools.product(
            MATRIX_TREES[size], cases.MATRIX_ALGORITHMS
        ):
            params = cases.matrix_tree(blocks, width)
            sizes = [int(np.size(x)) for x in jax.tree.leaves(params)]
            case = {"case": "matrix-step", "model": f"transformer {blocks}×{width}"}
            case |= {"algorithm": algorithm, "leaves": len(sizes), "size": int(np.mean(sizes))}
            case |= {"elements": sum(sizes)}
            groups.append((case, matrix_variants(algorithm, params, torch_variants)))
    for algorithm in () if args.matrix else cases.ALGORITHMS:
        if args.chains and algorithm not in fused.FUSED:
            continue
        for leaves, size in trees:
            case = {"case": "optimizer-step", "model": None, "algorithm": algorithm}
            case |= {"leaves": leaves, "size": size}
            variants = optimizer_variants(algorithm, leaves, size, torch_variants)
            if args.chains:
                keep = {"floor", "gdtx", "fused"}
                variants = [v for v in variants if v[0] in keep]
            groups.append((case, variants))
    if args.frameworks:
        import frameworks  # Flax and Equinox: imported only for this mode

        # the framework loops replace the default cases; --matrix's run beside them
        groups = [g for g in groups if g[0]["case"] == "matrix-step"]
        models = ()
        size = "smoke" if args.smoke else "quick" if args.quick else "full"
        for model in frameworks.MODELS:
            leaves, mean = frameworks.model_arrays(model, size)
            case = {"case": "framework-step", "model": model, "algorithm": "adam"}
            case |= {"leaves": leaves, "size": mean}
            groups.append((case, frameworks.variants(model, size)))
    for model in () if args.chains or args.matrix else models:
        variants, params = training_variants(model)
        sizes = [int(np.size(x)) for x in jax.tree.leaves(params)]
        case = {"case": "training-step", "model": model, "algorithm": "adam"}
        case |= {"leaves": len(sizes), "size": int(np.mean(sizes))}
        groups.append((case, variants))

    total = sum(len(v) for _, v in groups)
    done = 0
    records: list[dict[str, Any]] = []
    for case, variants in groups:
        name = f"{case['model'] or case['algorithm']} {case['leaves']}×{case['size']}"
        built = []
        for library, variant, build in variants:
            progress(done, total, f"compile {library} {variant} {name}")
            with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
                stepper = build()
            done += 1
            if stepper is not None:
                built.append((library, variant, stepper))
        progress(done, total, f"time {name}")
        per_round = time_interleaved([s for _, _, s in built], steps, rounds)
        for (library, variant, stepper), times in zip(built, per_round, strict=True):
            records.append(
                {"library": library, "variant": variant, **case}
                | {"compile_s": stepper.compile_s, "step_s": statistics.median(times)}
                | {"round_step_s": times}
            )
        del built
    progress(total, total, "done")
    sys.stderr.write("\n")
    summarize(records)
    if args.matrix:
        matrix_targets(records)

    device = jax.devices()[0]
    machine = (
        f"{cpu_name()}, {os.cpu_count()} cores, {jax.device_count()}× {device.device_kind},"
        f" jax {jax.__version__}, optax {optax.__version__}, torch {torch_version}"
    )
    print_table(records, machine)
    payload = {"machine": machine, "quick": args.quick, "steps": steps, "records": records}
    if args.frameworks:
        import frameworks

        print("\n" + frameworks.readme_table(payload))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
        plot(records, args.out / "results.png", machine)
        print(f"\nwrote {args.out / 'results.json'} and {args.out / 'results.png'}")


RESULTS = Path(__file__).resolve().parent / "results"
FRAMEWORKS_RESULTS = RESULTS / "frameworks"
MATRIX_RESULTS = RESULTS / "cpu-matrix"
README = Path(__file__).resolve().parents[1] / "README.md"


def matrix_readme_table(payload: dict[str, Any]) -> str:
    """The README's table of the matrix optimizers, from run.py --matrix's results.

    Step times in ms with each one's ratio to gdtx's packed step (the median of the
    per-round ratios), and compile times (first call: trace, compile, one step)."""
    records = [r for r in payload["records"] if r["case"] == "matrix-step"]
    columns = [
        ("floor", "jit+donate"),
        ("gdtx", "packed"),
        ("gdtx", "packed, Gram"),
        ("gdtx", "per-leaf"),
        ("optax", "jit+donate"),
        ("torch", "for-loop"),
        ("torch", "foreach"),
    ]
    models = list(dict.fromkeys(r["model"] for r in records))
    sizes = "; ".join(
        f"{r['model']}: {r['leaves']} arrays, {r['elements']:,} floats"
        for r in {r["model"]: r for r in records}.values()
    )
    rows = [
        f"Optimizer step, median of interleaved rounds ({sizes}): {payload['machine']}.",
        "",
        "| algorithm | tree | floor: bytes moved | gdtx packed | gdtx packed, Gram NS "
        "| gdtx per-leaf | Optax (jit+donate) | torch for-loop | torch foreach "
        "| compile s: packed / per-leaf / Optax |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for algorithm, model in itertools.product(
        dict.fromkeys(r["algorithm"] for r in records), models
    ):
        mine = {
            (r["library"], r["variant"]): r
            for r in records
            if (r["algorithm"], r["model"]) == (algorithm, model)
        }
        if not mine:
            continue
        base = mine["gdtx", "packed"]
        cells = [
            f"{1e3 * mine[k]['step_s']:.2f} ms ({paired_ratio(mine[k], base):.2f}×)"
            if k in mine
            else "–"
            for k in columns
        ]
        compiles = " / ".join(
            f"{mine[k]['compile_s']:.1f}"
            for k in [("gdtx", "packed"), ("gdtx", "per-leaf"), ("optax", "jit+donate")]
        )
        tree = model.removeprefix("transformer ")
        rows.append(f"| {algorithm} | {tree} | " + " | ".join(cells) + f" | {compiles} |")
    return "\n".join(rows)


def readme_tables() -> dict[str, tuple[Path, Callable[[dict[str, Any]], str]]]:
    """README table name → (the committed run it comes from, the function writing it)."""
    import frameworks  # Flax and Equinox

    return {
        "frameworks": (FRAMEWORKS_RESULTS, frameworks.readme_table),
        "matrix": (MATRIX_RESULTS, matrix_readme_table),
    }


def write_readme_tables() -> None:
    """Replaces each of README.md's generated tables with the one its committed run gives."""
    text = README.read_text(encoding="utf-8")
    for name, (results, table_of) in readme_tables().items():
        payload = json.loads((results / "results.json").read_text(encoding="utf-8"))
        start, end = f"<!-- {name} table: start -->", f"<!-- {name} table: end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{table_of(payload)}\n{end}{tail}"
        print(f"README.md: {name} table from {results}")
    README.write_text(text, encoding="utf-8")


def paired_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Median over rounds of a's step time over b's in the same round."""
    ratios = [x / y for x, y in zip(a["round_step_s"], b["round_step_s"], strict=True)]
    return statistics.median(ratios)


def cpu_name() -> str:
    """The processor's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarize(records: list[dict[str, Any]]) -> None:
    """Adds ratios to the floor and to the fastest peer, and bandwidths."""
    device = jax.devices()[0]
    peak = next((v for k, v in PEAK_GBS.items() if k in device.device_kind.lower()), None)
    for r in records:
        same = [
            q
            for q in records
            if (q["case"], q["model"], q["algorithm"], q["leaves"], q["size"])
            == (r["case"], r["model"], r["algorithm"], r["leaves"], r["size"])
        ]
        floor = [q for q in same if q["library"] == "floor"]
        peers = [q for q in same if q["library"] not in ("floor", "gdtx", "fused")]
        best = min(peers, key=lambda q: q["step_s"]) if peers else None
        r["vs_floor"] = paired_ratio(r, floor[0]) if floor else None
        r["vs_best_peer"] = paired_ratio(r, best) if best else None
        twin = [q for q in same if q["library"] == "fused" and q["variant"] == r["variant"]]
        r["vs_fused"] = paired_ratio(r, twin[0]) if twin and r["library"] == "gdtx" else None
        if r["case"] in ("optimizer-step", "matrix-step"):
            reads, writes = (cases.TRAFFIC | cases.MATRIX_TRAFFIC)[r["algorithm"]]
            moved = (reads + writes) * 4 * r.get("elements", r["leaves"] * r["size"])
            r["bandwidth_gbs"] = moved / r["step_s"] / 1e9
            r["bandwidth_fraction"] = r["bandwidth_gbs"] / peak if peak else None


def matrix_targets(records: list[dict[str, Any]]) -> None:
    """Prints the matrix targets: packed Muon ≥ 3× faster than Optax's per-leaf Muon and
    compiled no slower; packed Adafactor within 1.2× of its bytes floor."""

    for model in dict.fromkeys(r["model"] for r in records if r["case"] == "matrix-step"):

        def find(
            algorithm: str, library: str, variant: str, model: str = model
        ) -> dict[str, Any] | None:
            return next(
                (
                    r
                    for r in records
                    if (r["case"], r["model"], r["algorithm"], r["library"], r["variant"])
                    == ("matrix-step", model, algorithm, library, variant)
                ),
                None,
            )

        mine, theirs = find("muon", "gdtx", "packed"), find("muon", "optax", "jit+donate")
        if mine and theirs:
            speedup = paired_ratio(theirs, mine)
            compile_ratio = mine["compile_s"] / theirs["compile_s"]
            print(
                f"{model}: muon packed step {speedup:.2f}× faster than Optax (target ≥ 3), "
                f"compile {compile_ratio:.2f}× Optax's (target ≤ 1)"
            )
        gram = find("muon", "gdtx", "packed, Gram")
        if gram and theirs:
            print(f"{model}: muon packed step, Gram form, {paired_ratio(theirs, gram):.2f}× faster")
        packed = find("adafactor", "gdtx", "packed")
        if packed and packed.get("vs_floor"):
            print(
                f"{model}: adafactor packed step {packed['vs_floor']:.2f}× its floor (target ≤ 1.2)"
            )


def print_table(records: list[dict[str, Any]], machine: str) -> None:
    print(f"\n{machine}\n")
    gpu = any(r.get("bandwidth_fraction") for r in records)
    header = (
        f"{'case':<20}{'tree':>11}  {'library':<7}{'variant':<11}"
        f"{'compile s':>10}{'step ms':>10}{'× floor':>9}{'× best peer':>12}{'× fused':>9}"
        + (f"{'% peak BW':>10}" if gpu else "")
    )
    print(header)
    print("-" * len(header))
    for r in records:
        label = r["algorithm"] if r["case"] in ("optimizer-step", "matrix-step") else r["model"]
        label = f"{label} (matrix)" if r["case"] == "matrix-step" else label
        vs_f = f"{r['vs_floor']:.2f}" if r["vs_floor"] else "–"
        vs_p = f"{r['vs_best_peer']:.2f}" if r["vs_best_peer"] else "–"
        vs_u = f"{r['vs_fused']:.3f}" if r.get("vs_fused") else "–"
        bw = r.get("bandwidth_fraction")
        print(
            f"{label:<20}{str(r['leaves']) + '×' + str(r['size']):>11}  {r['library']:<7}"
            f"{r['variant']:<11}{r['compile_s']:>10.2f}{1e3 * r['step_s']:>10.3f}"
            f"{vs_f:>9}{vs_p:>12}{vs_u:>9}" + (f"{100 * bw:>9.1f}%" if gpu and bw else "")
        )


def plot(records: list[dict[str, Any]], path: Path, machine: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    opt = [
        r
        for r in records
        if r["case"] in ("optimizer-step", "matrix-step") and r["library"] != "floor"
    ]
    train = [r for r in records if r["case"] in ("training-step", "framework-step")]
    keys = sorted(
        {(r["algorithm"], r["leaves"], r["size"]) for r in opt},
        key=lambda c: ((cases.ALGORITHMS + cases.MATRIX_ALGORITHMS).index(c[0]), c[1], c[2]),
    )
    series = sorted({(r["library"], r["variant"]) for r in opt})
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(max(10, 0.9 * len(keys) + 5), 4.8), width_ratios=[3, 1]
    )
    width = 0.8 / max(len(series), 1)
    for j, (lib, var) in enumerate(series):
        ys = [
            next(
                (
                    r["vs_floor"]
                    for r in opt
                    if (r["algorithm"], r["leaves"], r["size"]) == k
                    and (r["library"], r["variant"]) == (lib, var)
                ),
                np.nan,
            )
            for k in keys
        ]
        ax.bar(np.arange(len(keys)) + j * width, ys, width, label=f"{lib} {var}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(1.15, color="k", lw=0.6, ls=":")
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{a}\n{n}×{s}" for a, n, s in keys], fontsize=7)
    ax.set_ylabel("optimizer step time / floor (log)")
    ax.set_yscale("log")
    if series:
        ax.legend(fontsize=7, ncol=2)
    models = sorted({r["model"] for r in train})
    tseries = sorted({(r["library"], r["variant"]) for r in train})
    tw = 0.8 / max(len(tseries), 1)
    for j, (lib, var) in enumerate(tseries):
        ys = [
            next(
                (
                    1e3 * r["step_s"]
                    for r in train
                    if r["model"] == m and (r["library"], r["variant"]) == (lib, var)
                ),
                np.nan,
            )
            for m in models
        ]
        bx.bar(np.arange(len(models)) + j * tw, ys, tw, label=f"{lib} {var}")
    bx.set_xticks(np.arange(len(models)) + 0.4 - tw / 2)
    bx.set_xticklabels([f"{m}\n(training step)" for m in models], fontsize=7)
    bx.set_ylabel("ms per step")
    if tseries:
        bx.legend(fontsize=7)
    fig.suptitle(machine, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
