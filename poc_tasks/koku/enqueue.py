"""Send poc_tasks runs by name through the caller's own Celery app (Koku's), with Koku's argument names.

No import of poc_tasks.app: Koku's workers only need the broker; the poc_tasks worker consumes the queues.
Arguments are checked here, before anything goes on the broker, and sent as JSON-safe values (ISO dates).
"""

from __future__ import annotations

import logging
from typing import Any

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.names import (
    CLOUD_UUID_ARGUMENT,
    OCP,
    QUEUE,
    QUEUE_XL,
    SHADOW_TASK,
    SUMMARY_TASKS,
    provider_type,
)
from poc_tasks.koku.routing import decide
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.validate import date_range, optional_int, validate_schema, validate_uuid

__all__ = [
    "ocp_summary_kwargs",
    "ocp_on_cloud_kwargs",
    "shadow_kwargs",
    "send_summary",
    "send_ocp_summary",
    "send_ocp_on_cloud_summary",
    "send_shadow_compare",
    "send_shadow_compare_if_selected",
    "queue_for",
]

LOG = logging.getLogger(__name__)


def _tracing_id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text or len(text) > 256 or "\x00" in text:
        raise InvalidArgument(f"tracing_id {value!r} must be a non-empty string of at most 256 characters")
    return text


def ocp_summary_kwargs(*, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any, cluster_id: Any,
                       cluster_alias: Any = None, report_period_id: Any = None,
                       tracing_id: Any = None) -> dict[str, Any]:
    """The keyword arguments of poc_tasks.summarize_ocp, validated (the task's signature is the contract)."""
    spec = OcpRunSpec.build(schema_name, source_uuid, cluster_id, start_date, end_date,
                            cluster_alias, report_period_id)
    return {**spec.to_kwargs(), "tracing_id": _tracing_id(tracing_id)}


def ocp_on_cloud_kwargs(provider: str, *, schema_name: Any, openshift_provider_uuid: Any,
                        infrastructure_provider_uuid: Any, start_date: Any, end_date: Any, cluster_id: Any,
                        cluster_alias: Any = None, report_period_id: Any = None, bill_id: Any = None,
                        markup: Any = None, distribution: Any = None, tracing_id: Any = None) -> dict[str, Any]:
    """Keyword arguments of poc_tasks.summarize_ocp_on_<cloud>, named as Koku's accessor method names them
    (populate_ocp_on_aws_cost_daily_summary_trino: openshift_provider_uuid, aws_provider_uuid,
    report_period_id, bill_id), plus what Koku's updater knows: cluster_id (required), cluster_alias, and the
    cost model's markup and distribution. Optional values are sent only when given."""
    kind = provider_type(provider)
    if kind == OCP:
        raise InvalidArgument("ocp_on_cloud_kwargs is for OCP-on-AWS/Azure/GCP; use ocp_summary_kwargs for OCP")
    start, end = date_range(start_date, end_date)
    kwargs: dict[str, Any] = {
        "schema_name": validate_schema(schema_name),
        "openshift_provider_uuid": validate_uuid(openshift_provider_uuid, "openshift_provider_uuid"),
        CLOUD_UUID_ARGUMENT[kind]: validate_uuid(infrastructure_provider_uuid, CLOUD_UUID_ARGUMENT[kind]),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }
    for name, value in (("report_period_id", report_period_id), ("bill_id", bill_id)):
        if value is not None:
            kwargs[name] = optional_int(value, name)
    if not isinstance(cluster_id, str) or not cluster_id:
        raise InvalidArgument(f"cluster_id {cluster_id!r} must be a non-empty string")
    kwargs["cluster_id"] = cluster_id
    if cluster_alias is not None:
        kwargs["cluster_alias"] = str(cluster_alias)
    if markup is not None:
        try:
            kwargs["markup"] = float(markup)
        except (TypeError, ValueError):
            raise InvalidArgument(f"markup {markup!r} is not a number") from None
    if distribution is not None:
        if distribution not in ("cpu", "memory"):
            raise InvalidArgument(f"distribution {distribution!r}: expected 'cpu' or 'memory'")
        kwargs["distribution"] = distribution
    kwargs["tracing_id"] = _tracing_id(tracing_id)
    return kwargs


def shadow_kwargs(*, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any, cluster_id: Any = None,
                  cluster_alias: Any = None, report_period_id: Any = None, tracing_id: Any = None,
                  provider: str = OCP) -> dict[str, Any]:
    """Keyword arguments of poc_tasks.shadow_compare. cluster_id and the report period may be left out: the
    task reads them from the tenant's report period (Koku's run created it)."""
    if provider_type(provider) != OCP:
        raise InvalidArgument(f"shadow comparison supports OCP only for now, not {provider!r}")
    start, end = date_range(start_date, end_date)
    kwargs: dict[str, Any] = {
        "schema_name": validate_schema(schema_name),
        "source_uuid": validate_uuid(source_uuid),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "tracing_id": _tracing_id(tracing_id),
    }
    if cluster_id is not None:
        kwargs["cluster_id"] = str(cluster_id)
    if cluster_alias is not None:
        kwargs["cluster_alias"] = str(cluster_alias)
    if report_period_id is not None:
        kwargs["report_period_id"] = optional_int(report_period_id, "report_period_id")
    return kwargs


def queue_for(schema_name: str, xl: bool | None = None, config: RoutingConfig | None = None) -> str:
    """poc_aggregation_xl when `xl` is true (e.g. Koku's get_customer_queue chose an XL queue) or, with `xl`
    left None, when the schema is on POC_AGGREGATOR_XL_SCHEMAS; poc_aggregation otherwise."""
    if xl is None:
        cfg = config if config is not None else RoutingConfig.from_settings()
        xl = schema_name in cfg.xl
    return QUEUE_XL if xl else QUEUE


def send_summary(app: Any, provider: str, kwargs: dict[str, Any], *, queue: str | None = None,
                 xl: bool | None = None, **options: Any) -> Any:
    """app.send_task(poc_tasks.summarize_<provider>, kwargs=...) on the poc queue; returns the AsyncResult.

    `kwargs` must come from ocp_summary_kwargs / ocp_on_cloud_kwargs. `options` go to send_task (countdown, ...).
    """
    kind = provider_type(provider)
    target = queue or queue_for(kwargs["schema_name"], xl)
    LOG.info("sending %s schema=%s queue=%s tracing_id=%s", SUMMARY_TASKS[kind], kwargs["schema_name"], target,
             kwargs.get("tracing_id"))
    return app.send_task(SUMMARY_TASKS[kind], kwargs=kwargs, queue=target, **options)


def send_ocp_summary(app: Any, *, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
                     cluster_id: Any, cluster_alias: Any = None, report_period_id: Any = None,
                     tracing_id: Any = None, queue: str | None = None, xl: bool | None = None,
                     **options: Any) -> Any:
    """Send poc_tasks.summarize_ocp (Koku's populate_line_item_daily_summary_table_trino, as a task)."""
    kwargs = ocp_summary_kwargs(schema_name=schema_name, source_uuid=source_uuid, start_date=start_date,
                                end_date=end_date, cluster_id=cluster_id, cluster_alias=cluster_alias,
                                report_period_id=report_period_id, tracing_id=tracing_id)
    return send_summary(app, OCP, kwargs, queue=queue, xl=xl, **options)


def send_ocp_on_cloud_summary(app: Any, provider: str, *, queue: str | None = None, xl: bool | None = None,
                              options: dict[str, Any] | None = None, **arguments: Any) -> Any:
    """Send poc_tasks.summarize_ocp_on_<cloud>; `arguments` as ocp_on_cloud_kwargs takes them."""
    kwargs = ocp_on_cloud_kwargs(provider, **arguments)
    return send_summary(app, provider, kwargs, queue=queue, xl=xl, **(options or {}))


def send_shadow_compare(app: Any, *, queue: str | None = None, xl: bool | None = None, **arguments: Any) -> Any:
    """Send poc_tasks.shadow_compare (phase 1); `arguments` as shadow_kwargs takes them."""
    kwargs = shadow_kwargs(**arguments)
    target = queue or queue_for(kwargs["schema_name"], xl)
    return app.send_task(SHADOW_TASK, kwargs=kwargs, queue=target)


def send_shadow_compare_if_selected(app: Any, *, schema_name: str, provider_type: str, source_uuid: Any,
                                    start_date: Any, end_date: Any, tracing_id: Any = None,
                                    config: RoutingConfig | None = None) -> Any | None:
    """Koku's processor/tasks.py hook of phase 1: after Trino summarised, send a shadow comparison when the
    routing says so (POC_SHADOW_COMPARE on and the tenant selected); None when it does not.

    Provider types other than OCP are skipped (logged) until their comparison exists; Koku calls this for
    every provider type, so one poc_tasks does not know (e.g. "OCI") is skipped too, not an error.
    """
    from poc_tasks.koku.names import provider_type as canonical

    cfg = config if config is not None else RoutingConfig.from_settings()
    try:
        kind = canonical(provider_type)
    except InvalidArgument:
        LOG.debug("no shadow comparison for provider type %r", provider_type)
        return None
    decision = decide(schema_name, kind, cfg)
    if not decision.shadow:
        return None
    if decision.provider_type != OCP:
        # Koku passes its source's type ("AWS", ...): that source's daily summaries are compared by the summary
        # updater's hook (poc_tasks.koku.daily.shadow_daily_summary_if_selected, integration/koku/0010), which
        # has the bill, markup and invoice month Trino ran with; OCP-on-cloud has no comparison yet.
        LOG.info("no shadow comparison here for %s (schema=%s tracing_id=%s): cloud daily summaries are compared "
                 "from Koku's summary updater, OCP-on-cloud runs not yet", decision.provider_type, schema_name,
                 tracing_id)
        return None
    return send_shadow_compare(app, schema_name=schema_name, source_uuid=source_uuid, start_date=start_date,
                               end_date=end_date, tracing_id=tracing_id, xl=schema_name in cfg.xl)
