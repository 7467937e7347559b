"""Koku's AWS and OCP-on-AWS tenant tables that the OCP-on-AWS flow reads or writes (SQLAlchemy Core).

Declared on the same ``metadata`` as poc_tasks/db/tables.py, so ``init-db`` creates them and the writer derives
its COPY column lists from them. Names, types, nullability, keys and indexes follow Koku's models
(koku/reporting/provider/aws/models.py, koku/reporting/provider/aws/openshift/models.py) and koku/database.py
for the partitioned tables (``PARTITION BY RANGE (usage_start)``, primary key ``<table>_pk`` on
(usage_start, <pk>)); the column runs the three clouds share are db/cloud_tables.py's. The conventions of
tables.py apply: readable names where Django derives a hash, Django's
ORM-only defaults are not database defaults, columns in model order.

Only what the flow touches is declared: the bill and account-alias tables (created if missing, as Koku's
ingestion does), the AWS tag tables the matched-tag discovery reads, the AWS enabled category keys, the project
daily summary, the eight UI summary tables, the OCP-on-AWS tag summaries and the cost-category summary.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db.cloud_tables import CloudTables, identity_id, partitioned_table, project_ocp_indexes, ui_head
from poc_tasks.db.tables import columns, indexes, metadata

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

OCPAWS_PROJECT_TABLE = "reporting_ocpawscostlineitem_project_daily_summary_p"
OCPAWS_TAGS_SUMMARY = "reporting_ocpawstags_summary"
OCPAWS_TAGS_VALUES = "reporting_ocpawstags_values"
_AWS = CloudTables(OCPAWS_PROJECT_TABLE, "ocpaws_project_p", "reporting_awscostentrybill", strip_prefix=False)
_ALIAS = "reporting_awsaccountalias.id"

# --- reporting/provider/aws/models.py ---------------------------------------------------------------------
aws_cost_entry_bill = _AWS.bill(
    sa.Column("billing_resource", sa.String(50), nullable=False),  # Django default "aws": ORM-side only
    sa.Column("bill_type", sa.String(50)),
    sa.Column("payer_account_id", sa.String(50)),
    unique=("bill_type", "payer_account_id", "billing_period_start", "provider_id"),
)

aws_account_alias = sa.Table(
    "reporting_awsaccountalias",
    metadata,
    identity_id(),
    sa.Column("account_id", sa.String(50), nullable=False, unique=True),
    sa.Column("account_alias", sa.String(63)),
    sa.Index("reporting_awsaccountalias_account_id_like", "account_id",
             postgresql_ops={"account_id": "varchar_pattern_ops"}),
)

aws_tags_values = _AWS.tags_values("reporting_awstags_values", ("usage_account_ids", "account_aliases"),
                                   "aws_tags_value_key_idx")


def _account_summary(name: str, ocp: bool = False) -> sa.Table:
    """reporting_awstags_summary, reporting_ocpawstags_summary and reporting_ocpawscategory_summary: by account."""
    dims = [sa.Column("usage_account_id", sa.String(50) if ocp else sa.Text), _AWS.fk("account_alias_id", _ALIAS, name)]
    unique = ("key", "cost_entry_bill_id", *(("report_period_id",) if ocp else ()), "usage_account_id",
              *(("namespace", "node") if ocp else ()))
    return _AWS.tags_summary(name, dims, unique, ocp, indexes=("account_alias_id",))


aws_tags_summary = _account_summary("reporting_awstags_summary")

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
ocpaws_tags_values = _AWS.tags_values(OCPAWS_TAGS_VALUES, ("usage_account_ids", "account_aliases"),
                                      "ocp_aws_tags_value_key_idx", ocp=True)
ocpaws_tags_summary = _account_summary(OCPAWS_TAGS_SUMMARY, ocp=True)
ocpaws_category_summary = _account_summary("reporting_ocpawscategory_summary")

_COSTS_15 = ("unblended_cost", "markup_cost", "blended_cost", "markup_cost_blended", "savingsplan_effective_cost",
             "markup_cost_savingsplan")
_COSTS_9 = ("calculated_amortized_cost", "markup_cost_amortized")

ocpaws_project_daily_summary = _AWS.project(
    *columns("product_code text not null, product_family varchar(150), infrastructure_data_in_gigabytes"
             " numeric(33,15), infrastructure_data_out_gigabytes numeric(33,15), data_transfer_direction text,"
             " instance_type varchar(50), usage_account_id varchar(50) not null"),
    _AWS.fk("account_alias_id", _ALIAS, OCPAWS_PROJECT_TABLE),
    *columns("availability_zone varchar(50), region varchar(50), unit varchar(63), usage_amount numeric(30,15),"
             " normalized_usage_amount float, currency_code varchar(10), unblended_cost numeric(30,15), markup_cost"
             " numeric(30,15)"),
    *(sa.Column(c, sa.Numeric(33, 15)) for c in _COSTS_15[2:]),
    *(sa.Column(c, sa.Numeric(33, 9)) for c in _COSTS_9),
    *columns("tags jsonb, aws_cost_category jsonb, source_uuid uuid"),
    *project_ocp_indexes("p_cost_prj_sum_ocp_use_idx", "p_cost_prj_sum_nspc_idx", "p_cost_prj_sum_nd_idx",
                         "p_cost_prj_sum_rsrc_idx", "p_cost_prj_pod_lbls_idx"),
    *indexes("aws_cost_category_idx aws_cost_category gin, p_ocpaws_prj_prd_fam_idx product_family,"
             " p_ocpaws_prj_inst_typ_idx instance_type"),
    bill_nullable=True,
)


def _ui(name: str, index_prefix: str, extra: list[sa.Column], indexes: dict[str, str], by_account: bool = True):
    """One reporting_ocpaws_*_p UI table: the common columns of every one, then its own (model order)."""
    account = [sa.Column("usage_account_id", sa.String(50), nullable=False), _AWS.fk("account_alias_id", _ALIAS, name),
               sa.Index(f"{name}_account_alias_id_idx", "account_alias_id")] if by_account else []
    return partitioned_table(name, *ui_head(), *account, *extra,
                             *(sa.Column(c, sa.Numeric(33, 15)) for c in _COSTS_15),
                             *(sa.Column(c, sa.Numeric(33, 9)) for c in _COSTS_9),
                             sa.Column("currency_code", sa.String(10), nullable=False),
                             *_AWS.ui_keys(name, index_prefix=name), sa.Index(f"{index_prefix}_usst", "usage_start"),
                             *(sa.Index(idx, col) for idx, col in indexes.items()))


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
