"""Koku's hooks of the Trino-off steps of AWS (docs/koku-integration.md §3.4): the AWS daily summary and the EC2
compute summary through Koku's own Celery app to a poc_tasks worker, routed to Trino, failing over to Trino; the
infrastructure map in Koku's shape, in-process and through the worker."""

from __future__ import annotations

import pytest

from poc_tasks.db.tables_daily import AWS_DAILY_TABLE
from poc_tasks.errors import InvalidArgument
from poc_tasks.koku import (
    AWS_DAILY,
    AWS_EC2_COMPUTE,
    OCP_INFRA_MAP,
    RoutingConfig,
    daily_summary_kwargs,
    ocp_infrastructure_map_or_trino,
    summarize_daily_or_trino,
)
from tests.integration.koku_support import forget_kombu_pools, koku_app, start_worker, worker_env  # noqa: F401
from tests.integration.ocp_support import fetch, make_dataset

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]

ON = RoutingConfig(enabled=True, percent=100, providers=frozenset({AWS_DAILY, AWS_EC2_COMPUTE, OCP_INFRA_MAP}))


class Trino:
    def __init__(self, value="trino wrote the rows") -> None:
        self.calls = 0
        self.value = value

    def __call__(self):
        self.calls += 1
        return self.value


@pytest.fixture
def dataset(pg_url, tenant_schema, tmp_path, monkeypatch):
    worker_env(monkeypatch, pg_url, str(tmp_path / "bucket"))
    return make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"), label_changes=False, days=2, with_aws=True)


def _args(ds):
    return {"schema_name": ds.schema, "source_uuid": ds.scenario["aws"]["source_uuid"], "start_date": "2026-01-01",
            "end_date": "2026-01-02", "markup_value": 0.1}


def _rows(pg_url, schema) -> int:
    return fetch(pg_url, schema, AWS_DAILY_TABLE, "count(*)")[0][0]


def test_daily_hook_routes_runs_and_falls_back(pg_url, dataset, tmp_path, monkeypatch, celery_worker_app, redis_url,
                                               redis_key_prefix) -> None:
    from poc_tasks.app import app as poc_app

    # off by default: the provider type is not on POC_AGGREGATOR_PROVIDERS
    trino = Trino()
    out = summarize_daily_or_trino(AWS_DAILY, **_args(dataset), trino=trino, config=RoutingConfig(enabled=True))
    assert (out.path, trino.calls, _rows(pg_url, dataset.schema)) == ("trino", 1, 0)

    # sent by name through Koku's app, run by the poc_tasks worker
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    out = summarize_daily_or_trino("AWS-daily", **_args(dataset), trino=trino, config=ON, app=koku, timeout=90)
    assert (out.path, trino.calls) == ("poc", 1)
    assert out.result["rows"][AWS_DAILY_TABLE] == _rows(pg_url, dataset.schema) > 0
    # the EC2 compute summary: the same hook, its own provider type and task
    ec2 = summarize_daily_or_trino(AWS_EC2_COMPUTE, **{**_args(dataset), "end_date": "2026-01-31"}, trino=trino,
                                   config=ON, app=koku, timeout=90)
    assert (ec2.path, trino.calls) == ("poc", 1)
    assert ec2.result["rows"]["reporting_awscostentrylineitem_summary_by_ec2_compute_p"] > 0

    # a failing run (no Parquet where the worker looks) falls back: Koku's delete first, then Trino
    monkeypatch.setenv("POC_DATA_ROOT", str(tmp_path / "empty"))
    order = []
    out = summarize_daily_or_trino(AWS_DAILY, **_args(dataset), trino=lambda: order.append("trino"), config=ON,
                                   app=koku, timeout=60, before_fallback=lambda: order.append("delete"))
    assert out.path == "fallback" and "MissingInputData" in out.error and order == ["delete", "trino"]


def test_daily_kwargs_are_validated_before_anything_is_sent() -> None:
    kwargs = daily_summary_kwargs(AWS_DAILY, schema_name="org1234567", source_uuid="3f1c2a9e-5b7d-4e21-8c3a-"
                                  "6d9e0f1a2b3c", start_date="2026-01-01", end_date="2026-01-05", bill_id="3",
                                  markup_value="0.1")
    assert (kwargs["bill_id"], kwargs["markup_value"], "invoice_month" in kwargs) == (3, 0.1, False)
    for bad in ({"start_date": "2026-01-30", "end_date": "2026-02-02"}, {"schema_name": "public"},
                {"bill_id": "x"}, {"source_uuid": "nope"}):
        args = {"schema_name": "org1234567", "source_uuid": "3f1c2a9e-5b7d-4e21-8c3a-6d9e0f1a2b3c",
                "start_date": "2026-01-01", "end_date": "2026-01-05", **bad}
        with pytest.raises(InvalidArgument):
            daily_summary_kwargs(AWS_DAILY, **args)
    with pytest.raises(InvalidArgument):
        daily_summary_kwargs("OCP-on-AWS", schema_name="org1", source_uuid="x", start_date="2026-01-01",
                             end_date="2026-01-01")


def test_infra_map_hook_returns_kokus_shape_on_every_path(pg_url, dataset, celery_worker_app, redis_url,
                                                          redis_key_prefix) -> None:
    from poc_tasks.app import app as poc_app
    from poc_tasks.db.connection import connect
    from poc_tasks.db.init import ensure_provider

    aws = dataset.scenario["aws"]["source_uuid"]
    conn = connect(pg_url)
    ensure_provider(conn, dataset.schema, aws, "AWS source", "AWS")
    conn.commit()
    conn.close()
    expected = {dataset.source: (aws, "AWS")}
    args = {"schema_name": dataset.schema, "start_date": "2026-01-01", "end_date": "2026-01-02",
            "ocp_provider_uuid": dataset.source}
    trino = Trino({"x": ("y", "AWS")})
    assert ocp_infrastructure_map_or_trino(**args, trino=trino, config=RoutingConfig()).result == {"x": ("y", "AWS")}
    out = ocp_infrastructure_map_or_trino(**args, trino=trino, config=ON, mode="inline")
    assert (out.path, out.result, trino.calls) == ("poc", expected, 1)
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    out = ocp_infrastructure_map_or_trino(**args, trino=trino, config=ON, app=koku_app(redis_url, redis_key_prefix),
                                          timeout=60)
    assert (out.path, out.result, trino.calls) == ("poc", expected, 1)
