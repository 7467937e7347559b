"""Project (namespace) monthly cost by tag (Koku's self_hosted_sql/openshift/cost_model/monthly_project_tag_based.sql).

A tag rate on ``project_per_month`` prices namespaces by their *namespace* labels: per day, every namespace label
row (daily namespace-label Parquet) of a non-platform namespace (not ``kube-%``, ``openshift-%`` or ``openshift``)
that carries the key (a default exists) or one of the priced values is charged ``rate / days_in_month``, split
evenly over the nodes the namespace ran on that day, one row per node (``data_source = 'Pod'``,
``monthly_cost_type = 'Tag'``, pod_labels = all_labels = the namespace labels, only a CPU cost).

The (namespace, node, day) pairs are Koku's staging rows of the summary (reporting_ocpusagelineitem_daily_summary_
staging, which its on-prem summary fills); poc_tasks reads them from the summary's usage rows of the source
(no cost-model rate type, no monthly cost type, no OCP-on-cloud cost), which hold the same pairs. A namespace
without such a row gets one row with no node and the whole day's amount. Two label variants of a namespace in a
day each count every node (Koku's count over its grouped rows), so each variant's rows get half a share.

Arithmetic is numeric throughout, as in PostgreSQL (poc_tasks.cost_model.pgnumeric).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.cost_model.pgnumeric import pg_div, pg_round
from poc_tasks.cost_model.rates import TagRateParams
from poc_tasks.cost_model.vm import _tag_rate
from poc_tasks.db.connection import qualified
from poc_tasks.db.tables import SUMMARY_TABLE

__all__ = ["namespace_nodes", "project_tag_rows", "PROJECT_OUTPUT_COLUMNS"]

Connection = psycopg2.extensions.connection
PROJECT_OUTPUT_COLUMNS = ["cluster_id", "cluster_alias", "data_source", "usage_start", "usage_end", "namespace",
                          "node", "pod_labels", "all_labels", "source_uuid", "monthly_cost_type",
                          "cost_model_rate_type", "cost_model_cpu_cost"]


def namespace_nodes(conn: Connection, schema: str, source_uuid: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Distinct (usage_start, namespace, node, cluster_id, cluster_alias) of the source's usage rows in range."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL(
            "SELECT DISTINCT usage_start, namespace, node, cluster_id, cluster_alias FROM {}"
            " WHERE source_uuid = %s AND usage_start >= %s AND usage_start <= %s AND cost_model_rate_type IS NULL"
            " AND monthly_cost_type IS NULL AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)"
        ).format(qualified(schema, SUMMARY_TABLE)), (source_uuid, start, end))
        return pd.DataFrame(cur.fetchall(), columns=["usage_start", "namespace", "node", "cluster_id",
                                                     "cluster_alias"])


def _platform(namespace: str) -> bool:
    return namespace.startswith(("kube-", "openshift-")) or namespace == "openshift"


def _canonical(labels_text: str) -> str:
    """The jsonb value of the label text (duplicate keys: the last wins), for grouping as PostgreSQL does."""
    return json.dumps(json.loads(labels_text), sort_keys=True)


def project_tag_rows(ns_labels: pd.DataFrame, pairs: pd.DataFrame, params: TagRateParams, days: int,
                     cluster_id: str, cluster_alias: str, source_uuid: str) -> pd.DataFrame:
    """One tag rate's rows. `ns_labels`: daily namespace-label rows in range (usage_start, namespace,
    namespace_labels); `pairs`: namespace_nodes()."""
    rows = ns_labels.dropna(subset=["namespace"])
    # boolean Series masks: a plain empty list would select no columns of an empty frame instead of no rows
    rows = rows[pd.Series([not _platform(n) for n in rows["namespace"]], index=rows.index, dtype=bool)]
    picks = [_tag_rate(t, params) for t in rows["namespace_labels"]]
    rows = rows.assign(_sel=pd.Series([p[0] for p in picks], index=rows.index, dtype=bool),
                       rate=[p[1] for p in picks])
    rows = rows[rows["_sel"]]
    if not len(rows):
        return pd.DataFrame(columns=PROJECT_OUTPUT_COLUMNS)
    rows = rows.assign(labels=[_canonical(t) for t in rows["namespace_labels"]])
    joined = rows.merge(pairs, on=["usage_start", "namespace"], how="left")
    filtered = joined.drop_duplicates(["rate", "labels", "namespace", "cluster_id", "cluster_alias", "node",
                                       "usage_start"])
    n_nodes = filtered.groupby(["namespace", "usage_start"])["node"].transform("count").astype(int).tolist()

    @functools.cache
    def cost(rate: float | None, n: int) -> str | None:
        if rate is None or pd.isna(rate):
            return None  # a CASE without a branch for this value (cannot happen after the WHERE)
        amortized = pg_div(pg_round(Decimal(repr(float(rate))), 15), Decimal(days))
        return str(pg_round(amortized if n < 1 else pg_div(amortized, pg_round(Decimal(n), 15)), 15))

    frame = pd.DataFrame({
        "usage_start": filtered["usage_start"].to_numpy(), "namespace": filtered["namespace"].to_numpy(),
        "node": [None if pd.isna(v) else v for v in filtered["node"]], "labels": filtered["labels"].to_numpy(),
        "cost_model_cpu_cost": [cost(r, n) for r, n in zip(filtered["rate"], n_nodes, strict=True)]})
    frame["cluster_id"] = cluster_id
    frame["cluster_alias"] = cluster_alias
    frame["data_source"] = "Pod"
    frame["usage_end"] = frame["usage_start"]
    frame["pod_labels"] = frame["labels"]
    frame["all_labels"] = frame["labels"]
    frame["source_uuid"] = source_uuid
    frame["monthly_cost_type"] = "Tag"
    frame["cost_model_rate_type"] = params.rate_type
    return frame[PROJECT_OUTPUT_COLUMNS]
