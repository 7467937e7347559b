"""A cloud-only user's cost report: the cloud daily summary of a source, per service (used by `poc-tasks demo`)."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Any

from psycopg2 import sql

__all__ = ["CLOUD_DAILY", "daily_kwargs", "cloud_daily_report", "run_cloud_daily"]

# cloud -> (task, table, service column, cost column, markup column)
CLOUD_DAILY = {
    "aws": ("poc_tasks.summarize_aws", "reporting_awscostentrylineitem_daily_summary", "product_code",
            "unblended_cost", "markup_cost"),
    "azure": ("poc_tasks.summarize_azure", "reporting_azurecostentrylineitem_daily_summary", "service_name",
              "pretax_cost", "markup_cost"),
    "gcp": ("poc_tasks.summarize_gcp", "reporting_gcpcostentrylineitem_daily_summary", "service_alias",
            "unblended_cost", "markup_cost"),
}


def daily_kwargs(scenario: dict[str, Any], cloud: str, markup_value: float = 0.0) -> dict[str, Any]:
    """summarize_<cloud>'s arguments for a sample scenario's cloud source (Koku's names)."""
    section = scenario[cloud]
    return {"schema_name": scenario["schema"], "source_uuid": section["source_uuid"],
            "start_date": section.get("start_date", scenario["start_date"]),
            "end_date": section.get("end_date", scenario["end_date"]), "markup_value": markup_value}


def cloud_daily_report(database_url: str, schema: str, cloud: str, source_uuid: str, result: dict[str, Any],
                       seconds: float) -> str:
    from poc_tasks.db.connection import connect, qualified
    from poc_tasks.validate import validate_schema

    _task, table, service, cost, markup = CLOUD_DAILY[cloud]
    query = sql.SQL("SELECT coalesce({}, '(none)'), sum({}), sum({}), count(DISTINCT usage_start) FROM {}"
                    " WHERE source_uuid = %s GROUP BY 1 ORDER BY 2 DESC NULLS LAST").format(
        sql.Identifier(service), sql.Identifier(cost), sql.Identifier(markup),
        qualified(validate_schema(schema), table))
    with closing(connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute(query, (source_uuid,))
        rows = cur.fetchall()
    lines = [f"{'service':40s} {'cost':>12s} {'markup':>12s} {'days':>5s}"]
    lines += [f"{name[:40]:40s} {float(c or 0):12.2f} {float(m or 0):12.2f} {d:5d}" for name, c, m, d in rows]
    lines += ["", f"total {cloud.upper() if cloud != 'azure' else 'Azure'} cost: "
                  f"{sum(float(r[1] or 0) for r in rows):.2f}",
              "rows per table: " + ", ".join(f"{t}={n}" for t, n in result["rows"].items()),
              f"time: {seconds:.2f} s"]
    return "\n".join(lines)


def run_cloud_daily(app: Any, queue: str, database_url: str, scenario: dict[str, Any],
                    cloud: str) -> tuple[dict[str, Any], str]:
    """Send the cloud's daily summary through the app's worker and wait: (the run summary, the report's text)."""
    kwargs = daily_kwargs(scenario, cloud)
    t0 = time.perf_counter()
    result = app.send_task(CLOUD_DAILY[cloud][0], kwargs=kwargs, queue=queue).get(timeout=600)
    text = (f"{cloud.upper() if cloud != 'azure' else 'Azure'} daily summary ({CLOUD_DAILY[cloud][1]}), "
            "a cloud-only user's cost report\n\n"
            + cloud_daily_report(database_url, scenario["schema"], cloud, kwargs["source_uuid"], result,
                                 time.perf_counter() - t0))
    return result, text
