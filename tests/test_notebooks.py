"""The teaching notebooks run from top to bottom, import only what they may, and are committed
with their outputs and figures.

Each notebook is executed with nbclient in a fresh ``python3`` kernel, in a temporary folder
(so its figures do not overwrite the committed ones), under the same strict dtype and rank
promotion as the tests. The executions run in subprocesses in the background while the other
tests run (tests/background.py); ``python tests/test_notebooks.py --run NAME FOLDER`` is one.
To refresh the committed outputs and figures after editing a notebook:

    python tests/test_notebooks.py [NAME ...]
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
from background import Job

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
ALLOWED_IMPORTS = {"gdtx", "numpy", "matplotlib", "jax", "pathlib", "IPython"}
"""gdtx and its own dependency jax, NumPy, matplotlib; pathlib and IPython.display for output."""
STRICT = {"JAX_NUMPY_DTYPE_PROMOTION": "strict", "JAX_NUMPY_RANK_PROMOTION": "raise"}
CELL_TIMEOUT = 180  # seconds
RUNS = Path(tempfile.gettempdir()) / f"gdtx-notebooks-{os.getpid()}"
"""Where the background runs execute: one folder per notebook, removed by its test."""

JOBS = [
    Job(
        f"notebook {path.stem}",
        [sys.executable, __file__, "--run", path.stem, str(RUNS / path.stem)],
        env={**os.environ, **STRICT},  # the kernel inherits the environment
        timeout=6 * CELL_TIMEOUT,
    )
    for path in NOTEBOOKS
]


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def saved_figures(nb) -> list[str]:
    """The PNG names a notebook saves under figures/ (every "name.png" literal in its code)."""
    sources = "\n".join(cell.source for cell in code_cells(nb))
    return re.findall(r'"([\w-]+\.png)"', sources)


def execute(nb, folder: Path) -> float:
    """Runs every cell of ``nb`` in ``folder``; returns the wall time in seconds."""
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        record_timing=False,  # no timestamps in the committed files
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def test_the_six_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_ewma",
        "02_gradient_descent",
        "03_momentum",
        "04_adaptive",
        "05_comparison",
        "06_schedules",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_only_gdtx_numpy_and_matplotlib(path):
    nb = nbformat.read(path, as_version=4)
    for cell in code_cells(nb):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_with_outputs_and_figures(path):
    nb = nbformat.read(path, as_version=4)
    cells = code_cells(nb)
    assert all(cell.execution_count is not None for cell in cells), "run it before committing"
    outputs = [out for cell in cells for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs), "no figure shown"
    names = saved_figures(nb)
    assert names, "the notebook saves no figure"
    for name in names:
        assert (NOTEBOOK_DIR / "figures" / name).is_file(), f"figures/{name} is not committed"


@pytest.mark.parametrize("job", JOBS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(job):
    proc = job.result()
    folder = Path(job.argv[-1])
    try:
        # run_one raises CellExecutionError on the first failing cell
        assert proc.returncode == 0, proc.stderr[-3000:]
        _check_run(nbformat.read(folder / "executed.ipynb", as_version=4), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_run(nb, tmp_path):
    stderr = [
        out.text
        for cell in code_cells(nb)
        for out in cell.outputs
        if out.output_type == "stream" and out.name == "stderr"
    ]
    assert not [text for text in stderr if "Warning" in text], stderr
    written = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert written == sorted(saved_figures(nb))
    for name in written:
        assert (tmp_path / "figures" / name).stat().st_size > 10_000, name


def refresh(names: list[str]) -> None:
    """Executes notebooks in place (figures to notebooks/figures/) and saves their outputs."""
    os.environ.update(STRICT)
    for path in NOTEBOOKS:
        if names and path.stem not in names:
            continue
        nb = nbformat.read(path, as_version=4)
        seconds = execute(nb, NOTEBOOK_DIR)
        nbformat.write(nb, path)
        print(f"{path.name}: {seconds:.1f} s")


def run_one(name: str, folder: Path) -> None:
    """Executes notebook ``name`` in ``folder`` and saves it there as executed.ipynb."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    execute(nb, folder)
    nbformat.write(nb, folder / "executed.ipynb")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        run_one(sys.argv[2], Path(sys.argv[3]))
    else:
        refresh(sys.argv[1:])
