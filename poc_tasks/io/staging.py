"""Staging: the compute step writes its result as Parquet under a run folder; write tasks read it back.

Large results never travel through the broker: a chord's header tasks get the run id and a table name.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import join
from poc_tasks.validate import validate_identifier

LOG = logging.getLogger(__name__)
SWEEP_AFTER = dt.timedelta(days=1)
_RUN_FOLDER = re.compile(r"[0-9a-f]{32}")


class StagingError(OSError):
    """Writing the run's staging failed (space exhausted, a quota, a file size limit): names the path."""

    def __init__(self, path: str, exc: OSError) -> None:
        self.path = path
        reason = exc.strerror or str(exc) or type(exc).__name__
        super().__init__(exc.errno, f"cannot write staging file {path}: {reason} (is POC_STAGING_ROOT full?)")

    def __str__(self) -> str:
        return self.strerror or super().__str__()


# Rows per batch read back from the stage. The reader decodes a batch whole (dictionary-encoded labels and names
# come back as plain strings): 65,536 OCP summary rows were ~40 MiB of Arrow (51 MiB allocated) in the process
# that COPYs them, for 2 MiB on disk; 8,192 are ~4 MiB (13 MiB allocated), and the COPY keeps the same speed.
READ_BATCH_ROWS = 8_192
# Staged files live for one run and are read back once or twice: LZ4 over zstd. Ten days of the 50-node month's
# OCP summary rows (54,580 rows, 18 MB in Arrow), in CPU seconds: write 0.017 vs 0.029, read in batches 0.012 vs
# 0.023-0.031, for 764 vs 699 kB on disk.
STAGE_COMPRESSION = "lz4"


class Stage:
    """One run's staging folder: one Parquet file per target table plus a JSON manifest."""

    def __init__(self, root: str, run_id: str, storage_options: dict[str, Any] | None = None) -> None:
        if not run_id.replace("-", "").isalnum():
            raise ValueError(f"bad run id {run_id!r}")
        self.root = root
        self.run_id = run_id
        self.fs = filesystem(root, storage_options)
        self.folder = strip_scheme(join(root, run_id))

    def _path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def table_folder(self, table: str) -> str:
        return self._path(validate_identifier(table))

    def part_path(self, table: str, part: str) -> str:
        if not part.replace("-", "").isalnum():
            raise ValueError(f"bad part name {part!r}")
        return f"{self.table_folder(table)}/part-{part}.parquet"

    @contextmanager
    def writer(self, table: str, schema: pa.Schema, part: str = "0") -> Iterator[pq.ParquetWriter]:
        """A Parquet writer for one part of a staged table (e.g. a day chunk); each write_table() call becomes a
        row group (e.g. one day). Writing the same part again replaces it, so a retried chunk is idempotent."""
        path = self.part_path(table, part)
        try:
            self.fs.makedirs(self.table_folder(table), exist_ok=True)
            with self.fs.open(path, "wb") as sink:
                w = pq.ParquetWriter(sink, schema, compression=STAGE_COMPRESSION)
                try:
                    yield w
                finally:
                    w.close()
        except OSError as exc:
            raise StagingError(path, exc) from exc

    def parts(self, table: str) -> list[str]:
        try:
            return sorted(p for p in self.fs.ls(self.table_folder(table), detail=False) if p.endswith(".parquet"))
        except FileNotFoundError:
            return []

    def read_batches(self, table: str, batch_size: int = READ_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every staged row of a table, part after part, a batch at a time (bounded memory)."""
        for path in self.parts(table):
            with self.fs.open(path, "rb") as fh:
                yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size)

    def read_part(self, table: str, part: str, batch_size: int = 65_536,
                  columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows of one staged part of a table (as stage.writer(part=) wrote it), a batch at a time; only
        `columns` are decoded when given (a reader wanting 3 of 20 columns should not pay for 20)."""
        with self.fs.open(self.part_path(table, part), "rb") as fh:
            yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size,
                                                       columns=None if columns is None else list(columns))

    def write_json(self, name: str, value: Any) -> None:
        path = self._path(f"{validate_identifier(name)}.json")
        try:
            self.fs.makedirs(self.folder, exist_ok=True)
            with self.fs.open(path, "w") as fh:
                json.dump(value, fh, default=str)
        except OSError as exc:
            raise StagingError(path, exc) from exc

    def read_json(self, name: str) -> Any:
        with self.fs.open(self._path(f"{validate_identifier(name)}.json"), "r") as fh:
            return json.load(fh)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.write_json("manifest", manifest)

    def read_manifest(self) -> dict[str, Any]:
        return self.read_json("manifest")

    def cleanup(self) -> None:
        if self.fs.exists(self.folder):
            self.fs.rm(self.folder, recursive=True)

    def discard(self) -> None:
        """cleanup() after a failure: never raises, so the run's own error stays the one reported (the staging
        endpoint may be what failed); what is left is swept a day later (sweep_stale_stages)."""
        try:
            self.cleanup()
        except Exception as exc:  # noqa: BLE001 - logged; the caller re-raises the real error
            LOG.warning("could not remove staging folder %s of the failed run (%s: %s); it is swept after a day",
                        self.folder, type(exc).__name__, exc)


def sweep_stale_stages(root: str, storage_options: dict[str, Any] | None = None, keep: str | None = None,
                       older_than: dt.timedelta = SWEEP_AFTER) -> list[str]:
    """Remove run folders under the staging root left by runs older than `older_than` (a worker killed for good,
    a run abandoned after its errback could not run); returns what it removed. Best effort: a failure is logged.

    A run folder is one named by a run id (32 hex digits) whose files were all last written before the cut-off;
    the folder of the run `keep` (the caller's) is never touched."""
    fs = filesystem(root, storage_options)
    base = strip_scheme(root).rstrip("/")
    cut = dt.datetime.now(dt.UTC) - older_than
    removed = []
    try:
        entries = fs.ls(base, detail=False) if fs.exists(base) else []
        for path in entries:
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if not _RUN_FOLDER.fullmatch(name) or name == keep:
                continue
            files = fs.find(path)
            times = [_modified(fs, f) for f in files]
            if files and all(t is not None and t < cut for t in times):
                fs.rm(path, recursive=True)
                removed.append(path)
    except Exception:  # noqa: BLE001 - a sweep never fails a run
        LOG.warning("could not sweep stale staging folders under %s", root, exc_info=True)
    if removed:
        LOG.warning("removed %d staging folder(s) older than %s under %s: %s", len(removed), older_than, root,
                    ", ".join(removed))
    return removed


def _modified(fs: Any, path: str) -> dt.datetime | None:
    try:
        t = fs.modified(path)
    except (NotImplementedError, OSError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
