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


def _run(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "POC_TUNE_ALLOCATORS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_tuned_once_to_the_system_pool() -> None:
    assert _run() == ["True", "False", "system"]


def test_explicit_arrow_pool_is_kept() -> None:
    first, _second, backend = _run(ARROW_DEFAULT_MEMORY_POOL="jemalloc")
    assert first == "True" and backend == "jemalloc"


def test_switched_off() -> None:
    first, second, backend = _run(POC_TUNE_ALLOCATORS="0")
    assert (first, second) == ("False", "False") and backend != "system"
