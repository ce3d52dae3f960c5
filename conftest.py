"""Root test configuration (doctests in gdtx/ and tests/ alike): strict dtype and rank promotion.

Compilation is most of the suite's time, so XLA's CPU backend compiles the suite's small
programs the cheap way: fusions with the classic LLVM emitters
(``--xla_cpu_use_fusion_emitters=false``, about twice as fast to compile as the newer
fusion emitters), LLVM's optimisation level 0 (``--xla_backend_optimization_level=0``,
about a third less compile time again) without its expensive passes, and each program
emitted as one LLVM module rather than split for parallel code generation (which two
busy cores cannot use): a fifth less CPU time again. All of them compile the same HLO,
and none allows reassociating floating-point arithmetic, so the tests check the
arithmetic XLA runs with its defaults; only its speed differs, and speed is measured by
benchmarks/, never here.
``GDTX_TEST_XLA_DEFAULTS=1`` keeps XLA's defaults; subprocesses started by the tests
inherit the choice.

The suite runs on every core (pytest-xdist, ``-n auto --dist loadfile`` in pyproject):
a module's tests stay in one worker, so its shared trajectories and compiled programs
are computed once. Test modules that check subprocesses (``JOBS``, see
tests/background.py) have their jobs run in the background, by the session when it runs
alone (``-n 0``), by the worker that receives the module under xdist; their tests wait
for their job's result only when they get to it.
"""

import os

_FAST_COMPILE = (
    "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0 "
    "--xla_llvm_disable_expensive_passes=true --xla_cpu_parallel_codegen_split_count=1"
)
if os.environ.get("GDTX_TEST_XLA_DEFAULTS") != "1" and "fusion_emitters" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

import jax  # noqa: E402  (after XLA_FLAGS: XLA reads them when its backend starts)
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


def _jobs_module(item: pytest.Item) -> object | None:
    module = getattr(item, "module", None)
    return module if getattr(module, "JOBS", None) else None


def _submit_jobs(module: object) -> None:
    for job in getattr(module, "JOBS", ()):
        job.submit()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Alone, the session starts every job now and runs the modules that wait for them
    last. Under xdist those modules go first, so their jobs start early and no long chain
    of jobs is left running on one core at the end."""
    in_process = [item for item in items if _jobs_module(item) is None]
    waiting = [item for item in items if _jobs_module(item) is not None]
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        items[:] = waiting + in_process
        return
    items[:] = in_process + waiting
    for module in dict.fromkeys(_jobs_module(item) for item in waiting):
        _submit_jobs(module)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under xdist every worker collects every module, so a module's jobs start in the
    worker that runs the module (loadfile keeps a module in one worker): all of them at
    its first test, queued one after another in the background."""
    module = _jobs_module(item)
    if module is not None:
        _submit_jobs(module)
