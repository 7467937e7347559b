"""The look-ups Koku's hooks ask poc_tasks (values returned to Koku, nothing written), and where they run.

Koku's accessors ask Trino four questions whose answers they use at once: GCP's invoice-month dates and topology
(patch 0007), the pod Parquet's time range and whether a month has GPU data (patch 0009). poc_tasks answers them
from the Parquet. By default (POC_AGGREGATOR_MODE=celery) the answer comes from a poc_tasks worker
(``poc_tasks.lookup``): Koku's image lacks fsspec/s3fs, which the Parquet reads need, and Koku needs only
``poc_tasks.koku``. With POC_AGGREGATOR_MODE=inline the answer is computed in Koku's process. A failure or a timeout
runs Koku's Trino query. Values cross the broker as JSON: datetimes as tagged ISO strings, tuples as lists, and
are given back in Koku's shapes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.enqueue import queue_for
from poc_tasks.koku.fallback import Outcome, PocRunTimeout, _current_app, _route, current_tracing_id, run_or_fallback
from poc_tasks.koku.routing import TRINO

__all__ = ["LOOKUP_TASK", "LOOKUPS", "answer", "to_wire", "from_wire", "lookup_or_trino"]

LOOKUP_TASK = "poc_tasks.lookup"
LOOKUPS = ("gpu_data", "max_min_timestamp", "gcp_invoice_month_dates", "gcp_topology")
_DT = "__datetime__"


def answer(name: str, settings: Any, arguments: dict[str, Any]) -> Any:
    """Compute look-up `name` from the Parquet under `settings` (heavy modules imported here, not in Koku)."""
    a = arguments
    if name == "gpu_data":
        from poc_tasks.cost_model.helpers import reporting_period_has_gpu_data

        return reporting_period_has_gpu_data(settings.require_data_root(), a["schema_name"], a["source_uuid"],
                                             dt.date.fromisoformat(a["start_date"]), settings.storage_options())
    if name == "max_min_timestamp":
        from poc_tasks.cost_model.helpers import max_min_timestamp

        return max_min_timestamp(settings.require_data_root(), a["schema_name"], a["source_uuid"],
                                 dt.date.fromisoformat(a["start_date"]), dt.date.fromisoformat(a["end_date"]),
                                 settings.storage_options())
    if name == "gcp_invoice_month_dates":
        from poc_tasks.daily.gcp_lookups import fetch_invoice_month_dates

        return fetch_invoice_month_dates(settings, a["schema_name"], a["start_date"], a["end_date"],
                                         a["invoice_month"], a["source_uuid"])
    if name == "gcp_topology":
        from poc_tasks.daily.gcp_lookups import get_gcp_topology

        return get_gcp_topology(settings, a["schema_name"], a["source_uuid"], a["start_date"], a["end_date"],
                                a["invoice_month"])
    raise InvalidArgument(f"unknown look-up {name!r}; known: {', '.join(LOOKUPS)}")


def to_wire(value: Any) -> Any:
    """JSON-safe: datetimes tagged (naive ones stay naive), tuples as lists."""
    if isinstance(value, dt.datetime):
        return {_DT: value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


def _back(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_DT}:
        return dt.datetime.fromisoformat(value[_DT])
    if isinstance(value, list):
        return tuple(_back(v) for v in value)
    return value


def from_wire(name: str, value: Any) -> Any:
    """Koku's shape of look-up `name` from its JSON: bool; (min, max); [(min, max)]; [(source, ...), ...]."""
    if name in ("gcp_invoice_month_dates", "gcp_topology"):
        return [_back(row) for row in value]
    return _back(value)


def lookup_or_trino(name: str, provider: str, *, arguments: dict[str, Any], trino: Callable[[], Any],
                    app: Any = None, config: RoutingConfig | None = None, mode: str | None = None,
                    timeout: float | None = None) -> Outcome:
    """Answer look-up `name` (arguments already validated, JSON-safe, with schema_name) on poc_tasks when routing
    sends `provider` there, else (or on failure/timeout) Koku's `trino()`."""
    if name not in LOOKUPS:
        raise InvalidArgument(f"unknown look-up {name!r}; known: {', '.join(LOOKUPS)}")
    schema = arguments["schema_name"]
    cfg, decision = _route(schema, provider, config)
    if decision.path == TRINO:
        return Outcome(TRINO, trino(), None, decision)
    tracing_id = current_tracing_id()
    if (mode or cfg.mode).lower() == "inline":
        def poc() -> Any:
            from poc_tasks.settings import Settings

            return answer(name, Settings.from_env(), arguments)
    else:
        queue = queue_for(schema, None, cfg)

        def poc() -> Any:
            from celery.exceptions import TimeoutError as CeleryTimeout

            result = _current_app(app).send_task(LOOKUP_TASK, kwargs={"name": name, "arguments": arguments,
                                                                      "tracing_id": tracing_id}, queue=queue)
            try:
                return from_wire(name, result.get(timeout=timeout or cfg.timeout, disable_sync_subtasks=False))
            except CeleryTimeout:
                raise PocRunTimeout(f"look-up {name} ({result.id}) did not finish within "
                                    f"{timeout or cfg.timeout:g}s", result.id) from None

    return run_or_fallback(provider, poc, trino, schema_name=schema, tracing_id=tracing_id, decision=decision)
