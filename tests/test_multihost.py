"""Training in several JAX processes on one machine, as on several hosts.

tests/process_group.py starts the processes (each with its own CPU devices, joined by
``jax.distributed.initialize`` over localhost and Gloo collectives); each runs
tests/multihost_check.py, which trains every case on a 2×4 ("data", "model") mesh and
writes what it found. Four groups run in the background while the in-process tests run
(tests/background.py), in this order:

- ``TWO``: 2 processes × 4 devices: every case, and an Orbax checkpoint after 3 steps;
- ``ONE``: the reference, 1 process × 8 devices: the same program, the unsharded runs
  (replicated parameters), and the checkpoint restored into one process, for portability;
- ``RESUMED``: 2 fresh processes restore the checkpoint on a mesh whose process order is
  reversed, so that each restores the shards the other one wrote, and continue;
- ``FOUR``: 4 processes × 2 devices (the "model" axis crosses processes too): one case.

Different process counts add partial sums in different orders, so their results agree to
float32 rounding; runs with the same process count agree bit for bit.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import socket
import tempfile
import textwrap
import time
from pathlib import Path

import multihost_check as check
import numpy as np
import pytest
from process_group import GroupJob, command, free_port, run_group

SCRIPT = Path(__file__).with_name("multihost_check.py")
WORKDIR = Path(tempfile.mkdtemp(prefix="gdtx-multihost-"))
CASES = check.cases()

TWO = GroupJob("2 processes x 4 devices", SCRIPT, [WORKDIR, "train"])
ONE = GroupJob(
    "1 process x 8 devices",
    SCRIPT,
    [WORKDIR, "train", "replicated", "resume", "continue"],
    num_processes=1,
    local_devices=8,
)
RESUMED = GroupJob("2 processes, reversed mesh, resumed", SCRIPT, [WORKDIR, "resume-reversed"])
FOUR = GroupJob(
    "4 processes x 2 devices", SCRIPT, [WORKDIR, "light"], num_processes=4, local_devices=2
)
JOBS = [TWO, ONE, RESUMED, FOUR]
"""Run in this order by the background worker: ONE and RESUMED read TWO's checkpoint."""


@atexit.register
def _cleanup() -> None:
    for job in JOBS:
        job.kill()
    shutil.rmtree(WORKDIR, ignore_errors=True)


def _outputs(job: GroupJob, run: str, tag: str, count: int) -> list[tuple[dict, dict]]:
    """Each process's arrays (.npz) and observations (.json) from ``run``."""
    job.result().check()
    out = []
    for i in range(count):
        with np.load(WORKDIR / f"{run}.{tag}.p{i}.npz") as arrays:
            values = dict(arrays)
        out.append((values, json.loads((WORKDIR / f"{run}.{tag}.p{i}.json").read_text())))
    return out


@pytest.fixture(scope="module")
def two():
    return _outputs(TWO, "train", "2x4", 2)


@pytest.fixture(scope="module")
def one():
    return {run: _outputs(ONE, run, "1x8", 1)[0] for run in ("train", "replicated")}


@pytest.fixture(scope="module")
def resumed():
    return _outputs(RESUMED, "resume-reversed", "2x4", 2)


def _of(arrays: dict, case: str, *fields: str) -> dict:
    prefixes = tuple(f"{case}|['{f}']" for f in fields)
    return {k: v for k, v in arrays.items() if k.startswith(prefixes)}


STATE = ("params", "state")


def assert_bitwise(got: dict, want: dict) -> None:
    assert got.keys() == want.keys() and got
    bad = [k for k in want if not np.array_equal(got[k], want[k])]
    assert not bad, f"not bit for bit: {bad}"


def assert_rounding(got: dict, want: dict, rtol: float) -> None:
    """Each leaf within ``rtol · max|leaf|`` of the other (integer leaves equal)."""
    assert got.keys() == want.keys() and got
    for key, w in want.items():
        g = got[key]
        assert g.shape == w.shape and g.dtype == w.dtype, key
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w, err_msg=key)
            continue
        assert np.array_equal(np.isnan(g), np.isnan(w)), key
        scale = float(np.nanmax(np.abs(w))) if w.size else 0.0
        error = float(np.nanmax(np.abs(g.astype(np.float64) - w))) if w.size else 0.0
        assert error <= rtol * scale, f"{key}: off by {error:.3g}, {rtol} · {scale:.3g} allowed"


# ---------------------------------------------------------------------------------------
# The helper itself: failures and hangs are reported with every process's stderr


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return path


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_failing_process_stops_the_group_and_every_stderr_is_reported(tmp_path):
    """Process 0 starts a child of its own and blocks, as the peer of a failed JAX process
    would; process 1 fails once that child exists. Both processes' stderr are reported,
    and process 0 is killed with its child."""
    pid_file = tmp_path / "grandchild"
    script = _script(
        tmp_path,
        f"""
        import os, subprocess, sys, time
        i = int(sys.argv[sys.argv.index("--process-id") + 1])
        print(f"process {{i}} started", file=sys.stderr, flush=True)
        if i == 0:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
            open({str(pid_file)!r} + ".tmp", "w").write(str(child.pid))
            os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
            time.sleep(300)
        while not os.path.exists({str(pid_file)!r}):
            time.sleep(0.01)
        sys.exit("process 1 gives up")
        """,
    )
    result = run_group("failing", script, [], timeout=120, grace=0.2)
    assert not result.ok and result.problem.startswith("a process failed")
    assert result.returncodes == [None, 1]  # process 0 was killed
    assert result.argvs[0][2:] == [
        "--coordinator",
        f"localhost:{result.ports_tried[-1]}",
        "--num-processes",
        "2",
        "--process-id",
        "0",
    ]
    with pytest.raises(AssertionError) as err:
        result.check()
    report = str(err.value)
    assert "process 0 started" in report and "process 1 gives up" in report
    assert "process 0 (killed)" in report and "process 1 (exit 1)" in report
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_a_hanging_group_is_killed_at_its_timeout(tmp_path):
    script = _script(tmp_path, "import time; time.sleep(300)\n")
    result = run_group("hanging", script, [], timeout=1.0)
    assert result.problem.startswith("timed out after 1.0 s")
    assert result.returncodes == [None, None] and result.wall_seconds < 60


def test_a_taken_port_is_retried_with_another(tmp_path, monkeypatch):
    """When the coordinator cannot bind its port (taken since it was picked), the group
    runs again on a new one."""
    import process_group

    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, free_port()])
        monkeypatch.setattr(process_group, "free_port", lambda: next(ports))
        script = _script(
            tmp_path,
            f"""
            import sys
            if sys.argv[sys.argv.index("--coordinator") + 1] == "localhost:{busy}":
                sys.exit("Failed to add port to server")  # as JAX's coordinator says it
            """,
        )
        result = run_group("retry", script, [])
    result.check()
    assert result.attempts == 2 and result.ports_tried[0] == busy


def test_children_get_their_own_xla_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --xla_dump_to=x")
    result = run_group(
        "flags",
        "-c",
        ["import os; print(os.environ['XLA_FLAGS'], os.environ['JAX_PLATFORMS'])"],
        num_processes=1,
        local_devices=3,
    )
    result.check()
    assert result.stdouts[0].strip().endswith("--xla_force_host_platform_device_count=3 cpu")
    assert "=8" not in result.stdouts[0] and "dump" not in result.stdouts[0]


def test_free_ports_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("localhost", port))


# ---------------------------------------------------------------------------------------
# The groups


def test_the_processes_form_one_mesh(two, resumed):
    for i, (_, seen) in enumerate(two):
        assert seen["process_index"] == i and seen["process_count"] == 2
        assert seen["devices"] == 8 and seen["local_devices"] == 4
        assert seen["data_rows"] == [i]  # process i holds row i of the "data" axis
    for i, (_, seen) in enumerate(resumed):  # reversed: each holds the other's row
        assert seen["data_rows"] == [1 - i]
    four = _outputs(FOUR, "light", "4x2", 4)
    assert [s["local_devices"] for _, s in four] == [2] * 4
    assert [s["data_rows"] for _, s in four] == [[0], [0], [1], [1]]


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_process(two, one, case):
    fields = (*STATE, "first_grads")
    for arrays, _ in two:
        got, want = _of(arrays, case, *fields), _of(one["train"][0], case, *fields)
        assert_rounding(got, want, CASES[case].rtol)


@pytest.mark.parametrize("case", [k for k, c in CASES.items() if c.unsharded])
def test_sharded_matches_unsharded(one, case):
    """Per-array statistics (global norm, per-matrix factors) are not computed per shard:
    the sharded run equals the one on replicated parameters."""
    got, want = _of(one["train"][0], case, *STATE), _of(one["replicated"][0], case, *STATE)
    assert_rounding(got, want, CASES[case].rtol)


@pytest.mark.parametrize("case", list(CASES))
def test_state_shardings_follow_the_parameters(two, resumed, case):
    for _, seen in [*two, *resumed]:
        found = seen["cases"][case]
        for when in ("init_shardings", "step_shardings", "params_shardings"):
            assert found[when]["bad"] == [], when
            assert found[when]["checked"] >= 4, when  # 4 packed buffers, 5 leaves


@pytest.mark.parametrize("case", [k for k, c in CASES.items() if not c.packed])
def test_the_global_norm_is_the_global_one(two, case):
    """clip_by_global_norm's norm is over both processes' shards: it equals the norm of
    the gathered gradient, which neither process's own part comes close to."""
    grads = _of(two[0][0], case, "first_grads")
    expected = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads.values()))
    assert expected > 1.0  # the clipping is active
    for _, seen in two:
        first = seen["cases"][case]["steps"][0]
        assert first["norm"] == pytest.approx(expected, rel=1e-6)
        assert first["norm_held"] < 0.9 * expected


def _nan_steps(runs, first):
    steps = [s["cases"]["groups+accumulate+finite"]["steps"] for _, s in runs]
    for offset, by_process in enumerate(zip(*steps, strict=True)):
        yield first + offset, by_process


@pytest.mark.parametrize("which", ["train", "resumed"])
def test_a_nan_on_one_process_skips_the_step_on_every_process(two, resumed, which):
    runs, first = (two, 0) if which == "train" else (resumed, check.CHECKPOINT_AT)
    skipped = sum(t < first for t in check.NAN_STEPS)  # skipped before the checkpoint
    for t, by_process in _nan_steps(runs, first):
        bad = t in check.NAN_STEPS
        skipped += bad
        assert [p["local_nan"] for p in by_process].count(True) == (1 if bad else 0), t
        for p in by_process:  # every process skips exactly the bad steps, in step
            assert p["unchanged"] == bad and p["skipped"] == skipped, t
    assert skipped == len(check.NAN_STEPS) == 2


def test_packed_buffers_per_placement(two):
    """Leaves split across devices keep whole buffers of their own shape and sharding;
    the replicated ones (r, s) share one flat buffer."""
    for _, seen in two:
        buffers = seen["cases"]["packed"]["buffers"]
        assert sorted(map(json.dumps, buffers)) == sorted(
            json.dumps(b)
            for b in [
                {"shape": [16], "sharding": "P('model',)", "whole": True},
                {"shape": [16, 8], "sharding": "P('model', 'data')", "whole": True},
                {"shape": [9], "sharding": "P()", "whole": False},
                {"shape": [8, 16], "sharding": "P('data', 'model')", "whole": True},
            ]
        )


# ---------------------------------------------------------------------------------------
# Checkpoints


def _middle() -> dict:
    with np.load(WORKDIR / "middle.npz") as arrays:
        return dict(arrays)


def test_the_checkpoint_restores_exactly_in_two_processes_and_in_one(resumed):
    ONE.result().check()
    middle = _middle()
    assert {k.split("|")[0] for k in middle} == set(CASES)
    for i in range(2):
        with np.load(WORKDIR / f"resume-reversed-restored.2x4.p{i}.npz") as arrays:
            assert_bitwise(dict(arrays), middle)
    with np.load(WORKDIR / "resume-restored.1x8.p0.npz") as arrays:
        assert_bitwise(dict(arrays), middle)


@pytest.mark.parametrize("case", list(CASES))
def test_resumed_in_two_processes_bit_for_bit(two, resumed, case):
    for arrays, _ in resumed:
        assert_bitwise(_of(arrays, case, *STATE), _of(two[0][0], case, *STATE))


@pytest.mark.parametrize("case", list(CASES))
def test_resumed_in_one_process_bit_for_bit(two, case):
    """Restored from the 2-process checkpoint, one process continues bit for bit as from
    the same values loaded without Orbax, and matches the 2-process run to rounding."""
    resumed_one = _outputs(ONE, "resume", "1x8", 1)[0][0]
    loaded = _outputs(ONE, "continue", "1x8", 1)[0][0]
    assert_bitwise(_of(resumed_one, case, *STATE), _of(loaded, case, *STATE))
    assert_rounding(_of(resumed_one, case, *STATE), _of(two[0][0], case, *STATE), 1e-5)


def test_four_processes_match_one_process(one):
    four = _outputs(FOUR, "light", "4x2", 4)
    for case in check.LIGHT:
        for arrays, seen in four:
            got, want = _of(arrays, case, *STATE), _of(one["train"][0], case, *STATE)
            assert_rounding(got, want, CASES[case].rtol)
            assert seen["cases"][case]["step_shardings"]["bad"] == []


# ---------------------------------------------------------------------------------------
# The README's recipe is what these tests run


def _readme_section() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index("## Sharding and multi-host")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_quotes_the_commands_the_test_runs():
    """The README's commands are TWO's, with OUT for its folder and PORT for its port."""
    root = Path(__file__).resolve().parents[1]
    section = _readme_section()
    num_processes, local_devices = TWO.kwargs.get("num_processes", 2), 4
    assert TWO.kwargs.get("local_devices", 4) == local_devices
    for i in range(num_processes):
        argv = command(
            Path(TWO.script).relative_to(root),
            ["OUT" if a == str(WORKDIR) else a for a in TWO.args],
            num_processes=num_processes,
            process_id=i,
            coordinator="localhost:PORT",
        )
        flags = f"XLA_FLAGS=--xla_force_host_platform_device_count={local_devices}"
        line = " ".join([flags, "python", *argv[1:]])
        assert line in section, line


EXCERPTS = ("initialize", "mesh", "params", "batch", "state", "save", "restore")


def test_the_readme_quotes_the_script():
    """Each ``# README: NAME`` ... ``# README: end`` excerpt of the script appears in the
    README's multi-host section as written."""
    source = SCRIPT.read_text(encoding="utf-8")
    excerpts = re.findall(r"\n( *)# README: (\w+)\n(.*?)\n *# README: end\n", source, flags=re.S)
    assert {name for _, name, _ in excerpts} == set(EXCERPTS)
    section = _readme_section()
    for indent, name, body in excerpts:
        lines = [line.removeprefix(indent) for line in body.splitlines()]
        assert "\n".join(lines) in section, name
