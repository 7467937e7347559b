"""Celery entry point of the look-ups Koku's hooks ask (``poc_tasks.lookup``; see poc_tasks.koku.lookups)."""

from __future__ import annotations

import logging
from typing import Any

from poc_tasks.app import app
from poc_tasks.settings import Settings

LOG = logging.getLogger(__name__)


@app.task(name="poc_tasks.lookup", acks_late=True)
def lookup(name: str, arguments: dict[str, Any], tracing_id: str | None = None) -> Any:
    """One look-up (gpu_data, max_min_timestamp, gcp_invoice_month_dates, gcp_topology), answered from the Parquet;
    the value as JSON (poc_tasks.koku.lookups.to_wire). Read-only."""
    from poc_tasks.koku.lookups import answer, to_wire

    LOG.info("lookup %s schema=%s tracing_id=%s", name, arguments.get("schema_name"), tracing_id)
    return to_wire(answer(name, Settings.from_env(), arguments))
