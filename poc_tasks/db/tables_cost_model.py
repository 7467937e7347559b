"""Koku's cost-model tables (koku/cost_models/models.py, migrations 0001-0013), declared on the shared metadata.

poc_tasks only reads them (the rates, distribution and markup of the cost model a source is mapped to); they are
declared so that ``init-db``, the sample and the tests can create and fill them exactly as Koku does. All five live
in the tenant schema (the cost_models app is a tenant app).

Deliberate differences from a Koku database: as in tables.py, constraint and FK-index names Django derives from a
hash get readable names; ``PositiveIntegerField`` gets its ``>= 0`` check under a readable name.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db.tables import UUID, columns, foreign_key, indexes, metadata

__all__ = ["cost_model", "cost_model_map", "price_list", "cost_model_rate", "price_list_cost_model_map",
           "ocp_gpu_summary_p", "GPU_SUMMARY_TABLE"]

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
