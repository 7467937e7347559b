"""Koku's AWS and OCP-on-AWS tenant tables that the OCP-on-AWS flow reads or writes (SQLAlchemy Core).

Declared on the same ``metadata`` as poc_tasks/db/tables.py, so ``init-db`` creates them and the writer derives
its COPY column lists from them. Names, types, nullability, keys and indexes follow Koku's models
(koku/reporting/provider/aws/models.py, koku/reporting/provider/aws/openshift/models.py) and koku/database.py
for the partitioned tables (``PARTITION BY RANGE (usage_start)``, primary key ``<table>_pk`` on
(usage_start, <pk>)). The conventions of tables.py apply: readable names where Django derives a hash, Django's
ORM-only defaults are not database defaults, columns in model order.

Only what the flow touches is declared: the bill and account-alias tables (created if missing, as Koku's
ingestion does), the AWS tag tables the matched-tag discovery reads, the AWS enabled category keys, the project
daily summary, the eight UI summary tables, the OCP-on-AWS tag summaries and the cost-category summary.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db.tables import metadata

__all__ = [
    "aws_cost_entry_bill",
    "aws_account_alias",
    "aws_tags_values",
    "aws_tags_summary",
    "aws_enabled_category_keys",
    "ocpaws_project_daily_summary",
    "ocpaws_tags_values",
    "ocpaws_tags_summary",
    "ocpaws_category_summary",
    "OCPAWS_PROJECT_TABLE",
    "OCPAWS_UI_TABLES",
    "OCPAWS_TAGS_SUMMARY",
    "OCPAWS_TAGS_VALUES",
    "ui_table",
]

_FK = {"deferrable": True, "initially": "DEFERRED"}
OCPAWS_PROJECT_TABLE = "reporting_ocpawscostlineitem_project_daily_summary_p"
OCPAWS_TAGS_SUMMARY = "reporting_ocpawstags_summary"
OCPAWS_TAGS_VALUES = "reporting_ocpawstags_values"


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True)


def _short(table: str) -> str:
    """A prefix for constraint and index names that keeps them within PostgreSQL's 63 characters."""
    return table.replace("reporting_ocpawscostlineitem_project_daily_summary_p", "ocpaws_project_p")


def _fk(column: str, target: str, table: str, nullable: bool = True, type_: sa.types.TypeEngine | None = None):
    return sa.Column(
        column,
        type_ if type_ is not None else sa.Integer,
        sa.ForeignKey(target, name=f"{_short(table)}_{column}_fk", **_FK),
        nullable=nullable,
    )


def _partitioned(table: sa.Table) -> sa.Table:
    table.info["partition_by"] = "usage_start"
    return table


# --- reporting/provider/aws/models.py ---------------------------------------------------------------------
aws_cost_entry_bill = sa.Table(
    "reporting_awscostentrybill",
    metadata,
    _id(),
    sa.Column("billing_resource", sa.String(50), nullable=False),  # Django default "aws": ORM-side only
    sa.Column("bill_type", sa.String(50)),
    sa.Column("payer_account_id", sa.String(50)),
    sa.Column("billing_period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("billing_period_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summary_data_creation_datetime", sa.DateTime(timezone=True)),
    sa.Column("summary_data_updated_datetime", sa.DateTime(timezone=True)),
    sa.Column("finalized_datetime", sa.DateTime(timezone=True)),
    sa.Column("derived_cost_datetime", sa.DateTime(timezone=True)),
    _fk("provider_id", "reporting_tenant_api_provider.uuid", "reporting_awscostentrybill", False,
        pg.UUID(as_uuid=False)),
    sa.UniqueConstraint("bill_type", "payer_account_id", "billing_period_start", "provider_id",
                        name="reporting_awscostentrybill_uniq"),
    sa.Index("reporting_awscostentrybill_provider_id_idx", "provider_id"),
)

aws_account_alias = sa.Table(
    "reporting_awsaccountalias",
    metadata,
    _id(),
    sa.Column("account_id", sa.String(50), nullable=False, unique=True),
    sa.Column("account_alias", sa.String(63)),
    sa.Index("reporting_awsaccountalias_account_id_like", "account_id",
             postgresql_ops={"account_id": "varchar_pattern_ops"}),
)

aws_tags_values = sa.Table(
    "reporting_awstags_values",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("usage_account_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("account_aliases", pg.ARRAY(sa.Text), nullable=False),
    sa.UniqueConstraint("key", "value", name="reporting_awstags_values_key_value_uniq"),
    sa.Index("aws_tags_value_key_idx", "key"),
)

aws_tags_summary = sa.Table(
    "reporting_awstags_summary",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", "reporting_awstags_summary", False),
    sa.Column("usage_account_id", sa.Text),
    _fk("account_alias_id", "reporting_awsaccountalias.id", "reporting_awstags_summary"),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "usage_account_id", name="reporting_awstags_summary_uniq"),
    sa.Index("reporting_awstags_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
    sa.Index("reporting_awstags_summary_account_alias_id_idx", "account_alias_id"),
)

aws_enabled_category_keys = sa.Table(
    "reporting_awsenabledcategorykeys",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.String(253), nullable=False, unique=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Index("aws_enabled_category_key_index", "key", "enabled"),
    sa.Index("reporting_awsenabledcategorykeys_key_idx", "key", postgresql_ops={"key": "varchar_pattern_ops"}),
)

# --- reporting/provider/aws/openshift/models.py -----------------------------------------------------------
ocpaws_tags_values = sa.Table(
    OCPAWS_TAGS_VALUES,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("usage_account_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("account_aliases", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("cluster_ids", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("cluster_aliases", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("namespaces", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("nodes", pg.ARRAY(sa.Text)),
    sa.UniqueConstraint("key", "value", name="reporting_ocpawstags_values_key_value_uniq"),
    sa.Index("ocp_aws_tags_value_key_idx", "key"),
)

ocpaws_tags_summary = sa.Table(
    OCPAWS_TAGS_SUMMARY,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.String(253), nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", OCPAWS_TAGS_SUMMARY, False),
    _fk("report_period_id", "reporting_ocpusagereportperiod.id", OCPAWS_TAGS_SUMMARY, False),
    sa.Column("usage_account_id", sa.String(50)),
    _fk("account_alias_id", "reporting_awsaccountalias.id", OCPAWS_TAGS_SUMMARY),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("node", sa.Text),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "report_period_id", "usage_account_id", "namespace", "node",
                        name="reporting_ocpawstags_summary_uniq"),
    sa.Index("reporting_ocpawstags_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
    sa.Index("reporting_ocpawstags_summary_report_period_id_idx", "report_period_id"),
    sa.Index("reporting_ocpawstags_summary_account_alias_id_idx", "account_alias_id"),
)

ocpaws_category_summary = sa.Table(
    "reporting_ocpawscategory_summary",
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("values", pg.ARRAY(sa.Text), nullable=False),
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", "reporting_ocpawscategory_summary", False),
    sa.Column("usage_account_id", sa.Text),
    _fk("account_alias_id", "reporting_awsaccountalias.id", "reporting_ocpawscategory_summary"),
    sa.UniqueConstraint("key", "cost_entry_bill_id", "usage_account_id",
                        name="reporting_ocpawscategory_summary_uniq"),
    sa.Index("reporting_ocpawscategory_summary_cost_entry_bill_id_idx", "cost_entry_bill_id"),
    sa.Index("reporting_ocpawscategory_summary_account_alias_id_idx", "account_alias_id"),
)

_COSTS_15 = ("unblended_cost", "markup_cost", "blended_cost", "markup_cost_blended", "savingsplan_effective_cost",
             "markup_cost_savingsplan")
_COSTS_9 = ("calculated_amortized_cost", "markup_cost_amortized")

ocpaws_project_daily_summary = _partitioned(
    sa.Table(
        OCPAWS_PROJECT_TABLE,
        metadata,
        sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
        _fk("report_period_id", "reporting_ocpusagereportperiod.id", OCPAWS_PROJECT_TABLE),
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
        _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", OCPAWS_PROJECT_TABLE),
        sa.Column("product_code", sa.Text, nullable=False),
        sa.Column("product_family", sa.String(150)),
        sa.Column("infrastructure_data_in_gigabytes", sa.Numeric(33, 15)),
        sa.Column("infrastructure_data_out_gigabytes", sa.Numeric(33, 15)),
        sa.Column("data_transfer_direction", sa.Text),
        sa.Column("instance_type", sa.String(50)),
        sa.Column("usage_account_id", sa.String(50), nullable=False),
        _fk("account_alias_id", "reporting_awsaccountalias.id", OCPAWS_PROJECT_TABLE),
        sa.Column("availability_zone", sa.String(50)),
        sa.Column("region", sa.String(50)),
        sa.Column("unit", sa.String(63)),
        sa.Column("usage_amount", sa.Numeric(30, 15)),
        sa.Column("normalized_usage_amount", sa.Float),
        sa.Column("currency_code", sa.String(10)),
        sa.Column("unblended_cost", sa.Numeric(30, 15)),
        sa.Column("markup_cost", sa.Numeric(30, 15)),
        sa.Column("blended_cost", sa.Numeric(33, 15)),
        sa.Column("markup_cost_blended", sa.Numeric(33, 15)),
        sa.Column("savingsplan_effective_cost", sa.Numeric(33, 15)),
        sa.Column("markup_cost_savingsplan", sa.Numeric(33, 15)),
        sa.Column("calculated_amortized_cost", sa.Numeric(33, 9)),
        sa.Column("markup_cost_amortized", sa.Numeric(33, 9)),
        sa.Column("tags", pg.JSONB),
        sa.Column("aws_cost_category", pg.JSONB),
        sa.Column("source_uuid", pg.UUID(as_uuid=False)),
        _fk("cost_category_id", "reporting_ocp_cost_category.id", OCPAWS_PROJECT_TABLE),
        sa.PrimaryKeyConstraint("usage_start", "uuid", name=f"{OCPAWS_PROJECT_TABLE}_pk"),
        sa.Index("p_cost_prj_sum_ocp_use_idx", "usage_start"),
        sa.Index("p_cost_prj_sum_nspc_idx", "namespace", postgresql_ops={"namespace": "varchar_pattern_ops"}),
        sa.Index("p_cost_prj_sum_nd_idx", "node", postgresql_ops={"node": "varchar_pattern_ops"}),
        sa.Index("p_cost_prj_sum_rsrc_idx", "resource_id"),
        sa.Index("p_cost_prj_pod_lbls_idx", "pod_labels", postgresql_using="gin"),
        sa.Index("aws_cost_category_idx", "aws_cost_category", postgresql_using="gin"),
        sa.Index("p_ocpaws_prj_prd_fam_idx", "product_family"),
        sa.Index("p_ocpaws_prj_inst_typ_idx", "instance_type"),
        sa.Index("ocpaws_project_p_report_period_id_idx", "report_period_id"),
        sa.Index("ocpaws_project_p_cost_entry_bill_id_idx", "cost_entry_bill_id"),
        sa.Index("ocpaws_project_p_account_alias_id_idx", "account_alias_id"),
        sa.Index("ocpaws_project_p_cost_category_id_idx", "cost_category_id"),
        postgresql_partition_by="RANGE (usage_start)",
    )
)


def _ui(name: str, index_prefix: str, extra: list[sa.Column], indexes: dict[str, str], by_account: bool = True):
    """One reporting_ocpaws_*_p UI table: the common columns of every one, then its own (model order)."""
    cols: list[sa.Column | sa.Index | sa.Constraint] = [
        # Koku's migration 0300 defaults id to public.uuid_generate_v4() (init.py makes sure it exists)
        sa.Column("id", pg.UUID(as_uuid=False), nullable=False, server_default=sa.text("public.uuid_generate_v4()")),
        sa.Column("usage_start", sa.Date, nullable=False),
        sa.Column("usage_end", sa.Date, nullable=False),
        sa.Column("cluster_id", sa.String(50)),
        sa.Column("cluster_alias", sa.String(256)),
    ]
    if by_account:
        cols += [sa.Column("usage_account_id", sa.String(50), nullable=False),
                 _fk("account_alias_id", "reporting_awsaccountalias.id", name)]
    cols += extra
    cols += [sa.Column(c, sa.Numeric(33, 15)) for c in _COSTS_15]
    cols += [sa.Column(c, sa.Numeric(33, 9)) for c in _COSTS_9]
    cols += [
        sa.Column("currency_code", sa.String(10), nullable=False),
        _fk("source_uuid", "reporting_tenant_api_provider.uuid", name, True, pg.UUID(as_uuid=False)),
        _fk("cost_category_id", "reporting_ocp_cost_category.id", name),
        sa.PrimaryKeyConstraint("usage_start", "id", name=f"{name}_pk"),
        sa.Index(f"{index_prefix}_usst", "usage_start"),
        sa.Index(f"{name}_source_uuid_idx", "source_uuid"),
        sa.Index(f"{name}_cost_category_id_idx", "cost_category_id"),
    ]
    if by_account:
        cols.append(sa.Index(f"{name}_account_alias_id_idx", "account_alias_id"))
    cols += [sa.Index(idx, col) for idx, col in indexes.items()]
    return _partitioned(sa.Table(name, metadata, *cols, postgresql_partition_by="RANGE (usage_start)"))


def _usage() -> list[sa.Column]:
    return [sa.Column("usage_amount", sa.Numeric(33, 15)), sa.Column("unit", sa.String(63))]


OCPAWS_UI_TABLES: dict[str, sa.Table] = {
    t.name: t
    for t in (
        _ui("reporting_ocpaws_compute_summary_p", "ocpawscompsumm",
            [sa.Column("instance_type", sa.String(50)), sa.Column("resource_id", sa.String(253)), *_usage()],
            {"ocpawscompsumm_insttyp": "instance_type"}),
        _ui("reporting_ocpaws_cost_summary_p", "ocpawscostsumm", [], {}, by_account=False),
        _ui("reporting_ocpaws_cost_summary_by_account_p", "ocpawscostsumm_acct", [], {}),
        _ui("reporting_ocpaws_cost_summary_by_region_p", "ocpawscostsumm_reg",
            [sa.Column("region", sa.String(50)), sa.Column("availability_zone", sa.String(50))],
            {"ocpawscostsumm_reg_region": "region", "ocpawscostsumm_reg_zone": "availability_zone"}),
        _ui("reporting_ocpaws_cost_summary_by_service_p", "ocpawscostsumm_svc",
            [sa.Column("product_code", sa.Text, nullable=False), sa.Column("product_family", sa.String(150))],
            {"ocpawscostsumm_svc_prod_cd": "product_code"}),
        _ui("reporting_ocpaws_database_summary_p", "ocpawsdbsumm",
            [sa.Column("product_code", sa.Text, nullable=False), *_usage()],
            {"ocpawsdbsumm_product_cd": "product_code"}),
        _ui("reporting_ocpaws_network_summary_p", "ocpawsnetsumm",
            [sa.Column("product_code", sa.Text, nullable=False), *_usage()],
            {"ocpawsnetsumm_product_cd": "product_code"}),
        _ui("reporting_ocpaws_storage_summary_p", "ocpawsstorsumm",
            [sa.Column("product_family", sa.String(150)), *_usage()],
            {"ocpawsstorsumm_product_fam": "product_family"}),
    )
}


def ui_table(name: str) -> sa.Table:
    try:
        return OCPAWS_UI_TABLES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not an OCP-on-AWS UI summary table") from None
