"""Koku's hook of OCPReportDBAccessor.get_ocp_infrastructure_map_trino (docs/koku-integration.md §3.4).

The cloud daily summaries and the EC2 compute summary use poc_tasks.koku.daily's summarize_daily_or_trino
(provider types AWS-daily, AWS-EC2-compute, Azure-daily, GCP-daily). Importable without pandas, pyarrow, s3fs or
SQLAlchemy: the Parquet reads are imported only when an inline map runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.enqueue import _tracing_id, queue_for
from poc_tasks.koku.fallback import Outcome, _current_app, _route, _send_and_wait, current_tracing_id, run_or_fallback
from poc_tasks.koku.names import OCP_INFRA_MAP
from poc_tasks.koku.routing import TRINO
from poc_tasks.validate import parse_date, validate_schema, validate_uuid

__all__ = ["infra_map_kwargs", "ocp_infrastructure_map_or_trino"]

_UUID_ARGUMENTS = ("ocp_provider_uuid", "aws_provider_uuid", "azure_provider_uuid", "gcp_provider_uuid")


def infra_map_kwargs(*, schema_name: Any, start_date: Any, end_date: Any, tracing_id: Any = None,
                     **provider_uuids: Any) -> dict[str, Any]:
    """The keyword arguments of poc_tasks.ocp_infrastructure_map (Koku's get_ocp_infrastructure_map_trino kwargs:
    ocp_provider_uuid, aws_provider_uuid, azure_provider_uuid, gcp_provider_uuid), validated."""
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    out: dict[str, Any] = {"schema_name": validate_schema(schema_name), "start_date": start.isoformat(),
                           "end_date": end.isoformat()}
    for name, value in provider_uuids.items():
        if name not in _UUID_ARGUMENTS:
            raise InvalidArgument(f"unknown argument {name!r} of get_ocp_infrastructure_map_trino")
        if value:
            out[name] = validate_uuid(value, name)
    if tracing_id is not None:
        out["tracing_id"] = _tracing_id(tracing_id)
    return out


def ocp_infrastructure_map_or_trino(*, schema_name: Any, start_date: Any, end_date: Any, trino: Callable[[], Any],
                                    app: Any = None, config: RoutingConfig | None = None, mode: str | None = None,
                                    timeout: float | None = None, **provider_uuids: Any) -> Outcome:
    """The hook of OCPReportDBAccessor.get_ocp_infrastructure_map_trino(start_date, end_date, **kwargs).

    ``outcome.result`` is Koku's shape on every path: {ocp uuid: (cloud uuid, provider type)}. Inline mode calls
    poc_tasks.daily.infra_map in this process (a few Parquet columns and two small tables); celery mode sends
    poc_tasks.ocp_infrastructure_map and waits (its JSON lists become tuples again)."""
    kwargs = infra_map_kwargs(schema_name=schema_name, start_date=start_date, end_date=end_date,
                              tracing_id=current_tracing_id(), **provider_uuids)
    cfg, decision = _route(kwargs["schema_name"], OCP_INFRA_MAP, config)
    if decision.path == TRINO:
        return Outcome(TRINO, trino(), None, decision)
    uuids = {k: v for k, v in kwargs.items() if k in _UUID_ARGUMENTS}
    if (mode or cfg.mode).lower() == "inline":
        def poc() -> Any:
            from poc_tasks.daily.infra_map import get_ocp_infrastructure_map

            return get_ocp_infrastructure_map(kwargs["schema_name"], kwargs["start_date"], kwargs["end_date"],
                                              **uuids)
    else:
        queue = queue_for(kwargs["schema_name"], None, cfg)

        def poc() -> Any:
            found = _send_and_wait(_current_app(app), OCP_INFRA_MAP, kwargs, queue, timeout or cfg.timeout)
            return {k: tuple(v) for k, v in found.items()}
    return run_or_fallback(OCP_INFRA_MAP, poc, trino, schema_name=kwargs["schema_name"],
                           tracing_id=kwargs.get("tracing_id"), decision=decision)
