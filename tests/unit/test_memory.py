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


COPY_FROM_STAGE = """
import resource, sys
import poc_tasks  # first, as the CLI loads it
from poc_tasks.memory import tune_allocators
tune_allocators()
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.db.writer import copy_rows
from poc_tasks.io.staging import Stage

class Cursor:  # reads the COPY's stream to its end, as psycopg2 does; no server needed
    rowcount = -1
    def __enter__(self): return self
    def __exit__(self, *exc): return False
    def copy_expert(self, stmt, stream, size):
        while stream.read(size):
            pass

class Conn:
    def cursor(self): return Cursor()

stage = Stage(sys.argv[1], "run1")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = copy_rows(Conn(), "org1", SUMMARY_TABLE, stage.read_batches(SUMMARY_TABLE))
print(rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_copy_from_the_stage_follows_a_batch_not_the_staged_rows(tmp_path) -> None:
    # The one-table swap COPYs the staged rows in the process that also prepared the run (3x OCP month: 215 ->
    # 419 MiB). A day's row group of labelled rows is small on disk (dictionary-encoded) and large once decoded:
    # 400,000 rows of 2 KB labels (~800 MiB decoded, 4 days of 100,000 rows) must go through in a few batches'
    # memory, not a day's or the month's.
    import pyarrow as pa

    from poc_tasks.db.tables import SUMMARY_TABLE
    from poc_tasks.io.staging import Stage

    labels = [f'{{"app": "{i:03d}{"x" * 2000}"}}' for i in range(50)]
    day = pa.table({"namespace": pa.array([f"ns-{i % 97}" for i in range(100_000)]),
                    "pod_labels": pa.array([labels[i % 50] for i in range(100_000)])})
    with Stage(str(tmp_path), "run1").writer(SUMMARY_TABLE, day.schema, part="2026-01-01") as w:
        for _ in range(4):
            w.write_table(day)
    out = subprocess.run([sys.executable, "-c", COPY_FROM_STAGE, str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.split()
    rows, grown_mib = int(out[0]), int(out[1])
    assert rows == 400_000
    assert grown_mib < 80, f"the COPY from the stage grew the process by {grown_mib} MiB"


def test_bounded_slices_keep_every_row_in_order() -> None:
    import pandas as pd
    import pyarrow as pa

    from poc_tasks.db.writer import bounded_slices

    t = pa.table({"s": [f"{i:0100d}" for i in range(1000)]})  # ~104 KB
    pieces = list(bounded_slices([t, t.slice(0, 3)], 10_000))
    assert all(p.nbytes <= 10_000 for p in pieces[:-1]) and len(pieces) > 10
    assert pa.concat_tables(pieces).column("s").to_pylist() == t.column("s").to_pylist() + t.column("s").to_pylist()[:3]
    df = t.to_pandas()
    assert pd.concat(list(bounded_slices([df], 100))).equals(df)


def test_read_part_decodes_only_the_columns_asked_for(tmp_path) -> None:
    import pyarrow as pa

    from poc_tasks.io.staging import Stage

    stage = Stage(str(tmp_path), "run1")
    t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]})
    with stage.writer("t1", t.schema, part="p1") as w:
        w.write_table(t)
    got = pa.Table.from_batches(list(stage.read_part("t1", "p1", columns=["c", "a"])))
    assert got.column_names == ["c", "a"] and got.column("a").to_pylist() == [1, 2, 3]
    assert pa.Table.from_batches(list(stage.read_part("t1", "p1"))).equals(t)
