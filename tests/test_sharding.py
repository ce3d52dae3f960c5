"""Sharded parameters on a 2×4 mesh of 8 simulated CPU devices (run in a subprocess).

tests/sharding_check.py sets ``--xla_force_host_platform_device_count=8`` before JAX
starts, measures, and prints JSON; these tests assert on it, for both kinds of mesh axes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import registry
from background import Job

SCRIPT = Path(__file__).with_name("sharding_check.py")
OPTIMIZERS = [
    *registry.stateful_forms(),
    "clip+adam",
    "adamw+ndim_mask",
    "lars",
    "groups+accumulate",
    "accumulate(partition)",
]
"""Each form of each algorithm of tests/registry.py that keeps a state, and
sharding_check.py's COMPOSITES."""

JOBS = [
    Job(f"sharding {kind}", [sys.executable, str(SCRIPT), kind], timeout=300)
    for kind in ("Auto", "Explicit")
]
"""The script, once per kind of mesh axes, run in the background (tests/background.py)."""


@pytest.fixture(scope="module", params=JOBS, ids=["Auto", "Explicit"])
def measured(request):
    proc = request.param.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_eight_devices_and_sharded_parameters(measured):
    assert measured["devices"] == 8
    assert measured["params"] == {"bad": [], "checked": 4, "frozen_leaves": 1}
    assert set(measured["init"]) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_follows_the_parameter_shardings_eager_jit_and_abstract(measured, name):
    """Eager init, jax.jit(init), and abstract init from ShapeDtypeStructs: through the
    compiled program's output shardings, and (Explicit axes) through jax.eval_shape."""
    results = measured["init"][name]
    expected = {"eager", "jit", "abstract_compiled"}
    if measured["kind"] == "Explicit":
        expected.add("abstract_eval_shape")
    assert set(results) == expected
    for how, result in results.items():
        assert result["checked"] > 0, how
        assert result["bad"] == [], how


def test_frozen_leaves_carry_no_state(measured):
    """The frozen group's parameter (r) has no state leaf, not even an accumulation buffer."""
    for result in measured["init"]["groups+accumulate"].values():
        assert result["frozen_leaves"] == 0
    assert measured["step"]["groups+accumulate"]["state"]["frozen_leaves"] == 0


@pytest.mark.parametrize("name", ["clip+adam", "lars", "groups+accumulate"])
def test_jitted_step_keeps_shardings_and_gathers_nothing(measured, name):
    step = measured["step"][name]
    assert step["params"]["bad"] == [] and step["state"]["bad"] == []
    assert step["all_gather"] == step["all_to_all"] == 0
    assert step["collective_permute"] == step["reduce_scatter"] == 0
    # clip_by_global_norm and lars's trust ratio sum squared norms across devices:
    # all-reduces of scalars only, at most one per mesh axis (XLA combines the per-leaf
    # partial sums reduced over the same axis).
    assert 1 <= len(step["all_reduce_shapes"]) <= 2
    for shape in step["all_reduce_shapes"]:
        assert re.fullmatch(r"\(?f32\[\](, f32\[\])*\)?", shape), shape


def test_optax_jitted_init_loses_the_shardings_on_auto_axes(measured):
    """The Optax behaviour gdtx avoids: jax.jit(optax.adam(...).init) builds its moments
    with jnp.zeros. On Auto mesh axes they land on one device (no mesh context) or are
    replicated (inside jax.set_mesh); on Explicit axes Optax fails without a mesh context."""
    if measured["kind"] == "Auto":
        assert measured["optax_jit_no_context"] == "SingleDeviceSharding on 1 device(s)"
        assert measured["optax_jit"] == ["P()"]
    else:
        assert measured["optax_jit_no_context"].startswith("error: ValueError")


def test_packing_keeps_partitioned_leaves_whole_and_packs_replicated_ones(measured):
    packed = measured["packed"]
    assert packed["values_match"]
    by_sharding = {b["sharding"]: b for b in packed["buffers"]}
    assert by_sharding["P('data', 'model')"] == {
        "whole": True,
        "shape": [8, 16],
        "sharding": "P('data', 'model')",
    }
    assert by_sharding["P('model',)"]["whole"] and by_sharding["P('model',)"]["shape"] == [16]
    assert by_sharding["P()"] == {"whole": False, "shape": [9], "sharding": "P()"}
    assert len(packed["buffers"]) == 3
    # m and v follow their buffers; the step keeps every sharding and gathers nothing
    want = [b["sharding"] for b in packed["buffers"]]
    assert packed["moments"] == want + want
    assert packed["after_step"] == want
    assert packed["all_gather"] == packed["all_to_all"] == 0
    assert packed["collective_permute"] == packed["reduce_scatter"] == 0
