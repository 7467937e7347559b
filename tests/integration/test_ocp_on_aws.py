"""OCP on AWS end to end: real PostgreSQL, Redis, S3 over HTTP (moto server), the worker and its chords.

The data is poc_tasks.sample's small cluster with its matched AWS bill (``with_aws=True``, no mid-day label
changes), written for each test's own tenant; the OCP summary runs first, as in Koku.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from celery.signals import task_postrun
from psycopg2 import sql

from poc_tasks.cloud.pipeline import WRITE_ORDER, run_ocp_on_aws
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import get_table
from poc_tasks.db.tables_aws import OCPAWS_PROJECT_TABLE, OCPAWS_TAGS_SUMMARY, OCPAWS_TAGS_VALUES
from poc_tasks.io.fs import strip_scheme
from poc_tasks.io.layout import provider_prefix
from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.run import OcpRunSpec
from tests.integration.ocp_support import SUMMARY_TABLE, Dataset, fetch, make_dataset, run_cli, summary_multiset
from tests.integration.test_ocp_run import clean_env, start_worker  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

UI_TABLES = [t for t in WRITE_ORDER if t.startswith("reporting_ocpaws_")]
CATEGORY_SUMMARY = "reporting_ocpawscategory_summary"
BACK_POPULATED = "supplementary_usage_cost IS NOT NULL"


def _aws_dataset(pg_url: str, schema: str, root: str, storage_options: dict | None = None, **config: Any) -> Dataset:
    ds = make_dataset(pg_url, schema, root, storage_options, with_aws=True, label_changes=False,
                      **{"days": 3, **config})
    with closing(connect(pg_url)) as conn:
        with conn.cursor() as cur:
            for key in ds.scenario["aws"]["enabled_tag_keys"]:  # Koku enables every AWS key it sees
                cur.execute(sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, true, 'AWS')"
                                    ).format(qualified(schema, "reporting_enabledtagkeys")), (str(uuid.uuid4()), key))
            for key in ds.scenario["aws"]["category_keys"]:  # and every cost-category key
                cur.execute(sql.SQL("INSERT INTO {} (uuid, key, enabled) VALUES (%s, %s, true)").format(
                    qualified(schema, "reporting_awsenabledcategorykeys")), (str(uuid.uuid4()), key))
        conn.commit()
    return ds


def _run_ocp(ds: Dataset, pg_url: str) -> None:
    run_ocp(OcpRunSpec.build(ds.schema, ds.source, ds.config.cluster_id, ds.config.start_date, ds.config.end_date,
                             ds.config.cluster_alias), ds.settings(pg_url))


def _spec(ds: Dataset, **kw: Any) -> CloudRunSpec:
    return CloudRunSpec.build(ds.schema, ds.source, ds.scenario["aws"]["source_uuid"], ds.config.cluster_id,
                              ds.config.start_date, ds.config.end_date, ds.config.cluster_alias, **kw)


def _multiset(pg_url: str, schema: str, table: str, where: str = "true") -> collections.Counter:
    cols = [c for c in get_table(table).columns if c.name not in ("uuid", "id")]
    select = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c.name)) for c in cols)
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} WHERE {}").format(select, qualified(schema, table), sql.SQL(where)))
        return collections.Counter(cur.fetchall())


def _all_tables(pg_url: str, schema: str) -> dict[str, collections.Counter]:
    out = {t: _multiset(pg_url, schema, t) for t in [OCPAWS_PROJECT_TABLE, *UI_TABLES]}
    out[SUMMARY_TABLE] = _multiset(pg_url, schema, SUMMARY_TABLE)
    out[OCPAWS_TAGS_SUMMARY] = _multiset(pg_url, schema, OCPAWS_TAGS_SUMMARY)
    out[OCPAWS_TAGS_VALUES] = _multiset(pg_url, schema, OCPAWS_TAGS_VALUES)
    out[CATEGORY_SUMMARY] = _multiset(pg_url, schema, CATEGORY_SUMMARY)
    return out


@pytest.fixture
def aws_local(pg_url: str, tenant_schema: str, tmp_path: Path, clean_env) -> Dataset:  # noqa: F811
    ds = _aws_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    return ds


# --- the worker and the chords ---------------------------------------------------------------------------------


def test_summarize_ocp_on_aws_by_name_runs_chunks_and_table_writes_as_chords(
    pg_url, tenant_schema, s3_server, start_worker, monkeypatch, clean_env  # noqa: F811
):
    from poc_tasks.app import app

    ds = _aws_dataset(pg_url, tenant_schema, f"s3://{s3_server.bucket}", s3_server.storage_options)
    _run_ocp(ds, pg_url)
    staging = f"s3://{s3_server.bucket}/staging-{ds.schema}"
    for name, value in (("POC_DATABASE_URL", pg_url), ("POC_DATA_ROOT", ds.root),
                        ("POC_S3_ENDPOINT_URL", s3_server.endpoint_url), ("POC_STAGING_ROOT", staging),
                        ("POC_DATE_STEP", "1")):  # 3 days -> Koku's pairs (1-2), (3-3): two chunk tasks
        monkeypatch.setenv(name, value)
    finished: list[str] = []

    def record(task=None, **_kw):
        finished.append(task.name)

    task_postrun.connect(record, weak=False)
    try:
        start_worker()
        kwargs = {"schema_name": ds.schema, "openshift_provider_uuid": ds.source,
                  "aws_provider_uuid": ds.scenario["aws"]["source_uuid"], "start_date": "2026-01-01",
                  "end_date": "2026-01-03", "cluster_id": ds.config.cluster_id,
                  "cluster_alias": ds.config.cluster_alias, "markup": "10"}
        out = app.send_task("poc_tasks.summarize_ocp_on_aws", kwargs=kwargs, queue="poc_aggregation").get(timeout=120)
        # task_postrun fires after the result is stored: give the worker thread a moment to report the last task
        deadline = time.monotonic() + 10
        while "poc_tasks.cloud_finalize_run" not in finished and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        task_postrun.disconnect(record)

    assert collections.Counter(finished) == {
        "poc_tasks.summarize_ocp_on_aws": 1, "poc_tasks.cloud_compute_chunk": 2, "poc_tasks.cloud_write_tables": 1,
        "poc_tasks.cloud_write_table": len(WRITE_ORDER), "poc_tasks.cloud_finalize_run": 1}
    assert out["chunks"] == 2 and set(out["rows"]) == {*WRITE_ORDER, CATEGORY_SUMMARY}
    for table in [OCPAWS_PROJECT_TABLE, *UI_TABLES]:
        assert out["rows"][table] == sum(_multiset(pg_url, ds.schema, table).values()) > 0, table
    assert out["rows"][SUMMARY_TABLE] == sum(_multiset(pg_url, ds.schema, SUMMARY_TABLE, BACK_POPULATED).values())
    fs = ds.fs()
    assert not fs.exists(strip_scheme(f"{staging}/{out['run_id']}"))
    stamped = fetch(pg_url, ds.schema, "reporting_ocpusagereportperiod", "ocp_on_cloud_updated_datetime")
    assert stamped[0][0] is not None
    markups = fetch(pg_url, ds.schema, OCPAWS_PROJECT_TABLE, "sum(markup_cost), sum(unblended_cost)")[0]
    assert float(markups[0]) == pytest.approx(0.1 * float(markups[1]), rel=1e-9)

    # the same chunks in-process write the same rows
    via_worker = _all_tables(pg_url, ds.schema)
    run_ocp_on_aws(_spec(ds, markup="10"), ds.settings(pg_url, staging), date_step=1)
    assert _all_tables(pg_url, ds.schema) == via_worker


# --- invariants ------------------------------------------------------------------------------------------------


def _aws_daily(ds: Dataset) -> pa.Table:
    aws = ds.scenario["aws"]
    folder = provider_prefix(ds.root, ds.scenario["account"], "AWS", aws["source_uuid"], aws["year"], aws["month"],
                             daily=True)
    fs = ds.fs()
    tables = []
    for path in sorted(fs.ls(strip_scheme(folder))):
        with fs.open(path, "rb") as fh:
            tables.append(pq.read_table(fh))
    return pa.concat_tables(tables)


def test_each_day_the_attributed_cost_equals_the_cost_of_the_clusters_lines(pg_url, aws_local):
    """Over all namespaces (unallocated and unattributed included), a day's attributed amortized cost is the
    cost of the bill's lines the sample planted for the cluster (instances, their data transfer, disks, tagged
    lines), minus the two Koku cannot attribute: an in-tree volume matched by its PV name (no CSI handle, so no
    disk share, and it contains no node id) and a line whose tag matches an OpenShift label only case-blind."""
    ds = aws_local
    features = ds.scenario["aws"]["features"]
    mine = set(features["ec2_nodes"].values()) | set(features["ebs_volumes"].values())
    mine.add(features["released_pv"]["csi_volume_handle"])
    mine |= {t["resource_id"] for t in features["tag_matched"].values() if t["resource_id"]}
    lost = {features["tag_matched"]["s3_enabled_key_case_mismatch"]["resource_id"]}
    if features.get("ebs_matched_by_pv_name"):  # bigger samples only
        lost.add(features["ebs_matched_by_pv_name"])
    lines = _aws_daily(ds).to_pandas()
    ours = lines["lineitem_resourceid"].isin(mine - lost) | (lines["bill_billingentity"] == "AWS Marketplace")
    amortized = lines["lineitem_unblendedcost"].where(lines["lineitem_lineitemtype"].isin(["Usage", "Tax"]),
                                                      lines["savingsplan_savingsplaneffectivecost"])
    expected = amortized[ours].groupby(lines.loc[ours, "lineitem_usagestartdate"].dt.date).sum()

    run_ocp_on_aws(_spec(ds), ds.settings(pg_url))

    attributed = dict(fetch(pg_url, ds.schema, OCPAWS_PROJECT_TABLE, "usage_start, sum(calculated_amortized_cost)",
                            "true GROUP BY 1"))
    assert sorted(attributed) == [dt.date(2026, 1, d) for d in (1, 2, 3)]
    for day, cost in expected.items():
        assert float(attributed[day]) == pytest.approx(cost, abs=1e-6), day
    # the OCP summary's own rows carry it too: the back-populated rows hold amortized + markup per OCP key
    back = dict(fetch(pg_url, ds.schema, SUMMARY_TABLE, "usage_start, sum(infrastructure_raw_cost)",
                      BACK_POPULATED + " GROUP BY 1"))
    for day, cost in expected.items():
        assert float(back[day]) == pytest.approx(cost, abs=1e-6), day
    # the UI totals are the project table's
    totals = dict(fetch(pg_url, ds.schema, "reporting_ocpaws_cost_summary_p", "usage_start, calculated_amortized_cost"))
    for day, cost in attributed.items():
        assert float(totals[day]) == pytest.approx(float(cost), abs=1e-6)
    assert fetch(pg_url, ds.schema, CATEGORY_SUMMARY, "count(*)")[0][0] > 0
    namespaces = {r[0] for r in fetch(pg_url, ds.schema, OCPAWS_PROJECT_TABLE, "DISTINCT namespace")}
    assert {"Worker unallocated", "Platform unallocated", "Storage unattributed", "Network unattributed"} <= namespaces


def test_rerun_gives_the_same_rows_and_leaves_the_ocp_summary_rows_alone(pg_url, aws_local):
    ds = aws_local
    ocp_rows = summary_multiset(pg_url, ds.schema, where="NOT (" + BACK_POPULATED + ")")
    first = run_ocp_on_aws(_spec(ds), ds.settings(pg_url))
    after_first = _all_tables(pg_url, ds.schema)
    second = run_ocp_on_aws(_spec(ds), ds.settings(pg_url))
    assert second["rows"] == first["rows"]
    assert _all_tables(pg_url, ds.schema) == after_first
    _run_ocp(ds, pg_url)  # a third run after the OCP summary was re-run: no duplicated back-populated rows,
    third = run_ocp_on_aws(_spec(ds), ds.settings(pg_url))  # no growing tag-summary rows
    assert third["rows"] == first["rows"]
    assert _all_tables(pg_url, ds.schema) == after_first
    assert summary_multiset(pg_url, ds.schema, where="NOT (" + BACK_POPULATED + ")") == ocp_rows
    # a re-run of the OCP summary keeps the back-populated rows that carry cost (Koku's delete rule; those whose
    # cost is NULL, e.g. of a namespace's PVC-only group on a node, go with the OCP rows)
    assert sum(_multiset(pg_url, ds.schema, SUMMARY_TABLE, BACK_POPULATED).values()) == first["rows"][SUMMARY_TABLE]
    costed = BACK_POPULATED + " AND infrastructure_raw_cost <> 0"
    back = _multiset(pg_url, ds.schema, SUMMARY_TABLE, costed)
    _run_ocp(ds, pg_url)
    assert _multiset(pg_url, ds.schema, SUMMARY_TABLE, BACK_POPULATED) == back


def test_tag_summaries_union_values_and_drop_disabled_keys(pg_url, aws_local):
    ds = aws_local
    run_ocp_on_aws(_spec(ds), ds.settings(pg_url))
    keys = {r[0] for r in fetch(pg_url, ds.schema, OCPAWS_TAGS_SUMMARY, "DISTINCT key")}
    assert "app" in keys
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET values = array_append(values, 'older') WHERE key = 'app'").format(
            qualified(ds.schema, OCPAWS_TAGS_SUMMARY)))
        cur.execute(sql.SQL("UPDATE {} SET enabled = false WHERE key = 'environment' AND provider_type = 'AWS'")
                    .format(qualified(ds.schema, "reporting_enabledtagkeys")))
        conn.commit()
    run_ocp_on_aws(_spec(ds), ds.settings(pg_url))
    apps = fetch(pg_url, ds.schema, OCPAWS_TAGS_SUMMARY, "values", "key = 'app'")
    assert apps and all("older" in v[0] for v in apps)  # stored values are kept (union)
    assert all(v[0] == sorted(v[0]) for v in apps)
    assert not fetch(pg_url, ds.schema, OCPAWS_TAGS_SUMMARY, "1", "key = 'environment'")
    assert not fetch(pg_url, ds.schema, OCPAWS_TAGS_VALUES, "1", "key = 'environment'")


# --- bad input -------------------------------------------------------------------------------------------------


def _argv(ds: Dataset, pg_url: str) -> list[str]:
    return ["run", "ocp-on-aws", "--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema,
            "--ocp-source-uuid", ds.source, "--aws-source-uuid", ds.scenario["aws"]["source_uuid"],
            "--cluster-id", ds.config.cluster_id, "--cluster-alias", ds.config.cluster_alias,
            "--start", "2026-01-01", "--end", "2026-01-03"]


def _rewrite_daily(ds: Dataset, change) -> str:
    aws = ds.scenario["aws"]
    folder = provider_prefix(ds.root, ds.scenario["account"], "AWS", aws["source_uuid"], aws["year"], aws["month"],
                             daily=True)
    path = sorted(Path(folder).glob("*.parquet"))[1]
    pq.write_table(change(pq.read_table(path)), path)
    return str(path)


def _nothing_written(pg_url: str, ds: Dataset, ocp_rows: collections.Counter) -> None:
    for table in [OCPAWS_PROJECT_TABLE, *UI_TABLES, OCPAWS_TAGS_SUMMARY]:
        assert fetch(pg_url, ds.schema, table, "count(*)")[0][0] == 0, table
    assert summary_multiset(pg_url, ds.schema) == ocp_rows


@pytest.mark.parametrize("case", ["missing_column", "bad_tags", "no_product_code"])
def test_bad_cur_input_names_file_and_column_and_writes_nothing(pg_url, aws_local, case):
    ds = aws_local
    ocp_rows = summary_multiset(pg_url, ds.schema)
    if case == "missing_column":
        path = _rewrite_daily(ds, lambda t: t.drop_columns(["lineitem_usageaccountid"]))
        expected = [path, "'lineitem_usageaccountid'"]
    elif case == "bad_tags":
        def broken(t: pa.Table) -> pa.Table:
            col = t.column_names.index("resourcetags")
            return t.set_column(col, "resourcetags", pa.array(['{"openshift_project": '] * t.num_rows))
        _rewrite_daily(ds, broken)
        expected = ["'resourcetags'", "unusable tag JSON"]
    else:
        def no_code(t: pa.Table) -> pa.Table:
            col = t.column_names.index("lineitem_productcode")
            return t.set_column(col, "lineitem_productcode", pa.array([""] * t.num_rows))
        _rewrite_daily(ds, no_code)
        expected = ["'lineitem_productcode'", "product_code is NOT NULL"]
    res = run_cli(*_argv(ds, pg_url))
    assert res.code == 2, res.stderr
    for text in expected:
        assert text in res.stderr
    _nothing_written(pg_url, ds, ocp_rows)


def test_without_the_ocp_summary_the_run_says_so(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    ds = _aws_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))
    res = run_cli(*_argv(ds, pg_url))
    assert res.code == 2
    assert "run the OCP summary of the range first" in res.stderr
    assert fetch(pg_url, ds.schema, OCPAWS_PROJECT_TABLE, "count(*)")[0][0] == 0


def test_a_bill_the_aws_source_does_not_have_is_refused(pg_url, aws_local):
    from poc_tasks.errors import MissingInputData

    with pytest.raises(MissingInputData, match="bill_id 999"):
        run_ocp_on_aws(_spec(aws_local, bill_id=999), aws_local.settings(pg_url))
    assert fetch(pg_url, aws_local.schema, OCPAWS_PROJECT_TABLE, "count(*)")[0][0] == 0
