"""poc_tasks.koku's cloud daily summary hooks without services: names, argument checks, routing."""

from __future__ import annotations

import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku import (
    AZURE_DAILY,
    GCP_DAILY,
    OCP_ON_AZURE,
    SUMMARY_TASKS,
    RoutingConfig,
    daily_summary_kwargs,
    decide,
    fetch_invoice_month_dates_or_trino,
    provider_type,
    summarize_daily_or_trino,
)

SOURCE = "3c1d8e57-2a4b-4f6e-8d9c-5b7a1e2f4c61"


def test_daily_types_are_their_own_provider_types_and_tasks():
    assert provider_type("Azure-daily") == AZURE_DAILY and provider_type("gcp_daily") == GCP_DAILY
    assert provider_type("Azure") == OCP_ON_AZURE  # Koku's source type still names the OCP-on-Azure run
    assert SUMMARY_TASKS[AZURE_DAILY] == "poc_tasks.summarize_azure"
    assert SUMMARY_TASKS[GCP_DAILY] == "poc_tasks.summarize_gcp"


def test_task_names_are_registered_by_the_worker_app():
    from poc_tasks import tasks  # noqa: F401 - registers the tasks
    from poc_tasks.app import app

    assert {SUMMARY_TASKS[AZURE_DAILY], SUMMARY_TASKS[GCP_DAILY]} <= set(app.tasks)


def test_kwargs_are_kokus_names_checked_before_sending():
    kw = daily_summary_kwargs("Azure-daily", schema_name="org1234567", source_uuid=SOURCE.upper(),
                              start_date="2026-01-01", end_date="2026-01-05", bill_id="3", markup_value="0.1")
    assert kw == {"schema_name": "org1234567", "source_uuid": SOURCE, "start_date": "2026-01-01",
                  "end_date": "2026-01-05", "bill_id": 3, "markup_value": 0.1}
    gcp = daily_summary_kwargs("GCP-daily", schema_name="org1234567", source_uuid=SOURCE, start_date="2025-12-30",
                               end_date="2026-01-03", invoice_month="202512", tracing_id="t-1")
    assert gcp["invoice_month"] == "202512" and gcp["tracing_id"] == "t-1"  # an invoice range may cross months
    with pytest.raises(InvalidArgument, match="same month"):
        daily_summary_kwargs("Azure-daily", schema_name="org1234567", source_uuid=SOURCE,
                             start_date="2025-12-30", end_date="2026-01-03")
    with pytest.raises(InvalidArgument, match="YYYYMM"):
        daily_summary_kwargs("GCP-daily", schema_name="org1234567", source_uuid=SOURCE, start_date="2026-01-01",
                             end_date="2026-01-03", invoice_month="2026-1")
    with pytest.raises(InvalidArgument, match="GCP's argument"):
        daily_summary_kwargs("Azure-daily", schema_name="org1234567", source_uuid=SOURCE, start_date="2026-01-01",
                             end_date="2026-01-03", invoice_month="202601")
    with pytest.raises(InvalidArgument, match="not a cloud daily summary"):
        daily_summary_kwargs("OCP", schema_name="org1234567", source_uuid=SOURCE, start_date="2026-01-01",
                             end_date="2026-01-03")
    with pytest.raises(InvalidArgument, match="tenant schema"):
        daily_summary_kwargs("Azure-daily", schema_name="public; drop", source_uuid=SOURCE,
                             start_date="2026-01-01", end_date="2026-01-03")


def test_routing_is_opt_in_per_daily_type():
    cfg = RoutingConfig(enabled=True, percent=100, providers=frozenset({"OCP", "Azure-daily"}))
    assert decide("org1234567", "Azure-daily", cfg).use_poc
    assert not decide("org1234567", "GCP-daily", cfg).use_poc  # not on POC_AGGREGATOR_PROVIDERS
    assert RoutingConfig(provider_percent={"gcp-daily": 25}).percent_for(GCP_DAILY) == 25


def test_routed_to_trino_calls_only_the_trino_callable():
    calls = []
    cfg = RoutingConfig(enabled=False)
    out = summarize_daily_or_trino("Azure-daily", schema_name="org1234567", source_uuid=SOURCE,
                                   start_date="2026-01-01", end_date="2026-01-05", bill_id=1, markup_value=0.1,
                                   trino=lambda: calls.append("trino") or "koku", config=cfg)
    assert (out.path, out.result, calls) == ("trino", "koku", ["trino"])
    out = fetch_invoice_month_dates_or_trino(schema_name="org1234567", start_date="2026-01-01",
                                             end_date="2026-01-31", invoice_month="202601", source_uuid=SOURCE,
                                             trino=lambda: [(None, None)], config=cfg)
    assert (out.path, out.result) == ("trino", [(None, None)])
