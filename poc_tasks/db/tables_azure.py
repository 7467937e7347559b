"""Koku's Azure and OCP-on-Azure tables that the OCP-on-Azure flow reads or writes (SQLAlchemy Core).

Declared on the same ``metadata`` as poc_tasks/db/tables.py (the conventions of tables.py and tables_aws.py apply:
readable names where Django derives a hash, ORM-only defaults are not database defaults, columns in model order,
partitioned tables ``PARTITION BY RANGE (usage_start)`` with primary key ``<table>_pk`` on (usage_start, <pk>));
the column runs the three clouds share are db/cloud_tables.py's.
Models: koku/reporting/provider/azure/models.py, koku/reporting/provider/azure/openshift/models.py and
koku/reporting_common/models.py (``DiskCapacity``).

``public.reporting_common_diskcapacity`` is Koku's *shared* lookup of Azure disk tiers (meter-name substring ->
GiB): it lives in the ``public`` schema, not in a tenant schema, so it is declared with ``schema="public"`` (the
tenant ``schema_translate_map`` leaves it alone) and init-db seeds it with the tiers Koku's migration
reporting_common 0041 seeds (:data:`AZURE_DISK_TIERS`), once for the whole database.
"""

from __future__ import annotations

import sqlalchemy as sa

from poc_tasks.db.cloud_tables import CloudTables, partitioned_table, project_ocp_indexes, ui_head
from poc_tasks.db.tables import columns, metadata

__all__ = [
    "azure_cost_entry_bill",
    "azure_tags_values",
    "azure_tags_summary",
    "disk_capacity",
    "ocpazure_project_daily_summary",
    "ocpazure_tags_values",
    "ocpazure_tags_summary",
    "OCPAZURE_PROJECT_TABLE",
    "OCPAZURE_UI_TABLES",
    "OCPAZURE_TAGS_SUMMARY",
    "OCPAZURE_TAGS_VALUES",
    "DISK_CAPACITY_TABLE",
    "AZURE_DISK_TIERS",
]

OCPAZURE_PROJECT_TABLE = "reporting_ocpazurecostlineitem_project_daily_summary_p"
OCPAZURE_TAGS_SUMMARY = "reporting_ocpazuretags_summary"
OCPAZURE_TAGS_VALUES = "reporting_ocpazuretags_values"
DISK_CAPACITY_TABLE = "reporting_common_diskcapacity"

# The disk tiers Koku seeds (reporting_common migration 0041): Premium SSD "P", Standard HDD "S" and Standard SSD
# "E" managed disks, by tier name, in GiB (Azure's published sizes; the 32 TiB tiers are listed as 32 767 GiB).
_TIER_SIZES = {1: 4, 2: 8, 3: 16, 4: 32, 6: 64, 10: 128, 15: 256, 20: 512, 30: 1024, 40: 2048, 50: 4096, 60: 8192,
               70: 16384, 80: 32767}
AZURE_DISK_TIERS: tuple[tuple[str, int, str], ...] = tuple(
    (f"{family}{tier}", size, "Azure")
    for family, tiers in (("P", (1, 2, 3, 4, 6, 10, 15, 20, 30, 40, 50, 60, 70, 80)),
                          ("S", (4, 6, 10, 15, 20, 30, 40, 50, 60, 70, 80)),
                          ("E", (1, 2, 3, 4, 6, 10, 15, 20, 30, 40, 50, 60, 70, 80)))
    for tier in tiers
    for size in (_TIER_SIZES[tier],)
)


_AZURE = CloudTables(OCPAZURE_PROJECT_TABLE, "ocpazure_project_p", "reporting_azurecostentrybill")


# --- reporting_common/models.py (public schema) ------------------------------------------------------------
disk_capacity = sa.Table(
    DISK_CAPACITY_TABLE,
    metadata,
    sa.Column("product_substring", sa.String(20), primary_key=True),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("provider_type", sa.String(50), nullable=False),
    sa.UniqueConstraint("product_substring", "capacity", "provider_type",
                        name="reporting_common_diskcapacity_uniq"),
    sa.Index("reporting_common_diskcapacity_product_substring_like", "product_substring",
             postgresql_ops={"product_substring": "varchar_pattern_ops"}),
    schema="public",
)

# --- reporting/provider/azure/models.py ------------------------------------------------------------------
azure_cost_entry_bill = _AZURE.bill(unique=("billing_period_start", "provider_id"))
azure_tags_values = _AZURE.tags_values("reporting_azuretags_values", ("subscription_guids",),
                                       "azure_tags_value_key_idx")
azure_tags_summary = _AZURE.tags_summary("reporting_azuretags_summary", [sa.Column("subscription_guid", sa.Text)],
                                         ("key", "cost_entry_bill_id", "subscription_guid"))

# --- reporting/provider/azure/openshift/models.py ---------------------------------------------------------
ocpazure_tags_values = _AZURE.tags_values(OCPAZURE_TAGS_VALUES, ("subscription_guids",), "ocp_azure_tags_value_key_idx",
                                          ocp=True)
ocpazure_tags_summary = _AZURE.tags_summary(
    OCPAZURE_TAGS_SUMMARY, [sa.Column("subscription_guid", sa.Text)],
    ("key", "cost_entry_bill_id", "report_period_id", "subscription_guid", "namespace", "node"), ocp=True)

ocpazure_project_daily_summary = _AZURE.project(
    *columns("subscription_guid text not null, subscription_name text, instance_type text, service_name text,"
             " infrastructure_data_in_gigabytes numeric(33,15), infrastructure_data_out_gigabytes numeric(33,15),"
             " data_transfer_direction text, resource_location text, usage_quantity numeric(24,9), unit_of_measure"
             " text, currency text, pretax_cost numeric(17,9), markup_cost numeric(17,9), tags jsonb, source_uuid"
             " uuid"),
    *project_ocp_indexes("p_ocpaz_prj_use_strt_idx", "p_ocpaz_prj_nspc_idx", "p_ocpaz_prj_nde_idx",
                         "p_ocpaz_prj_rsrc_idx", "p_ocpaz_prj_pod_lbl_idx"),
    sa.Index("p_ocpaz_prj_srvc_name_idx", "service_name"),
    sa.Index("p_ocpaz_prj_inst_typ_idx", "instance_type"),
)


def _ui(name: str, extra: list[sa.Column], indexes: dict[str, str], subscription: bool = True) -> sa.Table:
    """One reporting_ocpazure_*_p UI table (model order: ids and dates, cluster, subscription, own columns,
    costs, currency, source, cost category)."""
    sub = [sa.Column("subscription_guid", sa.Text, nullable=False), sa.Column("subscription_name", sa.Text)]
    return partitioned_table(name, *ui_head(), *(sub if subscription else []), *extra,
                             *(sa.Column(c, sa.Numeric(33, 15)) for c in ("pretax_cost", "markup_cost")),
                             sa.Column("currency", sa.Text), *_AZURE.ui_keys(name),
                             *(sa.Index(idx, col) for idx, col in indexes.items()))


def _usage() -> list[sa.Column]:
    return [sa.Column("usage_quantity", sa.Numeric(33, 15)), sa.Column("unit_of_measure", sa.Text)]


OCPAZURE_UI_TABLES: dict[str, sa.Table] = {
    t.name: t
    for t in (
        _ui("reporting_ocpazure_compute_summary_p",
            [sa.Column("instance_type", sa.Text), sa.Column("resource_id", sa.String(253)), *_usage()],
            {"ocpazcompsumm_usage_start": "usage_start", "ocpazcompsumm_insttyp": "instance_type",
             "ocpazcompsumm_clust_id": "cluster_id"}),
        # the model assigns Meta.indexes twice: only the second list (cluster_id) is Koku's
        _ui("reporting_ocpazure_cost_summary_p", [], {"ocpazcostsumm_clust_id": "cluster_id"}, subscription=False),
        _ui("reporting_ocpazure_cost_summary_by_account_p", [],
            {"ocpazcostsumm_acc_usage_start": "usage_start", "ocpazcostsumm_acc_sub_guid": "subscription_guid",
             "ocpazcostsumm_acc_clust_id": "cluster_id"}),
        _ui("reporting_ocpazure_cost_summary_by_location_p", [sa.Column("resource_location", sa.Text)],
            {"ocpazcostsumm_loc_usage_start": "usage_start", "ocpazcostsumm_loc_res_loc": "resource_location",
             "ocpazcostsumm_loc_clust_id": "cluster_id"}),
        _ui("reporting_ocpazure_cost_summary_by_service_p", [sa.Column("service_name", sa.Text)],
            {"ocpazcostsumm_svc_usage_start": "usage_start", "ocpazcostsumm_svc_svc_name": "service_name",
             "ocpazcostsumm_svc_clust_id": "cluster_id"}),
        _ui("reporting_ocpazure_database_summary_p", [sa.Column("service_name", sa.Text), *_usage()],
            {"ocpazdbsumm_usage_start": "usage_start", "ocpazdbsumm_svc_name": "service_name",
             "ocpazdbsumm_clust_id": "cluster_id"}),
        _ui("reporting_ocpazure_network_summary_p", [sa.Column("service_name", sa.Text), *_usage()],
            {"ocpaznetsumm_usage_start": "usage_start", "ocpaznetsumm_svc_name": "service_name",
             "ocpaznetsumm_clust_id": "cluster_id"}),
        _ui("reporting_ocpazure_storage_summary_p", [sa.Column("service_name", sa.Text), *_usage()],
            {"ocpazstorsumm_usage_start": "usage_start", "ocpazstorsumm_svc_name": "service_name",
             "ocpazstorsumm_clust_id": "cluster_id"}),
    )
}
