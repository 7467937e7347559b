"""Koku-shaped OCP Parquet for a synthetic cluster: `poc-tasks sample`.

Writes what Koku's ingestion would have written for an OpenShift source after the operator uploaded one
daily-report manifest per day (spec ocp.md §1.1-1.5):

    ROOT/data/parquet/{account}/OCP/{report_type}/source={uuid}/year={YYYY}/month={MM}/
        {report_type}.{YYYY-MM-DD}.{manifest_id}.{counter}_{chunk}.parquet           raw, hourly
    ROOT/data/parquet/daily/{account}/OCP/{report_type}/source=.../year=.../month=.../
        {report_type}.{YYYY-MM-DD}.{manifest_id}.{counter}_daily_{chunk}.parquet     daily, one per raw chunk
    ROOT/scenario.json                                                                what the oracle reads

for pod_usage, storage_usage, node_labels and namespace_labels. Manifest `d + 1` carries day `d`; its report of
each type arrives as `files_per_day` CSV files (counters 0, 1, ...: the operator splits big payloads), and each
file is cut into chunks of `rows_per_file` rows as Koku's reader does. Each chunk gets its own daily file, so a
daily table is NOT unique per group key, exactly as in Koku. The data is a pure function of the config: one day
is generated, written and dropped at a time (memory does not grow with the number of days).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from poc_tasks.errors import InvalidArgument
from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import account_of, join, ocp_prefix
from poc_tasks.sample.aws import DEFAULT_AWS_SOURCE_UUID, build_aws_spec, claimless_pv_frame, write_aws_sample
from poc_tasks.sample.azure import DEFAULT_AZURE_SOURCE_UUID, build_azure_spec, write_azure_sample
from poc_tasks.sample.cloud_files import write_koku_parquet
from poc_tasks.sample.cluster import build_cluster, min_pods, node_counts
from poc_tasks.sample.gcp import DEFAULT_GCP_SOURCE_UUID, build_gcp_spec, write_gcp_sample
from poc_tasks.sample.ocp_frames import day_frames, koku_daily, released_pv_frame
from poc_tasks.validate import validate_schema, validate_uuid

__all__ = ["SampleConfig", "REPORT_TYPES", "write_sample", "scenario_of"]

REPORT_TYPES = ("pod_usage", "storage_usage", "node_labels", "namespace_labels")
DEFAULT_SOURCE_UUID = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"


@dataclass(frozen=True)
class SampleConfig:
    """What to generate. Same config, same data (to the byte, with the same pandas/pyarrow)."""

    schema: str = "org1234567"
    source_uuid: str = DEFAULT_SOURCE_UUID
    cluster_id: str = "my-ocp-cluster-1"
    cluster_alias: str = "My OCP Cluster"
    year: int = 2026
    month: int = 1
    days: int = 3  # days 1..days of the month
    nodes: int = 6
    pods: int = 60
    seed: int = 42
    rows_per_file: int = 200_000  # Koku's PARQUET_PROCESSING_BATCH_SIZE
    # label keys the tenant enabled; the cluster also carries keys not listed here (tier, kubernetes_io_arch, ...)
    enabled_tag_keys: tuple[str, ...] = ("app", "cost_center", "environment", "node_pool", "version")
    # False: the pod CSVs have no node_role column (old operators); Koku then derives roles itself
    with_node_role: bool = True
    files_per_day: int = 2  # operator CSV files per report type and day (counters 0..n-1)
    # False: no mid-day label changes, so every node and namespace has one label variant per day ("clean" data,
    # on which Koku's pod usage is conserved day by day)
    label_changes: bool = True
    # cost-category namespace patterns (SQL LIKE) added to Koku's defaults: ((pattern, category), ...)
    cost_category_namespaces: tuple[tuple[str, str], ...] = (("analytics%", "Engineering"),)
    # True: also a matched AWS bill (poc_tasks.sample.aws) under this AWS source, and a released (claimless) PV
    # in the OCP storage report whose EBS volume the bill still pays for
    with_aws: bool = False
    aws_source_uuid: str = DEFAULT_AWS_SOURCE_UUID
    # True: also a matched Azure cost export (poc_tasks.sample.azure) / GCP billing export (poc_tasks.sample.gcp)
    # under this source, and the released PV whose disk each of them still pays for in the OCP storage report
    with_azure: bool = False
    azure_source_uuid: str = DEFAULT_AZURE_SOURCE_UUID
    with_gcp: bool = False
    gcp_source_uuid: str = DEFAULT_GCP_SOURCE_UUID

    @property
    def start_date(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end_date(self) -> dt.date:
        return self.start_date + dt.timedelta(days=self.days - 1)

    @property
    def label_change_day(self) -> int:
        """Day index at whose noon the feature node, namespace and pod change labels (the 2nd day if any)."""
        return min(1, self.days - 1)

    def validate(self) -> None:
        validate_schema(self.schema)
        validate_uuid(self.source_uuid)
        if not self.cluster_id or not self.cluster_alias:
            raise InvalidArgument("cluster_id and cluster_alias must not be empty")
        if not (1 <= self.month <= 12 and 2000 <= self.year <= 9999):
            raise InvalidArgument(f"year={self.year} month={self.month} is not a valid bill month")
        month_days = calendar.monthrange(self.year, self.month)[1]
        if not 1 <= self.days <= month_days:
            raise InvalidArgument(f"days={self.days}: must be 1..{month_days} for {self.year}-{self.month:02d}")
        node_counts(self.nodes)
        if self.pods < min_pods(self.nodes):
            raise InvalidArgument(f"pods={self.pods}: {self.nodes} nodes need at least {min_pods(self.nodes)} pods")
        if self.rows_per_file < 1 or self.files_per_day < 1:
            raise InvalidArgument("rows_per_file and files_per_day must be at least 1")
        if self.with_aws:
            validate_uuid(self.aws_source_uuid)
        if self.with_azure:
            validate_uuid(self.azure_source_uuid)
        if self.with_gcp:
            validate_uuid(self.gcp_source_uuid)


def _split(frame: pd.DataFrame, parts: int) -> Iterator[pd.DataFrame]:
    """Contiguous, nearly equal parts (the operator cuts a payload by size, so early hours land in file 0)."""
    for idx in np.array_split(np.arange(len(frame)), parts):
        if len(idx):
            yield frame.iloc[idx[0] : idx[-1] + 1]


def scenario_of(config: SampleConfig, files: list[dict[str, Any]], features: dict[str, Any]) -> dict[str, Any]:
    """scenario.json: the fields the oracle reads (shared/oracle/README.md) plus what was planted where."""
    return {
        "schema": config.schema,
        "account": account_of(config.schema),
        "source_uuid": config.source_uuid,
        "cluster_id": config.cluster_id,
        "cluster_alias": config.cluster_alias,
        "year": f"{config.year:04d}",
        "month": f"{config.month:02d}",
        "start_date": config.start_date.isoformat(),
        "end_date": config.end_date.isoformat(),
        "enabled_tag_keys": list(config.enabled_tag_keys),
        "files": files,
        "extra_cost_category_namespaces": dict(config.cost_category_namespaces),
        "node_roles": features["node_roles"],
        "generator": {"name": "poc_tasks.sample", "seed": config.seed, "nodes": config.nodes, "pods": config.pods,
                      "days": config.days, "rows_per_file": config.rows_per_file,
                      "files_per_day": config.files_per_day, "with_node_role": config.with_node_role,
                      "label_changes": config.label_changes},
        "features": features,
    }


def write_sample(root: str, config: SampleConfig, storage_options: dict | None = None) -> dict:
    """Write the sample under `root` (a local directory or s3://bucket) and return the scenario dict, which is also
    written to ROOT/scenario.json. Files of an earlier run with the same names are replaced, others are left."""
    config.validate()
    fs = filesystem(root, storage_options)
    local = not root.startswith(("s3://", "s3a://"))
    cluster = build_cluster(config.nodes, config.pods, config.seed, config.label_changes)
    account = account_of(config.schema)
    year, month = f"{config.year:04d}", f"{config.month:02d}"
    next_month = (config.start_date + dt.timedelta(days=32)).replace(day=1)
    period = (config.start_date, next_month)
    prefixes = {(rt, daily): ocp_prefix(root, account, rt, config.source_uuid, year, month, daily)
                for rt in REPORT_TYPES for daily in (False, True)}
    if local:
        for prefix in prefixes.values():
            fs.makedirs(strip_scheme(prefix), exist_ok=True)

    aws_spec = build_aws_spec(cluster, config) if config.with_aws else None
    azure_spec = build_azure_spec(cluster, config) if config.with_azure else None
    gcp_spec = build_gcp_spec(cluster, config) if config.with_gcp else None
    files: list[dict[str, Any]] = []
    rows = dict.fromkeys(REPORT_TYPES, 0)
    for day_index in range(config.days):
        day = config.start_date + dt.timedelta(days=day_index)
        manifest_id = day_index + 1
        frames = day_frames(cluster, day, day_index, config.label_change_day, period, config.seed,
                            config.with_node_role)
        # the manifest's hours for the day (Koku's meta_reportnumhours): hours with any pod row
        num_hours = int(frames["pod_usage"]["interval_start"].nunique())
        if aws_spec is not None:
            frames["storage_usage"] = claimless_pv_frame(aws_spec, frames["storage_usage"])
        for cloud_spec in (azure_spec, gcp_spec):
            if cloud_spec is not None:
                frames["storage_usage"] = released_pv_frame(cloud_spec.released_pv, frames["storage_usage"])
        for rt in REPORT_TYPES:
            frame = frames.pop(rt)
            rows[rt] += len(frame)
            for counter, part in enumerate(_split(frame, config.files_per_day)):
                base = f"{rt}.{day.isoformat()}.{manifest_id}.{counter}"
                for chunk, start in enumerate(range(0, len(part), config.rows_per_file)):
                    raw = part.iloc[start : start + config.rows_per_file]
                    write_koku_parquet(fs, join(prefixes[(rt, False)], f"{base}_{chunk}.parquet"), raw)
                    write_koku_parquet(fs, join(prefixes[(rt, True)], f"{base}_daily_{chunk}.parquet"),
                                   koku_daily(raw, rt))
                files.append({"base": base, "reportnumhours": num_hours})
            del frame
    features = dict(cluster.features)
    if config.label_changes:
        features["label_change_date"] = (config.start_date + dt.timedelta(days=config.label_change_day)).isoformat()
    features["missing_hours"] = {**features["missing_hours"], "date": config.start_date.isoformat()}
    features["raw_rows"] = rows
    scenario = scenario_of(config, files, features)
    if config.with_aws:
        scenario["aws"] = write_aws_sample(root, config, storage_options, cluster)
    if azure_spec is not None:
        scenario["azure"] = write_azure_sample(root, config, storage_options, cluster, azure_spec)
    if gcp_spec is not None:
        scenario["gcp"] = write_gcp_sample(root, config, storage_options, cluster, gcp_spec)
    if local:
        fs.makedirs(strip_scheme(root), exist_ok=True)
    with fs.open(strip_scheme(join(root, "scenario.json")), "w") as fh:
        fh.write(json.dumps(scenario, indent=2) + "\n")
    return scenario
