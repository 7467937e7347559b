"""The AWS daily summary and the EC2 compute summary end to end: real PostgreSQL, Redis, S3 over HTTP (moto server),
the worker and the chords; Koku's delete rules; bad input.

The data is poc_tasks.sample's small cluster with its matched AWS bill (3 days); only the AWS side is used (an
AWS-only tenant).
"""

from __future__ import annotations

import uuid
from contextlib import closing
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg2 import sql

from poc_tasks.daily.run import DailyRunSpec, run
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables_daily import AWS_DAILY_TABLE, AWS_EC2_COMPUTE_TABLE
from poc_tasks.io.fs import strip_scheme
from poc_tasks.io.layout import provider_prefix
from poc_tasks.sample.scenario import seed_cloud_tenant
from tests.integration.cloud_support import by_name  # noqa: F401 - fixture
from tests.integration.cloud_support import table_multiset as _multiset
from tests.integration.ocp_support import Dataset, fetch, make_dataset, read_parquet, run_cli, write_parquet
from tests.integration.test_ocp_run import clean_env, start_worker  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def _dataset(pg_url: str, schema: str, root: str, storage_options: dict | None = None) -> Dataset:
    ds = make_dataset(pg_url, schema, root, storage_options, label_changes=False, days=3, with_aws=True)
    with closing(connect(pg_url)) as conn:
        seed_cloud_tenant(conn, schema, ds.scenario, "aws")
        conn.commit()
    return ds


def _aws(ds: Dataset) -> str:
    return ds.scenario["aws"]["source_uuid"]


def _daily_files(ds: Dataset) -> list[str]:
    folder = provider_prefix(ds.root, ds.schema, "AWS", _aws(ds), "2026", "01", daily=True)
    return sorted(p for p in ds.fs().ls(strip_scheme(folder), detail=False) if p.endswith(".parquet"))


def _parquet_sum(ds: Dataset, column: str) -> float:
    return sum(pc.sum(read_parquet(ds.fs(), p).column(column)).as_py() for p in _daily_files(ds))


def _spec(ds: Dataset, flow: str = "AWS", **kw: Any) -> DailyRunSpec:
    return DailyRunSpec.build(flow, ds.schema, _aws(ds), kw.pop("start", "2026-01-01"), kw.pop("end", "2026-01-03"),
                              **kw)


@pytest.fixture
def local(pg_url: str, tenant_schema: str, tmp_path, clean_env) -> Dataset:  # noqa: F811
    return _dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))


def test_summarize_aws_by_name_runs_chunks_and_writes_as_chords(
    pg_url, tenant_schema, s3_server, by_name, clean_env  # noqa: F811
):
    ds = _dataset(pg_url, tenant_schema, f"s3://{s3_server.bucket}", s3_server.storage_options)
    staging = by_name.start(ds)
    kwargs = {"schema_name": ds.schema, "source_uuid": _aws(ds), "start_date": "2026-01-01",
              "end_date": "2026-01-03", "markup_value": 0.1}
    out = by_name.send("poc_tasks.summarize_aws", kwargs)
    ec2 = by_name.send("poc_tasks.summarize_aws_ec2_compute", {**kwargs, "bill_id": out["bill_id"]})
    assert by_name.counts("poc_tasks.daily_finalize_run", 2) == {
        "poc_tasks.summarize_aws": 1, "poc_tasks.summarize_aws_ec2_compute": 1, "poc_tasks.daily_compute_chunk": 3,
        "poc_tasks.daily_write_tables": 2, "poc_tasks.daily_write_table": 2, "poc_tasks.daily_finalize_run": 2}
    assert out["chunks"] == 2 and out["rows"][AWS_DAILY_TABLE] == sum(
        _multiset(pg_url, ds.schema, AWS_DAILY_TABLE).values()) > 0
    assert ec2["rows"][AWS_EC2_COMPUTE_TABLE] == sum(_multiset(pg_url, ds.schema, AWS_EC2_COMPUTE_TABLE).values()) > 0
    assert not ds.fs().exists(strip_scheme(f"{staging}/{out['run_id']}"))
    # every line's cost is in exactly one row (no organizational units here: no join duplicates)
    total, markup = fetch(pg_url, ds.schema, AWS_DAILY_TABLE, "sum(unblended_cost), sum(markup_cost)")[0]
    assert float(total) == pytest.approx(_parquet_sum(ds, "lineitem_unblendedcost"), abs=1e-6)
    assert float(markup) == pytest.approx(0.1 * float(total), abs=1e-6)

    # the same run in-process writes the same rows, and a re-run replaces them (same multiset)
    via_worker = _multiset(pg_url, ds.schema, AWS_DAILY_TABLE)
    run(_spec(ds, markup_value=0.1), ds.settings(pg_url, staging), date_step=1)
    assert _multiset(pg_url, ds.schema, AWS_DAILY_TABLE) == via_worker


def test_kokus_delete_rule_keeps_other_bills_and_days(pg_url, local: Dataset):
    ds = local
    run(_spec(ds), ds.settings(pg_url))
    bill = fetch(pg_url, ds.schema, AWS_DAILY_TABLE, "max(cost_entry_bill_id)")[0][0]
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:  # a second bill of the source, same month
        cur.execute(sql.SQL("INSERT INTO {} (billing_resource, bill_type, billing_period_start, billing_period_end,"
                            " provider_id) VALUES ('aws', 'other', '2026-01-01', '2026-01-31', %s) RETURNING id")
                    .format(qualified(ds.schema, "reporting_awscostentrybill")), (_aws(ds),))
        other = cur.fetchone()[0]
        cur.execute(sql.SQL("UPDATE {} SET cost_entry_bill_id = %s WHERE usage_start = '2026-01-02'"
                            " AND product_code = 'AWSELB'").format(qualified(ds.schema, AWS_DAILY_TABLE)), (other,))
        moved = cur.rowcount
        conn.commit()
    assert moved > 0
    before = _multiset(pg_url, ds.schema, AWS_DAILY_TABLE)
    day1 = _multiset(pg_url, ds.schema, AWS_DAILY_TABLE, "usage_start = '2026-01-01'")
    # re-summarise day 2 only, under the first bill: day 1 and the other bill's rows stay
    run(_spec(ds, start="2026-01-02", end="2026-01-02", bill_id=bill), ds.settings(pg_url))
    after = _multiset(pg_url, ds.schema, AWS_DAILY_TABLE)
    assert _multiset(pg_url, ds.schema, AWS_DAILY_TABLE, "usage_start = '2026-01-01'") == day1
    assert len(fetch(pg_url, ds.schema, AWS_DAILY_TABLE, "1", f"cost_entry_bill_id = {int(other)}")) == moved
    assert sum(after.values()) == sum(before.values()) + moved  # the moved rows are written again under the bill


def test_cli_run_aws_and_bad_input_keeps_the_previous_rows(pg_url, local: Dataset):
    ds = local
    argv = ["--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema, "--source-uuid", _aws(ds),
            "--start", "2026-01-01", "--end", "2026-01-03"]
    ok = run_cli("run", "aws", *argv, "--markup", "10")
    assert ok.code == 0, ok.stderr
    assert ok.json["rows"][AWS_DAILY_TABLE] > 0
    assert run_cli("run", "aws-ec2", *argv).code == 0
    before = _multiset(pg_url, ds.schema, AWS_DAILY_TABLE)
    # arguments: a range across months, an unknown bill
    assert run_cli("run", "aws", *argv[:-4], "--start", "2026-01-30", "--end", "2026-02-02").code == 2
    nobill = run_cli("run", "aws", *argv, "--bill-id", "999999")
    assert nobill.code == 2 and "bill_id 999999" in nobill.stderr

    # a daily file whose resourcetags is not JSON: exit 2, the message names file and column, rows unchanged
    path = _daily_files(ds)[1]
    table = read_parquet(ds.fs(), path)
    tags = table.column("resourcetags").to_pylist()
    tags[0] = "{broken"
    write_parquet(ds.fs(), path, table.set_column(table.schema.get_field_index("resourcetags"), "resourcetags",
                                                  pa.array(tags)))
    bad = run_cli("run", "aws", *argv)
    assert bad.code == 2 and "resourcetags" in bad.stderr and path.split("/")[-1] in bad.stderr
    assert _multiset(pg_url, ds.schema, AWS_DAILY_TABLE) == before

    # a missing required column is named as well
    write_parquet(ds.fs(), path, table.drop_columns(["lineitem_unblendedcost"]))
    bad = run_cli("run", "aws", *argv)
    assert bad.code == 2 and "lineitem_unblendedcost" in bad.stderr
    assert _multiset(pg_url, ds.schema, AWS_DAILY_TABLE) == before



def test_no_aws_parquet_is_a_clear_error(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    argv = ["--database-url", pg_url, "--data-root", str(tmp_path), "--schema", tenant_schema, "--source-uuid",
            str(uuid.uuid4()), "--start", "2026-01-01", "--end", "2026-01-03"]
    out = run_cli("run", "aws", *argv)
    assert out.code == 2 and "aws_line_items_daily" in out.stderr


def test_ec2_month_and_its_delete(pg_url, local: Dataset):
    ds = local
    run(_spec(ds, "AWS-EC2", start="2026-01-01", end="2026-01-31"), ds.settings(pg_url))
    rows = fetch(pg_url, ds.schema, AWS_EC2_COMPUTE_TABLE, "resource_id, usage_start, usage_end, usage_amount")
    assert rows and all(r[1].isoformat() == "2026-01-01" and r[2].isoformat() == "2026-01-03" for r in rows)
    first = _multiset(pg_url, ds.schema, AWS_EC2_COMPUTE_TABLE)
    run(_spec(ds, "AWS-EC2", start="2026-01-01", end="2026-01-31"), ds.settings(pg_url))
    assert _multiset(pg_url, ds.schema, AWS_EC2_COMPUTE_TABLE) == first  # replaced, not appended


def test_ocp_infrastructure_map_in_kokus_shape(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    from poc_tasks.daily.infra_map import get_ocp_infrastructure_map

    ds = make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"), label_changes=False, days=2, with_aws=True,
                      with_azure=True, with_gcp=True)
    clouds = {c: ds.scenario[c.lower()]["source_uuid"] for c in ("AWS", "Azure", "GCP")}
    settings = ds.settings(pg_url)

    def infra(**kw):
        return get_ocp_infrastructure_map(ds.schema, "2026-01-01", "2026-01-02", settings=settings, **kw)

    # the cloud sources need their tenant provider rows (the map's type comes from there)
    assert infra(ocp_provider_uuid=ds.source) == {}
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        for kind, source in clouds.items():
            cur.execute(sql.SQL("INSERT INTO {} (uuid, name, type) VALUES (%s, %s, %s)").format(
                qualified(ds.schema, "reporting_tenant_api_provider")), (source, kind, f"{kind}-local"))
        conn.commit()
    # AWS is tried first: the cluster's nodes are in the AWS bill
    assert infra(ocp_provider_uuid=ds.source) == {ds.source: (clouds["AWS"], "AWS-local")}
    for kind, source in clouds.items():
        assert infra(**{f"{kind.lower()}_provider_uuid": source}) == {ds.source: (source, f"{kind}-local")}
    # an unknown cloud source, a range before the data, no arguments: nothing
    assert infra(aws_provider_uuid=str(uuid.uuid4())) == {}
    assert get_ocp_infrastructure_map(ds.schema, "2026-01-20", "2026-01-21", settings=settings,
                                      ocp_provider_uuid=ds.source) == {}
    assert infra() == {}
    out = run_cli("infra-map", "--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema, "--start",
                  "2026-01-01", "--end", "2026-01-02", "--gcp-provider-uuid", clouds["GCP"])
    assert out.code == 0 and out.json == {ds.source: [clouds["GCP"], "GCP-local"]}
    assert run_cli("infra-map", "--database-url", pg_url, "--data-root", ds.root, "--schema", "public", "--start",
                   "2026-01-01", "--end", "2026-01-02").code == 2


def test_compare_aws_is_equal_after_a_run_and_names_a_changed_column(pg_url, local: Dataset, tmp_path):
    ds = local
    argv = ["--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema, "--source-uuid", _aws(ds),
            "--start", "2026-01-01", "--end", "2026-01-03", "--markup", "10"]
    assert run_cli("run", "aws", *argv).code == 0
    before = _multiset(pg_url, ds.schema, AWS_DAILY_TABLE)
    same = run_cli("compare", "aws", *argv, "--report", str(tmp_path / "same"))
    assert same.code == 0, same.stderr
    assert same.json["equal"] and same.json["rows"]["live"] == same.json["rows"]["poc"] > 0
    assert (tmp_path / "same.html").exists()
    assert fetch(pg_url, ds.schema, "poc_shadow_comparison", "provider_type, equal") == [("AWS-daily", True)]
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:  # Trino's row differs in one column
        cur.execute(sql.SQL("UPDATE {} SET unblended_cost = unblended_cost + 1 WHERE uuid = (SELECT min(uuid::text)"
                            " FROM {})::uuid").format(qualified(ds.schema, AWS_DAILY_TABLE),
                                                      qualified(ds.schema, AWS_DAILY_TABLE)))
        conn.commit()
    diff = run_cli("compare", "aws", *argv, "--report", str(tmp_path / "diff"), "--no-store")
    assert diff.code == 1 and diff.json["changed_columns"] == {"unblended_cost": 1}
    assert sum(_multiset(pg_url, ds.schema, AWS_DAILY_TABLE).values()) == sum(before.values())  # nothing written
    ec2 = run_cli("compare", "aws-ec2", *argv, "--report", str(tmp_path / "ec2"), "--no-store")
    assert ec2.code == 1 and ec2.json["rows"]["live"] == 0 and ec2.json["rows"]["extra_in_poc"] > 0


def test_sample_without_ocp_is_an_aws_only_tenant(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    root = tmp_path / "bucket"
    out = run_cli("sample", "--data-root", str(root), "--schema", tenant_schema, "--with-aws", "--without-ocp",
                  "--nodes", "4", "--pods", "30", "--days", "2")
    assert out.code == 0, out.stderr
    assert not (root / "data" / "parquet" / tenant_schema / "OCP").exists()
    assert not (root / "data" / "parquet" / "daily" / tenant_schema / "OCP").exists()
    run = run_cli("run", "aws", "--database-url", pg_url, "--data-root", str(root), "--schema", tenant_schema,
                  "--source-uuid", out.json["aws_source_uuid"], "--start", "2026-01-01", "--end", "2026-01-02")
    assert run.code == 0 and run.json["rows"][AWS_DAILY_TABLE] > 0
