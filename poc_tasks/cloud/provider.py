"""What a cloud provider module tells the one OCP-on-cloud run (cloud/flow.py): the provider protocol.

A provider module (cloud/aws.py, cloud/azure.py, cloud/gcp.py) describes its tables, its cost columns and their
PostgreSQL scales, its UI tables and tag tables, and supplies its functions: open its Parquet, prepare the tenant
rows its ingestion would have made (the bill, AWS's account aliases), Koku's matched-tag discovery from
PostgreSQL, a narrow first pass over a chunk (disk sizes, PV totals, the texts matched tags are discovered from),
the attribution of one day in parts (its final managed rows), its project rows (step 3) and any step finalize
runs besides (AWS's category summary). Everything else -- chunks, matched-tag candidates, back-populate, tag
summaries, UI tables, day parts and memory release, staging, writes with Koku's delete rules, Celery -- is the
run's, the same for every provider.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyarrow as pa

from poc_tasks.cloud import tenant
from poc_tasks.cloud.attribution import CloudProfile, collapse_copies
from poc_tasks.cloud.jsontext import TagJsonError, distinct_pairs
from poc_tasks.cloud.matching import fallback_matched_tags
from poc_tasks.cloud.ocp_input import OcpChunkSets, ocp_label_texts, read_ocp_rows
from poc_tasks.cloud.outputs import CostTerm, UiTable
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.cloud.tag_summary import TagTables
from poc_tasks.errors import InputFileError
from poc_tasks.io.parquet import ParquetSource
from poc_tasks.io.staging import Stage
from poc_tasks.settings import Settings

__all__ = ["CloudProvider", "Sources", "DaySources", "ChunkContext", "ChunkState", "Discovery", "tag_discovery",
           "tag_hooks", "module_provider", "HOOKS", "line_parts", "line_weights", "bucket_rows", "day_parts"]

Connection = psycopg2.extensions.connection


class Sources(Protocol):
    """A provider's opened Parquet for one run (footers read lazily, rows a day at a time)."""

    def rows_read(self) -> int: ...

    def bytes_read(self) -> int: ...

    def folder(self) -> str: ...

    def read_day(self, day: dt.date, columns: list[str]) -> pa.Table | None: ...


@dataclass
class DaySources:
    """A provider's opened Parquet (implements Sources): its line files by partition (one; GCP: the invoice months
    around the usage month), read a day at a time, and the raw files disks are sized from (AWS, GCP)."""

    lines: dict[tuple[str, str], ParquetSource]
    raw: ParquetSource | None = None

    @property
    def daily(self) -> ParquetSource:
        """The line files of the first partition (AWS, Azure: the only one)."""
        return next(iter(self.lines.values()))

    def _all(self) -> list[ParquetSource]:
        return [*self.lines.values(), *([self.raw] if self.raw is not None else [])]

    def rows_read(self) -> int:
        return sum(s.rows_read for s in self._all())

    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self._all())

    def folder(self) -> str:
        """Where the line files are (the first partition with files), for error messages."""
        files = [s.files[0] for s in self.lines.values() if s.files]
        return files[0].rsplit("/", 1)[0] if files else self.daily.table

    def read_day(self, day: dt.date, columns: list[str],
                 partitions: Iterable[tuple[str, str]] | None = None) -> pa.Table | None:
        """The day's lines with the given columns, from every partition or only the given ones."""
        wanted = set(partitions) if partitions is not None else None
        parts = [t for key, src in self.lines.items() if wanted is None or key in wanted
                 for _path, t in src.read_day(day, columns)]
        return pa.concat_tables(parts) if parts else None


@dataclass
class Discovery:
    """The texts Koku's Trino matched-tag query reads for a chunk: the cloud's raw tag texts and the OCP source's
    pod / volume label texts (Trino text) of the chunk's days."""

    cloud_tag_texts: set[str] = field(default_factory=set)
    pod_label_texts: set[str] = field(default_factory=set)
    volume_label_texts: set[str] = field(default_factory=set)


@dataclass
class ChunkContext:
    """Everything a provider's chunk functions read: the run, its manifest, the chunk's days and OCP sets."""

    spec: CloudRunSpec
    manifest: dict[str, Any]
    settings: Settings
    sources: Sources
    days: list[dt.date]
    ocp: OcpChunkSets
    discover: bool  # the matched tags come from the Parquet (Koku's Trino fallback), not from PostgreSQL
    stage: Stage  # the run's stage: the OCP summary rows prepare copied (ocp_input.export_ocp_rows)


@dataclass
class ChunkState:
    """What a provider's first pass hands to its day attribution (provider-specific fields in `data`)."""

    discovery: Discovery = field(default_factory=Discovery)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CloudProvider:
    name: str  # provider type as Koku names it: 'AWS', 'Azure', 'GCP' (reporting_enabledtagkeys, api_provider.type)
    profile: CloudProfile
    project_table: str
    ui_tables: tuple[UiTable, ...]
    tags: TagTables
    cost_terms: tuple[CostTerm, ...]  # project columns summed into infrastructure_raw_cost, with their scales
    conservation_costs: tuple[str, ...]  # the line costs each day's attribution must conserve
    open_sources: Callable[..., Sources]  # (root, account, source uuid, year, month, storage options)
    postgres_matched_tags: Callable[[Connection, str], list[str]]  # Koku's discovery from PostgreSQL (schema)
    pass_one: Callable[[ChunkContext, Connection], ChunkState]
    discovery_pairs: Callable[[ChunkContext, ChunkState, Connection], list[str]]  # Koku's Trino fallback
    # (matched lines, final rows) of each part of one day: a day's lines in parts bound the memory of big clusters
    day_rows: Callable[[ChunkContext, ChunkState, dt.date, Sequence[str], Connection],
                       Iterator[tuple[pd.DataFrame, pd.DataFrame]]]
    project_rows: Callable[[pd.DataFrame, frozenset[str], ChunkContext], pd.DataFrame]  # step 3 of a day (part)
    # the tenant rows ingestion would have made besides the month's bill (None: the bill alone); returns what the
    # manifest carries besides
    prepare_tenant: Callable[[Connection, CloudRunSpec, Sources], dict[str, Any]] | None = None
    strict_raw: bool = True  # infrastructure_raw_cost = sum(a + b): a NULL term drops the row (AWS, Azure)
    strict_project: bool = False  # infrastructure_project_raw_cost is strict too (AWS)
    currency: str = "currency"  # the project table's currency column
    usage_column: str = "usage_amount"  # the project / UI tables' name of the attributed usage
    requires_cluster: bool = True  # Koku returns early without a reporting_ocp_clusters row (AWS, Azure; not GCP)
    ui_numeric: tuple[str, ...] = ("cost_category_id",)
    # the back-populated OCP rows made of a whole day's project rows, not per part: where two parts of a day can
    # add to one back-populated row (GCP: its parts split one node's lines by SKU); AWS's and Azure's rows keep
    # their line's resource id, which the back-populate key has, so per part is the same rows with less memory
    back_populate_per_day: bool = False
    # a day's UI rows before they are staged (AWS: Koku's insert fails on a NULL currency)
    check_ui: Callable[[ChunkContext, dict[str, pd.DataFrame], dt.date], None] | None = None
    # finalize's steps besides the stamp, in its transaction (AWS: the category summary): rows written per table
    finalize_steps: Callable[[Connection, dict[str, Any]], dict[str, int]] | None = None

    @property
    def bill_table(self) -> str:
        """The cloud's bill table ('reporting_gcpcostentrybill')."""
        return f"reporting_{self.name.lower()}costentrybill"

    @property
    def run_name(self) -> str:
        """'OCP-on-Azure': the run lock's and the run summary's provider."""
        return f"OCP-on-{self.name}"

    @property
    def kwarg(self) -> str:
        """The cloud source's keyword argument ('azure_provider_uuid')."""
        return f"{self.name.lower()}_provider_uuid"


HOOKS = ("open_sources", "prepare_tenant", "postgres_matched_tags", "pass_one", "discovery_pairs", "day_rows",
         "project_rows", "check_ui", "finalize_steps")


def module_provider(module: str, **fields: Any) -> CloudProvider:
    """A provider module's CloudProvider: its data (`fields`) and, as its hooks, the module's functions named as
    the protocol's fields (HOOKS; an optional one the module does not define is left out)."""
    mod = sys.modules[module]
    return CloudProvider(**fields, **{h: getattr(mod, h) for h in HOOKS if h not in fields and hasattr(mod, h)})


def tag_discovery(column: str, what: str) -> Callable[[ChunkContext, ChunkState, Connection], list[str]]:
    """Koku's Trino matched-tag query, the same for Azure and GCP: the chunk's cloud tag (or label) pairs (pass one's
    texts) against this source's pod and volume labels of the chunk's days. `column` / `what` name the provider's
    tag column in errors."""

    def discover(ctx: ChunkContext, state: ChunkState, conn: Connection) -> list[str]:
        spec, d = ctx.spec, state.discovery
        pods, volumes = ocp_label_texts(ctx.stage, spec.openshift_provider_uuid, ctx.days)
        d.pod_label_texts.update(pods)
        d.volume_label_texts.update(volumes)
        try:
            cloud = distinct_pairs(d.cloud_tag_texts)
        except TagJsonError as exc:
            raise InputFileError(ctx.sources.folder(), f"unusable {what} JSON: {exc}", column) from exc
        m = ctx.manifest
        return fallback_matched_tags(cloud, distinct_pairs(d.pod_label_texts), distinct_pairs(d.volume_label_texts),
                                     m["cloud_keys"], m["any_keys"], m["ocp_listed_keys"])

    return discover


def tag_hooks(provider_type: str, column: str, what: str, cloud_enabled_only: bool) -> dict[str, Callable[..., Any]]:
    """Azure's and GCP's matched-tag discovery hooks: Koku's PostgreSQL query over the cloud's tag-values table
    (`cloud_enabled_only`: the cloud key must be enabled, Azure), its Trino fallback over the chunk's texts."""
    pg = functools.partial(tenant.postgres_matched_tags, provider_type=provider_type,
                           tags_values_table=f"reporting_{provider_type.lower()}tags_values",
                           cloud_enabled_only=cloud_enabled_only)
    return {"postgres_matched_tags": pg, "discovery_pairs": tag_discovery(column, what)}


def bucket_rows() -> int:
    """Step-2 rows per part of a day (POC_BUCKET_ROWS): a day of a 50,000-pod cluster is ~100 k rows of ~40
    columns; parts keep it at ~20 k."""
    return int(os.environ.get("POC_BUCKET_ROWS", 20_000))


def line_weights(temp: pd.DataFrame, ocp: pd.DataFrame) -> pd.Series:
    """A rough estimate, per matched line, of the rows step 2 makes of it: a node's share of the day's OCP rows
    (direct match) or twice the namespaces (tag match: one row per namespace and data source)."""
    per_node = len(ocp) / max(int(ocp["node"].nunique()), 1)
    tagged = ~temp["resource_id_matched"].to_numpy(dtype=bool)
    return pd.Series(1 + np.where(tagged, 2 * int(ocp["namespace"].nunique()), per_node), index=temp.index)


def line_parts(temp: pd.DataFrame, weights: pd.Series, target: int,
               key: pd.Series | None = None) -> Iterator[pd.DataFrame]:
    """A day's matched lines in parts of about `target` step-2 rows (`weights`: an estimate per line); the lines
    of one `key` (default: one resource) stay together. AWS and Azure rows keep their line's resource id, which
    every step-2 and step-3 grouping has in its key, so parts never share a project or back-populate group; a
    provider whose rows take another id (GCP: the node's) passes a key that keeps such lines together. UI rows
    are combined per day."""
    key = temp["resource_id"].fillna("\x00") if key is None else key
    per_resource = weights.groupby(key, sort=False).sum()
    bucket, size, assign = 0, 0.0, {}
    for resource, w in per_resource.items():
        if size and size + w > target:
            bucket, size = bucket + 1, 0.0
        assign[resource] = bucket
        size += w
    labels = key.map(assign).to_numpy()
    for b in range(bucket + 1):
        yield temp[labels == b]


DayRows = Callable[[ChunkContext, ChunkState, dt.date, Sequence[str], Connection],
                   Iterator[tuple[pd.DataFrame, pd.DataFrame]]]
# (run context, the day's matched lines, this source's OCP rows of the day, the day's tag-join masks) -> a part key
PartKey = Callable[[ChunkContext, pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]], pd.Series]


def day_parts(columns: list[str], daily_temp: Callable[..., pd.DataFrame], matchable: str,
              attribute: Callable[..., pd.DataFrame], final_columns: list[str],
              part_key: PartKey | None = None) -> DayRows:
    """A provider's day_rows from its steps: read the day's cloud `columns`, step 1 (`daily_temp(table, the chunk
    state's `matchable`, candidates, the cloud's enabled keys, the folder)`: the matched lines), this OCP source's
    rows of the day, then per part (of whole resources, or of whole `part_key` values) (matched lines, step 2:
    `attribute(ctx, state, day, lines, ocp, cache)`; `cache`: the day's tag-join masks, shared by its parts)."""

    def day_rows(ctx: ChunkContext, state: ChunkState, day: dt.date, candidates: Sequence[str],
                 conn: Connection) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        tbl = ctx.sources.read_day(day, columns)
        if tbl is None:
            return
        temp = daily_temp(tbl, state.data[matchable], candidates, ctx.manifest["cloud_keys"], ctx.sources.folder())
        del tbl
        temp = collapse_copies(temp)  # a line read twice is one line in Koku's step 2
        if temp.empty:
            yield temp, pd.DataFrame({c: pd.Series(dtype=object) for c in final_columns})
            return
        spec = ctx.spec
        ocp = read_ocp_rows(ctx.stage, conn, spec.schema_name, day, spec.openshift_provider_uuid,
                            ctx.ocp.csi_by_day_pv)
        conn.rollback()
        own = (ocp["source"] == spec.openshift_provider_uuid).to_numpy(dtype=bool)
        if not own.all():  # one cluster on the bill (the usual case): no copy of the day's OCP frame
            ocp = ocp[own].reset_index(drop=True)
        cache: dict[str, np.ndarray] = {}
        key = part_key(ctx, temp, ocp, cache) if part_key is not None else None
        for part in line_parts(temp, line_weights(temp, ocp), bucket_rows(), key):
            yield part, attribute(ctx, state, day, part, ocp, cache)

    return day_rows
