"""A stand-in for Koku's processor/tasks.py (the compose "koku" service): enqueue summaries as Koku would.

Koku's summarize_reports splits a manifest's range into months and queues update_summary_tables per month;
update_summary_tables summarises each month (in 5-day chunks) and then runs follow-ups. This script does the
same with its own Celery app named "koku" that shares only the broker with the poc_tasks worker:

    for each month of [start, end]:
        routing decides (USE_POC_AGGREGATOR, POC_AGGREGATOR_PERCENT, allow/deny lists, ...)
        poc_tasks -> send poc_tasks.summarize_ocp by name on poc_aggregation (or _xl)
        Trino     -> there is no Trino here: the month is reported as "trino" and skipped
        shadow    -> send poc_tasks.shadow_compare after the summary (phase 1; --shadow forces one)

    python -m poc_tasks.koku.simulator --schema org1234567 --source-uuid ... --cluster-id ... \\
        --start 2026-01-01 --end 2026-01-03 --wait 600

Prints one JSON object per month. Broker: CELERY_BROKER_URL (or Koku's REDIS_URL), results likewise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from poc_tasks.errors import PocTasksError
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.enqueue import send_ocp_summary, send_shadow_compare
from poc_tasks.koku.names import OCP
from poc_tasks.koku.routing import decide
from poc_tasks.validate import parse_date

__all__ = ["koku_app", "month_ranges", "enqueue_ocp", "main"]

LOG = logging.getLogger("koku.simulator")
# the defaults of `poc-tasks sample` (poc_tasks.sample.SampleConfig), so the compose demo needs no arguments
SAMPLE_SCHEMA = "org1234567"
SAMPLE_SOURCE = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"
SAMPLE_CLUSTER = "my-ocp-cluster-1"
SAMPLE_ALIAS = "My OCP Cluster"


def koku_app(broker_url: str | None = None, result_backend: str | None = None) -> Any:
    """A Celery app named "koku", configured like Koku's (JSON only, Redis broker and results)."""
    from celery import Celery

    broker = broker_url or os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") \
        or "redis://localhost:6379/1"
    app = Celery("koku", broker=broker, backend=result_backend or os.environ.get("CELERY_RESULT_BACKEND") or broker,
                 set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"], result_expires=28800,
                    broker_transport_options={"max_retries": 4, "interval_start": 0, "interval_step": 0.5,
                                              "interval_max": 3},
                    broker_connection_retry_on_startup=True)
    return app


def month_ranges(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Koku's get_months_in_date_range: [start, end] cut at month boundaries."""
    if end < start:
        raise PocTasksError(f"end {end} is before start {start}")
    out = []
    first = start
    while first <= end:
        nxt = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        last = min(end, nxt - dt.timedelta(days=1))
        out.append((first, last))
        first = nxt
    return out


def enqueue_ocp(app: Any, *, schema_name: str, source_uuid: str, cluster_id: str, cluster_alias: str | None,
                start: dt.date, end: dt.date, tracing_id: str, wait: float | None = None, shadow: bool = False,
                config: RoutingConfig | None = None) -> list[dict[str, Any]]:
    """What update_summary_tables would do for an OCP source, month by month; returns one record per month."""
    cfg = config if config is not None else RoutingConfig.from_settings()
    records = []
    for first, last in month_ranges(start, end):
        decision = decide(schema_name, OCP, cfg)
        record: dict[str, Any] = {"schema": schema_name, "start_date": first.isoformat(),
                                  "end_date": last.isoformat(), "path": decision.path, "reason": decision.reason}
        if decision.use_poc:
            result = send_ocp_summary(app, schema_name=schema_name, source_uuid=source_uuid, start_date=first,
                                      end_date=last, cluster_id=cluster_id, cluster_alias=cluster_alias,
                                      tracing_id=tracing_id, xl=schema_name in cfg.xl)
            record["task_id"] = result.id
            if wait or shadow or decision.shadow:  # a comparison needs the month summarised first
                record["result"] = result.get(timeout=wait or 3600)
        if shadow or decision.shadow:
            compare = send_shadow_compare(app, schema_name=schema_name, source_uuid=source_uuid, start_date=first,
                                          end_date=last, cluster_id=cluster_id, cluster_alias=cluster_alias,
                                          tracing_id=tracing_id, xl=schema_name in cfg.xl)
            record["shadow_task_id"] = compare.id
            if wait:
                verdict = compare.get(timeout=wait)
                record["shadow"] = {k: verdict.get(k) for k in ("verdict", "rows", "differing_days",
                                                                 "differing_namespaces", "report")}
        records.append(record)
    return records


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m poc_tasks.koku.simulator", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schema", default=SAMPLE_SCHEMA)
    ap.add_argument("--source-uuid", default=SAMPLE_SOURCE)
    ap.add_argument("--cluster-id", default=SAMPLE_CLUSTER)
    ap.add_argument("--cluster-alias", default=SAMPLE_ALIAS)
    ap.add_argument("--start", default="2026-01-01")
    ap.add_argument("--end", default="2026-01-03")
    ap.add_argument("--tracing-id", default=None, help="default: a new uuid, as Koku's manifests carry one")
    ap.add_argument("--wait", type=float, default=None, help="wait up to SECONDS for each run and print it")
    ap.add_argument("--shadow", action="store_true", help="also send a shadow comparison per month")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: "
                                                                      "%(message)s")
    import uuid

    try:
        records = enqueue_ocp(koku_app(), schema_name=args.schema, source_uuid=args.source_uuid,
                              cluster_id=args.cluster_id, cluster_alias=args.cluster_alias,
                              start=parse_date(args.start, "start"), end=parse_date(args.end, "end"),
                              tracing_id=args.tracing_id or str(uuid.uuid4()), wait=args.wait, shadow=args.shadow)
    except PocTasksError as exc:
        print(f"koku simulator: error: {exc}", file=sys.stderr)
        return 2
    for record in records:
        print(json.dumps(record, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
