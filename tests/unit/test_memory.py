"""Allocator tuning: applied once per process, to Arrow's pool, never over an explicit choice (own processes, since
the tuning is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import pyarrow as pa
from poc_tasks.memory import release_memory, tune_allocators
first, second = tune_allocators(), tune_allocators()
buf = pa.allocate_buffer(1 << 20)  # served by the pool now in use
del buf
release_memory()
print(first, second, pa.default_memory_pool().backend_name)
"""


def _python(script: str, **env: str) -> list[str]:
    """The words `script` prints in a new interpreter whose allocator settings are only `env`'s."""
    clean = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "POC_TUNE_ALLOCATORS")}
    out = subprocess.run([sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def _run(**env: str) -> list[str]:
    return _python(SCRIPT, **env)


def test_tuned_once_to_the_system_pool() -> None:
    assert _run() == ["True", "False", "system"]


def test_explicit_arrow_pool_is_kept() -> None:
    first, _second, backend = _run(ARROW_DEFAULT_MEMORY_POOL="jemalloc")
    assert first == "True" and backend == "jemalloc"


def test_switched_off() -> None:
    first, second, backend = _run(POC_TUNE_ALLOCATORS="0")
    assert (first, second) == ("False", "False") and backend != "system"


GROUP_BY = """
import poc_tasks  # first, as the CLI and `celery -A poc_tasks` load it
import pyarrow as pa
from poc_tasks.memory import tune_allocators
tune_allocators()  # the run-time switch alone leaves Acero on mimalloc
n = 200_000
t = pa.table({"k": [f"key-{i}" for i in range(n)], "v": list(range(n))})
t.group_by(["k"], use_threads=False).aggregate([("v", "sum")])
pools = []
for name in ("mimalloc_memory_pool", "jemalloc_memory_pool"):
    try:
        pools.append(getattr(pa, name)().max_memory())
    except NotImplementedError:  # not built into this pyarrow
        pools.append(0)
print(pa.default_memory_pool().backend_name, *pools)
"""


def _group_by(**env: str) -> list[str]:
    return _python(GROUP_BY, **env)


def test_group_by_allocates_from_the_system_pool_when_poc_tasks_is_imported_first() -> None:
    # Acero's group-by ignores pa.set_memory_pool; only the pool chosen before pyarrow loads reaches it
    backend, mimalloc_peak, jemalloc_peak = _group_by()
    assert backend == "system" and mimalloc_peak == "0" and jemalloc_peak == "0"


def test_group_by_pool_left_alone_when_switched_off() -> None:
    backend, *_ = _group_by(POC_TUNE_ALLOCATORS="0")
    assert backend != "system"
