"""Koku's Azure and OCP-on-Azure tables that the OCP-on-Azure flow reads or writes (SQLAlchemy Core).

Declared on the same ``metadata`` as poc_tasks/db/tables.py (the conventions of tables.py and tables_aws.py apply:
readable names where Django derives a hash, ORM-only defaults are not database defaults, columns in model order,
partitioned tables ``PARTITION BY RANGE (usage_start)`` with primary key ``<table>_pk`` on (usage_start, <pk>)).
Models: koku/reporting/provider/azure/models.py, koku/reporting/provider/azure/openshift/models.py and
koku/reporting_common/models.py (``DiskCapacity``).

``public.reporting_common_diskcapacity`` is Koku's *shared* lookup of Azure disk tiers (meter-name substring ->
GiB): it lives in the ``public`` schema, not in a tenant schema, so it is declared with ``schema="public"`` (the
tenant ``schema_translate_map`` leaves it alone) and init-db seeds it with the tiers Koku's migration
reporting_common 0041 seeds (:data:`AZURE_DISK_TIERS`), once for the whole database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db.tables import metadata

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

_FK = {"deferrable": True, "initially": "DEFERRED"}
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


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True)


def _short(table: str) -> str:
    """A prefix for constraint and index names that keeps them within PostgreSQL's 63 characters."""
    return table.replace(OCPAZURE_PROJECT_TABLE, "ocpazure_project_p").removeprefix("reporting_")


def _fk(column: str, target: str, table: str, nullable: bool = True, type_: sa.types.TypeEngine | None = None):
    return sa.Column(column, type_ if type_ is not None else sa.Integer,
                     sa.ForeignKey(target, name=f"{_short(table)}_{column}_fk", **_FK), nullable=nullable)


def _partitioned(table: sa.Table) -> sa.Table:
    table.info["partition_by"] = "usage_start"
    return table


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
azure_cost_entry_bill = sa.Table(
    "reporting_azurecostentrybill",
    metadata,
    _id(),
    sa.Column("billing_period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("billing_period_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summary_data_creation_datetime", sa.DateTime(timezone=True)),
    sa.Column("summary_data_updated_datetime", sa.DateTime(timezone=True)),
    sa.Column("finalized_datetime", sa.DateTime(timezone=True)),
    sa.Column("derived_cost_datetime", sa.DateTime(timezone=True)),
    _fk("provider_id", "reporting_tenant_api_provider.uuid", "reporting_azurecostentrybill", False,
        pg.UUID(as_uuid=False)),
    sa.UniqueConstraint("billing_period_start", "provider_id", name="reporting_azurecostentrybill_uniq"),
    sa.Index("reporting_azurecostentrybill_provider_id_idx", "provider_id"),
)

azure_tags_values = sa.Table(
    "reporting_azuretags_values",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("subscription_guids", pg.ARRAY(sa.Text), nullable=False),
    sa.UniqueConstraint("key", "value", name="reporting_azuretags_values_key_value_uniq"),
    sa.Index("azure_tags_value_key_idx", "key"),
)

azure_tags_summary = sa.Table(
    "reporting_azuretags_summary",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_azurecostentrybill.id", "reporting_azuretags_summary", False),
    sa.Column("subscription_guid", sa.Text),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "subscription_guid", name="reporting_azuretags_summary_uniq"),
    sa.Index("reporting_azuretags_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
)

# --- reporting/provider/azure/openshift/models.py ---------------------------------------------------------
ocpazure_tags_values = sa.Table(
    OCPAZURE_TAGS_VALUES,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("subscription_guids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("cluster_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("cluster_aliases", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("namespaces", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("nodes", pg.ARRAY(sa.Text)),
    sa.UniqueConstraint("key", "value", name="reporting_ocpazuretags_values_key_value_uniq"),
    sa.Index("ocp_azure_tags_value_key_idx", "key"),
)

ocpazure_tags_summary = sa.Table(
    OCPAZURE_TAGS_SUMMARY,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.String(253), nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_azurecostentrybill.id", OCPAZURE_TAGS_SUMMARY, False),
    _fk("report_period_id", "reporting_ocpusagereportperiod.id", OCPAZURE_TAGS_SUMMARY, False),
    sa.Column("subscription_guid", sa.Text),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("node", sa.Text),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "report_period_id", "subscription_guid", "namespace", "node",
                        name="reporting_ocpazuretags_summary_uniq"),
    sa.Index("reporting_ocpazuretags_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
    sa.Index("reporting_ocpazuretags_summary_report_period_id_idx", "report_period_id"),
)

ocpazure_project_daily_summary = _partitioned(
    sa.Table(
        OCPAZURE_PROJECT_TABLE,
        metadata,
        sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
        _fk("report_period_id", "reporting_ocpusagereportperiod.id", OCPAZURE_PROJECT_TABLE),
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
        _fk("cost_entry_bill_id", "reporting_azurecostentrybill.id", OCPAZURE_PROJECT_TABLE, False),
        sa.Column("subscription_guid", sa.Text, nullable=False),
        sa.Column("subscription_name", sa.Text),
        sa.Column("instance_type", sa.Text),
        sa.Column("service_name", sa.Text),
        sa.Column("infrastructure_data_in_gigabytes", sa.Numeric(33, 15)),
        sa.Column("infrastructure_data_out_gigabytes", sa.Numeric(33, 15)),
        sa.Column("data_transfer_direction", sa.Text),
        sa.Column("resource_location", sa.Text),
        sa.Column("usage_quantity", sa.Numeric(24, 9)),
        sa.Column("unit_of_measure", sa.Text),
        sa.Column("currency", sa.Text),
        sa.Column("pretax_cost", sa.Numeric(17, 9)),
        sa.Column("markup_cost", sa.Numeric(17, 9)),
        sa.Column("tags", pg.JSONB),
        sa.Column("source_uuid", pg.UUID(as_uuid=False)),
        _fk("cost_category_id", "reporting_ocp_cost_category.id", OCPAZURE_PROJECT_TABLE),
        sa.PrimaryKeyConstraint("usage_start", "uuid", name=f"{OCPAZURE_PROJECT_TABLE}_pk"),
        sa.Index("p_ocpaz_prj_use_strt_idx", "usage_start"),
        sa.Index("p_ocpaz_prj_nspc_idx", "namespace", postgresql_ops={"namespace": "varchar_pattern_ops"}),
        sa.Index("p_ocpaz_prj_nde_idx", "node", postgresql_ops={"node": "varchar_pattern_ops"}),
        sa.Index("p_ocpaz_prj_rsrc_idx", "resource_id"),
        sa.Index("p_ocpaz_prj_pod_lbl_idx", "pod_labels", postgresql_using="gin"),
        sa.Index("p_ocpaz_prj_srvc_name_idx", "service_name"),
        sa.Index("p_ocpaz_prj_inst_typ_idx", "instance_type"),
        sa.Index("ocpazure_project_p_report_period_id_idx", "report_period_id"),
        sa.Index("ocpazure_project_p_cost_entry_bill_id_idx", "cost_entry_bill_id"),
        sa.Index("ocpazure_project_p_cost_category_id_idx", "cost_category_id"),
        postgresql_partition_by="RANGE (usage_start)",
    )
)


def _ui(name: str, extra: list[sa.Column], indexes: dict[str, str], subscription: bool = True) -> sa.Table:
    """One reporting_ocpazure_*_p UI table (model order: ids and dates, cluster, subscription, own columns,
    costs, currency, source, cost category)."""
    cols: list[sa.Column | sa.Index | sa.Constraint] = [
        # Koku's migration 0300 defaults id to public.uuid_generate_v4() (init.py makes sure it exists)
        sa.Column("id", pg.UUID(as_uuid=False), nullable=False, server_default=sa.text("public.uuid_generate_v4()")),
        sa.Column("usage_start", sa.Date, nullable=False),
        sa.Column("usage_end", sa.Date, nullable=False),
        sa.Column("cluster_id", sa.String(50)),
        sa.Column("cluster_alias", sa.String(256)),
    ]
    if subscription:
        cols += [sa.Column("subscription_guid", sa.Text, nullable=False), sa.Column("subscription_name", sa.Text)]
    cols += extra
    cols += [
        sa.Column("pretax_cost", sa.Numeric(33, 15)),
        sa.Column("markup_cost", sa.Numeric(33, 15)),
        sa.Column("currency", sa.Text),
        _fk("source_uuid", "reporting_tenant_api_provider.uuid", name, True, pg.UUID(as_uuid=False)),
        _fk("cost_category_id", "reporting_ocp_cost_category.id", name),
        sa.PrimaryKeyConstraint("usage_start", "id", name=f"{name}_pk"),
        sa.Index(f"{_short(name)}_source_uuid_idx", "source_uuid"),
        sa.Index(f"{_short(name)}_cost_category_id_idx", "cost_category_id"),
    ]
    cols += [sa.Index(idx, col) for idx, col in indexes.items()]
    return _partitioned(sa.Table(name, metadata, *cols, postgresql_partition_by="RANGE (usage_start)"))


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
