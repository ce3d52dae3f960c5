"""Root test configuration (doctests in gdtx/ and tests/ alike): strict dtype and rank promotion.

Compilation is most of the suite's time, so XLA's CPU backend emits fusions with its
classic LLVM emitters (``--xla_cpu_use_fusion_emitters=false``), which compile the
suite's small programs about twice as fast as the newer fusion emitters and compute
the same HLO. ``GDTX_TEST_XLA_DEFAULTS=1`` keeps XLA's defaults; subprocesses started by
the tests inherit the choice.

Test modules that check subprocesses (``JOBS``, see tests/background.py) have their jobs
started in the background when collection ends, and their tests moved to the end of the
session, so the subprocesses run while the in-process tests do.
"""

import os

_FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false"
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


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    in_process = [item for item in items if _jobs_module(item) is None]
    waiting = [item for item in items if _jobs_module(item) is not None]
    items[:] = in_process + waiting
    for module in dict.fromkeys(_jobs_module(item) for item in waiting):
        for job in getattr(module, "JOBS", ()):
            job.submit()
