"""Staging: the compute step writes its result as Parquet under a run folder; write tasks read it back.

Large results never travel through the broker: a chord's header tasks get the run id and a table name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import join
from poc_tasks.validate import validate_identifier


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
        self.fs.makedirs(self.table_folder(table), exist_ok=True)
        with self.fs.open(self.part_path(table, part), "wb") as sink:
            w = pq.ParquetWriter(sink, schema, compression="zstd")
            try:
                yield w
            finally:
                w.close()

    def parts(self, table: str) -> list[str]:
        try:
            return sorted(p for p in self.fs.ls(self.table_folder(table), detail=False) if p.endswith(".parquet"))
        except FileNotFoundError:
            return []

    def read_batches(self, table: str, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Every staged row of a table, part after part, a batch at a time (bounded memory)."""
        for path in self.parts(table):
            with self.fs.open(path, "rb") as fh:
                yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size)

    def write_json(self, name: str, value: Any) -> None:
        self.fs.makedirs(self.folder, exist_ok=True)
        with self.fs.open(self._path(f"{validate_identifier(name)}.json"), "w") as fh:
            json.dump(value, fh, default=str)

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
