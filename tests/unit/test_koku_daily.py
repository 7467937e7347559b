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


# --- phase 1: the shadow comparison of a daily summary Trino wrote (integration/koku/0010) ---------------------

SHADOWED = RoutingConfig(shadow=True, providers=frozenset({"AWS-daily", "AWS-EC2-compute", "Azure-daily",
                                                           "GCP-daily"}))


class Refuses:
    """An app that fails the test if anything is sent (the no-shadow paths must not touch the broker)."""

    def send_task(self, *args, **kwargs):
        raise AssertionError(f"nothing may be sent: {args} {kwargs}")


def test_shadow_kwargs_carry_the_summarys_own_arguments_and_its_type():
    from poc_tasks.koku import daily_shadow_kwargs

    kw = daily_shadow_kwargs("GCP-daily", schema_name="org1234567", source_uuid=SOURCE, start_date="2025-12-30",
                             end_date="2026-01-03", bill_id=7, markup_value=0.1, invoice_month="202512")
    assert kw == {"schema_name": "org1234567", "source_uuid": SOURCE, "start_date": "2025-12-30",
                  "end_date": "2026-01-03", "bill_id": 7, "markup_value": 0.1, "invoice_month": "202512",
                  "provider_type": "GCP-daily"}
    with pytest.raises(InvalidArgument, match="not a cloud daily summary"):
        daily_shadow_kwargs("OCP", schema_name="org1234567", source_uuid=SOURCE, start_date="2026-01-01",
                            end_date="2026-01-03")


def test_a_shadow_is_sent_only_when_the_routing_shadows_a_trino_run():
    from poc_tasks.koku import shadow_daily_summary_if_selected

    args = {"schema_name": "org1234567", "source_uuid": SOURCE, "start_date": "2026-01-01",
            "end_date": "2026-01-05", "bill_id": 1, "markup_value": 0.0, "app": Refuses()}
    assert shadow_daily_summary_if_selected("Azure-daily", **args, config=RoutingConfig(shadow=False)) is None
    assert shadow_daily_summary_if_selected("Azure-daily", **args, config=RoutingConfig(
        shadow=True, providers=frozenset({"OCP"}))) is None  # the type is not routed at all
    assert shadow_daily_summary_if_selected("Azure-daily", **args, config=RoutingConfig(
        shadow=True, providers=SHADOWED.providers, deny=frozenset({"org1234567"}))) is None
    assert shadow_daily_summary_if_selected("Azure-daily", **args, config=RoutingConfig(
        shadow=True, providers=SHADOWED.providers, shadow_percent=0)) is None
    # poc_tasks wrote the rows itself: there are no Trino rows to compare with
    assert shadow_daily_summary_if_selected("Azure-daily", **args, config=RoutingConfig(
        shadow=True, enabled=True, percent=100, providers=SHADOWED.providers)) is None
    with pytest.raises(InvalidArgument, match="same month"):  # bad arguments are named before any decision
        shadow_daily_summary_if_selected("Azure-daily", **{**args, "end_date": "2026-02-01"}, config=SHADOWED)


class Records:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str]] = []

    def send_task(self, name, kwargs=None, queue=None):
        self.sent.append((name, kwargs, queue))
        return "async-result"


def test_a_shadowed_summary_sends_shadow_compare_with_trinos_arguments():
    """The message itself (the broker round trip is tests/integration/test_koku_shadow_daily.py)."""
    from poc_tasks.koku import shadow_daily_summary_if_selected, tracing

    app = Records()
    with tracing("koku-trace-9"):
        out = shadow_daily_summary_if_selected(
            "AWS-daily", app=app, config=SHADOWED, schema_name="org1234567", source_uuid=SOURCE,
            start_date="2026-01-01", end_date="2026-01-31", bill_id=4, markup_value=0.1)
        # the EC2 summary is the month's whatever end Koku's updater had (its SQL reads the whole month)
        shadow_daily_summary_if_selected(
            "AWS-EC2-compute", app=app, config=SHADOWED, schema_name="org1234567", source_uuid=SOURCE,
            start_date="2026-02-03", end_date="2026-02-10", bill_id=5, markup_value=0)
    assert out == "async-result"
    (name, kw, queue), (_, ec2, _) = app.sent
    assert (name, queue) == ("poc_tasks.shadow_compare", "poc_aggregation")
    assert kw == {"schema_name": "org1234567", "source_uuid": SOURCE, "start_date": "2026-01-01",
                  "end_date": "2026-01-31", "bill_id": 4, "markup_value": 0.1, "tracing_id": "koku-trace-9",
                  "provider_type": "AWS-daily"}
    assert (ec2["provider_type"], ec2["start_date"], ec2["end_date"]) == ("AWS-EC2-compute", "2026-02-01",
                                                                          "2026-02-28")


def test_the_shadow_task_takes_the_daily_arguments():
    import inspect

    from poc_tasks.compare.daily import daily_spec_for
    from poc_tasks.tasks import shadow_compare

    params = inspect.signature(shadow_compare.run).parameters
    assert {"provider_type", "bill_id", "markup_value", "invoice_month"} <= set(params)
    spec = daily_spec_for("GCP-daily", "org1234567", SOURCE, "2025-12-30", "2026-01-03", 2, 0.1, "202512")
    assert (spec.provider, spec.bill_id, spec.markup_value, spec.invoice_month) == ("GCP", 2, 0.1, "202512")
    assert daily_spec_for("aws_ec2_compute", "org1234567", SOURCE, "2026-01-01", "2026-01-31").provider == "AWS-EC2"
    with pytest.raises(InvalidArgument, match="not a cloud daily summary type"):
        daily_spec_for("OCP-on-AWS", "org1234567", SOURCE, "2026-01-01", "2026-01-31")
