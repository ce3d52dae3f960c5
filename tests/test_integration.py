"""Training loops that really train: README.md's examples for Flax NNX, Flax Linen
TrainState, Equinox and plain JAX, per leaf and packed.

Each README block trains a small MLP and asserts its own target loss. Here the Adam
blocks run twice, as written and with ``gdtx.adam(1e-2)`` replaced by
``optax.adam(1e-2)``, and the two loss curves must agree; each packed block must give
its per-leaf block's loss curve.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = README.read_text(encoding="utf-8").split("## Training loops\n", 1)[1].split("\n## ")[0]
BLOCKS = {
    block.splitlines()[0].removeprefix("# "): block
    for block in re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)
}
OURS, THEIRS = "gdtx.adam(1e-2)", "optax.adam(1e-2)"


@functools.cache  # a block runs once for all the tests that read it
def _run(name: str, swap: bool = False) -> dict:
    code = BLOCKS[name]
    if swap:
        assert code.count(OURS) == 1, f"README block {name!r} must build one {OURS}"
        code = code.replace(OURS, THEIRS)
    namespace = {"optax": optax}
    exec(compile(code, f"README.md[{name}]", "exec"), namespace)
    return namespace


def test_readme_has_the_four_training_loops():
    assert set(BLOCKS) == {
        "Flax NNX",
        "Flax NNX, packed",
        "Flax NNX: a new learning rate without recompiling",
        "Flax Linen",
        "Flax Linen, packed",
        "Equinox",
        "Equinox, packed",
        "Plain JAX",
    }


@pytest.mark.parametrize(
    ("name", "module"),
    [("Flax NNX", "flax.nnx"), ("Flax Linen", "flax.linen"), ("Equinox", "equinox")],
)
def test_training_loop_reaches_the_target_and_matches_optax(name, module):
    pytest.importorskip(module)
    ours = np.array(_run(name)["losses"])  # the block asserts losses[-1] < losses[0] / 4
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-promotion clean
        theirs = np.array(_run(name, swap=True)["losses"])
    assert len(ours) == len(theirs) == 150
    assert ours[-1] < 0.25 * ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=2e-4)


@pytest.mark.parametrize(
    ("name", "module"),
    [("Flax NNX", "flax.nnx"), ("Flax Linen", "flax.linen"), ("Equinox", "equinox")],
)
def test_packed_training_loop_gives_the_per_leaf_loss_curve(name, module):
    pytest.importorskip(module)
    packed = np.array(_run(f"{name}, packed")["losses"])
    per_leaf = np.array(_run(name)["losses"])
    assert len(packed) == 150
    np.testing.assert_allclose(packed, per_leaf, rtol=2e-4)


def test_plain_jax_with_groups_accumulation_and_plateau():
    ns = _run("Plain JAX")  # the block checks the target loss, the counter and the frozen layer
    state = ns["state"]
    assert int(state.count) == 300  # update calls: 150 optimizer steps of 2 micro-batches
    groups, plateau = state.inner
    assert groups["frozen"] == ns["gdtx"].EmptyState()
    assert len(jax.tree.leaves(groups["train"].total)) == 2  # a buffer for l2 only
    assert 0 < float(plateau.scale) <= 1
