"""Koku's cost-model tables (koku/cost_models/models.py, migrations 0001-0013), declared on the shared metadata.

poc_tasks only reads them (the rates, distribution and markup of the cost model a source is mapped to); they are
declared so that ``init-db``, the sample and the tests can create and fill them exactly as Koku does. All five live
in the tenant schema (the cost_models app is a tenant app).

Also the tables the cost-model steps write: reporting_ocp_gpu_summary_p, rates_to_usage and
reporting_ocp_vm_summary_p (reporting app, partitioned by usage_start), equal to a tenant Koku's migrations make
(integration/koku_ddl_snapshot.json).

Deliberate differences from a Koku database: as in tables.py, constraint and FK-index names Django derives from a
hash get readable names; ``PositiveIntegerField`` gets its ``>= 0`` check under a readable name.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db.tables import UUID, columns, foreign_key, indexes, metadata

__all__ = ["cost_model", "cost_model_map", "price_list", "cost_model_rate", "price_list_cost_model_map",
           "ocp_gpu_summary_p", "GPU_SUMMARY_TABLE", "rates_to_usage", "RATES_TO_USAGE_TABLE", "ocp_vm_summary_p",
           "VM_SUMMARY_TABLE", "OUTPUT_TABLES", "ensure_cost_model_output_tables"]

_FK = {"deferrable": True, "initially": "DEFERRED"}

cost_model = sa.Table(
    "cost_model",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    # distribution: migration 0002, distribution_info: 0005, currency: 0004
    *columns("name text not null, description text not null, source_type varchar(50) not null, created_timestamp"
             " timestamptz not null, updated_timestamp timestamptz not null, rates jsonb not null, markup jsonb not"
             " null, distribution text not null, distribution_info jsonb not null, currency text not null"),
    *indexes("name_idx name, source_type_idx source_type, updated_timestamp_idx updated_timestamp"),
)

cost_model_map = sa.Table(
    "cost_model_map",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True),
    sa.Column("provider_uuid", pg.UUID(as_uuid=False), nullable=False),
    foreign_key("cost_model_id", "cost_model.uuid", "cost_model_map_cost_model_id_fk", type_=UUID),
    sa.UniqueConstraint("provider_uuid", "cost_model_id", name="cost_model_map_provider_uuid_cost_model_uniq"),
    sa.Index("cost_model_map_cost_model_id_idx", "cost_model_id"),
)

price_list = sa.Table(
    "price_list",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    *columns("name text not null, description text not null, currency text not null, effective_start_date date not"
             " null, effective_end_date date not null, enabled boolean not null"),
    sa.Column("version", sa.Integer, sa.CheckConstraint("version >= 0", name="price_list_version_check"),
              nullable=False),
    *columns("rates jsonb not null, created_timestamp timestamptz not null, updated_timestamp timestamptz not null"),
    sa.Index("price_list_name_idx", "name"),
    sa.Index("price_list_validity_idx", "effective_start_date", "effective_end_date"),
)

cost_model_rate = sa.Table(
    "cost_model_rate",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    foreign_key("price_list_id", "price_list.uuid", "cost_model_rate_price_list_id_fk", False, UUID),
    *columns("custom_name varchar(50) not null, description text not null, metric varchar(100) not null, metric_type"
             " varchar(20) not null, cost_type varchar(20) not null, default_rate numeric(33,15), tag_key varchar(253)"
             " not null, tag_values jsonb not null, created_timestamp timestamptz not null, updated_timestamp"
             " timestamptz not null"),
    sa.UniqueConstraint("price_list_id", "custom_name", name="cost_model_rate_price_list_custom_name_uniq"),
    *indexes("rate_price_list_idx price_list_id, rate_custom_name_idx custom_name, rate_metric_idx metric"),
)

price_list_cost_model_map = sa.Table(
    "price_list_cost_model_map",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True),
    foreign_key("price_list_id", "price_list.uuid", "price_list_cost_model_map_price_list_id_fk", False, UUID),
    foreign_key("cost_model_id", "cost_model.uuid", "price_list_cost_model_map_cost_model_id_fk", False, UUID),
    sa.Column("priority", sa.Integer,
              sa.CheckConstraint("priority >= 0", name="price_list_cost_model_map_priority_check"), nullable=False),
    sa.UniqueConstraint("price_list_id", "cost_model_id", name="price_list_cost_model_map_uniq"),
    *indexes("price_list_cost_model_map_price_list_id_idx price_list_id, price_list_cost_model_map_cost_model_id_idx"
             " cost_model_id"),
)

# --- reporting/provider/ocp/models.py OCPGpuSummaryP (partitioned by usage_start) ------------------------------
GPU_SUMMARY_TABLE = "reporting_ocp_gpu_summary_p"
ocp_gpu_summary_p = sa.Table(
    GPU_SUMMARY_TABLE,
    metadata,
    sa.Column("id", pg.UUID(as_uuid=False), nullable=False),
    *columns("cluster_id text not null, cluster_alias text, namespace varchar(253), node varchar(253), usage_start"
             " date not null, usage_end date not null, vendor_name varchar(128), model_name varchar(128),"
             " memory_capacity_gb numeric(33,15), gpu_count integer, mig_instance_id varchar(128), gpu_uuid"
             " varchar(128), gpu_mode varchar(32), mig_profile varchar(64), mig_slice_count integer,"
             " mig_memory_capacity_gb numeric(33,15), mig_strategy varchar(10), gpu_max_slices integer,"
             " cost_model_gpu_cost numeric(33,15)"),
    sa.Column("source_uuid", pg.UUID(as_uuid=False),
              sa.ForeignKey("reporting_tenant_api_provider.uuid", name="reporting_ocp_gpu_summary_p_source_uuid_fk",
                            **_FK)),
    sa.Column("cost_category_id", sa.Integer,
              sa.ForeignKey("reporting_ocp_cost_category.id", name="reporting_ocp_gpu_summary_p_cost_category_fk",
                            **_FK)),
    *columns("raw_currency text, cost_model_cpu_cost numeric(33,15), cost_model_memory_cost numeric(33,15),"
             " cost_model_volume_cost numeric(33,15), cost_model_rate_type text"),
    sa.PrimaryKeyConstraint("usage_start", "id", name="reporting_ocp_gpu_summary_p_pk"),
    *indexes("ocpgpusumm_usage_start usage_start, ocpgpusumm_cluster_idx cluster_id, ocpgpusumm_namespace_idx"
             " namespace, ocpgpusumm_node_idx node, ocpgpusumm_vendor_idx vendor_name, ocpgpusumm_model_idx"
             " model_name, ocpgpusumm_mig_profile_idx mig_profile, reporting_ocp_gpu_summary_p_source_uuid_idx"
             " source_uuid, reporting_ocp_gpu_summary_p_cost_category_idx cost_category_id"),
    postgresql_partition_by="RANGE (usage_start)",
    info={"partition_by": "usage_start", "koku_pk_name": "reporting_ocp_gpu_summary_p_pk"},
)


# --- reporting/provider/ocp/models.py RatesToUsage and OCPVirtualMachineSummaryP (partitioned by usage_start) --------
# rates_to_usage: migrations 0348 (create), 0349 (one index for start/source/report period), 0350 (label_hash 64),
# 0352/0353 (foreign keys of rate, cost model, report period and source made ON DELETE CASCADE in the database,
# indexes on rate_id and cost_model_id instead of Django's FK indexes), 0354 (capacity and resource columns, the
# source/report-period/start/monthly-type index). The cost-category FK stays Django's (no database cascade, an
# index).
_CASCADE = {**_FK, "ondelete": "CASCADE"}

RATES_TO_USAGE_TABLE = "rates_to_usage"
rates_to_usage = sa.Table(
    RATES_TO_USAGE_TABLE,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
    sa.Column("rate_id", pg.UUID(as_uuid=False),
              sa.ForeignKey("cost_model_rate.uuid", name="rates_to_usage_rate_id_fk", **_CASCADE)),
    sa.Column("cost_model_id", pg.UUID(as_uuid=False),
              sa.ForeignKey("cost_model.uuid", name="rates_to_usage_cost_model_id_fk", **_CASCADE)),
    sa.Column("report_period_id", sa.Integer,
              sa.ForeignKey("reporting_ocpusagereportperiod.id", name="rates_to_usage_report_period_id_fk",
                            **_CASCADE)),
    sa.Column("source_uuid", pg.UUID(as_uuid=False),
              sa.ForeignKey("reporting_tenant_api_provider.uuid", name="rates_to_usage_source_uuid_fk", **_CASCADE),
              nullable=False),
    *columns("usage_start date not null, usage_end date not null, node varchar(253), namespace varchar(253),"
             " cluster_id text not null, cluster_alias text, data_source varchar(63), persistentvolumeclaim"
             " varchar(253), pod_labels jsonb, volume_labels jsonb, all_labels jsonb, custom_name varchar(50) not null,"
             " metric_type varchar(20) not null, cost_model_rate_type text, monthly_cost_type text, calculated_cost"
             " numeric(33,15), distributed_cost numeric(33,15)"),
    foreign_key("cost_category_id", "reporting_ocp_cost_category.id", "rates_to_usage_cost_category_id_fk"),
    *columns("labels jsonb, label_hash varchar(64), node_capacity_cpu_cores numeric(33,15),"
             " node_capacity_cpu_core_hours numeric(33,15), node_capacity_memory_gigabytes numeric(33,15),"
             " node_capacity_memory_gigabyte_hours numeric(33,15), cluster_capacity_cpu_core_hours numeric(33,15),"
             " cluster_capacity_memory_gigabyte_hours numeric(33,15), resource_id varchar(253), persistentvolume"
             " varchar(253), storageclass varchar(253)"),
    sa.PrimaryKeyConstraint("usage_start", "uuid", name="rates_to_usage_pkey"),
    sa.Index("ratestousage_start_src_rp_idx", "usage_start", "source_uuid", "report_period_id"),
    sa.Index("ratestousage_src_rp_mct_idx", "source_uuid", "report_period_id", "usage_start", "monthly_cost_type"),
    *indexes("ratestousage_namespace_idx namespace, ratestousage_cluster_idx cluster_id, ratestousage_custom_name_idx"
             " custom_name, ratestousage_monthly_cost_idx monthly_cost_type, ratestousage_label_hash_idx label_hash,"
             " ratestousage_rate_id_idx rate_id, ratestousage_cost_model_id_idx cost_model_id,"
             " rates_to_usage_cost_category_id_idx cost_category_id"),
    postgresql_partition_by="RANGE (usage_start)",
    info={"partition_by": "usage_start", "koku_pk_name": "rates_to_usage_pkey"},
)

# reporting_ocp_vm_summary_p: migrations 0327 (create), 0329 (storage columns; the unique key gains the PVC),
# 0341 (cost_model_gpu_cost)
VM_SUMMARY_TABLE = "reporting_ocp_vm_summary_p"
ocp_vm_summary_p = sa.Table(
    VM_SUMMARY_TABLE,
    metadata,
    sa.Column("id", pg.UUID(as_uuid=False), nullable=False),
    *columns("cluster_alias text, cluster_id text, namespace varchar(253), node varchar(253), vm_name text,"
             " cost_model_cpu_cost numeric(33,15), cost_model_memory_cost numeric(33,15), cost_model_rate_type text,"
             " cost_model_volume_cost numeric(33,15), cost_model_gpu_cost numeric(33,15), distributed_cost"
             " numeric(33,15), pod_labels jsonb, pod_request_cpu_core_hours numeric(33,15),"
             " pod_request_memory_gigabyte_hours numeric(33,15), persistentvolumeclaim varchar(253), storageclass"
             " varchar(253), persistentvolumeclaim_usage_gigabyte_months numeric(33,15),"
             " persistentvolumeclaim_capacity_gigabyte_months numeric(33,15), infrastructure_markup_cost"
             " numeric(33,15), infrastructure_raw_cost numeric(33,15), raw_currency text"),
    sa.Column("resource_ids", pg.ARRAY(sa.String(256))),
    *columns("usage_end date not null, usage_start date not null"),
    foreign_key("cost_category_id", "reporting_ocp_cost_category.id", "reporting_ocp_vm_summary_p_cost_category_fk"),
    sa.Column("source_uuid", pg.UUID(as_uuid=False),
              sa.ForeignKey("reporting_tenant_api_provider.uuid", name="reporting_ocp_vm_summary_p_source_uuid_fk",
                            **_FK)),
    sa.PrimaryKeyConstraint("usage_start", "id", name="reporting_ocp_vm_summary_p_pkey"),
    sa.UniqueConstraint("usage_start", "cluster_id", "namespace", "node", "vm_name", "cost_model_rate_type",
                        "persistentvolumeclaim", name="reporting_ocp_vm_summary_p_uniq"),
    *indexes("ocp_vm_summ_usage_start usage_start, ocp_vm_summ_cluster_id cluster_id, ocp_vm_summ_namespace namespace,"
             " ocp_vm_summ_node node, ocp_vm_summ_vm_name vm_name, ocp_vm_summ_pod_labels_idx pod_labels gin,"
             " reporting_ocp_vm_summary_p_cost_category_idx cost_category_id,"
             " reporting_ocp_vm_summary_p_source_uuid_idx source_uuid"),
    postgresql_partition_by="RANGE (usage_start)",
    info={"partition_by": "usage_start", "koku_pk_name": "reporting_ocp_vm_summary_p_pkey"},
)
OUTPUT_TABLES = (rates_to_usage, ocp_vm_summary_p)


def ensure_cost_model_output_tables(conn, schema: str) -> None:
    """CREATE TABLE / INDEX IF NOT EXISTS for rates_to_usage and reporting_ocp_vm_summary_p (+ default partition),
    in the current transaction; a no-op where Koku created them."""
    from psycopg2 import sql
    from sqlalchemy.dialects import postgresql as pg_dialect
    from sqlalchemy.schema import CreateIndex, CreateTable

    from poc_tasks.db.connection import qualified
    from poc_tasks.validate import validate_schema

    validate_schema(schema)
    opts = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
    dialect = pg_dialect.dialect()
    with conn.cursor() as cur:
        for table in OUTPUT_TABLES:
            cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table.name}"',))
            if cur.fetchone()[0] is not None:
                continue
            cur.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect, **opts)))
            for index in sorted(table.indexes, key=lambda i: i.name):
                cur.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect, **opts)))
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT").format(
                qualified(schema, f"{table.name}_default"), qualified(schema, table.name)))
