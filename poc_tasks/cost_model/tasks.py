"""Celery entry point of the cost-model steps: ``poc_tasks.apply_ocp_cost_model``.

One task per (schema, OCP source, month): the steps read little (GPU and VM rows, node-label hours, the VM pod rows
of the summary) and each writes one transaction, so there is no chord. Arguments are named as Koku's
OCPCostModelCostUpdater knows them (schema, provider_uuid, start_date, end_date) plus the cluster it resolves.
The run holds a Redis lease per (schema, source, month) like the summaries, so two cost-model runs of one month
never interleave their delete-and-insert transactions.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from poc_tasks.app import app
from poc_tasks.errors import InvalidArgument
from poc_tasks.locks import RunLocked, run_lock
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.settings import Settings

LOG = logging.getLogger(__name__)
LOCK_PROVIDER = "OCP-cost-model"


def _steps(value: Any) -> tuple[str, ...] | None:
    from poc_tasks.cost_model.flow import OPTIONAL_STEPS, STEPS

    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(s, str) for s in value):
        raise InvalidArgument(f"steps must be a list of step names ({', '.join(STEPS + OPTIONAL_STEPS)}), "
                              f"got {value!r}")
    return tuple(value)


@app.task(name="poc_tasks.apply_ocp_cost_model", bind=True, acks_late=True)
def apply_ocp_cost_model(self, schema_name: str, provider_uuid: str, start_date: str, end_date: str,
                         cluster_id: str, cluster_alias: str | None = None, report_period_id: int | None = None,
                         steps: list[str] | None = None, vm_tmp_uuid: str | None = None,
                         use_rtu: bool = False, tracing_id: str | None = None) -> dict[str, Any]:
    """The Trino steps of Koku's update_summary_cost_model_costs for one source-month (see cost_model.flow)."""
    from poc_tasks.cost_model.flow import apply_cost_model

    spec = OcpRunSpec.build(schema_name, provider_uuid, cluster_id, start_date, end_date, cluster_alias,
                            report_period_id)
    chosen = _steps(steps)
    if not isinstance(use_rtu, bool):
        raise InvalidArgument(f"use_rtu must be true or false (Koku's flag), got {use_rtu!r}")
    LOG.info("apply_ocp_cost_model schema=%s source=%s %s..%s steps=%s tracing_id=%s", spec.schema_name,
             spec.source_uuid, spec.start_date, spec.end_date, chosen or "all", tracing_id)
    lock = run_lock(self.app, LOCK_PROVIDER, spec.schema_name, spec.source_uuid, spec.start_date,
                    self.request.id or str(uuid.uuid4()))
    if lock is not None and not lock.acquire():
        message = f"another cost-model run ({lock.holder()}) holds {lock.key}"
        if self.request.called_directly:
            raise RunLocked(message)
        raise self.retry(countdown=30, max_retries=240, exc=RunLocked(message))
    try:
        return apply_cost_model(spec, Settings.from_env(), steps=chosen, vm_tmp_uuid=vm_tmp_uuid,
                                use_rtu=use_rtu)
    finally:
        if lock is not None:
            lock.release()
