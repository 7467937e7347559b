"""Virtual-machine monthly core cost (Koku's self_hosted_sql/openshift/cost_model/monthly_vm_core.sql).

For the rate ``vm_core_cost_per_month`` Koku's ``_update_monthly_cost`` passes the rate amortised per day
(``Decimal(rate) / days_in_month``) and the SQL writes, per VM pod row group of the daily summary
(Pod rows labelled ``vm_kubevirt_io_name``, with CPU usage and request, no monthly cost type, no cost-model rate
type), one row ``monthly_cost_type = 'OCP_VM_CORE'`` with

- ``cost_model_cpu_cost = max(vm_cpu_request_cores of that VM that day) * CAST(rate AS DECIMAL(33,15))``,
- node and resource_id of the VM at its last interval of the month in the VM report (max over its rows then),
- pod_labels = all_labels = the union of pod_labels and all_labels (all_labels winning) of the VM's summary rows on
  the day of that last interval, one value per key (the greatest, as text).

VMs without summary rows on their last day, or without VM-report rows on a day, get no row (inner joins).
The whole month of the VM report is read: Koku's statement filters it on the year/month partition only.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.db.connection import qualified
from poc_tasks.db.tables import SUMMARY_TABLE

__all__ = ["vm_summary_rows", "vm_core_monthly_rows", "amortized_rate_numeric", "VM_OUTPUT_COLUMNS", "VM_LABEL"]

Connection = psycopg2.extensions.connection
VM_LABEL = "vm_kubevirt_io_name"
VM_OUTPUT_COLUMNS = ["cluster_id", "cluster_alias", "data_source", "usage_start", "usage_end", "namespace", "node",
                     "resource_id", "pod_labels", "all_labels", "source_uuid", "cost_model_rate_type",
                     "cost_model_cpu_cost", "monthly_cost_type", "cost_category_id"]
_PY_DECIMAL = Context(prec=28, rounding=ROUND_HALF_EVEN)  # Python's default context, which Koku divides in


def amortized_rate_numeric(rate: float, days: int) -> float:
    """CAST(Decimal(rate) / days AS DECIMAL(33,15)) as the double it is multiplied with."""
    per_day = _PY_DECIMAL.divide(Decimal(rate), Decimal(days))
    return float(per_day.quantize(Decimal("1e-15"), rounding=ROUND_HALF_UP))


def vm_summary_rows(conn: Connection, schema: str, report_period_id: int) -> pd.DataFrame:
    """The daily-summary Pod rows of VM pods of a report period that Koku's VM statements read.

    Rows with a cost-model rate type are included (the label step reads them; the cost step drops them).
    """
    query = sql.SQL(
        "SELECT usage_start, usage_end, source_uuid::text AS source_uuid, cluster_id, cluster_alias, namespace,"
        " data_source, cost_category_id, pod_labels::text AS pod_labels, all_labels::text AS all_labels,"
        " pod_labels->>%(label)s AS vm_name, cost_model_rate_type FROM {}"
        " WHERE report_period_id = %(rp)s AND data_source = 'Pod' AND pod_usage_cpu_core_hours IS NOT NULL"
        " AND pod_request_cpu_core_hours IS NOT NULL AND monthly_cost_type IS NULL"
        " AND pod_labels->>%(label)s IS NOT NULL"
    ).format(qualified(schema, SUMMARY_TABLE))
    with conn.cursor() as cur:
        cur.execute(query, {"label": VM_LABEL, "rp": report_period_id})
        names = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=names)


def _latest(vm_raw: pd.DataFrame) -> pd.DataFrame:
    """Per VM: max(node), max(resource_id) of its rows at its last interval_start of the month."""
    rows = vm_raw.dropna(subset=["vm_name", "interval_start"])
    last = rows.groupby("vm_name")["interval_start"].transform("max")
    at_last = rows[rows["interval_start"] == last]
    out = at_last.groupby("vm_name").agg(node=("node", "max"), resource_id=("resource_id", "max"),
                                         last_day=("usage_start", "max"))
    return out


def _combined_labels(rows: pd.DataFrame) -> str:
    """jsonb_object_agg over DISTINCT ON (key) ... ORDER BY key, value DESC of every pod_labels || all_labels."""
    best: dict[str, str] = {}
    for pod, all_ in zip(rows["pod_labels"], rows["all_labels"], strict=True):
        merged = {**(json.loads(pod) if pod else {}), **(json.loads(all_) if all_ else {})}
        for k, v in merged.items():
            text = v if isinstance(v, str) else json.dumps(v)  # jsonb_each_text
            if k not in best or text > best[k]:
                best[k] = text
    return json.dumps(dict(sorted(best.items())))


def vm_core_monthly_rows(summary: pd.DataFrame, vm_raw: pd.DataFrame, rate_type: str, rate: float,
                         start: dt.date, end: dt.date, days: int) -> pd.DataFrame:
    """The rows of monthly_vm_core.sql; `summary` from vm_summary_rows, `vm_raw` the month's raw VM report."""
    if not len(summary) or not len(vm_raw):
        return pd.DataFrame(columns=VM_OUTPUT_COLUMNS)
    latest = _latest(vm_raw)
    cores = vm_raw.dropna(subset=["vm_name"]).groupby(["vm_name", "usage_start"])["vm_cpu_request_cores"].max()
    labels: dict[str, str] = {}
    for vm, info in latest.iterrows():
        on_last = summary[(summary["vm_name"] == vm) & (summary["usage_start"] == info["last_day"])]
        if len(on_last):
            labels[vm] = _combined_labels(on_last)
    main = summary[(summary["usage_start"] >= start) & (summary["usage_start"] <= end)
                   & ~summary["cost_model_rate_type"].isin(["Infrastructure", "Supplementary"])]
    main = main[main["vm_name"].isin(labels.keys())]
    keys = list(zip(main["vm_name"], main["usage_start"], strict=True))
    main = main.assign(cores=[cores.get(k) for k in keys], has_usage=[k in cores.index for k in keys])
    main = main[main["has_usage"]]
    if not len(main):
        return pd.DataFrame(columns=VM_OUTPUT_COLUMNS)
    main = main.assign(labels=main["vm_name"].map(labels), node=main["vm_name"].map(latest["node"]),
                       resource_id=main["vm_name"].map(latest["resource_id"]))
    group = ["usage_start", "usage_end", "source_uuid", "cluster_id", "cluster_alias", "namespace", "data_source",
             "cost_category_id", "labels"]
    out = main.groupby(group, dropna=False, sort=False).agg(
        node=("node", "max"), resource_id=("resource_id", "max"),
        cores=("cores", lambda s: pd.to_numeric(s, errors="coerce").max())).reset_index()
    out["cost_model_cpu_cost"] = out["cores"].astype(float) * amortized_rate_numeric(rate, days)
    out["pod_labels"] = out["labels"]
    out["all_labels"] = out["labels"]
    out["cost_model_rate_type"] = rate_type
    out["monthly_cost_type"] = "OCP_VM_CORE"
    out["cost_category_id"] = pd.array(out["cost_category_id"], dtype="Int64")
    return out[VM_OUTPUT_COLUMNS]
