"""Conventions shared by the cloud bills of `poc-tasks sample` (AWS, Azure, GCP): how Koku names, cuts and writes
the Parquet files of a cloud source, and the seeded stand-in for Koku's uuid4() row ids."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from poc_tasks.io.fs import strip_scheme
from poc_tasks.sample_cluster import GIB

__all__ = ["uuid_factory", "write_koku_parquet", "daily_split_stem", "batch_slices", "released_pv_frame"]


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


def released_pv_frame(released_pv: Mapping[str, Any], storage: pd.DataFrame) -> pd.DataFrame:
    """The day's OCP storage rows plus those of a released PV (its claim was deleted, the cloud disk is still
    billed): every hour of the day, no namespace, pod, node or claim, as the operator reports such a PV.
    `released_pv`: persistentvolume, csi_volume_handle, storageclass, csi_driver, capacity_gib."""
    hours = storage["interval_start"].drop_duplicates().sort_values().to_numpy()
    if len(hours) == 0:
        return storage
    pv = released_pv
    cap = float(pv["capacity_gib"]) * GIB
    n = len(hours)
    extra = pd.DataFrame({
        "report_period_start": np.full(n, storage["report_period_start"].iloc[0]),
        "report_period_end": np.full(n, storage["report_period_end"].iloc[0]),
        "interval_start": hours,
        "interval_end": hours + np.timedelta64(3599, "s"),
        "namespace": "", "pod": "", "node": "", "persistentvolumeclaim": "",
        "persistentvolume": pv["persistentvolume"], "storageclass": pv["storageclass"], "csi_driver": pv["csi_driver"],
        "csi_volume_handle": pv["csi_volume_handle"],
        "persistentvolumeclaim_capacity_bytes": cap, "persistentvolumeclaim_capacity_byte_seconds": cap * 3600,
        "volume_request_storage_byte_seconds": cap * 3600, "persistentvolumeclaim_usage_byte_seconds": 0.0,
        "persistentvolume_labels": json.dumps({"app": "released"}), "persistentvolumeclaim_labels": "{}",
    })
    for col in ("namespace", "pod", "node", "persistentvolumeclaim", "persistentvolume", "storageclass",
                "csi_driver", "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels"):
        extra[col] = extra[col].astype(object)
    return pd.concat([storage, extra[list(storage.columns)]], ignore_index=True)
