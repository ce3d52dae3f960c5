"""Sphinx configuration: gdtx's API reference, from the docstrings, and the notebooks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

project = "gdtx"
author = "the gdtx developers"
copyright = "2026, the gdtx developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build"]
nb_execution_mode = "off"  # the notebooks are committed with their outputs (tests run them)
myst_enable_extensions = ["dollarmath"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures stay readable; types are in the Args sections
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
html_theme = "alabaster"
html_title = "gdtx"
suppress_warnings = ["mystnb.unknown_mime_type"]

# The notebooks live in notebooks/ at the repository root; the site renders copies.
_nb_src, _nb_dst = ROOT / "notebooks", HERE / "notebooks"
_nb_dst.mkdir(exist_ok=True)
for _nb in sorted(_nb_src.glob("*.ipynb")):
    shutil.copyfile(_nb, _nb_dst / _nb.name)


def _docstring_to_rst(app, what, name, obj, options, lines) -> None:  # noqa: ANN001
    """Docstrings write equations between ``$$`` and |g| for absolute values, which read
    well in ``help()``; for the site, equations become ``.. math::`` blocks and bars are
    escaped (reStructuredText reads ``|g|`` as a substitution)."""
    out: list[str] = []
    math: list[str] | None = None
    indent = ""
    for line in lines:
        text = line.strip()
        if math is None and text.startswith("$$"):
            indent = line[: len(line) - len(line.lstrip())]
            math, text = [], text[2:]
        if math is not None:
            end = text.endswith("$$")
            body = text[:-2] if end else text
            if body.strip():
                math.append(body.strip())
            if end:
                out += ["", f"{indent}.. math::", ""] + [f"{indent}   {m}" for m in math] + [""]
                math = None
            continue
        parts = line.split("``")  # escape bars outside inline literals only
        out.append("``".join(p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(parts)))
    lines[:] = out


def setup(app) -> None:  # noqa: ANN001
    app.connect("autodoc-process-docstring", _docstring_to_rst)
