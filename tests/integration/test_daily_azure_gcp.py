"""The Azure and GCP daily summaries end to end: real PostgreSQL, Redis, S3 over HTTP (moto server), the worker and
the chords; Koku's delete rule; GCP's invoice month across a month boundary; bad input.

The data is poc_tasks.sample's small cluster with its Azure export and GCP billing export (3 days of January 2026;
the GCP export has an invoice-202512 line used on Jan 1); only the cloud side is used (a cloud-only tenant).
"""

from __future__ import annotations

import uuid
from contextlib import closing
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg2 import sql

from poc_tasks.daily.decimal9 import cast_double
from poc_tasks.daily.run import DailyRunSpec, run
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables_daily import AZURE_DAILY_TABLE, GCP_DAILY_TABLE
from poc_tasks.io.fs import strip_scheme
from poc_tasks.io.layout import provider_prefix
from poc_tasks.sample.scenario import seed_cloud_tenant
from tests.integration.cloud_support import by_name  # noqa: F401 - fixture
from tests.integration.cloud_support import table_multiset as _multiset
from tests.integration.ocp_support import Dataset, fetch, make_dataset, read_parquet, run_cli, write_parquet
from tests.integration.test_ocp_run import clean_env, start_worker  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

TABLE = {"Azure": AZURE_DAILY_TABLE, "GCP": GCP_DAILY_TABLE}
COST = {"Azure": ("pretax_cost", "costinbillingcurrency"), "GCP": ("unblended_cost", "cost")}
TAGS = {"Azure": "tags", "GCP": "labels"}


def _dataset(cloud: str, pg_url: str, schema: str, root: str, storage_options: dict | None = None) -> Dataset:
    key = cloud.lower()
    ds = make_dataset(pg_url, schema, root, storage_options, label_changes=False, days=3, **{f"with_{key}": True})
    with closing(connect(pg_url)) as conn:
        seed_cloud_tenant(conn, schema, ds.scenario, key)
        conn.commit()
    return ds


def _source(cloud: str, ds: Dataset) -> str:
    return ds.scenario[cloud.lower()]["source_uuid"]


def _files(cloud: str, ds: Dataset, year: str = "2026", month: str = "01") -> list[str]:
    folder = provider_prefix(ds.root, ds.schema, cloud, _source(cloud, ds), year, month, daily=False)
    return sorted(p for p in ds.fs().ls(strip_scheme(folder), detail=False) if p.endswith(".parquet"))


def _expected_cost(cloud: str, ds: Dataset) -> Decimal:
    """What the summary's cost column must add up to, from the Parquet: Azure, each line's cost cast to decimal(24,9);
    GCP, the invoice-202601 lines' costs (each group's double sum cast: equal to 1e-6 here)."""
    total = Decimal(0)
    for path in _files(cloud, ds):
        t = read_parquet(ds.fs(), path)
        if cloud == "GCP":
            t = t.filter(pc.equal(t.column("invoice_month"), "202601"))
            total += Decimal(repr(pc.sum(t.column("cost")).as_py() or 0.0))
        else:
            total += sum((d for d in cast_double(t.column(COST[cloud][1])).to_pylist() if d is not None), Decimal(0))
    return total


def _spec(cloud: str, ds: Dataset, **kw: Any) -> DailyRunSpec:
    return DailyRunSpec.build(cloud, ds.schema, _source(cloud, ds), kw.pop("start", "2026-01-01"),
                              kw.pop("end", "2026-01-03"), **kw)


@pytest.fixture(params=["Azure", "GCP"])
def cloud(request) -> str:
    return request.param


@pytest.fixture
def local(cloud: str, pg_url: str, tenant_schema: str, tmp_path, clean_env) -> Dataset:  # noqa: F811
    return _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))


def test_summarize_task_by_name_runs_chunks_and_writes_as_chords(
    cloud, pg_url, tenant_schema, s3_server, by_name, clean_env  # noqa: F811
):
    ds = _dataset(cloud, pg_url, tenant_schema, f"s3://{s3_server.bucket}", s3_server.storage_options)
    staging = by_name.start(ds)
    kwargs = {"schema_name": ds.schema, "source_uuid": _source(cloud, ds), "start_date": "2026-01-01",
              "end_date": "2026-01-03", "markup_value": 0.1}
    if cloud == "GCP":
        kwargs["invoice_month"] = "202601"  # the accessor's call (the updater's range is tested below)
    out = by_name.send(f"poc_tasks.summarize_{cloud.lower()}", kwargs)
    assert by_name.counts("poc_tasks.daily_finalize_run") == {
        f"poc_tasks.summarize_{cloud.lower()}": 1, "poc_tasks.daily_compute_chunk": 2,
        "poc_tasks.daily_write_tables": 1, "poc_tasks.daily_write_table": 1, "poc_tasks.daily_finalize_run": 1}
    table = TABLE[cloud]
    assert out["chunks"] == 2 and out["rows"][table] == sum(_multiset(pg_url, ds.schema, table).values()) > 0
    assert not ds.fs().exists(strip_scheme(f"{staging}/{out['run_id']}"))
    total, markup = fetch(pg_url, ds.schema, table, f"sum({COST[cloud][0]}), sum(markup_cost)")[0]
    if cloud == "Azure":  # every line's decimal cost in exactly one row, the markup per line
        assert total == _expected_cost(cloud, ds)
        assert abs(markup - total * Decimal("0.1")) <= Decimal("1e-9") * out["rows"][table]
    else:
        assert abs(total - _expected_cost(cloud, ds)) < Decimal("1e-6")
        assert abs(markup - total * Decimal("0.1")) < Decimal("1e-6")

    # the same run in-process writes the same rows, and a re-run replaces them (same multiset)
    via_worker = _multiset(pg_url, ds.schema, table)
    run(_spec(cloud, ds, markup_value=0.1, invoice_month="202601" if cloud == "GCP" else None),
        ds.settings(pg_url, staging), date_step=1)
    assert _multiset(pg_url, ds.schema, table) == via_worker


def test_kokus_delete_rule_keeps_other_bills_and_days(cloud, pg_url, local: Dataset):
    ds, table = local, TABLE[cloud]
    run(_spec(cloud, ds, invoice_month="202601" if cloud == "GCP" else None), ds.settings(pg_url))
    bill = fetch(pg_url, ds.schema, table, "max(cost_entry_bill_id)")[0][0]
    bill_table = f"reporting_{cloud.lower()}costentrybill"
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:  # another bill of the source (the month before)
        cur.execute(sql.SQL("INSERT INTO {} (billing_period_start, billing_period_end, provider_id) VALUES"
                            " ('2025-12-01', '2025-12-31', %s) RETURNING id").format(qualified(ds.schema, bill_table)),
                    (_source(cloud, ds),))
        other = cur.fetchone()[0]
        cur.execute(sql.SQL("UPDATE {} SET cost_entry_bill_id = %s WHERE usage_start = '2026-01-02' AND uuid IN"
                            " (SELECT uuid FROM {} WHERE usage_start = '2026-01-02' LIMIT 3)").format(
            qualified(ds.schema, table), qualified(ds.schema, table)), (other,))
        moved = cur.rowcount
        conn.commit()
    assert moved == 3
    before = _multiset(pg_url, ds.schema, table)
    day1 = _multiset(pg_url, ds.schema, table, "usage_start = '2026-01-01'")
    # re-summarise day 2 only, under the first bill: day 1 and the other bill's rows stay
    run(_spec(cloud, ds, start="2026-01-02", end="2026-01-02", bill_id=bill,
              invoice_month="202601" if cloud == "GCP" else None), ds.settings(pg_url))
    assert _multiset(pg_url, ds.schema, table, "usage_start = '2026-01-01'") == day1
    assert len(fetch(pg_url, ds.schema, table, "1", f"cost_entry_bill_id = {int(other)}")) == moved
    assert sum(_multiset(pg_url, ds.schema, table).values()) == sum(before.values()) + moved


def test_gcp_invoice_month_across_a_month_boundary(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    ds = _dataset("GCP", pg_url, tenant_schema, str(tmp_path / "bucket"))
    argv = ["--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema, "--source-uuid",
            _source("GCP", ds)]
    jan = run_cli("run", "gcp", *argv, "--start", "2026-01-01", "--end", "2026-01-31")  # the updater's range
    assert jan.code == 0, jan.stderr
    assert (jan.json["start_date"], jan.json["end_date"]) == ("2026-01-01", "2026-01-03")  # the days it ran
    dec = run_cli("run", "gcp", *argv, "--start", "2025-12-01", "--end", "2025-12-31")
    assert dec.code == 0, dec.stderr
    # invoice 202512's line used on Jan 1: a row dated Jan 1 under December's bill, January's rows untouched
    assert (dec.json["start_date"], dec.json["end_date"]) == ("2026-01-01", "2026-01-01")
    assert dec.json["bill_id"] != jan.json["bill_id"] and dec.json["rows"][GCP_DAILY_TABLE] > 0
    rows = fetch(pg_url, ds.schema, GCP_DAILY_TABLE, "invoice_month, cost_entry_bill_id, min(usage_start), count(*)",
                 "true GROUP BY 1, 2 ORDER BY 1")
    assert [(r[0], r[1], r[2].isoformat()) for r in rows] == [
        ("202512", dec.json["bill_id"], "2026-01-01"), ("202601", jan.json["bill_id"], "2026-01-01")]
    assert rows[1][3] == jan.json["rows"][GCP_DAILY_TABLE]
    # the accessor's call for a chunk that crosses the boundary (Dec 30 .. Jan 2) with invoice_month 202512
    acc = run_cli("run", "gcp", *argv, "--start", "2025-12-30", "--end", "2026-01-02", "--invoice-month", "202512",
                  "--bill-id", str(dec.json["bill_id"]))
    assert acc.code == 0, acc.stderr
    assert acc.json["rows"][GCP_DAILY_TABLE] == dec.json["rows"][GCP_DAILY_TABLE]


def test_cli_and_bad_input_keep_the_previous_rows(cloud, pg_url, local: Dataset):
    ds, table = local, TABLE[cloud]
    argv = ["--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema, "--source-uuid",
            _source(cloud, ds), "--start", "2026-01-01", "--end", "2026-01-03"]
    if cloud == "GCP":
        argv += ["--invoice-month", "202601"]
    ok = run_cli("run", cloud.lower(), *argv, "--markup", "10")
    assert ok.code == 0, ok.stderr
    before = _multiset(pg_url, ds.schema, table)
    assert sum(before.values()) == ok.json["rows"][table] > 0
    nobill = run_cli("run", cloud.lower(), *argv, "--bill-id", "999999")
    assert nobill.code == 2 and "bill_id 999999" in nobill.stderr
    if cloud == "Azure":
        across = run_cli("run", "azure", *argv[:-4], "--start", "2026-01-30", "--end", "2026-02-02")
        assert across.code == 2 and "not in one month" in across.stderr

    # a file whose tags are not JSON: exit 2, the message names file and column, rows unchanged
    path = _files(cloud, ds)[0]
    t = read_parquet(ds.fs(), path)
    col = TAGS[cloud]
    tags = t.column(col).to_pylist()
    tags[0] = "{broken"
    write_parquet(ds.fs(), path, t.set_column(t.schema.get_field_index(col), col, pa.array(tags)))
    bad = run_cli("run", cloud.lower(), *argv)
    assert bad.code == 2 and repr(col) in bad.stderr and path.split("/")[-1] in bad.stderr, bad.stderr
    assert _multiset(pg_url, ds.schema, table) == before
    # a missing required column is named as well
    write_parquet(ds.fs(), path, t.drop_columns([COST[cloud][1]]))
    bad = run_cli("run", cloud.lower(), *argv)
    assert bad.code == 2 and COST[cloud][1] in bad.stderr
    assert _multiset(pg_url, ds.schema, table) == before


def test_no_parquet_is_a_clear_error(cloud, pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    argv = ["--database-url", pg_url, "--data-root", str(tmp_path), "--schema", tenant_schema, "--source-uuid",
            str(uuid.uuid4()), "--start", "2026-01-01", "--end", "2026-01-03"]
    if cloud == "GCP":
        argv += ["--invoice-month", "202601"]
    out = run_cli("run", cloud.lower(), *argv)
    assert out.code == 2 and ("azure_line_items" if cloud == "Azure" else "gcp_line_items") in out.stderr


def test_compare_is_equal_after_a_run_and_names_a_changed_column(cloud, pg_url, local: Dataset, tmp_path):
    ds, table = local, TABLE[cloud]
    argv = ["--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema, "--source-uuid",
            _source(cloud, ds), "--start", "2026-01-01", "--end", "2026-01-03", "--markup", "10"]
    if cloud == "GCP":
        argv += ["--invoice-month", "202601"]
    assert run_cli("run", cloud.lower(), *argv).code == 0
    before = _multiset(pg_url, ds.schema, table)
    same = run_cli("compare", cloud.lower(), *argv, "--report", str(tmp_path / "same"))
    assert same.code == 0, same.stderr
    assert same.json["rows"]["equal"] == sum(before.values()) and (tmp_path / "same.json").exists()
    assert _multiset(pg_url, ds.schema, table) == before  # nothing written
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:  # one row's markup off by 0.001
        cur.execute(sql.SQL("UPDATE {} SET markup_cost = markup_cost + 0.001 WHERE uuid ="
                            " (SELECT uuid FROM {} LIMIT 1)").format(qualified(ds.schema, table),
                                                                     qualified(ds.schema, table)))
        conn.commit()
    diff = run_cli("compare", cloud.lower(), *argv, "--report", str(tmp_path / "diff"))
    assert diff.code == 1 and diff.json["changed_columns"] == {"markup_cost": 1}
