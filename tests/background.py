"""Subprocess checks that run in the background while the in-process tests run.

A test module that checks a subprocess's output (the 8-device sharding script, the
benchmark's smoke run, the notebooks, the multi-process groups of tests/process_group.py)
declares its runs as module-level ``JOBS`` (:class:`Job` for one command, or another
:class:`Task`).
The root conftest.py submits the jobs of every selected module when collection ends and
moves those modules' tests to the end of the session; one worker thread runs the jobs
one after another, so they use a second core while the main process works, and the tests
wait for their job's result only when they get to it.
"""

from __future__ import annotations

import atexit
import queue
import subprocess
import threading
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Task(Generic[T]):
    """Work whose outcome a test reads with :meth:`result`; subclasses define
    :meth:`execute` (and :meth:`kill`, to stop it when the session ends early)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._done = threading.Event()
        self._submitted = False
        self._result: T | BaseException | None = None

    def submit(self) -> None:
        """Queues the task for the background worker (once)."""
        if not self._submitted:
            self._submitted = True
            _QUEUE.put(self)
            _start_worker()

    def execute(self) -> T:
        raise NotImplementedError

    def run(self) -> None:
        try:
            self._result = self.execute()
        except BaseException as exc:  # reported by result()
            self._result = exc
        finally:
            self._done.set()

    def result(self) -> T:
        """The outcome (submitting the task if nobody has), waiting for it."""
        self.submit()
        self._done.wait()
        if isinstance(self._result, BaseException):
            raise self._result
        assert self._result is not None
        return self._result

    def kill(self) -> None:
        """Stops the work if it is still running."""


class Job(Task[subprocess.CompletedProcess[str]]):
    """A command whose completed process a test reads with :meth:`result`."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout=600
    ) -> None:
        super().__init__(name)
        self.argv, self.env, self.timeout = list(argv), env, timeout
        self._proc: subprocess.Popen[str] | None = None

    def execute(self) -> subprocess.CompletedProcess[str]:
        self._proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        try:
            out, err = self._proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, err = self._proc.communicate()
            err += f"\n[{self.name}: killed after {self.timeout} s]"
        return subprocess.CompletedProcess(self.argv, self._proc.returncode, out, err)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()


_QUEUE: queue.Queue[Task] = queue.Queue()
_JOBS: list[Task] = []
_WORKER: list[threading.Thread] = []


_STOPPING = threading.Event()


def _work() -> None:
    while True:
        job = _QUEUE.get()
        if _STOPPING.is_set():  # the session is over: start nothing more
            job._result = RuntimeError("the test session ended before this job ran")
            job._done.set()
            continue
        _JOBS.append(job)
        job.run()


def _start_worker() -> None:
    if not _WORKER:
        worker = threading.Thread(target=_work, name="background-jobs", daemon=True)
        worker.start()
        _WORKER.append(worker)


@atexit.register
def _stop() -> None:
    """Kills a job still running when the session ends early (``-x``, a keyboard interrupt)
    and keeps the worker from starting the queued ones."""
    _STOPPING.set()
    for job in _JOBS:
        job.kill()
