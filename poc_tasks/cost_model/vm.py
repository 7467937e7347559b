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
from typing import Any

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.db.connection import qualified
from poc_tasks.db.tables import SUMMARY_TABLE

__all__ = ["vm_summary_rows", "vm_core_monthly_rows", "vm_core_hourly_rows", "vm_hourly_rows",
           "vm_hours_from_vm_report", "amortized_rate_numeric", "numeric15", "VM_OUTPUT_COLUMNS", "VM_LABEL"]

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
        " node, resource_id, data_source, cost_category_id, pod_labels::text AS pod_labels,"
        " all_labels::text AS all_labels,"
        " pod_labels->>%(label)s AS vm_name, cost_model_rate_type FROM {}"
        " WHERE report_period_id = %(rp)s AND data_source = 'Pod' AND pod_usage_cpu_core_hours IS NOT NULL"
        " AND pod_request_cpu_core_hours IS NOT NULL AND monthly_cost_type IS NULL"
        " AND pod_labels->>%(label)s IS NOT NULL"
    ).format(qualified(schema, SUMMARY_TABLE))
    with conn.cursor() as cur:
        cur.execute(query, {"label": VM_LABEL, "rp": report_period_id})
        names = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=names)


def _text_max(values: pd.Series) -> Any:
    """SQL's max() of a text column: NULLs ignored, NULL when there is no value (pandas' "max" raises on an object
    column mixing None and text, e.g. Koku's back-populated OCP-on-cloud rows without a resource id)."""
    present = [v for v in values if v is not None and v == v]
    return max(present) if present else None


def _latest(vm_raw: pd.DataFrame) -> pd.DataFrame:
    """Per VM: max(node), max(resource_id) of its rows at its last interval_start of the month."""
    rows = vm_raw.dropna(subset=["vm_name", "interval_start"])
    last = rows.groupby("vm_name")["interval_start"].transform("max")
    at_last = rows[rows["interval_start"] == last]
    out = at_last.groupby("vm_name").agg(node=("node", _text_max), resource_id=("resource_id", _text_max),
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


def _vm_groups(summary: pd.DataFrame, vm_raw: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The VM-core statements' groups (monthly_vm_core.sql, hourly_vm_core.sql) with their VM values.

    One row per (day, namespace, cost category, source, cluster, combined labels) of the VM pod rows in range, with
    node / resource_id (max at the VM's last interval), ``cores`` = max vm_cpu_request_cores of the VM that day,
    ``uptime`` = the largest sum(vm_uptime_total_seconds) over the VM's (day, cores) groups (vm_usage_summary).
    """
    empty = pd.DataFrame(columns=["usage_start", "usage_end", "source_uuid", "cluster_id", "cluster_alias",
                                  "namespace", "data_source", "cost_category_id", "labels", "node", "resource_id",
                                  "cores", "uptime"])
    if not len(summary) or not len(vm_raw):
        return empty
    latest = _latest(vm_raw)
    rows = vm_raw.dropna(subset=["vm_name"])
    if "vm_uptime_total_seconds" not in rows.columns:
        rows = rows.assign(vm_uptime_total_seconds=float("nan"))
    per_cores = rows.groupby(["vm_name", "usage_start", "vm_cpu_request_cores"], dropna=False).agg(
        uptime=("vm_uptime_total_seconds", lambda x: pd.to_numeric(x, errors="coerce").sum(min_count=1))
    ).reset_index()
    usage = per_cores.groupby(["vm_name", "usage_start"]).agg(
        cores=("vm_cpu_request_cores", "max"), uptime=("uptime", "max"))
    labels: dict[str, str] = {}
    for vm, info in latest.iterrows():
        on_last = summary[(summary["vm_name"] == vm) & (summary["usage_start"] == info["last_day"])]
        if len(on_last):
            labels[vm] = _combined_labels(on_last)
    main = _in_range(summary, start, end)
    main = main[main["vm_name"].isin(labels.keys())]
    keys = list(zip(main["vm_name"], main["usage_start"], strict=True))
    main = main[[k in usage.index for k in keys]]
    if not len(main):
        return empty
    keys = list(zip(main["vm_name"], main["usage_start"], strict=True))
    main = main.assign(labels=main["vm_name"].map(labels), node=main["vm_name"].map(latest["node"]),
                       resource_id=main["vm_name"].map(latest["resource_id"]),
                       cores=[usage.at[k, "cores"] for k in keys], uptime=[usage.at[k, "uptime"] for k in keys])
    group = ["usage_start", "usage_end", "source_uuid", "cluster_id", "cluster_alias", "namespace", "data_source",
             "cost_category_id", "labels"]
    return main.groupby(group, dropna=False, sort=False).agg(
        node=("node", _text_max), resource_id=("resource_id", _text_max),
        cores=("cores", lambda x: pd.to_numeric(x, errors="coerce").max()),
        uptime=("uptime", lambda x: pd.to_numeric(x, errors="coerce").max())).reset_index()


def _in_range(summary: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The rows the statements cost: in range, without a cost-model rate type of their own."""
    return summary[(summary["usage_start"] >= start) & (summary["usage_start"] <= end)
                   & ~summary["cost_model_rate_type"].isin(["Infrastructure", "Supplementary"])]


def _finish(out: pd.DataFrame, rate_type: str, monthly_cost_type: str | None) -> pd.DataFrame:
    out = out.copy()
    out["pod_labels"] = out["labels"]
    out["all_labels"] = out["labels"]
    out["cost_model_rate_type"] = rate_type
    out["monthly_cost_type"] = monthly_cost_type
    out["cost_category_id"] = pd.array(out["cost_category_id"], dtype="Int64")
    return out[VM_OUTPUT_COLUMNS]


def vm_core_monthly_rows(summary: pd.DataFrame, vm_raw: pd.DataFrame, rate_type: str, rate: float,
                         start: dt.date, end: dt.date, days: int) -> pd.DataFrame:
    """The rows of monthly_vm_core.sql; `summary` from vm_summary_rows, `vm_raw` the month's raw VM report."""
    out = _vm_groups(summary, vm_raw, start, end)
    if not len(out):
        return pd.DataFrame(columns=VM_OUTPUT_COLUMNS)
    out["cost_model_cpu_cost"] = out["cores"].astype(float) * amortized_rate_numeric(rate, days)
    return _finish(out, rate_type, "OCP_VM_CORE")


def numeric15(rate: float) -> float:
    """CAST(rate AS DECIMAL(33,15)) of a float parameter, as the double it is multiplied with."""
    return float(Decimal(repr(float(rate))).quantize(Decimal("1e-15"), rounding=ROUND_HALF_UP))


def vm_core_hourly_rows(summary: pd.DataFrame, vm_raw: pd.DataFrame, rate_type: str, rate: float,
                        start: dt.date, end: dt.date) -> pd.DataFrame:
    """The rows of hourly_vm_core.sql (vm_core_cost_per_hour): uptime hours x cores x the hourly rate."""
    out = _vm_groups(summary, vm_raw, start, end)
    if not len(out):
        return pd.DataFrame(columns=VM_OUTPUT_COLUMNS)
    out["cost_model_cpu_cost"] = (out["uptime"].astype(float) / 3600 * out["cores"].astype(float)
                                  * numeric15(rate))
    return _finish(out, rate_type, None)


def vm_hours_from_vm_report(vm_raw: pd.DataFrame) -> pd.Series:
    """Per (vm_name, usage_start): sum(vm_uptime_total_seconds) / 3600 (hourly_cost_virtual_machine.sql with the
    VM report: ``use_fractional_hours``)."""
    rows = vm_raw.dropna(subset=["vm_name"])
    up = pd.to_numeric(rows["vm_uptime_total_seconds"], errors="coerce")
    return up.groupby([rows["vm_name"], rows["usage_start"]]).sum(min_count=1) / 3600


def vm_hourly_rows(summary: pd.DataFrame, vm_hours: pd.Series, rate_type: str, rate: float,
                   start: dt.date, end: dt.date) -> pd.DataFrame:
    """The rows of hourly_cost_virtual_machine.sql (vm_cost_per_hour), one per summary row group of a VM pod:
    max(hours of the VM that day) x the hourly rate; node, labels and cost category of the summary rows."""
    main = _in_range(summary, start, end)
    keys = list(zip(main["vm_name"], main["usage_start"], strict=True))
    main = main[[k in vm_hours.index for k in keys]]
    if not len(main):
        return pd.DataFrame(columns=VM_OUTPUT_COLUMNS)
    keys = list(zip(main["vm_name"], main["usage_start"], strict=True))
    main = main.assign(hours=[vm_hours.get(k) for k in keys])
    group = ["usage_start", "usage_end", "source_uuid", "cluster_id", "cluster_alias", "node", "namespace",
             "data_source", "cost_category_id", "pod_labels", "all_labels"]
    out = main.groupby(group, dropna=False, sort=False).agg(
        resource_id=("resource_id", _text_max),
        hours=("hours", lambda x: pd.to_numeric(x, errors="coerce").max())).reset_index()
    out["cost_model_cpu_cost"] = out["hours"].astype(float) * numeric15(rate)
    out["cost_model_rate_type"] = rate_type
    out["monthly_cost_type"] = None
    out["cost_category_id"] = pd.array(out["cost_category_id"], dtype="Int64")
    return out[VM_OUTPUT_COLUMNS]


# --- the virtualization UI's temporary table (populate_vm_tmp_table[_with_vm_report].sql) -------------------------
TMP_COLUMNS = ["vm_name", "node", "pvc_name", "cpu_request", "mem_request"]


def vm_tmp_rows_with_vm_report(vm_raw: pd.DataFrame) -> pd.DataFrame:
    """populate_vm_tmp_table_with_vm_report.sql: the VMs of the month's last interval (over all VMs), their node,
    ``max(cores) * 24`` and ``max(memory bytes) * 2^-30 * 24`` there, once per PVC name the VM ever had this month."""
    rows = vm_raw.dropna(subset=["interval_start"])
    if not len(rows):
        return pd.DataFrame(columns=TMP_COLUMNS)
    last = rows[rows["interval_start"] == rows["interval_start"].max()]
    latest = last.groupby(["vm_name", "node"], dropna=False).agg(
        cpu=("vm_cpu_request_cores", "max"), mem=("vm_memory_request_bytes", "max")).reset_index()
    latest["cpu_request"] = latest["cpu"].astype(float) * 24
    latest["mem_request"] = latest["mem"].astype(float) * 2.0**-30 * 24
    latest = latest.dropna(subset=["vm_name"])  # an inner join on vm_name never matches NULL
    pvcs = vm_raw[["vm_name", "vm_persistentvolumeclaim_name"]].dropna(subset=["vm_name"]).drop_duplicates()
    joined = latest.merge(pvcs, on="vm_name", how="inner").rename(columns={"vm_persistentvolumeclaim_name": "pvc_name"})
    out = joined.groupby(["vm_name", "node", "pvc_name"], dropna=False).agg(
        cpu_request=("cpu_request", "max"), mem_request=("mem_request", "max")).reset_index()
    return out[TMP_COLUMNS]


def vm_tmp_latest_from_summary(conn: Connection, schema: str, source_uuid: str, start: dt.date,
                               end: dt.date) -> pd.DataFrame:
    """The ``latest`` rows of populate_vm_tmp_table.sql (no VM report): summary rows of VM pods on the second-to-last
    day with CPU requests of the source in range (the last when there is one day). Koku's inner query does not
    filter on the source; neither does this."""
    table = qualified(schema, SUMMARY_TABLE)
    query = sql.SQL(
        "WITH days AS (SELECT DISTINCT usage_start AS day FROM {t} WHERE usage_start >= %(s)s AND usage_start <= %(e)s"
        " AND source_uuid::varchar = %(src)s AND pod_request_cpu_core_hours IS NOT NULL),"
        " stld AS (SELECT day FROM (SELECT day FROM days ORDER BY day DESC LIMIT 2) d ORDER BY day LIMIT 1)"
        " SELECT pod_labels->>%(label)s AS vm_name, node, pod_request_cpu_core_hours::float8,"
        " pod_request_memory_gigabyte_hours::float8 FROM {t} JOIN stld ON usage_start = stld.day"
        " WHERE usage_start >= %(s)s AND usage_start <= %(e)s AND pod_request_cpu_core_hours IS NOT NULL"
        " AND pod_labels->>%(label)s IS NOT NULL"
    ).format(t=table)
    with conn.cursor() as cur:
        cur.execute(query, {"s": start, "e": end, "src": source_uuid, "label": VM_LABEL})
        return pd.DataFrame(cur.fetchall(), columns=["vm_name", "node", "cpu_request", "mem_request"])


def vm_tmp_rows_from_pods(latest: pd.DataFrame, pvc_pairs: pd.DataFrame) -> pd.DataFrame:
    """populate_vm_tmp_table.sql: one latest row per VM (Koku's ROW_NUMBER over rows of one day leaves the choice
    to the database when a VM has several; here: the greatest CPU request, then node), LEFT JOIN its PVC names."""
    if not len(latest):
        return pd.DataFrame(columns=TMP_COLUMNS)
    one = latest.sort_values(["vm_name", "cpu_request", "node"], ascending=[True, False, True],
                             na_position="last").drop_duplicates("vm_name")
    out = one.merge(pvc_pairs.rename(columns={"persistentvolumeclaim": "pvc_name"}), on="vm_name", how="left")
    return out[TMP_COLUMNS]


# --- tag-based VM costs (populate_tag_based_costs: vm_cost_per_hour, vm_core_cost_per_month, vm_core_cost_per_hour)
TAG_GROUP = ["usage_start", "usage_end", "source_uuid", "cluster_id", "cluster_alias", "namespace", "data_source",
             "cost_category_id", "pod_labels", "all_labels"]


def _tag_rate(labels_text: str | None, params) -> tuple[bool, float | None]:
    """(row selected, rate) for a summary row's pod_labels under one tag rate: Koku's WHERE (the key present when
    there is a default, else one of the valued tags) and its CASE (the value's rate, else the default)."""
    labels = json.loads(labels_text) if labels_text else {}
    value = labels.get(params.tag_key) if isinstance(labels, dict) else None
    if value is not None and not isinstance(value, str):
        value = json.dumps(value)  # ->> gives the JSON text of a non-string
    values = params.value_rates or {}
    if params.default_rate is not None:
        selected = value is not None
    else:
        selected = value in values
    if not selected:
        return False, None
    if values and value in values:
        return True, values[value]
    return True, params.default_rate


def _tagged(summary: pd.DataFrame, params, start: dt.date, end: dt.date) -> pd.DataFrame:
    rows = _in_range(summary, start, end)
    picks = [_tag_rate(t, params) for t in rows["pod_labels"]]
    rows = rows.assign(_sel=[p[0] for p in picks], tag_rate=[p[1] for p in picks])
    return rows[rows["_sel"]].drop(columns="_sel")


def _vm_values(vm: pd.DataFrame, with_uptime: bool) -> pd.DataFrame:
    """Per (vm_name, usage_start): max cores and the largest per-(day, cores) uptime sum, in hours."""
    rows = vm.dropna(subset=["vm_name"])
    agg = {"uptime": ("vm_uptime_total_seconds", lambda x: pd.to_numeric(x, errors="coerce").sum(min_count=1))} \
        if with_uptime else {}
    per = rows.groupby(["vm_name", "usage_start", "vm_cpu_request_cores"], dropna=False).agg(
        n=("vm_name", "size"), **agg).reset_index()
    out = per.groupby(["vm_name", "usage_start"]).agg(cores=("vm_cpu_request_cores", "max"),
                                                      **({"uptime": ("uptime", "max")} if with_uptime else {}))
    if with_uptime:
        out["hours"] = out["uptime"] / 3600
    return out


def vm_tag_rows(kind: str, summary: pd.DataFrame, params, start: dt.date, end: dt.date, *,
                vm_raw: pd.DataFrame | None = None, vm_daily: pd.DataFrame | None = None,
                vm_hours: pd.Series | None = None, days: int | None = None) -> pd.DataFrame:
    """One tag rate's rows (monthly_cost_type 'Tag') of

    - ``vm_hour``: hourly_cost_vm_tag_based.sql, max(VM hours that day) x rate, per summary row group (by node too);
    - ``vm_core_month``: monthly_vm_core_tag_based.sql, max(cores, daily VM report) x rate / days_in_month;
    - ``vm_core_hour``: hourly_vm_core_tag_based.sql, max(cores) x rate x max(uptime hours per (day, cores));

    the VM-core ones take node and resource id from the raw VM report's last interval of the VM (LEFT JOIN: NULL
    when the VM is not in it)."""
    rows = _tagged(summary, params, start, end)
    if not len(rows):
        return pd.DataFrame(columns=VM_OUTPUT_COLUMNS)
    keys = list(zip(rows["vm_name"], rows["usage_start"], strict=True))
    if kind == "vm_hour":
        rows = rows[[k in vm_hours.index for k in keys]]
        rows = rows.assign(value=[vm_hours.get(k) for k in zip(rows["vm_name"], rows["usage_start"], strict=True)])
        group = [*TAG_GROUP, "node", "tag_rate"]
        out = rows.groupby(group, dropna=False, sort=False).agg(
            resource_id=("resource_id", _text_max),
            value=("value", lambda x: pd.to_numeric(x, errors="coerce").max())).reset_index()
        out["cost_model_cpu_cost"] = [v * numeric15(r) for v, r in zip(out["value"], out["tag_rate"], strict=True)]
    else:
        source = vm_daily if kind == "vm_core_month" else vm_raw
        values = _vm_values(source, with_uptime=kind == "vm_core_hour")
        rows = rows[[k in values.index for k in keys]]
        keys = list(zip(rows["vm_name"], rows["usage_start"], strict=True))
        latest = _latest(vm_raw) if vm_raw is not None and len(vm_raw) else pd.DataFrame(
            columns=["node", "resource_id"])
        rows = rows.assign(cores=[values.at[k, "cores"] for k in keys],
                           hours=[values.at[k, "hours"] for k in keys] if kind == "vm_core_hour" else None,
                           node=rows["vm_name"].map(latest["node"]),
                           resource_id=rows["vm_name"].map(latest["resource_id"]))
        out = rows.groupby([*TAG_GROUP, "tag_rate"], dropna=False, sort=False).agg(
            node=("node", lambda x: x.dropna().max() if x.notna().any() else None),
            resource_id=("resource_id", lambda x: x.dropna().max() if x.notna().any() else None),
            cores=("cores", lambda x: pd.to_numeric(x, errors="coerce").max()),
            hours=("hours", lambda x: pd.to_numeric(x, errors="coerce").max())).reset_index()
        if kind == "vm_core_month":
            out["cost_model_cpu_cost"] = [c * numeric15(r) / days for c, r in
                                          zip(out["cores"], out["tag_rate"], strict=True)]
        else:
            out["cost_model_cpu_cost"] = [c * numeric15(r) * h for c, r, h in
                                          zip(out["cores"], out["tag_rate"], out["hours"], strict=True)]
    out["cost_model_rate_type"] = params.rate_type
    out["monthly_cost_type"] = "Tag"
    out["cost_category_id"] = pd.array(out["cost_category_id"], dtype="Int64")
    return out[VM_OUTPUT_COLUMNS]
