"""The demo behind ``python -m gdtx`` runs, prints its table and writes its figure.

It runs as ``python -m gdtx`` in a subprocess, in the background while the in-process
tests run (tests/background.py), with the tests' strict promotion and warnings as errors.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from background import Job

ROOT = Path(__file__).resolve().parents[1]
FIGURE = Path(tempfile.gettempdir()) / f"gdtx-demo-{os.getpid()}.png"
STRICT = {"JAX_NUMPY_DTYPE_PROMOTION": "strict", "JAX_NUMPY_RANK_PROMOTION": "raise"}

JOBS = [
    Job(
        "python -m gdtx",
        [sys.executable, "-W", "error", "-m", "gdtx", "--steps", "30", "--figure", str(FIGURE)],
        env={
            **os.environ,
            **STRICT,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
    )
]


def test_demo_runs_and_writes_the_figure():
    proc = JOBS[0].result()
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        for name in ("adam", "adagrad", "rmsprop", "adadelta", "sgd + nesterov", "mini-batch"):
            assert name in proc.stdout
        assert FIGURE.stat().st_size > 10_000
    finally:
        FIGURE.unlink(missing_ok=True)
