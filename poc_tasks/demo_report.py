"""The demo's report: what the run wrote, read back from PostgreSQL, as an aligned terminal summary and an HTML page
with plots a cost analyst would look at first (usage and cost per day, per namespace, per node; OCP-on-cloud cost
by service).

Only the rows each step owns are read (the OCP summary's own rows, the rows OCP on cloud back-populated), over
the run's date range, so a second demo on the same database gives the same report. The page holds no timings and
no paths that change between runs; plots are PNG images made by matplotlib's Agg backend (no display needed),
embedded in the page, which needs no network and no scripts.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.validate import validate_schema

__all__ = ["DemoData", "read_demo_data", "terminal_summary", "render_html", "namespace_label", "CLOUD_NAMES"]

CLOUD_NAMES = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
# The OCP summary writes one row per volume without a claim with namespace '' (Koku's storage rows); one name for it
EMPTY_NAMESPACE = "(volume without a claim)"
# rows of the OCP summary itself (not cost-model rows, not the rows OCP on cloud back-populates): see compare/store.py
_OCP_ROWS = ("cost_model_rate_type IS NULL AND monthly_cost_type IS NULL AND supplementary_usage_cost IS NULL"
             " AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)")
# rows OCP on cloud back-populated (Koku's *_ocp_infrastructure_back_populate.sql sets supplementary_usage_cost)
_CLOUD_ROWS = "supplementary_usage_cost IS NOT NULL"
# per cloud: project table, service column, the cost the back-populated rows carry (Koku's back-populate sums)
_SERVICE = {
    "aws": ("reporting_ocpawscostlineitem_project_daily_summary_p", "product_code",
            "coalesce(calculated_amortized_cost, 0) + coalesce(markup_cost_amortized, 0)"),
    "azure": ("reporting_ocpazurecostlineitem_project_daily_summary_p", "service_name",
              "coalesce(pretax_cost, 0) + coalesce(markup_cost, 0)"),
    "gcp": ("reporting_ocpgcpcostlineitem_project_daily_summary_p", "service_alias",
            "coalesce(unblended_cost, 0) + coalesce(markup_cost, 0) + coalesce(credit_amount, 0)"),
}
# tab10's first colours: the browser test looks for them in the rendered page
COLOURS = {"usage": "#1f77b4", "request": "#ff7f0e", "capacity": "#2ca02c", "cost": "#d62728"}


def namespace_label(ns: str | None) -> str:
    return ns if ns else EMPTY_NAMESPACE


@dataclass
class DemoData:
    schema: str
    source_uuid: str
    cluster_id: str
    start: dt.date
    end: dt.date
    cloud: str | None
    per_day: list[tuple] = field(default_factory=list)  # day, pods' cpu, unallocated cpu, pods' request, cost
    per_namespace: list[tuple] = field(default_factory=list)  # ns, cpu usage, cpu request, mem, pvc GiB-mo, cost
    per_node: list[tuple] = field(default_factory=list)  # node, pods' cpu, pods' request, capacity core-h, cost
    per_service: list[tuple] = field(default_factory=list)  # service, cost
    rows: dict[str, int] = field(default_factory=dict)  # rows per table the runs wrote


def _f(v: Any) -> float:
    return float(v) if v is not None else 0.0


def read_demo_data(database_url: str, schema: str, source_uuid: str, cluster_id: str, start: dt.date,
                   end: dt.date, cloud: str | None, rows: dict[str, int]) -> DemoData:
    """The numbers of the report, from the tables the demo's runs wrote (read-only)."""
    validate_schema(schema)
    summary = qualified(schema, "reporting_ocpusagelineitem_daily_summary")
    params = {"source": source_uuid, "start": start, "end": end}
    scope = sql.SQL("source_uuid = %(source)s::uuid AND usage_start >= %(start)s AND usage_start <= %(end)s")
    ocp, back = sql.SQL(_OCP_ROWS), sql.SQL(_CLOUD_ROWS)
    data = DemoData(schema, source_uuid, cluster_id, start, end, cloud, rows=dict(rows))
    with closing(connect(database_url)) as conn:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            def fetch(query: sql.Composable) -> list[tuple]:
                cur.execute(query, params)
                return cur.fetchall()

            usage = sql.SQL("sum(pod_usage_cpu_core_hours), sum(pod_request_cpu_core_hours)")
            pods = sql.SQL("namespace NOT IN ('Platform unallocated', 'Worker unallocated')")
            per_day = fetch(sql.SQL(
                "SELECT usage_start, sum(pod_usage_cpu_core_hours) FILTER (WHERE {pods}),"
                " sum(pod_usage_cpu_core_hours) FILTER (WHERE NOT {pods}),"
                " sum(pod_request_cpu_core_hours) FILTER (WHERE {pods}) FROM {t} WHERE {scope} AND {ocp}"
                " GROUP BY 1 ORDER BY 1").format(pods=pods, t=summary, scope=scope, ocp=ocp))
            day_cost = dict(fetch(sql.SQL("SELECT usage_start, sum(infrastructure_raw_cost) FROM {} WHERE {} AND {}"
                                          " GROUP BY 1").format(summary, scope, back)))
            data.per_day = [(d, _f(c), _f(u), _f(r), _f(day_cost.get(d))) for d, c, u, r in per_day]
            per_ns = fetch(sql.SQL("SELECT coalesce(namespace, ''), {}, sum(pod_usage_memory_gigabyte_hours),"
                                   " sum(persistentvolumeclaim_usage_gigabyte_months) FROM {} WHERE {} AND {}"
                                   " GROUP BY 1").format(usage, summary, scope, ocp))
            ns_cost = dict(fetch(sql.SQL("SELECT coalesce(namespace, ''), sum(infrastructure_raw_cost) FROM {}"
                                         " WHERE {} AND {} GROUP BY 1").format(summary, scope, back)))
            names = sorted({n for n, *_ in per_ns} | set(ns_cost))
            by_ns = {n: r for n, *r in per_ns}
            data.per_namespace = [(n, *(by_ns.get(n) or (None, None, None, None)), ns_cost.get(n)) for n in names]
            # node capacity is repeated on every row of a node and day: max per (node, day), then summed
            per_node = fetch(sql.SQL(
                "SELECT node, sum(cpu), sum(req), sum(cap) FROM (SELECT node, usage_start,"
                " sum(pod_usage_cpu_core_hours) FILTER (WHERE {pods}) AS cpu,"
                " sum(pod_request_cpu_core_hours) FILTER (WHERE {pods}) AS req,"
                " max(node_capacity_cpu_core_hours) AS cap FROM {t} WHERE {scope} AND {ocp} AND data_source = 'Pod'"
                " AND node IS NOT NULL AND node <> '' GROUP BY 1, 2) d GROUP BY 1 ORDER BY 1").format(
                    pods=pods, t=summary, scope=scope, ocp=ocp))
            node_cost = dict(fetch(sql.SQL("SELECT node, sum(infrastructure_raw_cost) FROM {} WHERE {} AND {}"
                                           " AND node IS NOT NULL GROUP BY 1").format(summary, scope, back)))
            data.per_node = [(n, _f(c), _f(r), _f(k), _f(node_cost.get(n))) for n, c, r, k in per_node]
            if cloud:
                table, service, cost = _SERVICE[cloud]
                data.per_service = _services(cur, schema, table, service, cost, cluster_id, start, end)
        conn.rollback()
    return data


def _services(cur: Any, schema: str, table: str, service: str, cost: str, cluster_id: str, start: dt.date,
              end: dt.date) -> list[tuple]:
    cur.execute(sql.SQL("SELECT {}, sum({}) FROM {} WHERE cluster_id = %s AND usage_start >= %s"
                        " AND usage_start <= %s GROUP BY 1 ORDER BY 2 DESC, 1").format(
        sql.Identifier(service), sql.SQL(cost), qualified(schema, table)), (cluster_id, start, end))
    return [(s or "(none)", _f(c)) for s, c in cur.fetchall()]


# --- terminal ----------------------------------------------------------------------------------------------------

def _cell(value: Any, width: int = 12) -> str:
    """A number right-aligned in its column; no value is blank (so columns stay aligned)."""
    return " " * width if value is None else f"{float(value):{width}.2f}"


def terminal_summary(data: DemoData) -> str:
    """The per-namespace table (usage, and the attributed cloud cost when a cloud ran) and a few totals."""
    cloud = CLOUD_NAMES.get(data.cloud or "")
    width = max([len("namespace"), *(len(namespace_label(n)) for n, *_ in data.per_namespace)])
    head = (f"{'namespace':{width}s} {'CPU core-h':>12s} {'CPU req-h':>12s} {'mem GiB-h':>12s} {'PVC GiB-mo':>12s}"
            + (f" {cloud + ' cost':>12s}" if cloud else ""))
    lines = [head, "-" * len(head)]
    for ns, cpu, req, mem, pvc, cost in data.per_namespace:
        line = f"{namespace_label(ns):{width}s} {_cell(cpu)} {_cell(req)} {_cell(mem)} {_cell(pvc)}"
        lines.append((line + (f" {_cell(cost)}" if cloud else "")).rstrip())
    total_cpu = sum(_f(r[1]) for r in data.per_namespace)
    unalloc = sum(_f(r[1]) for r in data.per_namespace if r[0] in ("Platform unallocated", "Worker unallocated"))
    lines.append("")
    share = 100.0 * unalloc / total_cpu if total_cpu else 0.0
    lines.append(f"unallocated share of node CPU capacity (usage): {share:.1f} %")
    if cloud:
        lines.append(f"OCP on {cloud}: attributed cost {sum(c for _s, c in data.per_service):.2f} over "
                     f"{len(data.per_service)} service(s)")
    lines.append("rows per table: " + ", ".join(f"{t}={n}" for t, n in sorted(data.rows.items())))
    return "\n".join(lines)


# --- HTML --------------------------------------------------------------------------------------------------------

def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(data: DemoData) -> list[tuple[str, str, str]]:
    """(id, caption, base64 PNG) per plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cloud = CLOUD_NAMES.get(data.cloud or "")
    out = []
    # 1. per day: CPU core-hours of the pods and of the unallocated capacity (stacked); the attributed cost
    days = [d.strftime("%m-%d") for d, *_ in data.per_day]
    xs = list(range(len(days)))
    fig, axes = plt.subplots(1, 2 if cloud else 1, figsize=(10, 3.6), squeeze=False)
    ax = axes[0][0]
    pods = [r[1] for r in data.per_day]
    ax.bar(xs, pods, 0.6, label="used by pods", color=COLOURS["usage"])
    ax.bar(xs, [r[2] for r in data.per_day], 0.6, bottom=pods, label="unallocated", color=COLOURS["capacity"])
    ax.plot(xs, [r[3] for r in data.per_day], marker="o", color=COLOURS["request"], label="requested by pods")
    ax.set_xticks(xs, days)
    ax.set_ylabel("CPU core-hours")
    ax.set_title("CPU per day", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    if cloud:
        axes[0][1].bar(xs, [r[4] for r in data.per_day], 0.6, color=COLOURS["cost"])
        axes[0][1].set_xticks(xs, days)
        axes[0][1].set_title(f"{cloud} cost attributed to the cluster per day", fontsize=10)
    fig.tight_layout()
    out.append(("per-day", "Usage" + (" and cost" if cloud else "") + " per day", _png(fig)))
    # 2. per namespace: CPU usage, and the attributed cost, the largest first
    ns = sorted(data.per_namespace, key=lambda r: (-_f(r[1]), namespace_label(r[0])))[:15][::-1]
    cols = 2 if cloud else 1
    fig, axes = plt.subplots(1, cols, figsize=(10, 0.3 * len(ns) + 1.5), squeeze=False)
    names = [namespace_label(r[0]) for r in ns]
    axes[0][0].barh(names, [_f(r[1]) for r in ns], color=COLOURS["usage"])
    axes[0][0].set_title("CPU usage per namespace (core-h)", fontsize=10)
    if cloud:
        axes[0][1].barh(names, [_f(r[5]) for r in ns], color=COLOURS["cost"])
        axes[0][1].set_title(f"{cloud} cost per namespace", fontsize=10)
        axes[0][1].tick_params(labelleft=False)
    fig.tight_layout()
    out.append(("per-namespace", "Per namespace (the 15 largest by CPU usage)", _png(fig)))
    # 3. per node: the pods' usage and requests against the node's capacity; the attributed cost
    nodes = [r[0] for r in data.per_node]
    xs = list(range(len(nodes)))
    fig, axes = plt.subplots(1, 2 if cloud else 1, figsize=(10, 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": [2, 1]} if cloud else None)
    ax = axes[0][0]
    for offset, idx, key, label in ((-0.27, 1, "usage", "used by pods"), (0, 2, "request", "requested by pods"),
                                    (0.27, 3, "capacity", "capacity")):
        ax.bar([x + offset for x in xs], [r[idx] for r in data.per_node], 0.27, label=label, color=COLOURS[key])
    ax.set_xticks(xs, nodes)
    ax.set_ylabel("CPU core-hours")
    ax.set_title("CPU per node", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    if cloud:
        axes[0][1].bar(xs, [r[4] for r in data.per_node], 0.6, color=COLOURS["cost"])
        axes[0][1].set_xticks(xs, nodes, rotation=30)
        axes[0][1].set_title(f"{cloud} cost per node", fontsize=10)
    fig.tight_layout()
    out.append(("per-node", "CPU usage, requests and capacity per node" + (", and cost" if cloud else ""), _png(fig)))
    # 4. OCP on cloud: cost by service
    if cloud:
        svc = data.per_service[:15][::-1]
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(svc) + 1.5))
        ax.barh([s for s, _c in svc], [c for _s, c in svc], color=COLOURS["cost"])
        ax.set_title(f"OCP on {cloud}: attributed cost by service")
        fig.tight_layout()
        out.append(("per-service", f"OCP-on-{cloud} cost by service", _png(fig)))
    return out


def _num(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:,d}" if isinstance(v, int) else f"{float(v):,.2f}"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(
        f"<td class='n'>{_num(v)}</td>" if isinstance(v, (int, float)) or v is None
        else f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: DemoData, shell_hint: str) -> str:
    """The whole page (self-contained: images embedded, no scripts, no network)."""
    cloud = CLOUD_NAMES.get(data.cloud or "")
    figures = "".join(
        f"<figure id='{pid}'><img src='data:image/png;base64,{b64}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>" for pid, caption, b64 in _plots(data))
    ns_head = ["namespace", "CPU core-h", "CPU request core-h", "memory GiB-h", "PVC GiB-months"]
    ns_rows = [[namespace_label(n), *(None if v is None else float(v) for v in vals[:4])]
               + ([None if vals[4] is None else float(vals[4])] if cloud else [])
               for n, *vals in data.per_namespace]
    node_rows = [[n, c, r, k] + ([cost] if cloud else []) for n, c, r, k, cost in data.per_node]
    day_rows = [[d.isoformat(), c, u, r] + ([cost] if cloud else []) for d, c, u, r, cost in data.per_day]
    service = (f"<h2>OCP on {cloud}: cost by service</h2>" + _table(["service", f"{cloud} cost"],
               [list(r) for r in data.per_service])) if cloud else ""
    title = f"poc_tasks demo: {data.schema}, cluster {data.cluster_id}, {data.start} to {data.end}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; }} th {{ background: #f3f3f3; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 0.9em; }}
code {{ background: #f3f3f3; padding: 0.1em 0.3em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>OCP source <code>{html.escape(data.source_uuid)}</code>; the OCP daily summary
{f"and OCP on {cloud} " if cloud else ""}computed by poc_tasks through Celery, read back from PostgreSQL
(<code>reporting_ocpusagelineitem_daily_summary</code>{f" and the OCP-on-{cloud} project table" if cloud else ""}).</p>
<h2>Plots</h2>
{figures}
<h2>Per day</h2>
{_table(["day", "CPU core-h used by pods", "CPU core-h unallocated", "CPU core-h requested by pods"]
        + ([f"{cloud} cost"] if cloud else []), day_rows)}
<h2>Per namespace</h2>
{_table(ns_head + ([f"{cloud} cost"] if cloud else []), ns_rows)}
<h2>Per node</h2>
{_table(["node", "CPU core-h used by pods", "CPU core-h requested by pods", "CPU capacity core-h"]
        + ([f"{cloud} cost"] if cloud else []),
        node_rows)}
{service}
<h2>Rows written</h2>
{_table(["table", "rows"], [[t, int(n)] for t, n in sorted(data.rows.items())])}
<h2>Look at the data yourself</h2>
<p><code>{html.escape(shell_hint)}</code></p>
</body></html>
"""
