"""benchmarks/run.py runs end to end and writes the records it promises (tiny cases).

Nothing here times anything: speed is measured by benchmarks/run.py itself.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from background import Job

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "run.py"
KEYS = {"library", "variant", "algorithm", "leaves", "size", "compile_s", "step_s"}
OUT = Path(tempfile.gettempdir()) / f"gdtx-benchmark-smoke-{os.getpid()}"
MODES_OUT = OUT.with_name(OUT.name + "-modes")
MODES_SMOKE = ("--frameworks", "--matrix", "--smoke", "--steps", "20")
"""The framework loops and the matrix optimizers: one process for both modes."""
ENV = {  # the script imports this checkout's gdtx whether or not it is installed
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
}

JOBS = [
    Job(
        "benchmark smoke run",
        [sys.executable, str(SCRIPT), "--smoke", "--steps", "20", "--out", str(OUT)],
        timeout=600,
        env=ENV,
    ),
    Job(
        "framework and matrix benchmark smoke run",
        [sys.executable, str(SCRIPT), *MODES_SMOKE, "--out", str(MODES_OUT)],
        timeout=600,
        env=ENV,
    ),
]
"""The smoke runs, in the background while the in-process tests run (tests/background.py)."""


def test_benchmark_script_writes_results():
    proc = JOBS[0].result()
    try:
        _check_smoke_run(proc, OUT)
    finally:
        shutil.rmtree(OUT, ignore_errors=True)


def _check_smoke_run(proc, tmp_path):
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "× floor" in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.png").stat().st_size > 10_000
    records = results["records"]
    for r in records:
        assert set(r) >= KEYS, r
        assert r["step_s"] > 0 and r["compile_s"] >= 0
        assert r["algorithm"] in ("sgd_momentum", "rmsprop", "adam")
    kinds = {(r["case"], r["library"], r["variant"]) for r in records}
    for library, variant in [("floor", "jit+donate"), ("gdtx", "packed"), ("gdtx", "per-leaf")]:
        assert ("optimizer-step", library, variant) in kinds
    assert ("optimizer-step", "optax", "jit+donate") in kinds
    for library, variant in [("floor", "grad+sgd"), ("gdtx", "packed"), ("optax", "jit+donate")]:
        assert ("training-step", library, variant) in kinds
    if importlib.util.find_spec("torch") is not None:
        assert ("optimizer-step", "torch", "fused") in kinds
    floors = [r for r in records if r["library"] == "floor"]
    assert all(r["vs_floor"] == 1.0 for r in floors)


@functools.cache
def _modes_run() -> tuple[str, dict]:
    """The framework and matrix smoke run's stdout and results (its folder then removed)."""
    proc = JOBS[1].result()
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        payload = json.loads((MODES_OUT / "results.json").read_text())
        assert (MODES_OUT / "results.png").stat().st_size > 10_000
    finally:
        shutil.rmtree(MODES_OUT, ignore_errors=True)
    return proc.stdout, payload


def test_framework_benchmark_writes_every_loop_of_every_model():
    stdout, payload = _modes_run()
    records = [r for r in payload["records"] if r["case"] != "matrix-step"]
    frameworks = _frameworks_module()
    loops = {(r["model"], r["library"], r["variant"]) for r in records}
    assert loops == {(m, *v) for m in frameworks.MODELS for v in frameworks.VARIANTS}
    for r in records:
        assert set(r) >= KEYS | {"model"} and r["case"] == "framework-step", r
        assert r["step_s"] > 0 and r["compile_s"] > 0
    assert frameworks.readme_table(payload) in stdout


def _frameworks_module():
    return _benchmark_module("frameworks")


def _benchmark_module(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_readme_tables_are_the_committed_runs():
    """README's framework and matrix tables are what ``run.py --readme`` writes from the
    committed runs."""
    readme = (ROOT / "README.md").read_text()
    _benchmark_module("frameworks")  # run.py imports it when asked for the tables
    for name, (results, table_of) in _benchmark_module("run").readme_tables().items():
        payload = json.loads((results / "results.json").read_text())
        start, end = f"<!-- {name} table: start -->\n", f"\n<!-- {name} table: end -->"
        assert readme.split(start, 1)[1].split(end, 1)[0] == table_of(payload), name


def test_matrix_benchmark_writes_results():
    """``--matrix``: Muon and Adafactor on the transformer-shaped tree, every contender."""
    stdout, payload = _modes_run()
    assert "muon packed step" in stdout and "adafactor packed step" in stdout
    records = [r for r in payload["records"] if r["case"] != "framework-step"]
    kinds = {(r["algorithm"], r["library"], r["variant"]) for r in records}
    for algorithm in ("muon", "adafactor"):
        for library, variant in [
            ("floor", "jit+donate"),
            ("gdtx", "packed"),
            ("gdtx", "per-leaf"),
            ("optax", "jit+donate"),
        ]:
            assert (algorithm, library, variant) in kinds
        if importlib.util.find_spec("torch") is not None:
            assert (algorithm, "torch", "for-loop") in kinds
    for r in records:
        assert r["case"] == "matrix-step" and r["step_s"] > 0 and r["compile_s"] >= 0


def _record(records, library, variant, leaves, size):
    """The committed record of one Adam optimizer-step case."""
    key = ("optimizer-step", "adam", leaves, size, library, variant)
    fields = ("case", "algorithm", "leaves", "size", "library", "variant")
    return next(r for r in records if tuple(r[f] for f in fields) == key)


def test_readme_adam_table_is_the_committed_run():
    """Every ratio and floor time in README's Adam table is the committed results.json's."""
    records = json.loads((ROOT / "benchmarks/results/cpu/results.json").read_text())["records"]
    columns = [
        ("gdtx", "packed"),
        ("gdtx", "per-leaf"),
        ("optax", "jit+donate"),
        ("torch", "fused"),
        ("torch", "foreach"),
        ("torch", "for-loop"),
    ]
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d+)×([\d,]+) \| ([\d.]+) \| (.*) \|$", readme, re.MULTILINE)
    assert len(rows) == 4, rows
    for leaves, size, floor_ms, rest in rows:
        case = (int(leaves), int(size.replace(",", "")))
        floor = _record(records, "floor", "jit+donate", *case)
        assert float(floor_ms) == round(floor["step_s"] * 1e3, 2)
        cells = rest.split(" | ")[: len(columns)]
        for cell, (library, variant) in zip(cells, columns, strict=True):
            times = _record(records, library, variant, *case)["round_step_s"]
            ratios = [a / b for a, b in zip(times, floor["round_step_s"], strict=True)]
            assert cell == f"{statistics.median(ratios):.2f}×", (case, library, variant)
