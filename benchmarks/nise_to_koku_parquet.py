#!/usr/bin/env python3
"""Turn nise OCP CSVs into Koku-shaped Parquet plus a ``scenario.json``, as Koku's ingestion would.

nise (koku-nise, AGPL) is used only as an external generator: run it yourself, then point this script at
the directory it wrote (``--insights-upload DIR`` output: CSVs and ``manifest.json``). Nothing here comes from
nise or Koku; the behaviour below follows the facts written down in ``spec/ocp.md`` §1.1-1.4 and
``spec/test-data-and-prior-poc.md`` §A.7, checked against Koku's ingestion code.

What Koku does to an operator CSV, and what this script repeats, step by step:

1. Kafka step: read every column as a pyarrow string (pandas' default NA strings such as ``""``, ``"NA"``,
   ``"null"`` become missing), drop NUL bytes and HTML-escape the user-controlled string fields, then split
   the rows by the day of ``interval_start`` into ``{report_type}.{YYYY-MM-DD}.{manifest_id}.{counter}.csv``.
   A day's ``reportnumhours`` is the manifest's hours for that day, or else the day's distinct hours.
2. Parquet step, per daily CSV, in chunks of ``PARQUET_PROCESSING_BATCH_SIZE`` rows (``--batch-size``):
   timestamps lose `` +0000 UTC`` and become naive UTC; the listed numeric columns go through
   ``safe_float`` (empty or invalid -> 0.0); label strings ``label_a:x|label_b:y`` become
   ``json.dumps({"a": "x", "b": "y"})``; every other column stays a string (missing -> ``""``).
   Rows with a usage or capacity value above 1e18 are dropped; pod rows get the effective usage
   (row max of usage and request); GPU rows get the vendor/model clean-up and the MIG fields.
3. Each chunk is written twice: the raw frame as ``<base>_<chunk>.parquet`` and its daily group-by
   (``dropna=False``, ``interval_start`` floored to the day) as ``<base>_daily_<chunk>.parquet``, under
   ``data/parquet/[daily/]{account}/OCP/{report_type}/source={uuid}/year=YYYY/month=MM/``, with
   millisecond timestamps.

Usage:
    python benchmarks/nise_to_koku_parquet.py --csv-dir DIR --out DATASET_ROOT --schema org1234567 \\
        --source-uuid UUID --cluster-id ID [--batch-size N] [--enabled-keys k1,k2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

try:
    from poc_tasks.io.layout import OCP_REPORT_TYPES, account_of, ocp_prefix
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from poc_tasks.io.layout import OCP_REPORT_TYPES, account_of, ocp_prefix

DEFAULT_BATCH_SIZE = 200_000  # Koku's PARQUET_PROCESSING_BATCH_SIZE default

DATETIME_COLUMNS = ("report_period_start", "report_period_end", "interval_start", "interval_end")

# Columns Koku converts with safe_float (float, 0.0 when empty or invalid).
FLOAT_COLUMNS = frozenset({
    "pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds", "pod_limit_cpu_core_seconds",
    "pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds", "pod_limit_memory_byte_seconds",
    "node_capacity_cpu_cores", "node_capacity_cpu_core_seconds", "node_capacity_memory_bytes",
    "node_capacity_memory_byte_seconds",
    "persistentvolumeclaim_capacity_bytes", "persistentvolumeclaim_capacity_byte_seconds",
    "volume_request_storage_byte_seconds", "persistentvolumeclaim_usage_byte_seconds",
    "vm_uptime_total_seconds", "vm_cpu_limit_cores", "vm_cpu_limit_core_seconds", "vm_cpu_request_cores",
    "vm_cpu_request_core_seconds", "vm_cpu_request_sockets", "vm_cpu_request_socket_seconds",
    "vm_cpu_request_threads", "vm_cpu_request_thread_seconds", "vm_cpu_usage_total_seconds",
    "vm_memory_limit_bytes", "vm_memory_limit_byte_seconds", "vm_memory_request_bytes",
    "vm_memory_request_byte_seconds", "vm_memory_usage_byte_seconds", "vm_disk_allocated_size_byte_seconds",
    "gpu_memory_capacity_mib", "gpu_pod_uptime",
})
# MIG numbers an operator may send: missing stays missing (NULL), unlike safe_float.
NULLABLE_INT_COLUMNS = frozenset({"mig_slice_count", "gpu_max_slices"})
NULLABLE_FLOAT_COLUMNS = frozenset({"mig_memory_capacity_mib"})
LABEL_COLUMNS = frozenset({
    "pod_labels", "persistentvolume_labels", "persistentvolumeclaim_labels", "node_labels",
    "namespace_labels", "vm_labels",
})
# Label columns whose keys Koku records as tag keys (vm_labels is not one of them).
TAG_KEY_COLUMNS = ("pod_labels", "persistentvolume_labels", "persistentvolumeclaim_labels", "node_labels",
                   "namespace_labels")

# String fields the Kafka step cleans (NUL bytes removed, then html.escape(quote=True)).
SANITISED_FIELDS = (
    "namespace", "pod", "node", "persistentvolumeclaim", "persistentvolume", "storageclass", "resource_id",
    "vm_name", "gpu_uuid", "gpu_model_name", "gpu_vendor_name", "csi_driver", "csi_volume_handle", "node_role",
    "vm_instance_type", "vm_os", "vm_device",
)

ANOMALY_THRESHOLD = 1e18
ANOMALY_COLUMNS = (
    "pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds", "pod_limit_cpu_core_seconds",
    "node_capacity_cpu_core_seconds", "pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds",
    "pod_limit_memory_byte_seconds", "node_capacity_memory_byte_seconds", "node_capacity_memory_bytes",
    "persistentvolumeclaim_capacity_bytes", "persistentvolumeclaim_capacity_byte_seconds",
    "volume_request_storage_byte_seconds", "persistentvolumeclaim_usage_byte_seconds",
)

_STR = pd.StringDtype(storage="pyarrow")

# Per report type: the header columns that identify it (checked in this order, first subset wins),
# the daily group-by keys, the daily aggregations, and the columns added to the daily frame when absent.
_PERIOD = {"report_period_start": "max", "report_period_end": "max"}
REPORT_TYPES: dict[str, dict] = {
    "storage_usage": {
        "required": {
            "report_period_start", "report_period_end", "interval_start", "interval_end", "namespace", "pod",
            "persistentvolumeclaim", "persistentvolume", "storageclass", "persistentvolumeclaim_capacity_bytes",
            "persistentvolumeclaim_capacity_byte_seconds", "volume_request_storage_byte_seconds",
            "persistentvolumeclaim_usage_byte_seconds", "persistentvolume_labels", "persistentvolumeclaim_labels",
        },
        "keys": ["namespace", "node", "pod", "persistentvolumeclaim", "persistentvolume", "storageclass",
                 "csi_driver", "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels"],
        "agg": {**_PERIOD, "persistentvolumeclaim_capacity_bytes": "max",
                "persistentvolumeclaim_capacity_byte_seconds": "sum", "volume_request_storage_byte_seconds": "sum",
                "persistentvolumeclaim_usage_byte_seconds": "sum"},
        "added": {"node": _STR, "csi_driver": _STR, "csi_volume_handle": _STR},
    },
    "pod_usage": {
        "required": {
            "report_period_start", "report_period_end", "pod", "namespace", "node", "resource_id", "interval_start",
            "interval_end", "pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds",
            "pod_limit_cpu_core_seconds", "pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds",
            "pod_limit_memory_byte_seconds", "node_capacity_cpu_cores", "node_capacity_cpu_core_seconds",
            "node_capacity_memory_bytes", "node_capacity_memory_byte_seconds", "pod_labels",
        },
        "keys": ["namespace", "node", "pod", "pod_labels"],
        "agg": {**_PERIOD, "resource_id": "max",
                "pod_usage_cpu_core_seconds": "sum", "pod_request_cpu_core_seconds": "sum",
                "pod_effective_usage_cpu_core_seconds": "sum", "pod_limit_cpu_core_seconds": "sum",
                "pod_usage_memory_byte_seconds": "sum", "pod_request_memory_byte_seconds": "sum",
                "pod_effective_usage_memory_byte_seconds": "sum", "pod_limit_memory_byte_seconds": "sum",
                "node_capacity_cpu_cores": "max", "node_capacity_cpu_core_seconds": "sum",
                "node_capacity_memory_bytes": "max", "node_capacity_memory_byte_seconds": "sum",
                "node_role": "max"},
        "added": {"node_role": _STR},
    },
    "node_labels": {
        "required": {"report_period_start", "report_period_end", "node", "interval_start", "interval_end",
                     "node_labels"},
        "keys": ["node", "node_labels"],
        "agg": dict(_PERIOD),
        "added": {},
    },
    "namespace_labels": {
        "required": {"report_period_start", "report_period_end", "interval_start", "interval_end", "namespace",
                     "namespace_labels"},
        "keys": ["namespace", "namespace_labels"],
        "agg": dict(_PERIOD),
        "added": {},
    },
    "vm_usage": {
        "required": {
            "report_period_start", "report_period_end", "interval_start", "interval_end", "node", "namespace",
            "vm_name", "resource_id", "vm_instance_type", "vm_os", "vm_guest_os_arch", "vm_guest_os_name",
            "vm_guest_os_version", "vm_uptime_total_seconds", "vm_cpu_limit_cores", "vm_cpu_limit_core_seconds",
            "vm_cpu_request_cores", "vm_cpu_request_core_seconds", "vm_cpu_request_sockets",
            "vm_cpu_request_socket_seconds", "vm_cpu_request_threads", "vm_cpu_request_thread_seconds",
            "vm_cpu_usage_total_seconds", "vm_memory_limit_bytes", "vm_memory_limit_byte_seconds",
            "vm_memory_request_bytes", "vm_memory_request_byte_seconds", "vm_memory_usage_byte_seconds",
            "vm_device", "vm_volume_mode", "vm_persistentvolumeclaim_name", "vm_disk_allocated_size_byte_seconds",
            "vm_labels",
        },
        "keys": ["namespace", "node", "vm_name", "vm_labels"],
        "agg": {**_PERIOD, "resource_id": "max", "vm_instance_type": "max", "vm_os": "max",
                "vm_guest_os_arch": "max", "vm_guest_os_name": "max", "vm_guest_os_version": "max",
                "vm_uptime_total_seconds": "sum", "vm_cpu_limit_cores": "max", "vm_cpu_limit_core_seconds": "sum",
                "vm_cpu_request_cores": "max", "vm_cpu_request_core_seconds": "sum", "vm_cpu_request_sockets": "max",
                "vm_cpu_request_socket_seconds": "sum", "vm_cpu_request_threads": "max",
                "vm_cpu_request_thread_seconds": "sum", "vm_cpu_usage_total_seconds": "sum",
                "vm_memory_limit_bytes": "max", "vm_memory_limit_byte_seconds": "sum",
                "vm_memory_request_bytes": "max", "vm_memory_request_byte_seconds": "sum",
                "vm_memory_usage_byte_seconds": "sum", "vm_device": "max", "vm_volume_mode": "max",
                "vm_persistentvolumeclaim_name": "max", "vm_disk_allocated_size_byte_seconds": "sum"},
        "added": {},
    },
    "gpu_usage": {
        "required": {"report_period_start", "report_period_end", "interval_start", "interval_end", "node",
                     "namespace", "pod", "gpu_uuid", "gpu_model_name", "gpu_vendor_name", "gpu_memory_capacity_mib",
                     "gpu_pod_uptime"},
        "keys": ["node", "namespace", "pod", "gpu_uuid", "mig_instance_id"],
        "agg": {**_PERIOD, "gpu_model_name": "max", "gpu_vendor_name": "max", "gpu_memory_capacity_mib": "max",
                "gpu_pod_uptime": "sum", "mig_profile": "max", "mig_slice_count": "max", "gpu_max_slices": "max",
                "mig_memory_capacity_mib": "max", "mig_strategy": "max"},
        "added": {"mig_instance_id": _STR, "mig_profile": _STR, "mig_strategy": _STR,
                  "mig_slice_count": pd.Int64Dtype(), "mig_memory_capacity_mib": pd.Int64Dtype(),
                  "gpu_max_slices": pd.Int64Dtype()},
    },
}
assert tuple(sorted(REPORT_TYPES)) == tuple(sorted(OCP_REPORT_TYPES))

# MIG slices per GPU model: exact (upper-cased) match first, then substring.
GPU_MAX_SLICES = {"A30": 4, "A100": 7, "H100": 7, "H200": 7, "B200": 7, "RTX PRO 6000": 4, "RTX PRO 5000": 2}


# ----------------------------------------------------------------------------------------------
# Cell converters (what Koku applies per CSV cell)
# ----------------------------------------------------------------------------------------------
def parse_datetime(value: str) -> dt.datetime | pd.NaT:
    """``2026-01-01 00:00:00 +0000 UTC`` -> naive UTC datetime; unparseable -> NaT."""
    try:
        return dt.datetime.fromisoformat(str(value).replace(" +0000 UTC", ""))
    except ValueError:
        return pd.NaT


def safe_float(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def float_or_none(value: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def int_or_none(value: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def parse_labels(value: str) -> dict[str, str]:
    """``label_a:x|label_b:y`` -> {"a": "x", "b": "y"}.

    Koku's quirks kept on purpose: pieces without ``:`` are skipped, pieces with more than one ``:`` are
    dropped, and *every* ``label_`` in a key is removed (not only a prefix).
    """
    out: dict[str, str] = {}
    for piece in value.split("|") if value else []:
        parts = piece.split(":")
        if len(parts) != 2:
            continue
        out[parts[0].replace("label_", "")] = parts[1]
    return out


def _cached(fn: Callable[[str], object]) -> Callable[[str], object]:
    """Label strings and timestamps repeat on nearly every row: convert each distinct string once."""
    cache: dict[str, object] = {}

    def wrapper(value: str) -> object:
        try:
            return cache[value]
        except KeyError:
            cache[value] = result = fn(value)
            return result

    return wrapper


def labels_to_json(value: str) -> str:
    return json.dumps(parse_labels(value))


def column_converters(columns: Iterable[str]) -> dict[str, Callable]:
    dt_conv, label_conv = _cached(parse_datetime), _cached(labels_to_json)
    conv: dict[str, Callable] = {}
    for col in columns:
        name = col.lower()
        if name in DATETIME_COLUMNS:
            conv[col] = dt_conv
        elif name in FLOAT_COLUMNS:
            conv[col] = safe_float
        elif name in NULLABLE_INT_COLUMNS:
            conv[col] = int_or_none
        elif name in NULLABLE_FLOAT_COLUMNS:
            conv[col] = float_or_none
        elif name in LABEL_COLUMNS:
            conv[col] = label_conv
        else:
            conv[col] = str
    return conv


# ----------------------------------------------------------------------------------------------
# Step 1: the Kafka step (sanitise, split by day)
# ----------------------------------------------------------------------------------------------
def detect_report_type(columns: Iterable[str]) -> str | None:
    cols = set(columns)
    for report_type, spec in REPORT_TYPES.items():
        if spec["required"] <= cols:
            return report_type
    return None


def sanitise(df: pd.DataFrame) -> pd.DataFrame:
    for field in SANITISED_FIELDS:
        if field in df.columns:
            mask = df[field].notna()
            if mask.any():
                cleaned = df.loc[mask, field].str.replace("\x00", "", regex=False)
                df.loc[mask, field] = cleaned.map(lambda s: html.escape(s, quote=True))
    return df


def manifest_hours_per_day(manifest: dict) -> dict[str, int]:
    """Hours each calendar day of the manifest's [start, end] covers, rounded up (0 counts as unknown)."""
    if not manifest.get("start") or not manifest.get("end"):
        return {}
    start = dt.datetime.fromisoformat(manifest["start"])
    end = dt.datetime.fromisoformat(manifest["end"])
    start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    end = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
    if start.month != end.month and end.day == 1:
        # Koku pulls an end on the 1st of the next month back to midnight of start's last day of month.
        next_month = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        end = start.replace(day=(next_month - dt.timedelta(days=1)).day, hour=0, minute=0, second=0,
                            microsecond=0)
    hours: dict[str, int] = {}
    day = start.date()
    while day <= end.date():
        day_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        span = min(end, day_start + dt.timedelta(days=1)) - max(start, day_start)
        hours[day.isoformat()] = math.ceil(span.total_seconds() / 3600)
        day += dt.timedelta(days=1)
    return hours


def split_daily(csv_path: Path, work_dir: Path, manifest_id: int, counters: dict[str, int],
                hours_per_day: dict[str, int]) -> list[dict]:
    """Sanitise one operator CSV and split it into Koku's per-day CSVs; returns one entry per day file."""
    df = pd.read_csv(csv_path, dtype=_STR, on_bad_lines="warn")
    report_type = detect_report_type(df.columns)
    if report_type is None:
        raise SystemExit(f"{csv_path}: header matches no OCP report type")
    if df.empty:
        return []
    df = sanitise(df)
    out = []
    for day in sorted({str(v)[:10] for v in df["interval_start"].dropna().unique()}):
        day_df = df[df["interval_start"].str.startswith(day).fillna(False).astype(bool)]
        prefix = f"{report_type}.{day}.{manifest_id}"
        counter = counters.get(prefix, 0)
        counters[prefix] = counter + 1
        base = f"{prefix}.{counter}"
        path = work_dir / f"{base}.csv"
        day_df.to_csv(path, index=False, header=True)
        out.append({
            "base": base,
            "report_type": report_type,
            "date": day,
            "reportnumhours": hours_per_day.get(day) or int(day_df["interval_start"].nunique()),
            "csv": csv_path.name,
            "path": path,
        })
    return out


# ----------------------------------------------------------------------------------------------
# Step 2: per-chunk post-processing
# ----------------------------------------------------------------------------------------------
def drop_anomalies(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ANOMALY_COLUMNS if c in df.columns]
    if not cols:
        return df
    mask = (df[cols] > ANOMALY_THRESHOLD).any(axis=1)
    return df.loc[~mask].copy()  # a copy: later steps add columns to it


def gpu_max_slices(model: object) -> int | None:
    if not model or not isinstance(model, str):
        return None
    upper = model.upper().strip()
    if upper in GPU_MAX_SLICES:
        return GPU_MAX_SLICES[upper]
    for known, slices in GPU_MAX_SLICES.items():
        if known in upper:
            return slices
    return None


def parse_mig_profile(profile: object) -> tuple[int | None, int | None]:
    """``"1g.5gb"`` -> (1 slice, 5120 MiB); anything else -> (None, None)."""
    if not profile or not isinstance(profile, str):
        return None, None
    parts = profile.strip().lower().split(".")
    if len(parts) != 2 or not parts[0].endswith("g") or not parts[1].endswith("gb"):
        return None, None
    try:
        return int(parts[0][:-1]), int(parts[1][:-2]) * 1024
    except ValueError:
        return None, None


def add_gpu_fields(df: pd.DataFrame) -> pd.DataFrame:
    if "gpu_vendor_name" in df.columns:
        df["gpu_vendor_name"] = df["gpu_vendor_name"].replace("nvidia_com_gpu", "nvidia")
    if "gpu_model_name" in df.columns:
        df["gpu_model_name"] = df["gpu_model_name"].str.replace(r"[^a-zA-Z0-9]+", " ", regex=True).str.strip()
    if "mig_profile" not in df.columns:
        return df
    has_mig = df["mig_profile"].notna() & (df["mig_profile"] != "")
    if not has_mig.any():
        return df
    for col in ("mig_slice_count", "mig_memory_capacity_mib", "gpu_max_slices", "mig_strategy"):
        if col not in df.columns:
            df[col] = pd.NA
    for idx in df.index[has_mig]:
        slices, mib = parse_mig_profile(df.at[idx, "mig_profile"])
        if slices is not None:
            df.at[idx, "mig_slice_count"] = slices
        if mib is not None:
            df.at[idx, "mig_memory_capacity_mib"] = mib
    for idx in df.index[has_mig]:
        if not pd.isna(df.at[idx, "gpu_max_slices"]):
            continue
        model = df.at[idx, "gpu_model_name"] if "gpu_model_name" in df.columns else None
        slices = gpu_max_slices(model)
        if slices is None:  # unknown model: the GPU counts as dedicated, MIG data is cleared
            for col in ("mig_profile", "mig_slice_count", "mig_memory_capacity_mib", "gpu_max_slices",
                        "mig_strategy", "mig_instance_id"):
                if col in df.columns:
                    df.at[idx, col] = pd.NA
        else:
            df.at[idx, "gpu_max_slices"] = slices
    return df


def daily_frame(df: pd.DataFrame, report_type: str) -> pd.DataFrame:
    """One chunk's daily group-by: keys present + the day of interval_start, NaN keys kept."""
    spec = REPORT_TYPES[report_type]
    if df.empty:
        return df
    keys = [k for k in spec["keys"] if k in df.columns]
    aggs = {col: how for col, how in spec["agg"].items() if col in df.columns}
    grouped = df.groupby([*keys, pd.Grouper(key="interval_start", freq="D")], dropna=False)
    daily = grouped.agg(**{col: (col, how) for col, how in aggs.items()}).reset_index()
    for col, dtype in spec["added"].items():
        if col not in daily.columns:
            daily[col] = pd.Series(dtype=dtype)
    return daily


def post_process(df: pd.DataFrame, report_type: str) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Raw frame, daily frame and the label keys seen, for one chunk."""
    df = drop_anomalies(df)
    keys: set[str] = set()
    for col in TAG_KEY_COLUMNS:
        if col in df.columns:
            for value in df[col].unique():
                keys.update(json.loads(value))
    df = add_gpu_fields(df)
    if report_type == "pod_usage":
        # Effective usage is added to the chunk itself, so the raw file carries it too.
        df["pod_effective_usage_cpu_core_seconds"] = df[
            ["pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds"]].max(axis=1)
        df["pod_effective_usage_memory_byte_seconds"] = df[
            ["pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds"]].max(axis=1)
    return df, daily_frame(df, report_type), keys


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, allow_truncated_timestamps=True, coerce_timestamps="ms", index=False)


def convert_daily_csv(entry: dict, out_root: Path, account: str, source_uuid: str,
                      batch_size: int) -> dict:
    """Convert one daily CSV into raw and daily Parquet chunks; returns counts and label keys."""
    path: Path = entry["path"]
    header = pd.read_csv(path, nrows=0).columns
    year, month = entry["date"][:4], entry["date"][5:7]
    raw_dir = Path(ocp_prefix(str(out_root), account, entry["report_type"], source_uuid, year, month, daily=False))
    daily_dir = Path(ocp_prefix(str(out_root), account, entry["report_type"], source_uuid, year, month, daily=True))
    rows = daily_rows = chunks = 0
    keys: set[str] = set()
    with pd.read_csv(path, converters=column_converters(header), chunksize=batch_size) as reader:
        for i, chunk in enumerate(reader):
            if chunk.empty:
                continue
            raw, daily, chunk_keys = post_process(chunk, entry["report_type"])
            keys |= chunk_keys
            write_parquet(raw, raw_dir / f"{entry['base']}_{i}.parquet")
            write_parquet(daily, daily_dir / f"{entry['base']}_daily_{i}.parquet")
            rows += len(raw)
            daily_rows += len(daily)
            chunks += 1
    return {"rows": rows, "daily_rows": daily_rows, "chunks": chunks, "label_keys": keys}


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def find_inputs(csv_dir: Path) -> tuple[list[Path], dict]:
    manifests = sorted(csv_dir.rglob("manifest.json"))
    manifest = json.loads(manifests[0].read_text()) if manifests else {}
    if len(manifests) > 1:
        raise SystemExit(f"{csv_dir}: more than one manifest.json; convert one payload at a time")

    def order(p: Path) -> tuple:
        # nise names files <uuid>_openshift_report.<n>.csv: keep its numeric order (type order, then parts)
        stem_parts = p.stem.rsplit(".", 1)
        return (str(p.parent), int(stem_parts[1]) if len(stem_parts) == 2 and stem_parts[1].isdigit() else -1,
                p.name)

    files = sorted(csv_dir.rglob("*.csv"), key=order)
    if manifest.get("files"):
        listed = set(manifest["files"])
        files = [f for f in files if f.name in listed]
    if not files:
        raise SystemExit(f"{csv_dir}: no CSV files")
    return files, manifest


def expected_node_roles(out_root: Path, account: str, source_uuid: str, year: str, month: str) -> dict[str, str]:
    """Node -> role as Koku derives it for reporting_ocp_nodes over the whole window (spec ocp.md §2.3).

    Only nodes that have both pod rows and node-label rows get a role (Koku's join is effectively inner).
    The role is the largest non-null node_role of the node's daily pod rows; without one, 'master' if the
    node ran a pod in openshift-kube-apiserver, else 'infra' if a node-label JSON holds
    "node_role_kubernetes_io": "infra", else 'worker'. Written to scenario.json for check_invariants.py.
    """
    def read(report_type: str) -> pd.DataFrame:
        folder = Path(ocp_prefix(str(out_root), account, report_type, source_uuid, year, month, daily=True))
        files = sorted(folder.glob("*.parquet"))
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()

    pods, labels = read("pod_usage"), read("node_labels")
    if pods.empty or labels.empty:
        return {}
    roles: dict[str, str] = {}
    for node, rows in pods[pods["node"].isin(set(labels["node"]))].groupby("node"):
        given = rows["node_role"].dropna() if "node_role" in rows.columns else pd.Series(dtype=object)
        if not given.empty:
            roles[node] = str(given.max())
        elif (rows["namespace"] == "openshift-kube-apiserver").any():
            roles[node] = "master"
        elif labels.loc[labels["node"] == node, "node_labels"].str.contains(
                '"node_role_kubernetes_io": "infra"', regex=False).any():
            roles[node] = "infra"
        else:
            roles[node] = "worker"
    return roles


def default_enabled_keys(keys: set[str]) -> list[str]:
    """Deterministic half of the keys (every second one, sorted), so both enabled and disabled keys occur."""
    return sorted(keys)[::2]


def convert(csv_dir: Path, out_root: Path, schema: str, source_uuid: str, cluster_id: str | None,
            cluster_alias: str | None, batch_size: int, enabled_keys: list[str] | None, manifest_id: int,
            overwrite: bool) -> dict:
    files, manifest = find_inputs(csv_dir)
    cluster_id = cluster_id or manifest.get("cluster_id")
    if not cluster_id:
        raise SystemExit("no --cluster-id and no cluster_id in manifest.json")
    account = account_of(schema)
    # Only this source's OCP folders are ours to replace: a dataset may also hold cloud (AWS/Azure/GCP) data.
    existing = [folder for daily in (False, True) for report_type in REPORT_TYPES
                if (folder := Path(ocp_prefix(str(out_root), account, report_type, source_uuid, "x", "x", daily))
                    .parent.parent).exists()]
    if existing:
        if not overwrite:
            raise SystemExit(f"{existing[0]} exists; pass --overwrite to replace this source's OCP data")
        for folder in existing:
            shutil.rmtree(folder)
    out_root.mkdir(parents=True, exist_ok=True)
    hours = manifest_hours_per_day(manifest)

    entries: list[dict] = []
    label_keys: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="nise2koku_") as tmp:
        counters: dict[str, int] = {}
        for csv_path in files:
            entries += split_daily(csv_path, Path(tmp), manifest_id, counters, hours)
        for entry in entries:
            result = convert_daily_csv(entry, out_root, account, source_uuid, batch_size)
            label_keys |= result.pop("label_keys")
            entry.update(result)
            entry.pop("path")

    months = sorted({e["date"][:7] for e in entries})
    if len(months) != 1:
        raise SystemExit(f"data spans months {months}; generate one month per dataset")
    days = sorted({e["date"] for e in entries})
    if enabled_keys is None:
        enabled_keys = default_enabled_keys(label_keys)
    scenario = {
        "schema": schema,
        "account": account,
        "source_uuid": source_uuid,
        "cluster_id": cluster_id,
        "cluster_alias": cluster_alias or cluster_id,
        "year": months[0][:4],
        "month": months[0][5:7],
        "start_date": days[0],
        "end_date": days[-1],
        "enabled_tag_keys": sorted(enabled_keys),
        "label_keys": sorted(label_keys),
        "node_roles": expected_node_roles(out_root, account, source_uuid, months[0][:4], months[0][5:7]),
        "batch_size": batch_size,
        "manifest_id": manifest_id,
        "generator": {"tool": "nise", "version": manifest.get("version"), "payload_uuid": manifest.get("uuid"),
                      "daily_reports": manifest.get("daily_reports", False)},
        "files": entries,
    }
    path = out_root / "scenario.json"
    if path.exists():
        # Keep what others added (e.g. an "aws" section for OCP on AWS); replace only the OCP fields.
        scenario = {**json.loads(path.read_text()), **scenario}
    path.write_text(json.dumps(scenario, indent=1) + "\n")
    return scenario


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv-dir", required=True, type=Path, help="nise output (CSV files and manifest.json)")
    ap.add_argument("--out", required=True, type=Path, help="dataset root: gets data/parquet/... and scenario.json")
    ap.add_argument("--schema", required=True, help="tenant schema, e.g. org1234567 or acct10001")
    ap.add_argument("--source-uuid", default=None, help="OCP source uuid (default: a new random uuid)")
    ap.add_argument("--cluster-id", default=None, help="default: cluster_id of manifest.json")
    ap.add_argument("--cluster-alias", default=None, help="default: the cluster id")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                    help="rows per CSV chunk = per raw/daily Parquet file (Koku's PARQUET_PROCESSING_BATCH_SIZE)")
    ap.add_argument("--enabled-keys", default=None,
                    help="comma-separated enabled label keys (default: every second sorted key found)")
    ap.add_argument("--manifest-id", type=int, default=1, help="manifest id used in file names (default 1)")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace this source's OCP Parquet folders (source=UUID) if they exist")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be positive")
    source_uuid = str(uuid.UUID(args.source_uuid)) if args.source_uuid else str(uuid.uuid4())
    enabled = None if args.enabled_keys is None else [k for k in args.enabled_keys.split(",") if k]
    scenario = convert(args.csv_dir, args.out, args.schema, source_uuid, args.cluster_id, args.cluster_alias,
                       args.batch_size, enabled, args.manifest_id, args.overwrite)
    per_type: dict[str, list[int]] = {}
    for f in scenario["files"]:
        t = per_type.setdefault(f["report_type"], [0, 0, 0, 0])
        t[0] += 1
        t[1] += f["chunks"]
        t[2] += f["rows"]
        t[3] += f["daily_rows"]
    print(json.dumps({
        "out": str(args.out), "source_uuid": source_uuid, "cluster_id": scenario["cluster_id"],
        "days": [scenario["start_date"], scenario["end_date"]], "enabled_tag_keys": scenario["enabled_tag_keys"],
        "per_report_type": {k: dict(zip(("daily_csvs", "chunks", "raw_rows", "daily_rows"), v, strict=True))
                            for k, v in per_type.items()},
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
