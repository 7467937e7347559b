"""Koku's GCP and OCP-on-GCP tables that the OCP-on-GCP flow reads or writes (SQLAlchemy Core).

Declared on the same ``metadata`` as poc_tasks/db/tables.py (conventions of tables.py / tables_aws.py; the column
runs the three clouds share are db/cloud_tables.py's). Models:
koku/reporting/provider/gcp/models.py and koku/reporting/provider/gcp/openshift/models.py. Every OCP-on-GCP UI
table carries ``invoice_month`` and ``credit_amount``: GCP bills by invoice month, and a usage day can belong to
two invoice months.
"""

from __future__ import annotations

import sqlalchemy as sa

from poc_tasks.db.cloud_tables import CloudTables, partitioned_table, ui_head
from poc_tasks.db.tables import columns, indexes

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

OCPGCP_PROJECT_TABLE = "reporting_ocpgcpcostlineitem_project_daily_summary_p"
OCPGCP_TAGS_SUMMARY = "reporting_ocpgcptags_summary"
OCPGCP_TAGS_VALUES = "reporting_ocpgcptags_values"


_GCP = CloudTables(OCPGCP_PROJECT_TABLE, "ocpgcp_project_p", "reporting_gcpcostentrybill")
_PROJECT = ("account_id", "project_id", "project_name")

# --- reporting/provider/gcp/models.py --------------------------------------------------------------------
gcp_cost_entry_bill = _GCP.bill(unique=("billing_period_start", "provider_id"))
gcp_tags_values = _GCP.tags_values("reporting_gcptags_values", ("account_ids", "project_ids", "project_names"),
                                   "gcp_tags_value_key_idx", nullable=("project_ids", "project_names"))
gcp_tags_summary = _GCP.tags_summary("reporting_gcptags_summary", [sa.Column(c, sa.Text) for c in _PROJECT],
                                     ("key", "cost_entry_bill_id", *_PROJECT))

# --- reporting/provider/gcp/openshift/models.py ------------------------------------------------------------
ocpgcp_tags_values = _GCP.tags_values(OCPGCP_TAGS_VALUES, ("account_ids", "project_ids", "project_names"),
                                      "ocp_gcp_tags_value_key_idx", ocp=True)
ocpgcp_tags_summary = _GCP.tags_summary(
    OCPGCP_TAGS_SUMMARY, [sa.Column(c, sa.Text, nullable=False) for c in _PROJECT],
    ("key", "cost_entry_bill_id", *_PROJECT, "report_period_id", "namespace", "node"), ocp=True)

ocpgcp_project_daily_summary = _GCP.project(
    *columns("account_id varchar(20) not null, project_id varchar(256) not null, project_name varchar(256) not null,"
             " instance_type varchar(50), service_id varchar(256), service_alias varchar(256),"
             " infrastructure_data_in_gigabytes numeric(33,15), infrastructure_data_out_gigabytes numeric(33,15),"
             " data_transfer_direction text, sku_id varchar(256), sku_alias varchar(256), region text, unit"
             " varchar(63), usage_amount numeric(30,15), currency varchar(10), invoice_month varchar(256),"
             " unblended_cost numeric(30,15), markup_cost numeric(30,15), tags jsonb, source_uuid uuid, credit_amount"
             " numeric(24,9)"),
    sa.Index("ocpgcp_proj_usage_start_idx", "usage_start"),
    sa.Index("ocpgcp_proj_namespace_idx", "namespace"),
    sa.Index("ocpgcp_proj_node_idx", "node", postgresql_ops={"node": "varchar_pattern_ops"}),
    *indexes("ocpgcp_proj_resource_idx resource_id, ocpgcp_proj_tags_idx tags gin, ocpgcp_proj_id_idx project_id,"
             " ocpgcp_proj_name_idx project_name, ocpgcp_proj_service_id_idx service_id, ocpgcp_proj_service_alias_idx"
             " service_alias"),
)


def _ui(name: str, extra: list[sa.Column], indexes: dict[str, str]) -> sa.Table:
    """One reporting_ocpgcp_*_p UI table: cluster, dates, the table's own columns, costs, currency, source,
    invoice month, credits, cost category (model order)."""
    source, category, *keys = _GCP.ui_keys(name)
    return partitioned_table(name, *ui_head(cluster_first=True), *extra,
                             *(sa.Column(c, sa.Numeric(30, 15)) for c in ("unblended_cost", "markup_cost")),
                             sa.Column("currency", sa.Text), source, sa.Column("invoice_month", sa.String(256)),
                             sa.Column("credit_amount", sa.Numeric(24, 9)), category, *keys,
                             *(sa.Index(idx, col) for idx, col in indexes.items()))


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
