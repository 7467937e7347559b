"""Run poc_tasks in place of a Koku accessor method, and fall back to Koku's Trino SQL when that fails.

    outcome = summarize_ocp_or_trino(schema_name=..., ..., trino=lambda: <Koku's original method body>)

1. routing (poc_tasks.koku.routing) decides; on the Trino path the callable runs and nothing else happens;
2. on the poc_tasks path the run either goes to the poc_aggregation queue through the caller's Celery app and
   is waited for (mode "celery", the default; up to POC_AGGREGATOR_TIMEOUT seconds), or runs in this process
   (mode "inline": needs pandas/pyarrow/s3fs in Koku's image, which it has);
3. if the run fails or times out: log a warning with the tracing id, count it
   (poc_tasks_fallbacks_total{provider_type, reason}), and call the Trino callable. A timed-out run is flagged
   as cancelled first, so its remaining tasks do not write after Trino did.

Bad arguments (not a tenant schema, malformed dates, ...) and bad settings raise before either path runs.
"""

from __future__ import annotations

import contextvars
import decimal
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from poc_tasks.errors import InvalidArgument, PocTasksError
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.enqueue import ocp_on_cloud_kwargs, ocp_summary_kwargs, queue_for, send_summary
from poc_tasks.koku.names import OCP, provider_type
from poc_tasks.koku.routing import POC, TRINO, Decision, decide

__all__ = [
    "Outcome",
    "PocRunTimeout",
    "tracing",
    "current_tracing_id",
    "run_or_fallback",
    "summarize_ocp_or_trino",
    "summarize_ocp_on_cloud_or_trino",
    "cost_model_arguments",
]

LOG = logging.getLogger(__name__)
FALLBACK = "fallback"
_TRACING: contextvars.ContextVar[str | None] = contextvars.ContextVar("poc_tasks_tracing_id", default=None)
# Errors that must stop the caller, never be turned into a fallback (Celery's soft time limit, shutdown).
_NEVER_FALL_BACK = ("SoftTimeLimitExceeded", "Terminated", "WorkerLostError")


class PocRunTimeout(PocTasksError):
    """A sent run did not finish within the timeout (it was flagged as cancelled)."""

    def __init__(self, message: str, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


@dataclass(frozen=True)
class Outcome:
    path: str  # "poc", "trino" (routed there) or "fallback" (poc failed, Trino ran)
    result: Any = None  # what the path returned (poc_tasks' run summary, or the Trino callable's value)
    error: str | None = None  # the poc_tasks error that caused a fallback
    decision: Decision | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def tracing(tracing_id: str | None) -> Iterator[None]:
    """Make Koku's tracing id visible to the accessor hooks called inside (they do not receive it)."""
    token = _TRACING.set(tracing_id)
    try:
        yield
    finally:
        _TRACING.reset(token)


def current_tracing_id() -> str | None:
    return _TRACING.get()


def run_or_fallback(provider: str, poc: Callable[[], Any], trino: Callable[[], Any], *, schema_name: str,
                    tracing_id: str | None = None, decision: Decision | None = None,
                    before_fallback: Callable[[], Any] | None = None) -> Outcome:
    """Call `poc`; if it raises, log (with the tracing id), count, call `before_fallback` (e.g. Koku's delete of
    the chunk's rows, so the fallback starts from what Trino expects) and return what `trino()` returns."""
    kind = provider_type(provider)
    tracing_id = tracing_id or current_tracing_id()
    t0 = time.perf_counter()
    try:
        result = poc()
    except Exception as exc:
        if type(exc).__name__ in _NEVER_FALL_BACK:
            raise
        reason = type(exc).__name__
        LOG.warning("poc_tasks %s run failed for schema=%s tracing_id=%s: %s: %s; falling back to Trino",
                    kind, schema_name, tracing_id, reason, exc, exc_info=True)
        from poc_tasks import metrics

        metrics.FALLBACKS.labels(kind, reason).inc()
        if before_fallback is not None:
            before_fallback()
        value = trino()
        extra = {"task_id": exc.task_id} if isinstance(exc, PocRunTimeout) else {}
        return Outcome(FALLBACK, value, f"{reason}: {exc}", decision, time.perf_counter() - t0, extra)
    LOG.info("poc_tasks %s run done for schema=%s tracing_id=%s in %.1fs", kind, schema_name, tracing_id,
             time.perf_counter() - t0)
    return Outcome(POC, result, None, decision, time.perf_counter() - t0)


def _current_app(app: Any) -> Any:
    if app is not None:
        return app
    from celery import current_app

    return current_app


def _send_and_wait(app: Any, provider: str, kwargs: dict[str, Any], queue: str, timeout: float) -> Any:
    """Send the run and wait for its result (koku.wait: a broker that lost the run is said within
    POC_BROKER_CHECK_S seconds, not after the timeout). A run given up on is flagged as cancelled, so its
    remaining tasks write nothing after Trino did."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from poc_tasks.koku.wait import BrokerLost, send_and_wait

    sent: list[str] = []

    def send(task_id: str) -> Any:
        sent.append(task_id)
        return send_summary(app, provider, kwargs, queue=queue, task_id=task_id)

    try:
        # Koku calls this from inside its own task: waiting on another task's result is what we mean here.
        return send_and_wait(app, send, timeout, f"{provider} run")
    except (CeleryTimeout, BrokerLost) as exc:
        from poc_tasks.locks import request_cancel

        task_id = sent[0] if sent else None
        flagged = bool(task_id) and request_cancel(app, task_id)
        if isinstance(exc, BrokerLost):
            raise
        raise PocRunTimeout(f"{provider} run {task_id} did not finish within {timeout:g}s"
                            f"{' (cancelled)' if flagged else ''}", task_id) from None


def _run_inline_ocp(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The whole OCP run in this process (pandas & co. imported only now)."""
    from poc_tasks import metrics
    from poc_tasks.ocp.pipeline import run_ocp
    from poc_tasks.runspec import OcpRunSpec
    from poc_tasks.settings import Settings

    spec = OcpRunSpec.build(kwargs["schema_name"], kwargs["source_uuid"], kwargs["cluster_id"],
                            kwargs["start_date"], kwargs["end_date"], kwargs["cluster_alias"],
                            kwargs["report_period_id"])
    t0 = time.perf_counter()
    result = run_ocp(spec, Settings.from_env())
    metrics.observe_run(result, time.perf_counter() - t0)
    return result


def _route(schema_name: str, provider: str, config: RoutingConfig | None) -> tuple[RoutingConfig, Decision]:
    cfg = config if config is not None else RoutingConfig.from_settings()
    return cfg, decide(schema_name, provider, cfg)


def summarize_ocp_or_trino(*, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any, cluster_id: Any,
                           cluster_alias: Any, report_period_id: Any, trino: Callable[[], Any],
                           tracing_id: str | None = None, app: Any = None, config: RoutingConfig | None = None,
                           mode: str | None = None, timeout: float | None = None,
                           xl: bool | None = None, before_fallback: Callable[[], Any] | None = None) -> Outcome:
    """The hook of OCPReportDBAccessor.populate_line_item_daily_summary_table_trino (one day chunk).

    `trino` runs Koku's original SQL for the same chunk. `app` is Koku's Celery app (default: the current
    app); `mode`/`timeout` override POC_AGGREGATOR_MODE/POC_AGGREGATOR_TIMEOUT; `xl` picks the XL queue;
    `before_fallback` runs only when poc_tasks failed, before `trino`.
    """
    kwargs = ocp_summary_kwargs(schema_name=schema_name, source_uuid=source_uuid, start_date=start_date,
                                end_date=end_date, cluster_id=cluster_id, cluster_alias=cluster_alias,
                                report_period_id=report_period_id,
                                tracing_id=tracing_id or current_tracing_id())
    cfg, decision = _route(kwargs["schema_name"], OCP, config)
    if decision.path == TRINO:
        return Outcome(TRINO, trino(), None, decision)
    run_mode = (mode or cfg.mode).lower()
    if run_mode == "inline":
        def poc() -> Any:
            return _run_inline_ocp(kwargs)
    else:
        queue = queue_for(kwargs["schema_name"], xl, cfg)

        def poc() -> Any:
            return _send_and_wait(_current_app(app), OCP, kwargs, queue, timeout or cfg.timeout)
    return run_or_fallback(OCP, poc, trino, schema_name=kwargs["schema_name"], tracing_id=kwargs["tracing_id"],
                           decision=decision, before_fallback=before_fallback)


def cost_model_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """markup/distribution arguments of a poc_tasks cloud run from what Koku's Trino path uses.

    `params` is the dict of Koku's SummarySqlMetadata.build_cost_model_params(): "markup" the cloud source's
    cost-model markup as a fraction (Decimal(value) / 100, 0 without a cost model) and "distribution" the OCP
    source's distribution type ('cpu' by default). poc_tasks takes the markup in percent, so the fraction is
    multiplied back in Decimal (exact: it was divided by 100 in Decimal).
    """
    if "markup" not in params or "distribution" not in params:
        raise InvalidArgument(f"cost model parameters {dict(params)!r} lack 'markup' or 'distribution'")
    try:
        percent = decimal.Decimal(str(params["markup"] or 0)) * 100
    except decimal.InvalidOperation:
        raise InvalidArgument(f"cost model markup {params['markup']!r} is not a number") from None
    return {"markup": format(percent.normalize(), "f") if percent else "0", "distribution": params["distribution"]}


def summarize_ocp_on_cloud_or_trino(provider: str, *, trino: Callable[[], Any], app: Any = None,
                                    config: RoutingConfig | None = None, timeout: float | None = None,
                                    xl: bool | None = None, before_fallback: Callable[[], Any] | None = None,
                                    cost_model: Callable[[], Mapping[str, Any]] | None = None,
                                    **arguments: Any) -> Outcome:
    """The hook of populate_ocp_on_<cloud>_cost_daily_summary_trino; `arguments` as ocp_on_cloud_kwargs takes
    them (schema_name, openshift_provider_uuid, infrastructure_provider_uuid, start_date, end_date,
    report_period_id, bill_id). Runs through Celery only (the cloud pipelines are tasks).

    `cost_model` returns what Koku's Trino path reads at the same place (SummarySqlMetadata
    .build_cost_model_params(): markup fraction and distribution); it is called only when the run goes to
    poc_tasks, so Koku's Trino path does no extra query, and its values override `markup`/`distribution`.
    """
    kind = provider_type(provider)
    arguments.setdefault("tracing_id", current_tracing_id())
    kwargs = ocp_on_cloud_kwargs(kind, **arguments)
    cfg, decision = _route(kwargs["schema_name"], kind, config)
    if decision.path == TRINO:
        return Outcome(TRINO, trino(), None, decision)
    queue = queue_for(kwargs["schema_name"], xl, cfg)

    def poc() -> Any:
        run_kwargs = kwargs
        if cost_model is not None:
            run_kwargs = ocp_on_cloud_kwargs(kind, **{**arguments, **cost_model_arguments(cost_model())})
        LOG.info("poc_tasks %s run for schema=%s tracing_id=%s markup=%s distribution=%s", kind,
                 kwargs["schema_name"], kwargs["tracing_id"], run_kwargs.get("markup"),
                 run_kwargs.get("distribution"))
        return _send_and_wait(_current_app(app), kind, run_kwargs, queue, timeout or cfg.timeout)

    return run_or_fallback(kind, poc, trino, schema_name=kwargs["schema_name"], tracing_id=kwargs["tracing_id"],
                           decision=decision, before_fallback=before_fallback)
