"""Koku's GCP and OCP-on-GCP tables that the OCP-on-GCP flow reads or writes (SQLAlchemy Core).

Declared on the same ``metadata`` as poc_tasks/db/tables.py (conventions of tables.py / tables_aws.py). Models:
koku/reporting/provider/gcp/models.py and koku/reporting/provider/gcp/openshift/models.py. Every OCP-on-GCP UI
table carries ``invoice_month`` and ``credit_amount``: GCP bills by invoice month, and a usage day can belong to
two invoice months.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db.tables import metadata

__all__ = [
    "gcp_cost_entry_bill",
    "gcp_tags_values",
    "gcp_tags_summary",
    "ocpgcp_project_daily_summary",
    "ocpgcp_tags_values",
    "ocpgcp_tags_summary",
    "OCPGCP_PROJECT_TABLE",
    "OCPGCP_UI_TABLES",
    "OCPGCP_TAGS_SUMMARY",
    "OCPGCP_TAGS_VALUES",
]

_FK = {"deferrable": True, "initially": "DEFERRED"}
OCPGCP_PROJECT_TABLE = "reporting_ocpgcpcostlineitem_project_daily_summary_p"
OCPGCP_TAGS_SUMMARY = "reporting_ocpgcptags_summary"
OCPGCP_TAGS_VALUES = "reporting_ocpgcptags_values"


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True)


def _short(table: str) -> str:
    """A prefix for constraint and index names that keeps them within PostgreSQL's 63 characters."""
    return table.replace(OCPGCP_PROJECT_TABLE, "ocpgcp_project_p").removeprefix("reporting_")


def _fk(column: str, target: str, table: str, nullable: bool = True, type_: sa.types.TypeEngine | None = None):
    return sa.Column(column, type_ if type_ is not None else sa.Integer,
                     sa.ForeignKey(target, name=f"{_short(table)}_{column}_fk", **_FK), nullable=nullable)


def _partitioned(table: sa.Table) -> sa.Table:
    table.info["partition_by"] = "usage_start"
    return table


# --- reporting/provider/gcp/models.py --------------------------------------------------------------------
gcp_cost_entry_bill = sa.Table(
    "reporting_gcpcostentrybill",
    metadata,
    _id(),
    sa.Column("billing_period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("billing_period_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summary_data_creation_datetime", sa.DateTime(timezone=True)),
    sa.Column("summary_data_updated_datetime", sa.DateTime(timezone=True)),
    sa.Column("finalized_datetime", sa.DateTime(timezone=True)),
    sa.Column("derived_cost_datetime", sa.DateTime(timezone=True)),
    _fk("provider_id", "reporting_tenant_api_provider.uuid", "reporting_gcpcostentrybill", False,
        pg.UUID(as_uuid=False)),
    sa.UniqueConstraint("billing_period_start", "provider_id", name="reporting_gcpcostentrybill_uniq"),
    sa.Index("reporting_gcpcostentrybill_provider_id_idx", "provider_id"),
)

gcp_tags_values = sa.Table(
    "reporting_gcptags_values",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("account_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("project_ids", pg.ARRAY(sa.Text)),
    sa.Column("project_names", pg.ARRAY(sa.Text)),
    sa.UniqueConstraint("key", "value", name="reporting_gcptags_values_key_value_uniq"),
    sa.Index("gcp_tags_value_key_idx", "key"),
)

gcp_tags_summary = sa.Table(
    "reporting_gcptags_summary",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_gcpcostentrybill.id", "reporting_gcptags_summary", False),
    sa.Column("account_id", sa.Text),
    sa.Column("project_id", sa.Text),
    sa.Column("project_name", sa.Text),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "account_id", "project_id", "project_name",
                        name="reporting_gcptags_summary_uniq"),
    sa.Index("reporting_gcptags_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
)

# --- reporting/provider/gcp/openshift/models.py ------------------------------------------------------------
ocpgcp_tags_values = sa.Table(
    OCPGCP_TAGS_VALUES,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("account_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("project_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("project_names", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("cluster_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("cluster_aliases", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("namespaces", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("nodes", pg.ARRAY(sa.Text)),
    sa.UniqueConstraint("key", "value", name="reporting_ocpgcptags_values_key_value_uniq"),
    sa.Index("ocp_gcp_tags_value_key_idx", "key"),
)

ocpgcp_tags_summary = sa.Table(
    OCPGCP_TAGS_SUMMARY,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.String(253), nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_gcpcostentrybill.id", OCPGCP_TAGS_SUMMARY, False),
    _fk("report_period_id", "reporting_ocpusagereportperiod.id", OCPGCP_TAGS_SUMMARY, False),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("project_id", sa.Text, nullable=False),
    sa.Column("project_name", sa.Text, nullable=False),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("node", sa.Text),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "account_id", "project_id", "project_name", "report_period_id",
                        "namespace", "node", name="reporting_ocpgcptags_summary_uniq"),
    sa.Index("reporting_ocpgcptags_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
    sa.Index("reporting_ocpgcptags_summary_report_period_id_idx", "report_period_id"),
)

ocpgcp_project_daily_summary = _partitioned(
    sa.Table(
        OCPGCP_PROJECT_TABLE,
        metadata,
        sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
        _fk("report_period_id", "reporting_ocpusagereportperiod.id", OCPGCP_PROJECT_TABLE),
        sa.Column("cluster_id", sa.String(50)),
        sa.Column("cluster_alias", sa.String(256)),
        sa.Column("data_source", sa.String(64)),
        sa.Column("namespace", sa.String(253)),
        sa.Column("node", sa.String(253)),
        sa.Column("persistentvolumeclaim", sa.String(253)),
        sa.Column("persistentvolume", sa.String(253)),
        sa.Column("storageclass", sa.String(50)),
        sa.Column("pod_labels", pg.JSONB),
        sa.Column("resource_id", sa.String(253)),
        sa.Column("usage_start", sa.Date, nullable=False),
        sa.Column("usage_end", sa.Date, nullable=False),
        _fk("cost_entry_bill_id", "reporting_gcpcostentrybill.id", OCPGCP_PROJECT_TABLE, False),
        sa.Column("account_id", sa.String(20), nullable=False),
        sa.Column("project_id", sa.String(256), nullable=False),
        sa.Column("project_name", sa.String(256), nullable=False),
        sa.Column("instance_type", sa.String(50)),
        sa.Column("service_id", sa.String(256)),
        sa.Column("service_alias", sa.String(256)),
        sa.Column("infrastructure_data_in_gigabytes", sa.Numeric(33, 15)),
        sa.Column("infrastructure_data_out_gigabytes", sa.Numeric(33, 15)),
        sa.Column("data_transfer_direction", sa.Text),
        sa.Column("sku_id", sa.String(256)),
        sa.Column("sku_alias", sa.String(256)),
        sa.Column("region", sa.Text),
        sa.Column("unit", sa.String(63)),
        sa.Column("usage_amount", sa.Numeric(30, 15)),
        sa.Column("currency", sa.String(10)),
        sa.Column("invoice_month", sa.String(256)),
        sa.Column("unblended_cost", sa.Numeric(30, 15)),
        sa.Column("markup_cost", sa.Numeric(30, 15)),
        sa.Column("tags", pg.JSONB),
        sa.Column("source_uuid", pg.UUID(as_uuid=False)),
        sa.Column("credit_amount", sa.Numeric(24, 9)),
        _fk("cost_category_id", "reporting_ocp_cost_category.id", OCPGCP_PROJECT_TABLE),
        sa.PrimaryKeyConstraint("usage_start", "uuid", name=f"{OCPGCP_PROJECT_TABLE}_pk"),
        sa.Index("ocpgcp_proj_usage_start_idx", "usage_start"),
        sa.Index("ocpgcp_proj_namespace_idx", "namespace"),
        sa.Index("ocpgcp_proj_node_idx", "node", postgresql_ops={"node": "varchar_pattern_ops"}),
        sa.Index("ocpgcp_proj_resource_idx", "resource_id"),
        sa.Index("ocpgcp_proj_tags_idx", "tags", postgresql_using="gin"),
        sa.Index("ocpgcp_proj_id_idx", "project_id"),
        sa.Index("ocpgcp_proj_name_idx", "project_name"),
        sa.Index("ocpgcp_proj_service_id_idx", "service_id"),
        sa.Index("ocpgcp_proj_service_alias_idx", "service_alias"),
        sa.Index("ocpgcp_project_p_report_period_id_idx", "report_period_id"),
        sa.Index("ocpgcp_project_p_cost_entry_bill_id_idx", "cost_entry_bill_id"),
        sa.Index("ocpgcp_project_p_cost_category_id_idx", "cost_category_id"),
        postgresql_partition_by="RANGE (usage_start)",
    )
)


def _ui(name: str, extra: list[sa.Column], indexes: dict[str, str]) -> sa.Table:
    """One reporting_ocpgcp_*_p UI table: cluster, dates, the table's own columns, costs, currency, source,
    invoice month, credits, cost category (model order)."""
    cols: list[sa.Column | sa.Index | sa.Constraint] = [
        # Koku's migration 0300 defaults id to public.uuid_generate_v4() (init.py makes sure it exists)
        sa.Column("id", pg.UUID(as_uuid=False), nullable=False, server_default=sa.text("public.uuid_generate_v4()")),
        sa.Column("cluster_id", sa.String(50)),
        sa.Column("cluster_alias", sa.String(256)),
        sa.Column("usage_start", sa.Date, nullable=False),
        sa.Column("usage_end", sa.Date, nullable=False),
        *extra,
        sa.Column("unblended_cost", sa.Numeric(30, 15)),
        sa.Column("markup_cost", sa.Numeric(30, 15)),
        sa.Column("currency", sa.Text),
        _fk("source_uuid", "reporting_tenant_api_provider.uuid", name, True, pg.UUID(as_uuid=False)),
        sa.Column("invoice_month", sa.String(256)),
        sa.Column("credit_amount", sa.Numeric(24, 9)),
        _fk("cost_category_id", "reporting_ocp_cost_category.id", name),
        sa.PrimaryKeyConstraint("usage_start", "id", name=f"{name}_pk"),
        sa.Index(f"{_short(name)}_source_uuid_idx", "source_uuid"),
        sa.Index(f"{_short(name)}_cost_category_id_idx", "cost_category_id"),
    ]
    cols += [sa.Index(idx, col) for idx, col in indexes.items()]
    return _partitioned(sa.Table(name, metadata, *cols, postgresql_partition_by="RANGE (usage_start)"))


def _usage() -> list[sa.Column]:
    return [sa.Column("usage_amount", sa.Numeric(24, 9)), sa.Column("unit", sa.String(63))]


def _service() -> list[sa.Column]:
    return [sa.Column("account_id", sa.String(50), nullable=False), sa.Column("service_id", sa.String(256)),
            sa.Column("service_alias", sa.String(256))]


OCPGCP_UI_TABLES: dict[str, sa.Table] = {
    t.name: t
    for t in (
        _ui("reporting_ocpgcp_cost_summary_p", [], {"ocpgcpcostsum_usgstrt_idx": "usage_start"}),
        _ui("reporting_ocpgcp_compute_summary_p",
            [*_usage(), sa.Column("instance_type", sa.String(50)), sa.Column("account_id", sa.String(50),
                                                                           nullable=False)],
            {"ocpgcpcompute_usgstrt_idx": "usage_start"}),
        _ui("reporting_ocpgcp_cost_summary_by_account_p", [sa.Column("account_id", sa.String(20), nullable=False)],
            {"ocpgcpcostsum_acct_usgstrt_idx": "usage_start", "ocpgcpcostsum_acct_idx": "account_id"}),
        _ui("reporting_ocpgcp_cost_summary_by_gcp_project_p",
            [sa.Column("project_id", sa.String(256), nullable=False),
             sa.Column("project_name", sa.String(256), nullable=False)],
            {"ocpgcpcostsum_gcpp_usgstrt_idx": "usage_start", "ocpgcpcostsum_gcpp_projid_idx": "project_id",
             "ocpgcpcostsum_gcpp_projn_idx": "project_name"}),
        _ui("reporting_ocpgcp_cost_summary_by_region_p",
            [sa.Column("account_id", sa.String(50), nullable=False), sa.Column("region", sa.Text)],
            {"ocpgcpcostsum_reg_usgstrt_idx": "usage_start", "ocpgcpcostsum_reg_idx": "region"}),
        _ui("reporting_ocpgcp_cost_summary_by_service_p", _service(),
            {"ocpgcpcostsum_serv_usgstrt_idx": "usage_start", "ocpgcpcostsum_servid_idx": "service_id",
             "ocpgcpcostsum_servalias_idx": "service_alias"}),
        _ui("reporting_ocpgcp_database_summary_p", [*_usage(), *_service()],
            {"ocpgcpdb_usgstrt_idx": "usage_start"}),
        _ui("reporting_ocpgcp_network_summary_p", [*_usage(), *_service()],
            {"ocpgcpnetwork_usgstrt_idx": "usage_start"}),
        _ui("reporting_ocpgcp_storage_summary_p", [*_usage(), *_service()],
            {"ocpgcpstorage_usgstrt_idx": "usage_start"}),
    )
}
