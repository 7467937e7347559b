"""Conventions shared by the cloud bills of `poc-tasks sample` (AWS, Azure, GCP): how Koku names, cuts and writes
the Parquet files of a source, and the seeded stand-in for Koku's uuid4() row ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from poc_tasks.io.fs import strip_scheme

__all__ = ["uuid_factory", "write_koku_parquet", "daily_split_stem", "batch_slices"]


def uuid_factory(seed: Iterable[int] | int) -> Callable[[], str]:
    """Reproducible uuid4-format strings (Koku draws uuid4(); a seeded stream keeps datasets byte-stable)."""
    rng = np.random.default_rng(seed)
    return lambda: str(uuid.UUID(bytes=rng.bytes(16), version=4))


def write_koku_parquet(fs: Any, path: str, frame: pd.DataFrame) -> None:
    """DataFrame.to_parquet(index=False, coerce_timestamps="ms", allow_truncated_timestamps=True), through fsspec."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with fs.open(strip_scheme(path), "wb") as fh:
        pq.write_table(table, fh, coerce_timestamps="ms", allow_truncated_timestamps=True)


def daily_split_stem(date: str, manifest_id: int, base_name: str, batch: int) -> str:
    """Name stem of the daily CSV Koku's AWS and Azure downloaders cut from a monthly export (and so of its Parquet
    files): `{date}_manifestid-{m}_basefile-{export file name up to its first dot}_batch-{i}`."""
    return f"{date}_manifestid-{manifest_id}_basefile-{base_name}_batch-{batch}"


def batch_slices(first: int, count: int, batch_size: int) -> Iterator[tuple[int, int, int]]:
    """The downloader reads the month's export in batches of `batch_size` rows (PARQUET_PROCESSING_BATCH_SIZE) and
    cuts each batch by day. For a day whose rows are `first .. first + count - 1` of the export: (batch number,
    start, stop) of each piece, start/stop relative to the day's rows."""
    end = first + count
    for batch in range(first // batch_size, (end - 1) // batch_size + 1):
        yield batch, max(first, batch * batch_size) - first, min(end, (batch + 1) * batch_size) - first
