"""Runs one script in N JAX processes on this machine, as JAX runs one process per host.

Each process gets its own ``XLA_FLAGS`` (``--xla_force_host_platform_device_count=D``: D
CPU devices, so N processes hold N·D devices) and the arguments
``--coordinator localhost:PORT --num-processes N --process-id I``, which the script passes
to ``jax.distributed.initialize``; with N = 1 there are none and the script runs alone.
:func:`run_group` picks a free port, starts the processes, and waits for all of them;
when one fails the others are given ``grace`` seconds (they are usually blocked on the
failed one) and killed, and so is every process still running after ``timeout`` seconds.
Each process runs in a session of its own, and killing it kills that whole process
group, so nothing stays behind. :class:`GroupResult` keeps every process's exit status,
output and CPU time, and :meth:`GroupResult.check` fails with all of them.

:class:`GroupJob` runs a group in the background while the in-process tests run
(tests/background.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from background import Task

FAST_COMPILE = (
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
    "--xla_cpu_parallel_codegen_split_count=1",
)
"""Flags for faster compiles, unless GDTX_TEST_XLA_DEFAULTS=1: the suite's (conftest.py),
so every process of every group compiles alike and results stay comparable."""
_PORT_IN_USE = ("address already in use", "failed to add port", "could not bind")


def free_port() -> int:
    """A TCP port on localhost that nothing listened on a moment ago (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def xla_flags(local_devices: int) -> str:
    """A child's XLA_FLAGS, set from scratch: the suite's inherited flags (which may hold
    another device count) are not passed on."""
    fast = os.environ.get("GDTX_TEST_XLA_DEFAULTS") != "1"
    return " ".join(
        [*(FAST_COMPILE if fast else ()), f"--xla_force_host_platform_device_count={local_devices}"]
    )


def command(
    script: str | Path,
    args: Sequence[str],
    *,
    num_processes: int,
    process_id: int,
    coordinator: str,
) -> list[str]:
    """The command line of one process of the group."""
    argv = [sys.executable, str(script), *args]
    if num_processes > 1:
        argv += ["--coordinator", coordinator, "--num-processes", str(num_processes)]
        argv += ["--process-id", str(process_id)]
    return argv


@dataclass
class GroupResult:
    """What a group of processes did: per process, its command, exit status (None: it was
    killed before it ended), stdout, stderr and CPU seconds (user + system)."""

    name: str
    argvs: list[list[str]]
    returncodes: list[int | None]
    stdouts: list[str]
    stderrs: list[str]
    cpu_seconds: list[float]
    wall_seconds: float
    problem: str = ""  # why the group was stopped early (timeout, a failed process)
    attempts: int = 1
    ports_tried: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem and all(rc == 0 for rc in self.returncodes)

    def report(self, tail: int = 4000) -> str:
        """Every process's command, status and the end of its stderr."""
        lines = [f"process group {self.name!r}: {self.problem or 'a process failed'}"]
        for i, argv in enumerate(self.argvs):
            status = "killed" if self.returncodes[i] is None else f"exit {self.returncodes[i]}"
            lines.append(f"--- process {i} ({status}): {' '.join(argv)}")
            lines.append(self.stderrs[i][-tail:] or "(no stderr)")
        return "\n".join(lines)

    def check(self) -> None:
        """Raises AssertionError with :meth:`report` unless every process exited with 0."""
        if not self.ok:
            raise AssertionError(self.report())


class ProcessGroup:
    """N processes started together; :meth:`kill` ends every one, with its children."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cpu: dict[int, float] = {}
        self.killed: set[int] = set()  # the pids that were still running when killed

    def start(self, argv: list[str], env: dict[str, str], stdout: Any, stderr: Any) -> None:
        self.procs.append(
            subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its own process group, killed as one
            )
        )

    def poll(self) -> list[int | None]:
        """Each process's exit status (None while it runs), reaping the ended ones with
        their CPU time."""
        for p in self.procs:
            if p.returncode is None:
                with contextlib.suppress(ChildProcessError):
                    pid, status, usage = os.wait4(p.pid, os.WNOHANG)
                    if pid == p.pid:
                        p.returncode = os.waitstatus_to_exitcode(status)
                        self.cpu[p.pid] = usage.ru_utime + usage.ru_stime
        return [p.returncode for p in self.procs]

    def kill(self) -> None:
        for p in self.procs:
            if p.returncode is None:
                self.killed.add(p.pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)

    def wait_all(self) -> None:
        """Waits until every process has ended (after :meth:`kill`)."""
        while None in self.poll():
            time.sleep(0.02)


def _run_once(
    name: str,
    script: str | Path,
    args: Sequence[str],
    num_processes: int,
    local_devices: int,
    timeout: float,
    grace: float,
    on_start: Callable[[ProcessGroup], None],
) -> tuple[GroupResult, int]:
    port = free_port()
    coordinator = f"localhost:{port}"
    env = {**os.environ, "XLA_FLAGS": xla_flags(local_devices), "JAX_PLATFORMS": "cpu"}
    group = ProcessGroup()
    argvs = [
        command(script, args, num_processes=num_processes, process_id=i, coordinator=coordinator)
        for i in range(num_processes)
    ]
    problem = ""
    start = time.monotonic()
    with contextlib.ExitStack() as files:
        outs = [files.enter_context(tempfile.TemporaryFile()) for _ in argvs]
        errs = [files.enter_context(tempfile.TemporaryFile()) for _ in argvs]
        try:
            for argv, out, err in zip(argvs, outs, errs, strict=True):
                group.start(argv, env, out, err)
            on_start(group)
            first_failure = None
            while True:
                codes = group.poll()
                now = time.monotonic()
                if None not in codes:
                    break
                if first_failure is None and any(c not in (None, 0) for c in codes):
                    first_failure = now
                if first_failure is not None and now - first_failure > grace:
                    problem = f"a process failed; the others were killed after {grace} s"
                    break
                if now - start > timeout:
                    problem = f"timed out after {timeout} s; every process was killed"
                    break
                time.sleep(0.05)
        finally:
            group.kill()
            group.wait_all()
        texts = []
        for f in [*outs, *errs]:
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
    result = GroupResult(
        name=name,
        argvs=argvs,
        returncodes=[None if p.pid in group.killed else p.returncode for p in group.procs],
        stdouts=texts[: len(argvs)],
        stderrs=texts[len(argvs) :],
        cpu_seconds=[group.cpu.get(p.pid, 0.0) for p in group.procs],
        wall_seconds=time.monotonic() - start,
        problem=problem,
    )
    return result, port


def run_group(
    name: str,
    script: str | Path,
    args: Sequence[str],
    *,
    num_processes: int = 2,
    local_devices: int = 4,
    timeout: float = 300,
    grace: float = 10,
    attempts: int = 3,
    on_start: Callable[[ProcessGroup], None] = lambda group: None,
) -> GroupResult:
    """Runs ``script args`` in ``num_processes`` processes of ``local_devices`` CPU
    devices each, on a free port, retrying with another port (up to ``attempts`` times)
    when the coordinator's port was taken in the meantime."""
    ports: list[int] = []
    while True:
        result, port = _run_once(
            name, script, args, num_processes, local_devices, timeout, grace, on_start
        )
        ports.append(port)
        result.attempts, result.ports_tried = len(ports), ports
        port_taken = any(s in e.lower() for e in result.stderrs for s in _PORT_IN_USE)
        if result.ok or not port_taken or len(ports) >= attempts:
            return result


class GroupJob(Task[GroupResult]):
    """:func:`run_group` as a background task (tests/background.py)."""

    def __init__(self, name: str, script: str | Path, args: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(name)
        self.script, self.args, self.kwargs = script, [str(a) for a in args], kwargs
        self._group: ProcessGroup | None = None

    def execute(self) -> GroupResult:
        return run_group(self.name, self.script, self.args, on_start=self._started, **self.kwargs)

    def _started(self, group: ProcessGroup) -> None:
        self._group = group

    def kill(self) -> None:
        if self._group is not None:
            self._group.kill()
