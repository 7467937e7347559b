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

from poc_tasks.db import tables_aws, tables_azure, tables_gcp  # noqa: F401  (the bill tables referenced here)
from poc_tasks.db.cloud_tables import foreign_key, identity_id, partitioned_table
from poc_tasks.db.tables import UUID, columns, indexes, metadata

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

_SHORT = {AWS_DAILY_TABLE: "aws_daily", AWS_EC2_COMPUTE_TABLE: "aws_ec2cp", AZURE_DAILY_TABLE: "azure_daily",
          GCP_DAILY_TABLE: "gcp_daily"}


def _fk(column: str, target: str, table: str, nullable: bool = True) -> sa.Column:
    return foreign_key(column, target, f"{_SHORT.get(table, table)}_{column}_fk", nullable)


def _fk_index(table: str, column: str) -> sa.Index:
    """Django's index on a ForeignKey column."""
    return sa.Index(f"{_SHORT[table]}_{column}_idx", column)


def _summary(name: str, *items: sa.Column | sa.Index, bill: str | None = None) -> sa.Table:
    """A daily summary as koku/database.py partitions it: uuid, (the NOT NULL foreign key to the `bill` table,)
    the model's columns and indexes, primary key (usage_start, uuid), the bill's foreign-key index."""
    head = [_fk("cost_entry_bill_id", f"{bill}.id", name, nullable=False)] if bill else []
    return partitioned_table(name, sa.Column("uuid", UUID, nullable=False), *head, *items,
                             sa.PrimaryKeyConstraint("usage_start", "uuid", name=f"{name}_pk"),
                             _fk_index(name, "cost_entry_bill_id"))


def _aws_amounts() -> list[sa.Column]:
    """The usage, rate, cost and markup columns both AWS summaries carry (same types, same order)."""
    return columns(
        "usage_amount numeric(24,9), normalization_factor float, normalized_usage_amount float, currency_code"
        " varchar(10) not null, unblended_rate numeric(24,9), unblended_cost numeric(24,9), markup_cost"
        " numeric(24,9), blended_rate numeric(24,9), blended_cost numeric(24,9), markup_cost_blended numeric(33,15),"
        " savingsplan_effective_cost numeric(24,9), markup_cost_savingsplan numeric(33,15), calculated_amortized_cost"
        " numeric(33,9), markup_cost_amortized numeric(33,9), public_on_demand_cost numeric(24,9),"
        " public_on_demand_rate numeric(24,9), tax_type text")


# --- reporting/provider/aws/models.py ---------------------------------------------------------------------
aws_organizational_unit = sa.Table(
    "reporting_awsorganizationalunit",
    metadata,
    identity_id(),
    *columns("org_unit_name varchar(250) not null, org_unit_id varchar(50) not null, org_unit_path text not null"),
    sa.Column("level", sa.SmallInteger, sa.CheckConstraint("level >= 0", name="awsou_level_check"), nullable=False),
    foreign_key("account_alias_id", "reporting_awsaccountalias.id", "awsou_account_alias_id_fk"),
    *columns("created_timestamp date not null, deleted_timestamp date"),  # auto_now_add: set by the ORM
    foreign_key("provider_id", "reporting_tenant_api_provider.uuid", "awsou_provider_id_fk",
                type_=UUID),
    *indexes("awsou_account_alias_id_idx account_alias_id, awsou_provider_id_idx provider_id"),
)

aws_daily_summary = _summary(
    AWS_DAILY_TABLE,
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", AWS_DAILY_TABLE),
    *columns("usage_start date not null, usage_end date, usage_account_id varchar(50) not null"),
    _fk("account_alias_id", "reporting_awsaccountalias.id", AWS_DAILY_TABLE),
    *columns("product_code text not null, product_family varchar(150), availability_zone varchar(50), region"
             " varchar(50), instance_type varchar(50), unit varchar(63)"),
    _fk("organizational_unit_id", "reporting_awsorganizationalunit.id", AWS_DAILY_TABLE),
    *columns("resource_ids text[], resource_count integer"),
    *_aws_amounts(),
    *columns("tags jsonb, cost_category jsonb, source_uuid uuid"),
    *indexes("summary_usage_start_idx usage_start, summary_product_code_idx product_code,"
             " summary_usage_account_id_idx usage_account_id, tags_idx tags gin, cost_category_idx cost_category gin,"
             " summary_account_alias_idx account_alias_id, summary_product_family_idx product_family,"
             " summary_instance_type_idx instance_type, summary_region_idx region, summary_zone_idx availability_zone"),
    _fk_index(AWS_DAILY_TABLE, "organizational_unit_id"),
)

aws_ec2_compute_summary = _summary(
    AWS_EC2_COMPUTE_TABLE,
    *columns("usage_start date not null, usage_end date"),
    _fk("cost_entry_bill_id", "reporting_awscostentrybill.id", AWS_EC2_COMPUTE_TABLE),
    _fk("account_alias_id", "reporting_awsaccountalias.id", AWS_EC2_COMPUTE_TABLE),
    *columns("usage_account_id varchar(50) not null, resource_id varchar(256) not null, instance_name varchar(256),"
             " instance_type varchar(50), operating_system varchar(50), region varchar(50), vcpu integer, memory"
             " varchar(50), unit varchar(63)"),
    *_aws_amounts(),
    *columns("tags jsonb, source_uuid uuid, cost_category jsonb"),
    *indexes("ec2cp_usage_start_idx usage_start, ec2cp_usage_account_id_idx usage_account_id, ec2cp_account_alias_idx"
             " account_alias_id, ec2cp_resource_id_idx resource_id, ec2cp_instance_name_idx instance_name,"
             " ec2cp_instance_type_idx instance_type, ec2cp_region_idx region, ec2cp_os_idx operating_system,"
             " ec2cp_tags_idx tags gin, ec2cp_cost_category_idx cost_category gin"),
)

# --- reporting/provider/azure/models.py -------------------------------------------------------------------
azure_daily_summary = _summary(
    AZURE_DAILY_TABLE,
    *columns("subscription_guid text not null, instance_type text, service_name text, resource_location text, tags"
             " jsonb, usage_start date not null, usage_end date, usage_quantity numeric(24,9), pretax_cost"
             " numeric(24,9), markup_cost numeric(24,9), currency text, instance_ids text[], instance_count integer,"
             " unit_of_measure text, source_uuid uuid, subscription_name text"),
    *indexes("ix_azurecstentrydlysumm_start usage_start, ix_azurecstentrydlysumm_svc resource_location,"
             " ix_azurecstentrydlysumm_sub_id subscription_guid, ix_azurecstentrydlysumm_instyp instance_type,"
             " ix_azurecstentrydlysumm_sub_na subscription_name"),
    bill="reporting_azurecostentrybill",
)

# --- reporting/provider/gcp/models.py ---------------------------------------------------------------------
gcp_daily_summary = _summary(
    GCP_DAILY_TABLE,
    *columns("account_id varchar(20) not null, project_id varchar(256) not null, project_name varchar(256) not null,"
             " service_id varchar(256), service_alias varchar(256), sku_id varchar(256), sku_alias varchar(256),"
             " usage_start date not null, usage_end date, region varchar(50), instance_type varchar(50), unit"
             " varchar(63), line_item_type varchar(256), usage_amount numeric(24,9), currency varchar(10) not null,"
             " invoice_month varchar(256), unblended_cost numeric(24,9), markup_cost numeric(24,9), tags jsonb,"
             " source_uuid uuid, credit_amount numeric(24,9)"),
    *indexes("gcp_summary_usage_start_idx usage_start, gcp_summary_instance_type_idx instance_type, gcp_tags_idx tags"
             " gin, gcp_summary_project_id_idx project_id, gcp_summary_project_name_idx project_name,"
             " gcp_summary_service_id_idx service_id, gcp_summary_service_alias_idx service_alias"),
    bill="reporting_gcpcostentrybill",
)
