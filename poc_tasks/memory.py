"""Keeping a worker's resident memory near what its data needs, not at its allocators' high-water mark.

Measured on the 10x OCP-on-AWS benchmark (500 nodes / 50,000 pods, one 5-day chunk): the live Python and numpy
objects at a day's end are ~60 MiB, yet the process held 667 MiB. The rest was freed memory kept by allocators:
- Arrow's default pool (jemalloc/mimalloc) keeps freed pages for reuse; the system pool hands them to malloc;
- glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which day-sized frames
  come from the heap and fragment it; a fixed threshold keeps big arrays in mmap'd blocks returned on free;
- every thread that allocates (Arrow's, psycopg2's, the parallel writes') may get its own glibc arena, each with
  its own free memory: one arena is enough here (the threads mostly wait on PostgreSQL);
- glibc gives the top of its heap back when more than the trim threshold is free there; by default that threshold
  rises with the dynamic mmap threshold (up to 64 MiB); a fixed 1 MiB keeps the heap shrinking as frames go.
With the pool and mmap threshold and 2 arenas: 514 MiB on the same run (Arrow pool alone: 599 MiB; glibc settings
alone: 624 MiB). On the 10x month (6 chunks): 520 MiB with 2 arenas, 430 MiB with one arena and the 1 MiB trim
threshold, same time (567 s). :func:`release_memory` is then called after each part of a day.

Arrow's pool is best chosen before pyarrow loads (poc_tasks/__init__.py sets ARROW_DEFAULT_MEMORY_POOL=system):
pa.set_memory_pool below does not reach Acero, whose group-by otherwise allocates from mimalloc and keeps it. The
switch here stays as the fallback for a process that loaded pyarrow first.

The tuning is per process, done once, on the first compute step (CLI, Celery worker or Koku's own worker).
Set POC_TUNE_ALLOCATORS=0 to leave the process as it is; an explicit ARROW_DEFAULT_MEMORY_POOL is respected.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os

import pyarrow as pa

__all__ = ["tune_allocators", "release_memory"]

LOG = logging.getLogger(__name__)
_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024
TRIM_THRESHOLD = 1024 * 1024
ARENA_MAX = 1
_tuned = False


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
        return libc
    except (OSError, AttributeError):  # musl, macOS: nothing to tune
        return None


def tune_allocators() -> bool:
    """Once per process: Arrow's system pool and fixed glibc mmap / trim thresholds and arena count; True if
    applied now."""
    global _tuned
    if _tuned or os.environ.get("POC_TUNE_ALLOCATORS", "1") == "0":
        return False
    _tuned = True
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
    LOG.debug("allocators tuned: arrow pool %s, glibc %s", pa.default_memory_pool().backend_name, libc is not None)
    return True


def release_memory() -> None:
    """Give freed memory back to the system after a day: Arrow's pool and glibc's heap keep it otherwise, and the
    next day's frames are as big again (a worker's RSS would stay at its high-water mark)."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
