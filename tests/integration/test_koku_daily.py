"""The Koku hooks of the Azure and GCP daily summaries and of GCP's lookups, through a real worker: a run sent
through Koku's Celery app writes the rows; a failing run falls back to the Trino callable; the lookups answer in
Koku's shapes from the Parquet in the caller's process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from poc_tasks.cost_model.helpers import max_min_timestamp
from poc_tasks.daily.gcp_lookups import fetch_invoice_month_dates, get_gcp_topology
from poc_tasks.db.tables_daily import AZURE_DAILY_TABLE, GCP_DAILY_TABLE
from poc_tasks.koku import (
    RoutingConfig,
    fetch_invoice_month_dates_or_trino,
    get_gcp_topology_or_trino,
    summarize_daily_or_trino,
)
from poc_tasks.koku.cost_model import max_min_timestamp_or_trino
from poc_tasks.settings import Settings
from tests.integration.koku_support import (
    forget_kombu_pools,  # noqa: F401 - a fixture
    koku_app,
    start_worker,
    worker_env,
)
from tests.integration.ocp_support import fetch, make_dataset

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]

ON = RoutingConfig(enabled=True, percent=100, providers=frozenset({"Azure-daily", "GCP-daily"}))


class Trino:
    def __init__(self, value: object = "trino wrote the rows") -> None:
        self.calls, self.value = 0, value

    def __call__(self) -> object:
        self.calls += 1
        return self.value


@pytest.fixture
def dataset(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    worker_env(monkeypatch, pg_url, str(tmp_path / "bucket"))
    return make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"), days=3, with_azure=True, with_gcp=True)


def test_celery_runs_write_the_rows_and_a_failing_run_falls_back(
    pg_url, dataset, tmp_path, monkeypatch, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app

    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    sc = dataset.scenario
    common = {"schema_name": dataset.schema, "start_date": "2026-01-01", "end_date": "2026-01-03",
              "markup_value": 0.1}
    trino = Trino()
    az = summarize_daily_or_trino("Azure-daily", source_uuid=sc["azure"]["source_uuid"], trino=trino, config=ON,
                                  app=koku, timeout=90, **common)
    gcp = summarize_daily_or_trino("GCP-daily", source_uuid=sc["gcp"]["source_uuid"], invoice_month="202601",
                                   trino=trino, config=ON, app=koku, timeout=90, **common)
    assert (az.path, gcp.path, trino.calls) == ("poc", "poc", 0)
    for out, table in ((az, AZURE_DAILY_TABLE), (gcp, GCP_DAILY_TABLE)):
        assert out.result["rows"][table] == fetch(pg_url, dataset.schema, table, "count(*)")[0][0] > 0

    # the look-ups Koku uses at once, answered by the worker (task poc_tasks.lookup) in Koku's shapes
    settings = Settings.from_env()
    args = {"schema_name": dataset.schema, "source_uuid": sc["gcp"]["source_uuid"], "start_date": "2026-01-01",
            "end_date": "2026-01-31", "invoice_month": "202601"}
    dates = fetch_invoice_month_dates_or_trino(**args, trino=trino, config=ON, app=koku, timeout=60)
    assert (dates.path, dates.result) == ("poc", [(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3))])
    topo = get_gcp_topology_or_trino(**args, trino=trino, config=ON, app=koku, timeout=60)
    assert topo.path == "poc" and topo.result == get_gcp_topology(settings, dataset.schema, args["source_uuid"],
                                                                  "2026-01-01", "2026-01-31", "202601")
    ocp_on = RoutingConfig(enabled=True, percent=100, providers=frozenset({"OCP"}))
    span = max_min_timestamp_or_trino(schema_name=dataset.schema, source_uuid=sc["source_uuid"],
                                      start_date="2026-01-01", end_date="2026-01-31", trino=trino, config=ocp_on,
                                      app=koku, timeout=60)
    assert span.path == "poc" and span.result == max_min_timestamp(
        str(tmp_path / "bucket"), dataset.schema, sc["source_uuid"], dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert isinstance(span.result, tuple) and trino.calls == 0

    monkeypatch.setenv("POC_DATA_ROOT", str(tmp_path / "empty-bucket"))  # the worker finds no Parquet
    out = summarize_daily_or_trino("Azure-daily", source_uuid=sc["azure"]["source_uuid"], trino=trino, config=ON,
                                   app=koku, timeout=60, **common)
    assert (out.path, trino.calls) == ("fallback", 1) and "MissingInputData" in out.error


def test_gcp_lookups_answer_in_kokus_shapes_or_fall_back(pg_url, dataset, monkeypatch, tmp_path) -> None:
    sc = dataset.scenario
    args = {"schema_name": dataset.schema, "source_uuid": sc["gcp"]["source_uuid"],
            "start_date": dt.date(2026, 1, 1), "end_date": dt.date(2026, 1, 31), "invoice_month": "202601"}
    settings = Settings.from_env()
    dates = fetch_invoice_month_dates_or_trino(**args, trino=Trino(), config=ON, mode="inline")
    assert dates.path == "poc" and dates.result == [(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3))]
    assert dates.result == fetch_invoice_month_dates(settings, args["schema_name"], args["start_date"],
                                                     args["end_date"], "202601", args["source_uuid"])
    topo = get_gcp_topology_or_trino(**args, trino=Trino(), config=ON, mode="inline")
    assert topo.path == "poc" and topo.result and all(len(r) == 7 and r[0] == args["source_uuid"]
                                                      for r in topo.result)
    assert topo.result == get_gcp_topology(settings, args["schema_name"], args["source_uuid"], args["start_date"],
                                           args["end_date"], "202601")
    # a lookup that fails (an unreadable file) falls back to Trino's answer
    folder = tmp_path / "bucket" / "data" / "parquet" / "daily"
    for f in folder.rglob("*.parquet"):
        f.write_bytes(b"not parquet")
    trino = Trino([(None, None)])
    out = fetch_invoice_month_dates_or_trino(**args, trino=trino, config=ON, mode="inline")
    assert (out.path, out.result, trino.calls) == ("fallback", [(None, None)], 1)
