"""What a cloud provider module tells the shared OCP-on-cloud flow (cloud/flow.py).

A provider module (cloud/azure_provider.py, cloud/gcp_provider.py) describes its tables, its cost columns and
their PostgreSQL scales, its UI tables and tag tables, and supplies four functions: open its Parquet, prepare the
tenant rows its ingestion would have made (the bill), a narrow first pass over a chunk (disk sizes, PV totals,
the text matched tags are discovered from) and the attribution of one day (its final managed rows). Everything
else -- chunks, matched-tag candidates, step 3 grouping, back-populate, tag summaries, UI tables, staging,
writes with Koku's delete rules, Celery -- is the flow's, the same for every provider.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
import psycopg2.extensions
import pyarrow as pa

from poc_tasks.cloud.attribution import CloudProfile
from poc_tasks.cloud.jsontext import TagJsonError, distinct_pairs
from poc_tasks.cloud.matching import fallback_matched_tags
from poc_tasks.cloud.ocp_input import OcpChunkSets
from poc_tasks.cloud.outputs import CostTerm, UiTable
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.cloud.tag_tables import TagTables
from poc_tasks.errors import InputFileError
from poc_tasks.settings import Settings

__all__ = ["CloudProvider", "Sources", "ChunkContext", "ChunkState", "Discovery", "tag_discovery"]

Connection = psycopg2.extensions.connection


class Sources(Protocol):
    """A provider's opened Parquet for one run (footers read lazily, rows a day at a time)."""

    def rows_read(self) -> int: ...

    def bytes_read(self) -> int: ...

    def folder(self) -> str: ...

    def read_day(self, day: dt.date, columns: list[str]) -> pa.Table | None: ...


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


@dataclass
class ChunkState:
    """What a provider's first pass hands to its day attribution (provider-specific fields in `data`)."""

    discovery: Discovery = field(default_factory=Discovery)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CloudProvider:
    name: str  # provider type as Koku names it: 'Azure', 'GCP' (reporting_enabledtagkeys, api_provider.type)
    run_name: str  # 'OCP-on-Azure': the run lock's and the run summary's provider
    kwarg: str  # the cloud source's keyword argument ('azure_provider_uuid')
    profile: CloudProfile
    project_table: str
    ui_tables: tuple[UiTable, ...]
    tags: TagTables
    bill_table: str
    tags_values_table: str  # the cloud's own tag values (Koku's matched-tag discovery from PostgreSQL)
    pg_discovery_enabled_only: bool  # that discovery requires the cloud key to be enabled (Azure) or listed (GCP)
    cost_terms: tuple[CostTerm, ...]  # project columns summed into infrastructure_raw_cost, with their scales
    strict_raw: bool  # infrastructure_raw_cost = sum(a + b): a NULL term drops the row (Azure)
    currency: str  # the project table's currency column
    usage_column: str  # the project / UI tables' name of the attributed usage ('usage_quantity', 'usage_amount')
    requires_cluster: bool  # Koku returns early without a reporting_ocp_clusters row (AWS, Azure; not GCP)
    open_sources: Callable[[Settings, CloudRunSpec], Sources]
    pass_one: Callable[[ChunkContext, Connection], ChunkState]
    discovery_pairs: Callable[[ChunkContext, ChunkState], list[str]]  # Koku's Trino fallback, given enabled keys
    day_rows: Callable[[ChunkContext, ChunkState, dt.date, Sequence[str], Connection],
                       tuple[pd.DataFrame, pd.DataFrame]]  # (matched lines, final rows) of one day
    project_rows: Callable[[pd.DataFrame, frozenset[str]], pd.DataFrame]  # step 3 of one day
    conservation_costs: tuple[str, ...]
    ui_numeric: tuple[str, ...] = ("cost_category_id",)
    extra_manifest: Callable[[Connection, CloudRunSpec], dict[str, Any]] | None = None


def tag_discovery(column: str, what: str) -> Callable[[ChunkContext, ChunkState], list[str]]:
    """Koku's Trino matched-tag query, the same for every provider: the chunk's cloud tag (or label) pairs
    against this source's pod and volume labels. `column` / `what` name the provider's tag column in errors."""

    def discover(ctx: ChunkContext, state: ChunkState) -> list[str]:
        d = state.discovery
        try:
            cloud = distinct_pairs(d.cloud_tag_texts)
        except TagJsonError as exc:
            raise InputFileError(ctx.sources.folder(), f"unusable {what} JSON: {exc}", column) from exc
        m = ctx.manifest
        return fallback_matched_tags(cloud, distinct_pairs(d.pod_label_texts), distinct_pairs(d.volume_label_texts),
                                     m["cloud_keys"], m["any_keys"], m["ocp_listed_keys"])

    return discover
