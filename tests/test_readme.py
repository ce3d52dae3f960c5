"""README.md's Python examples run as written.

The blocks of the "Training loops" section are run by tests/test_integration.py (which
also compares their loss curves), so they are not run a second time here.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
LOOPS = TEXT.split("## Training loops\n", 1)[1].split("\n## ")[0]
BLOCKS = [
    block
    for block in re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
    if f"```python\n{block}```" not in LOOPS
]


def test_training_loops_are_left_to_test_integration():
    assert len(re.findall(r"```python\n", LOOPS)) == 8
    assert len(BLOCKS) == len(re.findall(r"```python\n", TEXT)) - 8


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    exec(compile(textwrap.dedent(BLOCKS[index]), f"README.md[{index}]", "exec"), {})
