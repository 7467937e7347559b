"""Koku's cost-model call sites that query Trino, run by poc_tasks or fall back to Trino, one step at a time.

    outcome = cost_model_step_or_trino("gpu_monthly", schema_name=..., provider_uuid=..., start_date=...,
                                       end_date=..., cluster_id=..., trino=lambda: <Koku's original call>)

Routing is the OCP provider type's (POC_AGGREGATOR_PROVIDERS must hold OCP, same rollout buckets): a tenant whose
OCP summary poc_tasks makes also gets its cost-model steps from poc_tasks. The step is sent as
``poc_tasks.apply_ocp_cost_model`` with ``steps=[step]`` and waited for (POC_AGGREGATOR_TIMEOUT). A step writes in
one transaction, so a failed or timed-out step has written nothing (or everything, if it committed just before
the timeout; Koku's fallback then deletes and rewrites the same rows): the Trino call simply runs.

Which Koku call each step replaces: KOKU_CALL_SITES below (and docs/trino-call-sites-ocp-cost-model.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.enqueue import queue_for
from poc_tasks.koku.fallback import (
    Outcome,
    _current_app,
    _route,
    current_tracing_id,
    run_or_fallback,
)
from poc_tasks.koku.lookups import lookup_or_trino
from poc_tasks.koku.names import OCP
from poc_tasks.koku.routing import TRINO
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.validate import parse_date, validate_schema, validate_uuid

__all__ = ["COST_MODEL_TASK", "COST_MODEL_STEPS", "OPTIONAL_STEPS", "RTU_STEPS", "KOKU_CALL_SITES", "cost_model_kwargs",
           "cost_model_step_or_trino", "reporting_period_has_gpu_data_or_trino", "max_min_timestamp_or_trino"]

COST_MODEL_TASK = "poc_tasks.apply_ocp_cost_model"
# poc_tasks.cost_model.flow.STEPS, repeated: importing the flow would pull pandas into Koku's process
COST_MODEL_STEPS = ("gpu_monthly", "vm_core_monthly", "vm_hourly", "vm_tag_based", "project_tag_based")
# run only when named: vm_tmp_table needs vm_tmp_uuid (Koku's tmp_virt_<uuid> table); gpu_ui_usage_only and
# vm_ui_summary are UI steps (Koku runs them after the costs, from populate_ui_summary_tables)
OPTIONAL_STEPS = ("vm_tmp_table", "gpu_ui_usage_only", "gpu_distribution", "vm_ui_summary")
KOKU_CALL_SITES = {
    "vm_core_monthly": "OCPReportDBAccessor.populate_monthly_cost_sql(cost_type='OCP_VM_CORE')",
    "gpu_monthly": "OCPReportDBAccessor.populate_tag_based_costs (gpu_cost_per_month)",
    "vm_hourly": "OCPReportDBAccessor.populate_vm_usage_costs (both rate types)",
    "vm_tag_based": "OCPReportDBAccessor.populate_tag_based_costs (vm_cost_per_hour, vm_core_cost_per_month, "
                    "vm_core_cost_per_hour)",
    "project_tag_based": "OCPReportDBAccessor.populate_tag_based_costs (project_per_month)",
    "vm_tmp_table": "OCPReportDBAccessor._populate_virtualization_ui_summary_table (populate_vm_tmp_table*.sql), "
                    "on Koku's path when vm_ui_summary fell back",
    "vm_ui_summary": "OCPReportDBAccessor._populate_virtualization_ui_summary_table (whole: the Trino existence "
                     "checks, tmp_virt_<uuid> and reporting_ocp_vm_summary_p)",
    "gpu_ui_usage_only": "OCPReportDBAccessor._populate_gpu_ui_summary_table_with_usage_only",
    "gpu_distribution": "OCPReportDBAccessor.populate_distributed_cost_sql (GPU_UNALLOCATED, the month's range)",
}
# the steps whose Koku statement has an _rtu variant (use_rtu: Koku's cost_breakdown_rates_to_usage flag); the UI
# and scratch-table steps read and write the same either way
RTU_STEPS = ("gpu_monthly", "vm_core_monthly", "vm_hourly", "vm_tag_based", "project_tag_based", "gpu_distribution")


def cost_model_kwargs(*, schema_name: Any, provider_uuid: Any, start_date: Any, end_date: Any, cluster_id: Any,
                      cluster_alias: Any = None, report_period_id: Any = None, steps: Any = None,
                      tracing_id: Any = None, vm_tmp_uuid: Any = None, use_rtu: Any = False) -> dict[str, Any]:
    """Validated, JSON-safe kwargs of poc_tasks.apply_ocp_cost_model (Koku's argument names). `use_rtu` is the value
    Koku's updater passes its accessor (the Unleash flag cost_breakdown_rates_to_usage, read once per run): the
    steps then write Koku's _rtu statements' rates_to_usage rows instead of the daily summary's."""
    spec = OcpRunSpec.build(schema_name, provider_uuid, cluster_id, start_date, end_date, cluster_alias,
                            report_period_id)
    chosen = list(steps) if steps is not None else list(COST_MODEL_STEPS)
    known = COST_MODEL_STEPS + OPTIONAL_STEPS
    unknown = [s for s in chosen if s not in known]
    if unknown or isinstance(steps, str):
        raise InvalidArgument(f"unknown cost-model step(s) {unknown or steps!r}; known: {', '.join(known)}")
    if "vm_tmp_table" in chosen and not (isinstance(vm_tmp_uuid, str) and len(vm_tmp_uuid) == 32
                                         and all(c in "0123456789abcdef" for c in vm_tmp_uuid)):
        raise InvalidArgument(f"vm_tmp_uuid {vm_tmp_uuid!r}: vm_tmp_table needs the 32-hex uuid of tmp_virt_<uuid>")
    if not isinstance(use_rtu, bool):  # a truthy string would silently pick the other pipeline
        raise InvalidArgument(f"use_rtu must be True or False (Koku's flag), got {use_rtu!r}")
    return {"schema_name": spec.schema_name, "provider_uuid": spec.source_uuid,
            "start_date": spec.start_date.isoformat(), "end_date": spec.end_date.isoformat(),
            "cluster_id": spec.cluster_id, "cluster_alias": spec.cluster_alias,
            "report_period_id": spec.report_period_id, "steps": chosen, "vm_tmp_uuid": vm_tmp_uuid,
            "use_rtu": use_rtu, "tracing_id": None if tracing_id is None else str(tracing_id)}


def cost_model_step_or_trino(step: str, *, trino: Callable[[], Any], schema_name: Any, provider_uuid: Any,
                             start_date: Any, end_date: Any, cluster_id: Any, cluster_alias: Any = None,
                             report_period_id: Any = None, tracing_id: str | None = None, app: Any = None,
                             config: RoutingConfig | None = None, timeout: float | None = None,
                             xl: bool | None = None, vm_tmp_uuid: str | None = None,
                             use_rtu: bool = False) -> Outcome:
    """Run one cost-model step on poc_tasks when routing says so, else (or when it fails) Koku's `trino()`.
    `use_rtu`: Koku's flag as its accessor method got it (the step's _rtu variant; `trino` is Koku's call with the
    same flag)."""
    kwargs = cost_model_kwargs(schema_name=schema_name, provider_uuid=provider_uuid, start_date=start_date,
                               end_date=end_date, cluster_id=cluster_id, cluster_alias=cluster_alias,
                               report_period_id=report_period_id, steps=[step],
                               tracing_id=tracing_id or current_tracing_id(), vm_tmp_uuid=vm_tmp_uuid,
                               use_rtu=use_rtu)
    cfg, decision = _route(kwargs["schema_name"], OCP, config)
    if decision.path == TRINO:
        return Outcome(TRINO, trino(), None, decision)
    queue = queue_for(kwargs["schema_name"], xl, cfg)

    def poc() -> Any:
        from celery.exceptions import TimeoutError as CeleryTimeout

        from poc_tasks.koku.fallback import PocRunTimeout
        from poc_tasks.koku.wait import send_and_wait

        celery_app, sent = _current_app(app), []

        def send(task_id: str) -> Any:
            sent.append(task_id)
            return celery_app.send_task(COST_MODEL_TASK, kwargs=kwargs, queue=queue, task_id=task_id)

        try:  # a broker that lost the run is said at once (koku.wait.BrokerLost), not after the timeout
            return send_and_wait(celery_app, send, timeout or cfg.timeout, f"cost-model step {step}")
        except CeleryTimeout:
            raise PocRunTimeout(f"cost-model step {step} ({sent[0]}) did not finish within "
                                f"{timeout or cfg.timeout:g}s", sent[0]) from None

    return run_or_fallback(OCP, poc, trino, schema_name=kwargs["schema_name"], tracing_id=kwargs["tracing_id"],
                           decision=decision)


# --- Koku's two look-ups that answer a question from Trino (no rows written; poc_tasks.koku.lookups) ----------------

def reporting_period_has_gpu_data_or_trino(*, schema_name: Any, source_uuid: Any, start_date: Any,
                                           trino: Callable[[], Any], config: RoutingConfig | None = None,
                                           **options: Any) -> Outcome:
    """The hook of OCPReportDBAccessor._reporting_period_has_gpu_data(source_uuid, start_date): Outcome.result is
    True when the source has GPU rows (openshift_gpu_usage_line_items_daily) in start_date's month. Routed as the
    tenant's OCP summary; `options`: app, mode, timeout of lookup_or_trino."""
    arguments = {"schema_name": validate_schema(schema_name), "source_uuid": validate_uuid(source_uuid),
                 "start_date": parse_date(start_date, "start_date").isoformat()}
    return lookup_or_trino("gpu_data", OCP, arguments=arguments, trino=trino, config=config, **options)


def max_min_timestamp_or_trino(*, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
                               trino: Callable[[], Any], config: RoutingConfig | None = None,
                               **options: Any) -> Outcome:
    """The hook of OCPReportDBAccessor.get_max_min_timestamp_from_parquet(source_uuid, start_date, end_date):
    Outcome.result is Koku's (min, max) of the pod Parquet's interval_start in the range (naive datetimes; the
    range's midnights when there is no row). Routed as the tenant's OCP summary."""
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    if end < start:
        raise InvalidArgument(f"end_date {end} is before start_date {start}")
    arguments = {"schema_name": validate_schema(schema_name), "source_uuid": validate_uuid(source_uuid),
                 "start_date": start.isoformat(), "end_date": end.isoformat()}
    return lookup_or_trino("max_min_timestamp", OCP, arguments=arguments, trino=trino, config=config, **options)
