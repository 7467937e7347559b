"""Koku's PostgreSQL tables as poc_tasks uses them: declarations, init-db, tenant reads, transactional writes.

Transactions: the complete write units (``init_tenant``, ``replace_rows``, ``replace_daily_summary``,
``upsert_cluster_info``, ``set_report_period_summary_times``) commit, and roll back on error. The building
blocks (``ensure_provider``, ``ensure_report_period``, ``ensure_month_partitions``, ``copy_rows``) and the
reads run in the caller's transaction and leave committing to it. A run's tables are replaced together by
``db.run_swap`` (each staged into a side table, then all swapped in by one transaction).
"""

from __future__ import annotations

from poc_tasks.db.connection import connect
from poc_tasks.db.init import ensure_provider, ensure_report_period, init_tenant
from poc_tasks.db.partitions import ensure_month_partitions
from poc_tasks.db.tables import SUMMARY_COLUMNS, SUMMARY_TABLE, get_table, metadata, table_columns
from poc_tasks.db.tenant import (
    cost_category_namespaces,
    enabled_tag_keys,
    get_report_period,
    ocp_nodes,
    set_report_period_summary_times,
    upsert_cluster_info,
)
from poc_tasks.db.writer import WriteResult, copy_rows, replace_daily_summary, replace_rows

__all__ = [
    "connect",
    "init_tenant",
    "ensure_provider",
    "ensure_report_period",
    "ensure_month_partitions",
    "metadata",
    "get_table",
    "table_columns",
    "SUMMARY_TABLE",
    "SUMMARY_COLUMNS",
    "enabled_tag_keys",
    "cost_category_namespaces",
    "ocp_nodes",
    "get_report_period",
    "set_report_period_summary_times",
    "upsert_cluster_info",
    "copy_rows",
    "replace_rows",
    "replace_daily_summary",
    "WriteResult",
]
