"""poc_tasks: Koku's Trino aggregation steps as Celery tasks.

The Celery app is exposed lazily (``celery -A poc_tasks worker`` finds ``poc_tasks.app``) so that importing
``poc_tasks.koku`` inside Koku's own process neither creates a second Celery app nor pulls in pandas/pyarrow.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["app"]
__version__ = "0.1.0"


def _system_arrow_pool_from_import() -> None:
    """Arrow's system pool for the whole process, chosen before pyarrow is loaded. pa.set_memory_pool at run time
    (memory.tune_allocators) does not reach Acero: Table.group_by still allocates from the compiled-in mimalloc,
    which keeps what it frees (an Azure day of 161 k lines: ~80 MiB per row-group group-by, 5-day chunk 517 MiB at
    idle against 420-440 MiB with this; docs/daily-azure-gcp.md). Only while pyarrow is not imported yet (else the
    run-time switch stays the fallback); never over an explicit ARROW_DEFAULT_MEMORY_POOL or POC_TUNE_ALLOCATORS=0."""
    if "pyarrow" not in sys.modules and os.environ.get("POC_TUNE_ALLOCATORS", "1") != "0":
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


_system_arrow_pool_from_import()


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from poc_tasks.app import app

        return app
    raise AttributeError(f"module 'poc_tasks' has no attribute {name!r}")
