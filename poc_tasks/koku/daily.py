"""Koku's hooks for the cloud daily summaries and GCP's two Trino reads (see docs/koku-integration.md).

- :func:`daily_summary_kwargs` / :func:`send_daily_summary`: the keyword arguments of ``poc_tasks.summarize_aws``,
  ``summarize_azure``, ``summarize_gcp``, named as Koku's ``populate_line_item_daily_summary_table_trino(start_date,
  end_date, source_uuid, bill_id, markup_value[, invoice_month])`` names them, validated before anything is sent.
- :func:`summarize_daily_or_trino`: the run-or-fall-back hook of that accessor method (one date chunk, through
  Celery; on failure or timeout Koku's Trino SQL runs).
- :func:`fetch_invoice_month_dates_or_trino` and :func:`get_gcp_topology_or_trino`: GCPReportDBAccessor's reads
  that return values (in Koku's shapes), answered from the Parquet (poc_tasks.koku.lookups), else by Trino.
- :func:`shadow_daily_summary_if_selected`: phase 1 (integration/koku/0010): at the end of Koku's
  {AWS,Azure,GCP}ReportParquetSummaryUpdater.update_summary_tables, after Trino wrote the range (and Koku's tag
  mapping ran), send ``poc_tasks.shadow_compare`` for it when the routing shadows the tenant.

Importable without pandas, pyarrow, s3fs or SQLAlchemy (the Parquet reads import them only when they run inline;
by default the look-ups are the task poc_tasks.lookup on a poc_tasks worker: poc_tasks.koku.lookups).
Provider types: AWS-daily, Azure-daily, GCP-daily (routing: POC_AGGREGATOR_PROVIDERS, POC_AGGREGATOR_PERCENT_
AZURE_DAILY, ...).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Callable
from typing import Any

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.enqueue import _tracing_id, queue_for, send_summary
from poc_tasks.koku.fallback import Outcome, _current_app, _route, _send_and_wait, current_tracing_id, run_or_fallback
from poc_tasks.koku.lookups import lookup_or_trino
from poc_tasks.koku.names import AWS_EC2_COMPUTE, DAILY_TYPES, GCP_DAILY, SHADOW_TASK, provider_type
from poc_tasks.koku.routing import TRINO, decide
from poc_tasks.validate import date_range, optional_int, parse_date, validate_schema, validate_uuid

__all__ = ["daily_summary_kwargs", "send_daily_summary", "summarize_daily_or_trino",
           "fetch_invoice_month_dates_or_trino", "get_gcp_topology_or_trino", "daily_shadow_kwargs",
           "send_daily_shadow_compare", "shadow_daily_summary_if_selected"]

LOG = logging.getLogger(__name__)
_INVOICE_MONTH = re.compile(r"[0-9]{4}(0[1-9]|1[0-2])")


def _daily_type(provider: str) -> str:
    kind = provider_type(provider)
    if kind not in DAILY_TYPES:
        raise InvalidArgument(f"{provider!r} is not a cloud daily summary type ({', '.join(DAILY_TYPES)})")
    return kind


def _invoice_month(value: Any) -> str:
    text = str(value)
    if not _INVOICE_MONTH.fullmatch(text):
        raise InvalidArgument(f"invoice_month {value!r} is not YYYYMM")
    return text


def daily_summary_kwargs(provider: str, *, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
                         bill_id: Any = None, markup_value: Any = None, invoice_month: Any = None,
                         tracing_id: Any = None) -> dict[str, Any]:
    """Keyword arguments of poc_tasks.summarize_<aws|azure|gcp>. The range lies in one month, except for GCP with an
    invoice_month (its invoice's days reach into the months around it); optional values are sent only when given."""
    kind = _daily_type(provider)
    # a GCP invoice's days may reach into the months around it; every other range lies in one month
    start, end = date_range(start_date, end_date, one_month=not (kind == GCP_DAILY and invoice_month is not None))
    kwargs: dict[str, Any] = {"schema_name": validate_schema(schema_name), "source_uuid": validate_uuid(source_uuid),
                              "start_date": start.isoformat(), "end_date": end.isoformat()}
    if bill_id is not None:
        kwargs["bill_id"] = optional_int(bill_id, "bill_id")
    if markup_value is not None:
        try:
            kwargs["markup_value"] = float(markup_value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"markup_value {markup_value!r} is not a number") from None
    if invoice_month is not None:
        if kind != GCP_DAILY:
            raise InvalidArgument("invoice_month is GCP's argument")
        kwargs["invoice_month"] = _invoice_month(invoice_month)
    if tracing_id is not None:
        kwargs["tracing_id"] = _tracing_id(tracing_id)
    return kwargs


def send_daily_summary(app: Any, provider: str, *, queue: str | None = None, xl: bool | None = None,
                       options: dict[str, Any] | None = None, **arguments: Any) -> Any:
    """Send poc_tasks.summarize_<aws|azure|gcp> through Koku's Celery app; `arguments` as daily_summary_kwargs."""
    kind = _daily_type(provider)
    return send_summary(app, kind, daily_summary_kwargs(kind, **arguments), queue=queue, xl=xl, **(options or {}))


def summarize_daily_or_trino(provider: str, *, trino: Callable[[], Any], app: Any = None,
                             config: RoutingConfig | None = None, timeout: float | None = None,
                             xl: bool | None = None, before_fallback: Callable[[], Any] | None = None,
                             **arguments: Any) -> Outcome:
    """The hook of {AWS,Azure,GCP}ReportDBAccessor.populate_line_item_daily_summary_table_trino (one date chunk):
    `arguments` as daily_summary_kwargs takes them; `trino` runs Koku's original SQL for the same chunk. The run
    does Koku's delete of the chunk (range and bill) itself, in the transaction of its insert."""
    kind = _daily_type(provider)
    arguments.setdefault("tracing_id", current_tracing_id())
    kwargs = daily_summary_kwargs(kind, **arguments)
    cfg, decision = _route(kwargs["schema_name"], kind, config)
    if decision.path == TRINO:
        return Outcome(TRINO, trino(), None, decision)
    queue = queue_for(kwargs["schema_name"], xl, cfg)

    def poc() -> Any:
        return _send_and_wait(_current_app(app), kind, kwargs, queue, timeout or cfg.timeout)

    return run_or_fallback(kind, poc, trino, schema_name=kwargs["schema_name"],
                           tracing_id=kwargs.get("tracing_id"), decision=decision, before_fallback=before_fallback)


def _gcp_lookup_arguments(schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
                          invoice_month: Any) -> dict[str, Any]:
    return {"schema_name": validate_schema(schema_name), "source_uuid": validate_uuid(source_uuid),
            "start_date": parse_date(start_date, "start_date").isoformat(),
            "end_date": parse_date(end_date, "end_date").isoformat(), "invoice_month": _invoice_month(invoice_month)}


def fetch_invoice_month_dates_or_trino(*, schema_name: Any, start_date: Any, end_date: Any, invoice_month: Any,
                                       source_uuid: Any, trino: Callable[[], Any],
                                       config: RoutingConfig | None = None, **options: Any) -> Outcome:
    """The hook of GCPReportDBAccessor.fetch_invoice_month_dates: Outcome.result is ``[(min, max)]`` of the invoice
    month's usage_start_time (naive datetimes; ``[(None, None)]`` when none), as Koku's Trino query returns it.
    `options`: app, mode, timeout of poc_tasks.koku.lookups.lookup_or_trino."""
    arguments = _gcp_lookup_arguments(schema_name, source_uuid, start_date, end_date, invoice_month)
    return lookup_or_trino("gcp_invoice_month_dates", GCP_DAILY, arguments=arguments, trino=trino, config=config,
                           **options)


def get_gcp_topology_or_trino(*, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
                              invoice_month: Any, trino: Callable[[], Any],
                              config: RoutingConfig | None = None, **options: Any) -> Outcome:
    """The hook of GCPReportDBAccessor.get_gcp_topology_trino: Outcome.result is the list of (source,
    billing_account_id, project_id, project_name, service_id, service_description, location_region) tuples."""
    arguments = _gcp_lookup_arguments(schema_name, source_uuid, start_date, end_date, invoice_month)
    return lookup_or_trino("gcp_topology", GCP_DAILY, arguments=arguments, trino=trino, config=config, **options)


# --- phase 1: shadow comparisons of the daily summaries Trino wrote -------------------------------------------


def daily_shadow_kwargs(provider: str, **arguments: Any) -> dict[str, Any]:
    """Keyword arguments of poc_tasks.shadow_compare for a cloud daily summary: the summary's own arguments
    (daily_summary_kwargs: range, bill, markup, invoice month) and its provider type."""
    kind = _daily_type(provider)
    return {**daily_summary_kwargs(kind, **arguments), "provider_type": kind}


def _send_shadow(app: Any, kwargs: dict[str, Any], queue: str) -> Any:
    LOG.info("sending %s %s schema=%s source=%s %s..%s queue=%s tracing_id=%s", SHADOW_TASK, kwargs["provider_type"],
             kwargs["schema_name"], kwargs["source_uuid"], kwargs["start_date"], kwargs["end_date"], queue,
             kwargs.get("tracing_id"))
    return app.send_task(SHADOW_TASK, kwargs=kwargs, queue=queue)


def send_daily_shadow_compare(app: Any, provider: str, *, queue: str | None = None, xl: bool | None = None,
                              **arguments: Any) -> Any:
    """Send poc_tasks.shadow_compare for a cloud daily summary; `arguments` as daily_summary_kwargs takes them."""
    kwargs = daily_shadow_kwargs(provider, **arguments)
    return _send_shadow(app, kwargs, queue or queue_for(kwargs["schema_name"], xl))


def shadow_daily_summary_if_selected(provider: str, *, app: Any = None, config: RoutingConfig | None = None,
                                     **arguments: Any) -> Any | None:
    """Koku's phase-1 hook of the cloud daily summaries (integration/koku/0010), called by the summary updater
    once Trino has written the whole range: send poc_tasks.shadow_compare (returns the AsyncResult) when the
    routing shadows this tenant and provider type (POC_SHADOW_COMPARE on, the type on POC_AGGREGATOR_PROVIDERS,
    the tenant selected, the summary was Trino's), else None. `arguments` as daily_summary_kwargs takes them; the
    tracing id defaults to the one Koku's task set (poc_tasks.koku.tracing). Bad arguments raise InvalidArgument
    (Koku's hook logs it and goes on: a comparison never affects the summary)."""
    cfg = config if config is not None else RoutingConfig.from_settings()
    if _daily_type(provider) == AWS_EC2_COMPUTE and arguments.get("start_date") is not None:
        # Koku's EC2 SQL reads and inserts the whole month (its delete stops at the updater's end_date): compare
        # the month, as the Trino-off hook runs it (integration/koku/0007)
        first = parse_date(arguments["start_date"], "start_date").replace(day=1)
        arguments = {**arguments, "start_date": first,
                     "end_date": first.replace(day=calendar.monthrange(first.year, first.month)[1])}
    kwargs = daily_shadow_kwargs(provider, **{"tracing_id": current_tracing_id(), **arguments})
    decision = decide(kwargs["schema_name"], kwargs["provider_type"], cfg)
    if not decision.shadow:
        LOG.debug("no shadow comparison of %s for schema=%s: %s", decision.provider_type, decision.schema_name,
                  decision.reason)
        return None
    return _send_shadow(_current_app(app), kwargs, queue_for(kwargs["schema_name"], None, cfg))
