"""Koku's tenant tables that poc_tasks reads or writes, declared once (SQLAlchemy Core).

Everything else derives from these declarations: the DDL of ``init-db``, the COPY column lists of the writer
and the expectations of the tests. Names, types, nullability, keys and indexes are those Koku's Django models
and migrations create (koku/reporting/provider/{ocp,all}/models.py, reporting/provider/models.py,
reporting/partition/models.py, koku/database.py for partitioned tables).

The metadata has no schema: the tenant schema is applied when SQL is compiled or executed, with
``schema_translate_map={None: schema}``.

Deliberate differences from a Koku database (none of them visible to the SQL that reads or writes rows):
- Constraint and index names that Django derives from a hash (FKs, unique_together, FK indexes, ``_like``
  indexes) get readable names here; names that Koku spells out (Meta indexes, the ``_pk`` of partitioned
  tables, ``<table>_pkey``, ``<table>_<col>_key``) are Koku's.
- ``reporting_tenant_api_provider.provider_id`` references ``public.api_provider`` in Koku; that public
  table is not part of a tenant schema, so the column is declared without the foreign key, and init-db adds
  Koku's foreign key where ``public.api_provider`` exists (a database Koku migrated; init.py).
- Columns are in model order (Django appends columns added by later migrations at the end). COPY and all
  queries name their columns, so the order does not matter.

Partitioned tables carry ``table.info["partition_by"]`` (the RANGE column); ``info["koku_pk_name"]`` keeps
Koku's name for their primary key.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

__all__ = [
    "metadata",
    "tenant_api_provider",
    "ocp_usage_report_period",
    "enabled_tag_keys",
    "tag_mapping",
    "ocp_cost_category",
    "ocp_cost_category_namespace",
    "ocp_clusters",
    "ocp_nodes",
    "ocp_pvcs",
    "ocp_projects",
    "ocp_daily_summary",
    "partitioned_tables",
    "shadow_comparison",
    "SHADOW_TABLE",
    "SUMMARY_TABLE",
    "SUMMARY_COLUMNS",
    "table_columns",
    "get_table",
    "is_partitioned",
    "partition_column",
    "columns",
    "indexes",
    "foreign_key",
    "UUID",
]

metadata = sa.MetaData()

_TYPES = {
    "text": sa.Text, "date": sa.Date, "integer": sa.Integer, "smallint": sa.SmallInteger, "bigint": sa.BigInteger,
    "boolean": sa.Boolean, "float": sa.Float, "jsonb": pg.JSONB, "uuid": lambda: pg.UUID(as_uuid=False),
    "text[]": lambda: pg.ARRAY(sa.Text), "timestamptz": lambda: sa.DateTime(timezone=True),
}
_SIZED = re.compile(r"(varchar|numeric)\((\d+)(?:,(\d+))?\)")


def columns(spec: str) -> list[sa.Column]:
    """Plain columns (no key, default or foreign key) written as PostgreSQL spells them, comma separated, in model
    order: ``"cluster_id varchar(50), usage_start date not null, cost numeric(33,15), tags jsonb"`` (types: those
    of _TYPES, varchar(n), numeric(p,s)). Koku's parallel models repeat long runs of such columns; one line of
    text per run reads like the DDL it makes."""
    out = []
    for item in _items(spec):
        name, type_, *rest = item
        if rest not in ([], ["not", "null"]):
            raise ValueError(f"column spec {' '.join(item)!r}: expected 'name type [not null]'")
        sized = _SIZED.fullmatch(type_)
        if sized:
            kind, a, b = sized.groups()
            col_type = sa.String(int(a)) if kind == "varchar" else sa.Numeric(int(a), int(b))
        else:
            col_type = _TYPES[type_]()
        out.append(sa.Column(name, col_type, nullable=not rest))
    return out


def indexes(spec: str) -> list[sa.Index]:
    """Single-column indexes, comma separated: ``"name column"``, or ``"name column gin"`` for a GIN index."""
    out = []
    for name, column, *using in _items(spec):
        if using not in ([], ["gin"]):
            raise ValueError(f"index spec {name} {column} {' '.join(using)!r}: expected 'name column [gin]'")
        out.append(sa.Index(name, column, **({"postgresql_using": "gin"} if using else {})))
    return out


def _items(spec: str) -> list[list[str]]:
    """'a text, b numeric(33,15) not null' -> [['a', 'text'], ['b', 'numeric(33,15)', 'not', 'null']] (commas
    inside a type's parentheses stay)."""
    return [item.split() for item in re.split(r",(?![^(]*\))", spec) if item.strip()]

# Django's ForeignKey: a deferrable constraint checked at commit, plus an index on the column.
_FK = {"deferrable": True, "initially": "DEFERRED"}
UUID = pg.UUID(as_uuid=False)  # Django's UUIDField


def foreign_key(column: str, target: str, name: str, nullable: bool = True,
                type_: sa.types.TypeEngine | None = None) -> sa.Column:
    """Django's ForeignKey column (integer unless `type_`), its constraint named `name`."""
    return sa.Column(column, type_ if type_ is not None else sa.Integer, sa.ForeignKey(target, name=name, **_FK),
                     nullable=nullable)


def _id() -> sa.Column:
    """Django's AutoField on PostgreSQL: integer GENERATED BY DEFAULT AS IDENTITY."""
    return sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True)


def _partitioned(table: sa.Table, column: str) -> sa.Table:
    table.info["partition_by"] = column
    return table


# --- reporting/provider/models.py -------------------------------------------------------------------------
tenant_api_provider = sa.Table(
    "reporting_tenant_api_provider",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    *columns("name text not null, type text not null"),
    # FK to public.api_provider in Koku; not declared (see the module docstring).
    sa.Column("provider_id", pg.UUID(as_uuid=False), nullable=True),
    sa.Index("reporting_tenant_api_provider_provider_id_idx", "provider_id"),
)

# --- reporting/provider/ocp/models.py ---------------------------------------------------------------------
ocp_usage_report_period = sa.Table(
    "reporting_ocpusagereportperiod",
    metadata,
    _id(),
    *columns("cluster_id varchar(50) not null, cluster_alias varchar(256), report_period_start timestamptz not null,"
             " report_period_end timestamptz not null, summary_data_creation_datetime timestamptz,"
             " summary_data_updated_datetime timestamptz, ocp_on_cloud_updated_datetime timestamptz,"
             " derived_cost_datetime timestamptz"),
    foreign_key("provider_id", "reporting_tenant_api_provider.uuid",
                "reporting_ocpusagereportperiod_provider_id_fk", False, UUID),
    sa.UniqueConstraint(
        "cluster_id", "report_period_start", "provider_id", name="reporting_ocpusagereportperiod_cluster_start_uniq"
    ),
    sa.Index("reporting_ocpusagereportperiod_provider_id_idx", "provider_id"),
)

ocp_cost_category = sa.Table(
    "reporting_ocp_cost_category",
    metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False, unique=True),  # PG names it reporting_ocp_cost_category_name_key
    sa.Column("description", sa.Text, nullable=False),
    *columns("source_type text not null, system_default boolean not null, label text[] not null"),
    sa.Index("reporting_ocp_cost_category_name_like", "name", postgresql_ops={"name": "text_pattern_ops"}),
)

ocp_cost_category_namespace = sa.Table(
    "reporting_ocp_cost_category_namespace",
    metadata,
    _id(),
    sa.Column("namespace", sa.Text, nullable=False, unique=True),  # a LIKE pattern
    sa.Column("system_default", sa.Boolean, nullable=False),
    foreign_key("cost_category_id", "reporting_ocp_cost_category.id",
                "reporting_ocp_cost_category_namespace_cost_category_id_fk", False),
    sa.Index("reporting_ocp_cost_category_namespace_cost_category_id_idx", "cost_category_id"),
    sa.Index(
        "reporting_ocp_cost_category_namespace_namespace_like",
        "namespace",
        postgresql_ops={"namespace": "text_pattern_ops"},
    ),
)

ocp_clusters = sa.Table(
    "reporting_ocp_clusters",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    *columns("cluster_id text not null, cluster_alias text"),
    foreign_key("provider_id", "reporting_tenant_api_provider.uuid",
                "reporting_ocp_clusters_provider_id_fk", False, UUID),
    sa.UniqueConstraint("cluster_id", "cluster_alias", "provider_id", name="reporting_ocp_clusters_uniq"),
    sa.Index("reporting_ocp_clusters_provider_id_idx", "provider_id"),
)


def _cluster_fk(table: str) -> sa.Column:
    return sa.Column(
        "cluster_id",
        pg.UUID(as_uuid=False),
        sa.ForeignKey("reporting_ocp_clusters.uuid", name=f"{table}_cluster_id_fk", **_FK),
        nullable=False,
    )


ocp_nodes = sa.Table(
    "reporting_ocp_nodes",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    *columns("node text not null, resource_id text, node_capacity_cpu_cores numeric(18,2)"),
    _cluster_fk("reporting_ocp_nodes"),
    *columns("node_role text, architecture text"),  # architecture: migration 0338
    sa.Index("reporting_ocp_nodes_cluster_id_idx", "cluster_id"),
)

ocp_pvcs = sa.Table(
    "reporting_ocp_pvcs",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    *columns("persistent_volume_claim text not null, persistent_volume text not null"),
    _cluster_fk("reporting_ocp_pvcs"),
    sa.Column("csi_volume_handle", sa.Text, nullable=True),  # migration 0324
    sa.UniqueConstraint("persistent_volume", "persistent_volume_claim", "cluster_id", name="reporting_ocp_pvcs_uniq"),
    sa.Index("reporting_ocp_pvcs_cluster_id_idx", "cluster_id"),
)

ocp_projects = sa.Table(
    "reporting_ocp_projects",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("project", sa.Text, nullable=False),
    _cluster_fk("reporting_ocp_projects"),
    sa.UniqueConstraint("project", "cluster_id", name="reporting_ocp_projects_uniq"),
    sa.Index("reporting_ocp_projects_cluster_id_idx", "cluster_id"),
)

# OCPUsageLineItemDailySummary. koku/database.py p_table_sql drops the model's PRIMARY KEY and adds
# "<table>_pk" PRIMARY KEY (usage_start, uuid): partition columns first.
SUMMARY_TABLE = "reporting_ocpusagelineitem_daily_summary"
ocp_daily_summary = _partitioned(
    sa.Table(
        SUMMARY_TABLE,
        metadata,
        sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
        foreign_key("report_period_id", "reporting_ocpusagereportperiod.id", f"{SUMMARY_TABLE}_report_period_id_fk"),
        foreign_key("cost_category_id", "reporting_ocp_cost_category.id", f"{SUMMARY_TABLE}_cost_category_id_fk"),
        *columns(
            "cluster_id varchar(50), cluster_alias varchar(256), data_source varchar(64), namespace varchar(253),"
            " node varchar(253), resource_id varchar(253), usage_start date not null, usage_end date not null,"
            " pod_labels jsonb, pod_usage_cpu_core_hours numeric(33,15), pod_request_cpu_core_hours numeric(33,15),"
            " pod_effective_usage_cpu_core_hours numeric(33,15), pod_limit_cpu_core_hours numeric(33,15),"
            " pod_usage_memory_gigabyte_hours numeric(33,15), pod_request_memory_gigabyte_hours numeric(33,15),"
            " pod_effective_usage_memory_gigabyte_hours numeric(33,15), pod_limit_memory_gigabyte_hours"
            " numeric(33,15), node_capacity_cpu_cores numeric(33,15), node_capacity_cpu_core_hours numeric(33,15),"
            " node_capacity_memory_gigabytes numeric(33,15), node_capacity_memory_gigabyte_hours numeric(33,15),"
            " cluster_capacity_cpu_core_hours numeric(33,15), cluster_capacity_memory_gigabyte_hours numeric(33,15),"
            " persistentvolumeclaim varchar(253), persistentvolume varchar(253), storageclass varchar(253),"
            " volume_labels jsonb, all_labels jsonb, persistentvolumeclaim_capacity_gigabyte numeric(33,15),"
            " persistentvolumeclaim_capacity_gigabyte_months numeric(33,15), volume_request_storage_gigabyte_months"
            " numeric(33,15), persistentvolumeclaim_usage_gigabyte_months numeric(33,15)"),
        # all_labels: migration 0308; the data in / out columns: 0319; cost_model_gpu_cost: 0339. Django's
        # default=Decimal(0) on the two raw costs is applied by the ORM only: no database default.
        # The model assigns infrastructure_project_monthly_cost twice; the later field object survives, so
        # Django places the column after supplementary_monthly_cost_json (as migration 0300 lists it).
        # source_uuid is a plain uuid, not a foreign key.
        *columns(
            "infrastructure_raw_cost numeric(33,15), infrastructure_project_raw_cost numeric(33,15),"
            " infrastructure_data_in_gigabytes numeric(33,15), infrastructure_data_out_gigabytes numeric(33,15),"
            " infrastructure_usage_cost jsonb, infrastructure_markup_cost numeric(33,15),"
            " infrastructure_project_markup_cost numeric(33,15), infrastructure_monthly_cost numeric(33,15),"
            " infrastructure_monthly_cost_json jsonb, supplementary_usage_cost jsonb, supplementary_monthly_cost"
            " numeric(33,15), supplementary_monthly_cost_json jsonb, infrastructure_project_monthly_cost jsonb,"
            " supplementary_project_monthly_cost jsonb, cost_model_cpu_cost numeric(33,15), cost_model_memory_cost"
            " numeric(33,15), cost_model_volume_cost numeric(33,15), cost_model_gpu_cost numeric(33,15),"
            " cost_model_rate_type text, monthly_cost_type text, source_uuid uuid, raw_currency text,"
            " distributed_cost numeric(33,15)"),
        sa.PrimaryKeyConstraint("usage_start", "uuid", name=f"{SUMMARY_TABLE}_pk"),
        sa.Index("summary_ocp_usage_idx", "usage_start"),
        sa.Index("summary_namespace_idx", "namespace", postgresql_ops={"namespace": "varchar_pattern_ops"}),
        sa.Index("summary_node_idx", "node", postgresql_ops={"node": "varchar_pattern_ops"}),
        *indexes("summary_data_source_idx data_source, monthly_cost_type_idx monthly_cost_type,"
                 " cost_model_rate_type_idx cost_model_rate_type, all_labels_idx all_labels gin, pod_labels_idx"
                 " pod_labels gin, volume_labels_idx volume_labels gin"),
        sa.Index(f"{SUMMARY_TABLE}_report_period_id_idx", "report_period_id"),
        sa.Index(f"{SUMMARY_TABLE}_cost_category_id_idx", "cost_category_id"),
        postgresql_partition_by="RANGE (usage_start)",
    ),
    "usage_start",
)

# --- reporting/provider/all/models.py ---------------------------------------------------------------------
enabled_tag_keys = sa.Table(
    "reporting_enabledtagkeys",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.String(512), nullable=False),
    # Django default=True is ORM-side only; the column has no database default.
    *columns("enabled boolean not null, provider_type varchar(50) not null"),
    sa.UniqueConstraint("key", "provider_type", name="reporting_enabledtagkeys_key_provider_type_uniq"),
    sa.Index("tag_enabled_key_index", "key", "enabled"),
    sa.Index("tag_provider_type_index", "provider_type"),
)

tag_mapping = sa.Table(
    "reporting_tagmapping",
    metadata,
    _id(),
    foreign_key("parent_id", "reporting_enabledtagkeys.uuid", "reporting_tagmapping_parent_id_fk", False, UUID),
    sa.Column(
        "child_id",
        pg.UUID(as_uuid=False),
        sa.ForeignKey("reporting_enabledtagkeys.uuid", name="reporting_tagmapping_child_id_fk", **_FK),
        nullable=False,
        unique=True,  # OneToOneField
    ),
    sa.UniqueConstraint("parent_id", "child_id", name="reporting_tagmapping_parent_id_child_id_uniq"),
    sa.Index("reporting_tagmapping_parent_id_idx", "parent_id"),
)

# --- reporting/partition/models.py: Koku's per-schema partition tracking table -----------------------------
# Koku's trigger tr_partition_manager (public.trfn_partition_manager) acts on rows of this table. init-db
# creates the table but not the trigger (Koku's code); poc_tasks creates partitions itself and records them
# here, so a Koku that later manages the schema sees every partition (see partitions.py).
partitioned_tables = sa.Table(
    "partitioned_tables",
    metadata,
    _id(),
    *columns("schema_name text not null, table_name text not null, partition_of_table_name text not null,"
             " partition_type text not null, partition_col text not null, partition_parameters jsonb not null"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),  # 0300: SET DEFAULT true
    *columns("subpartition_type text, subpartition_col text"),
    sa.UniqueConstraint("schema_name", "table_name", name="partitioned_tables_schema_name_table_name_uniq"),
    sa.Index("partable_table", "schema_name", "table_name"),
    *indexes("partable_partition_type partition_type, partable_partition_parameters partition_parameters gin"),
)


# --- poc_tasks' own table (not Koku's) ----------------------------------------------------------------------
# One row per phase-1 shadow comparison (poc_tasks.compare): Trino's live rows against poc_tasks' rows for a
# source and date range. init-db creates it; in a Koku tenant, whose tables come from Koku's migrations, the
# first comparison creates it (CREATE TABLE IF NOT EXISTS).
SHADOW_TABLE = "poc_shadow_comparison"
shadow_comparison = sa.Table(
    SHADOW_TABLE,
    metadata,
    _id(),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    *columns("provider_type text not null, source_uuid uuid not null, report_period_id integer, start_date date not"
             " null, end_date date not null, equal boolean not null, live_rows bigint not null, poc_rows bigint not"
             " null, changed_rows bigint not null, missing_rows bigint not null, extra_rows bigint not null,"
             " differing_days jsonb not null, differing_namespaces jsonb not null, summary jsonb not null, report_path"
             " text, tracing_id text"),
    sa.Index("poc_shadow_comparison_source_idx", "source_uuid", "start_date"),
)


def get_table(name: str) -> sa.Table:
    """The declared table of that name; KeyError names the unknown table."""
    try:
        return metadata.tables[name]
    except KeyError:
        raise KeyError(f"table {name!r} is not declared in poc_tasks.db.tables") from None


def table_columns(table: sa.Table | str) -> list[str]:
    """The table's column names in declaration order (the COPY column list)."""
    t = get_table(table) if isinstance(table, str) else table
    return [c.name for c in t.columns]


def is_partitioned(table: sa.Table | str) -> bool:
    t = get_table(table) if isinstance(table, str) else table
    return "partition_by" in t.info


def partition_column(table: sa.Table | str) -> str:
    t = get_table(table) if isinstance(table, str) else table
    try:
        return t.info["partition_by"]
    except KeyError:
        raise ValueError(f"table {t.name!r} is not partitioned") from None


SUMMARY_COLUMNS: tuple[str, ...] = tuple(table_columns(ocp_daily_summary))
