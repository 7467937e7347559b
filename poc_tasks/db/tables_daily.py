"""Koku's cloud daily summary tables (AWS, Azure, GCP) and the EC2 compute summary (SQLAlchemy Core).

What the cloud daily summaries of poc_tasks/daily/ write, declared on the same ``metadata`` as
poc_tasks/db/tables.py so that ``init-db`` creates them and the writer derives its COPY column lists from them.
Names, types, nullability and indexes follow Koku's models (koku/reporting/provider/{aws,azure,gcp}/models.py);
the tables are partitioned as koku/database.py partitions them (``PARTITION BY RANGE (usage_start)``, primary key
``<table>_pk`` on (usage_start, uuid)). The conventions of tables.py apply (readable names where Django derives a
hash, ORM-only defaults are not database defaults, columns in model order).

The bill tables these rows point to are declared in tables_aws.py / tables_azure.py / tables_gcp.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db import tables_aws, tables_azure, tables_gcp  # noqa: F401  (the bill tables referenced here)
from poc_tasks.db.tables import metadata

__all__ = [
    "AWS_DAILY_TABLE",
    "AWS_EC2_COMPUTE_TABLE",
    "AZURE_DAILY_TABLE",
    "GCP_DAILY_TABLE",
    "aws_organizational_unit",
    "aws_daily_summary",
    "aws_ec2_compute_summary",
    "azure_daily_summary",
    "gcp_daily_summary",
]

AWS_DAILY_TABLE = "reporting_awscostentrylineitem_daily_summary"
AWS_EC2_COMPUTE_TABLE = "reporting_awscostentrylineitem_summary_by_ec2_compute_p"
AZURE_DAILY_TABLE = "reporting_azurecostentrylineitem_daily_summary"
GCP_DAILY_TABLE = "reporting_gcpcostentrylineitem_daily_summary"

_FK = {"deferrable": True, "initially": "DEFERRED"}
_SHORT = {AWS_DAILY_TABLE: "aws_daily", AWS_EC2_COMPUTE_TABLE: "aws_ec2cp", AZURE_DAILY_TABLE: "azure_daily",
          GCP_DAILY_TABLE: "gcp_daily"}


def _fk(column: str, target: str, table: str, nullable: bool = True,
        type_: sa.types.TypeEngine | None = None) -> sa.Column:
    return sa.Column(column, type_ if type_ is not None else sa.Integer,
                     sa.ForeignKey(target, name=f"{_SHORT.get(table, table)}_{column}_fk", **_FK),
                     nullable=nullable)


def _fk_index(table: str, column: str) -> sa.Index:
    """Django's index on a ForeignKey column."""
    return sa.Index(f"{_SHORT[table]}_{column}_idx", column)


def _partitioned(table: sa.Table) -> sa.Table:
    table.info["partition_by"] = "usage_start"
    return table


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("usage_start", "uuid", name=f"{table}_pk")


def _d(precision: int, scale: int) -> sa.Numeric:
    return sa.Numeric(precision, scale)


def _aws_amounts() -> list[sa.Column]:
    """The usage, rate, cost and markup columns both AWS summaries carry (same types, same order)."""
    return [
        sa.Column("usage_amount", _d(24, 9)),
        sa.Column("normalization_factor", sa.Float),
        sa.Column("normalized_usage_amount", sa.Float),
        sa.Column("currency_code", sa.String(10), nullable=False),
        sa.Column("unblended_rate", _d(24, 9)),
        sa.Column("unblended_cost", _d(24, 9)),
        sa.Column("markup_cost", _d(24, 9)),
        sa.Column("blended_rate", _d(24, 9)),
        sa.Column("blended_cost", _d(24, 9)),
        sa.Column("markup_cost_blended", _d(33, 15)),
        sa.Column("savingsplan_effective_cost", _d(24, 9)),
        sa.Column("markup_cost_savingsplan", _d(33, 15)),
        sa.Column("calculated_amortized_cost", _d(33, 9)),
        sa.Column("markup_cost_amortized", _d(33, 9)),
        sa.Column("public_on_demand_cost", _d(24, 9)),
        sa.Column("public_on_demand_rate", _d(24, 9)),
        sa.Column("tax_type", sa.Text),
    ]


# --- reporting/provider/aws/models.py ---------------------------------------------------------------------
aws_organizational_unit = sa.Table(
    "reporting_awsorganizationalunit",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True),
    sa.Column("org_unit_name", sa.String(250), nullable=False),
    sa.Column("org_unit_id", sa.String(50), nullable=False),
    sa.Column("org_unit_path", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger, sa.CheckConstraint("level >= 0", name="awsou_level_check"), nullable=False),
    sa.Column("account_alias_id", sa.Integer,
              sa.ForeignKey("reporting_awsaccountalias.id", name="awsou_account_alias_id_fk", **_FK)),
    sa.Column("created_timestamp", sa.Date, nullable=False),  # auto_now_add: set by the ORM
    sa.Column("deleted_timestamp", sa.Date),
    sa.Column("provider_id", pg.UUID(as_uuid=False),
              sa.ForeignKey("reporting_tenant_api_provider.uuid", name="awsou_provider_id_fk", **_FK)),
    sa.Index("awsou_account_alias_id_idx", "account_alias_id"),
    sa.Index("awsou_provider_id_idx", "provider_id"),
)

aws_daily_summary = _partitioned(sa.Table(
    AWS_DAILY_TABLE,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", AWS_DAILY_TABLE),
    sa.Column("usage_start", sa.Date, nullable=False),
    sa.Column("usage_end", sa.Date),
    sa.Column("usage_account_id", sa.String(50), nullable=False),
    _fk("account_alias_id", "reporting_awsaccountalias.id", AWS_DAILY_TABLE),
    sa.Column("product_code", sa.Text, nullable=False),
    sa.Column("product_family", sa.String(150)),
    sa.Column("availability_zone", sa.String(50)),
    sa.Column("region", sa.String(50)),
    sa.Column("instance_type", sa.String(50)),
    sa.Column("unit", sa.String(63)),
    _fk("organizational_unit_id", "reporting_awsorganizationalunit.id", AWS_DAILY_TABLE),
    sa.Column("resource_ids", pg.ARRAY(sa.Text)),
    sa.Column("resource_count", sa.Integer),
    *_aws_amounts(),
    sa.Column("tags", pg.JSONB),
    sa.Column("cost_category", pg.JSONB),
    sa.Column("source_uuid", pg.UUID(as_uuid=False)),
    _pk(AWS_DAILY_TABLE),
    sa.Index("summary_usage_start_idx", "usage_start"),
    sa.Index("summary_product_code_idx", "product_code"),
    sa.Index("summary_usage_account_id_idx", "usage_account_id"),
    sa.Index("tags_idx", "tags", postgresql_using="gin"),
    sa.Index("cost_category_idx", "cost_category", postgresql_using="gin"),
    sa.Index("summary_account_alias_idx", "account_alias_id"),
    sa.Index("summary_product_family_idx", "product_family"),
    sa.Index("summary_instance_type_idx", "instance_type"),
    sa.Index("summary_region_idx", "region"),
    sa.Index("summary_zone_idx", "availability_zone"),
    _fk_index(AWS_DAILY_TABLE, "cost_entry_bill_id"),
    _fk_index(AWS_DAILY_TABLE, "organizational_unit_id"),
    postgresql_partition_by="RANGE (usage_start)",
))

aws_ec2_compute_summary = _partitioned(sa.Table(
    AWS_EC2_COMPUTE_TABLE,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
    sa.Column("usage_start", sa.Date, nullable=False),
    sa.Column("usage_end", sa.Date),
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", AWS_EC2_COMPUTE_TABLE),
    _fk("account_alias_id", "reporting_awsaccountalias.id", AWS_EC2_COMPUTE_TABLE),
    sa.Column("usage_account_id", sa.String(50), nullable=False),
    sa.Column("resource_id", sa.String(256), nullable=False),
    sa.Column("instance_name", sa.String(256)),
    sa.Column("instance_type", sa.String(50)),
    sa.Column("operating_system", sa.String(50)),
    sa.Column("region", sa.String(50)),
    sa.Column("vcpu", sa.Integer),
    sa.Column("memory", sa.String(50)),
    sa.Column("unit", sa.String(63)),
    *_aws_amounts(),
    sa.Column("tags", pg.JSONB),
    sa.Column("source_uuid", pg.UUID(as_uuid=False)),
    sa.Column("cost_category", pg.JSONB),
    _pk(AWS_EC2_COMPUTE_TABLE),
    sa.Index("ec2cp_usage_start_idx", "usage_start"),
    sa.Index("ec2cp_usage_account_id_idx", "usage_account_id"),
    sa.Index("ec2cp_account_alias_idx", "account_alias_id"),
    sa.Index("ec2cp_resource_id_idx", "resource_id"),
    sa.Index("ec2cp_instance_name_idx", "instance_name"),
    sa.Index("ec2cp_instance_type_idx", "instance_type"),
    sa.Index("ec2cp_region_idx", "region"),
    sa.Index("ec2cp_os_idx", "operating_system"),
    sa.Index("ec2cp_tags_idx", "tags", postgresql_using="gin"),
    sa.Index("ec2cp_cost_category_idx", "cost_category", postgresql_using="gin"),
    _fk_index(AWS_EC2_COMPUTE_TABLE, "cost_entry_bill_id"),
    postgresql_partition_by="RANGE (usage_start)",
))

# --- reporting/provider/azure/models.py -------------------------------------------------------------------
azure_daily_summary = _partitioned(sa.Table(
    AZURE_DAILY_TABLE,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
    _fk("cost_entry_bill_id", "reporting_azurecostentrybill.id", AZURE_DAILY_TABLE, nullable=False),
    sa.Column("subscription_guid", sa.Text, nullable=False),
    sa.Column("instance_type", sa.Text),
    sa.Column("service_name", sa.Text),
    sa.Column("resource_location", sa.Text),
    sa.Column("tags", pg.JSONB),
    sa.Column("usage_start", sa.Date, nullable=False),
    sa.Column("usage_end", sa.Date),
    sa.Column("usage_quantity", _d(24, 9)),
    sa.Column("pretax_cost", _d(24, 9)),
    sa.Column("markup_cost", _d(24, 9)),
    sa.Column("currency", sa.Text),
    sa.Column("instance_ids", pg.ARRAY(sa.Text)),
    sa.Column("instance_count", sa.Integer),
    sa.Column("unit_of_measure", sa.Text),
    sa.Column("source_uuid", pg.UUID(as_uuid=False)),
    sa.Column("subscription_name", sa.Text),
    _pk(AZURE_DAILY_TABLE),
    sa.Index("ix_azurecstentrydlysumm_start", "usage_start"),
    sa.Index("ix_azurecstentrydlysumm_svc", "resource_location"),
    sa.Index("ix_azurecstentrydlysumm_sub_id", "subscription_guid"),
    sa.Index("ix_azurecstentrydlysumm_instyp", "instance_type"),
    sa.Index("ix_azurecstentrydlysumm_sub_na", "subscription_name"),
    _fk_index(AZURE_DAILY_TABLE, "cost_entry_bill_id"),
    postgresql_partition_by="RANGE (usage_start)",
))

# --- reporting/provider/gcp/models.py ---------------------------------------------------------------------
gcp_daily_summary = _partitioned(sa.Table(
    GCP_DAILY_TABLE,
    metadata,
    sa.Column("uuid", pg.UUID(as_uuid=False), nullable=False),
    _fk("cost_entry_bill_id", "reporting_gcpcostentrybill.id", GCP_DAILY_TABLE, nullable=False),
    sa.Column("account_id", sa.String(20), nullable=False),
    sa.Column("project_id", sa.String(256), nullable=False),
    sa.Column("project_name", sa.String(256), nullable=False),
    sa.Column("service_id", sa.String(256)),
    sa.Column("service_alias", sa.String(256)),
    sa.Column("sku_id", sa.String(256)),
    sa.Column("sku_alias", sa.String(256)),
    sa.Column("usage_start", sa.Date, nullable=False),
    sa.Column("usage_end", sa.Date),
    sa.Column("region", sa.String(50)),
    sa.Column("instance_type", sa.String(50)),
    sa.Column("unit", sa.String(63)),
    sa.Column("line_item_type", sa.String(256)),
    sa.Column("usage_amount", _d(24, 9)),
    sa.Column("currency", sa.String(10), nullable=False),
    sa.Column("invoice_month", sa.String(256)),
    sa.Column("unblended_cost", _d(24, 9)),
    sa.Column("markup_cost", _d(24, 9)),
    sa.Column("tags", pg.JSONB),
    sa.Column("source_uuid", pg.UUID(as_uuid=False)),
    sa.Column("credit_amount", _d(24, 9)),
    _pk(GCP_DAILY_TABLE),
    sa.Index("gcp_summary_usage_start_idx", "usage_start"),
    sa.Index("gcp_summary_instance_type_idx", "instance_type"),
    sa.Index("gcp_tags_idx", "tags", postgresql_using="gin"),
    sa.Index("gcp_summary_project_id_idx", "project_id"),
    sa.Index("gcp_summary_project_name_idx", "project_name"),
    sa.Index("gcp_summary_service_id_idx", "service_id"),
    sa.Index("gcp_summary_service_alias_idx", "service_alias"),
    _fk_index(GCP_DAILY_TABLE, "cost_entry_bill_id"),
    postgresql_partition_by="RANGE (usage_start)",
))
