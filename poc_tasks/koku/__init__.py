"""What Koku imports: routing, enqueue helpers, the run-or-fall-back hooks (see docs/koku-integration.md).

Importable inside Koku's processes without Django being required and without poc_tasks' heavy dependencies
(pandas, pyarrow, s3fs, SQLAlchemy) or the poc_tasks Celery app: runs are sent by name through Koku's own
app, and the heavy modules are imported only by the in-process ("inline") mode when it runs.
"""

from __future__ import annotations

from poc_tasks.errors import ConfigurationError, InvalidArgument, PocTasksError
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.daily import (
    daily_shadow_kwargs,
    daily_summary_kwargs,
    fetch_invoice_month_dates_or_trino,
    get_gcp_topology_or_trino,
    send_daily_shadow_compare,
    send_daily_summary,
    shadow_daily_summary_if_selected,
    summarize_daily_or_trino,
)
from poc_tasks.koku.enqueue import (
    ocp_on_cloud_kwargs,
    ocp_summary_kwargs,
    queue_for,
    send_ocp_on_cloud_summary,
    send_ocp_summary,
    send_shadow_compare,
    send_shadow_compare_if_selected,
    send_summary,
    shadow_kwargs,
)
from poc_tasks.koku.fallback import (
    Outcome,
    PocRunTimeout,
    cost_model_arguments,
    current_tracing_id,
    run_or_fallback,
    summarize_ocp_on_cloud_or_trino,
    summarize_ocp_or_trino,
    tracing,
)
from poc_tasks.koku.names import (
    AWS_DAILY,
    AZURE_DAILY,
    DAILY_TYPES,
    GCP_DAILY,
    OCP,
    OCP_ON_AWS,
    OCP_ON_AZURE,
    OCP_ON_GCP,
    PROVIDER_TYPES,
    QUEUE,
    QUEUE_XL,
    SHADOW_TASK,
    SUMMARY_TASKS,
    provider_type,
)
from poc_tasks.koku.routing import Decision, bucket, decide

__all__ = [
    # routing
    "RoutingConfig",
    "Decision",
    "decide",
    "bucket",
    # names
    "QUEUE",
    "QUEUE_XL",
    "OCP",
    "OCP_ON_AWS",
    "OCP_ON_AZURE",
    "OCP_ON_GCP",
    "PROVIDER_TYPES",
    "SUMMARY_TASKS",
    "SHADOW_TASK",
    "provider_type",
    # enqueue
    "ocp_summary_kwargs",
    "ocp_on_cloud_kwargs",
    "shadow_kwargs",
    "queue_for",
    "send_summary",
    "send_ocp_summary",
    "send_ocp_on_cloud_summary",
    "send_shadow_compare",
    "send_shadow_compare_if_selected",
    # run or fall back
    "Outcome",
    "PocRunTimeout",
    "tracing",
    "current_tracing_id",
    "run_or_fallback",
    "summarize_ocp_or_trino",
    "summarize_ocp_on_cloud_or_trino",
    "cost_model_arguments",
    # cloud daily summaries and GCP's lookups (poc_tasks.koku.daily)
    "AWS_DAILY",
    "AZURE_DAILY",
    "GCP_DAILY",
    "DAILY_TYPES",
    "daily_summary_kwargs",
    "send_daily_summary",
    "summarize_daily_or_trino",
    "daily_shadow_kwargs",
    "send_daily_shadow_compare",
    "shadow_daily_summary_if_selected",
    "fetch_invoice_month_dates_or_trino",
    "get_gcp_topology_or_trino",
    # errors
    "PocTasksError",
    "InvalidArgument",
    "ConfigurationError",
]

# Trino off beyond the daily summaries: the EC2 compute summary (a daily summary type) and the infrastructure map
from poc_tasks.koku.names import AWS_EC2_COMPUTE, OCP_INFRA_MAP  # noqa: E402
from poc_tasks.koku.trino_off import infra_map_kwargs, ocp_infrastructure_map_or_trino  # noqa: E402

__all__ += ["AWS_EC2_COMPUTE", "OCP_INFRA_MAP", "infra_map_kwargs", "ocp_infrastructure_map_or_trino"]
