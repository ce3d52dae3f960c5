"""Sharded parameters on a 2-D mesh of 8 simulated CPU devices (run in a subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("sharding_check.py")


@pytest.fixture(scope="module", params=["Auto", "Explicit"])
def measured(request):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), request.param],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_state_follows_the_parameter_shardings_eager_jit_and_abstract(measured):
    want = measured["want"]
    assert measured["params"] == want
    for how in ("eager", "jit", "abstract"):
        for moment in ("m", "v"):
            assert measured[how][moment] == want, (how, moment)


def test_jitted_step_keeps_shardings_and_gathers_nothing(measured):
    want = measured["want"]
    assert measured["step_params"] == want
    assert measured["step_state"] == {"m": want, "v": want}
    assert not measured["all_gather"] and not measured["all_to_all"]
    # clip_by_global_norm needs the squared norms summed across devices: scalars only.
    assert measured["all_reduce_shapes"]
    for shape in measured["all_reduce_shapes"]:
        assert re.fullmatch(r"\(?f32\[\](, f32\[\])*\)?", shape), shape


def test_optax_jitted_init_replicates_state_under_auto_sharding(measured):
    """The known Optax behaviour that gdtx avoids (with Auto mesh axes)."""
    if measured["kind"] == "Auto":
        assert set(measured["optax_jit"].values()) == {"P()"}
