"""The contract every OCP-on-cloud provider module passes, end to end: real PostgreSQL, Redis, S3 over HTTP (moto
server), the worker and its chords.

The data is poc_tasks.sample's small cluster with its matched AWS bill, Azure export or GCP billing export (no
mid-day label changes), written for each test's own tenant; the OCP summary runs first, as in Koku. Every test runs
for the three providers (one run, three provider modules): the chords, the inputs read, each day's cost conserved,
an idempotent re-run, tag summaries, bad input refused with nothing written. A provider's own rules have their
own tests at the end.
"""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg2 import sql

from poc_tasks.cloud import aws, flow
from poc_tasks.cloud import provider as provider_module
from poc_tasks.cloud.provider import line_parts
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.db.connection import connect, qualified
from poc_tasks.io.fs import strip_scheme
from poc_tasks.io.layout import provider_prefix
from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.runspec import OcpRunSpec
from tests.integration.cloud_support import by_name  # noqa: F401 - fixture
from tests.integration.cloud_support import table_multiset as _multiset
from tests.integration.ocp_support import SUMMARY_TABLE, Dataset, fetch, make_dataset, run_cli, summary_multiset
from tests.integration.test_ocp_run import clean_env, start_worker  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

BACK_POPULATED = "supplementary_usage_cost IS NOT NULL"
CLOUDS = {"AWS": "aws", "Azure": "azure", "GCP": "gcp"}
CATEGORY_SUMMARY = "reporting_ocpawscategory_summary"


def _dataset(cloud: str, pg_url: str, schema: str, root: str, storage_options: dict | None = None,
             **config: Any) -> Dataset:
    key = CLOUDS[cloud]
    ds = make_dataset(pg_url, schema, root, storage_options, label_changes=False,
                      **{"days": 3, f"with_{key}": True, **config})
    section = ds.scenario[key]
    if cloud in ("AWS", "Azure"):  # Koku enables every AWS and Azure key it sees (under its limit)
        keys = [(k, True) for k in section["enabled_tag_keys"]]
    else:  # Koku records GCP keys disabled; the scenario's keys are the ones a user enabled
        on = set(section["enabled_tag_keys"])
        keys = [(k, k in on) for k in sorted(set(section.get("tag_keys_seen", [])) | on)]
    with closing(connect(pg_url)) as conn:
        with conn.cursor() as cur:
            for k, enabled in keys:
                cur.execute(sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, %s, %s)"
                                    ).format(qualified(schema, "reporting_enabledtagkeys")),
                            (str(uuid.uuid4()), k, enabled, cloud))
            for k in section.get("category_keys", []):  # and every AWS cost-category key
                cur.execute(sql.SQL("INSERT INTO {} (uuid, key, enabled) VALUES (%s, %s, true)").format(
                    qualified(schema, "reporting_awsenabledcategorykeys")), (str(uuid.uuid4()), k))
        conn.commit()
    return ds


def _run_ocp(ds: Dataset, pg_url: str) -> None:
    run_ocp(OcpRunSpec.build(ds.schema, ds.source, ds.config.cluster_id, ds.config.start_date, ds.config.end_date,
                             ds.config.cluster_alias), ds.settings(pg_url))


def _spec(cloud: str, ds: Dataset, **kw: Any) -> CloudRunSpec:
    return CloudRunSpec.build(ds.schema, ds.source, ds.scenario[CLOUDS[cloud]]["source_uuid"], ds.config.cluster_id,
                              ds.config.start_date, ds.config.end_date, ds.config.cluster_alias, cloud_type=cloud, **kw)


def _all_tables(cloud: str, pg_url: str, schema: str) -> dict[str, collections.Counter]:
    p = flow.provider(cloud)
    out = {t: _multiset(pg_url, schema, t) for t in flow.write_order(p)}
    out[p.tags.values] = _multiset(pg_url, schema, p.tags.values)
    if cloud == "AWS":
        out[CATEGORY_SUMMARY] = _multiset(pg_url, schema, CATEGORY_SUMMARY)
    return out


@pytest.fixture(params=list(CLOUDS))
def cloud(request) -> str:
    return request.param


@pytest.fixture
def local(cloud: str, pg_url: str, tenant_schema: str, tmp_path: Path, clean_env) -> Dataset:  # noqa: F811
    ds = _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    return ds


@pytest.fixture
def aws_local(pg_url: str, tenant_schema: str, tmp_path: Path, clean_env) -> Dataset:  # noqa: F811
    """`local` for AWS alone (other modules' tests use it)."""
    ds = _dataset("AWS", pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    return ds


# --- the worker and the chords ---------------------------------------------------------------------------------


def test_summarize_task_by_name_runs_chunks_and_table_writes_as_chords(
    cloud, pg_url, tenant_schema, s3_server, by_name, clean_env  # noqa: F811
):
    p = flow.provider(cloud)
    ds = _dataset(cloud, pg_url, tenant_schema, f"s3://{s3_server.bucket}", s3_server.storage_options)
    _run_ocp(ds, pg_url)
    staging = by_name.start(ds)
    kwargs = {"schema_name": ds.schema, "openshift_provider_uuid": ds.source,
              p.kwarg: ds.scenario[CLOUDS[cloud]]["source_uuid"], "start_date": "2026-01-01",
              "end_date": "2026-01-03", "cluster_id": ds.config.cluster_id,
              "cluster_alias": ds.config.cluster_alias, "markup": "10"}
    out = by_name.send(f"poc_tasks.summarize_ocp_on_{CLOUDS[cloud]}", kwargs)
    tables = flow.write_order(p)
    assert by_name.counts("poc_tasks.cloud_finalize_run") == {
        f"poc_tasks.summarize_ocp_on_{CLOUDS[cloud]}": 1, "poc_tasks.cloud_compute_chunk": 2,
        "poc_tasks.cloud_write_tables": 1, "poc_tasks.cloud_write_table": len(tables),
        "poc_tasks.cloud_finalize_run": 1}
    finalized = {CATEGORY_SUMMARY} if cloud == "AWS" else set()  # what a provider's finalize steps write
    assert out["provider"] == p.run_name and out["chunks"] == 2 and set(out["rows"]) == {*tables, *finalized}
    for table in [p.project_table, *(t.name for t in p.ui_tables)]:
        assert out["rows"][table] == sum(_multiset(pg_url, ds.schema, table).values()) > 0, table
    assert out["rows"][SUMMARY_TABLE] == sum(_multiset(pg_url, ds.schema, SUMMARY_TABLE, BACK_POPULATED).values())
    assert not ds.fs().exists(strip_scheme(f"{staging}/{out['run_id']}"))
    assert fetch(pg_url, ds.schema, "reporting_ocpusagereportperiod", "ocp_on_cloud_updated_datetime")[0][0]
    cost = p.profile.costs[0]
    markups = fetch(pg_url, ds.schema, p.project_table, f"sum(markup_cost), sum({cost})")[0]
    assert float(markups[0]) == pytest.approx(0.1 * float(markups[1]), rel=1e-9)

    # the same chunks in-process write the same rows
    via_worker = _all_tables(cloud, pg_url, ds.schema)
    flow.run(p, _spec(cloud, ds, markup="10"), ds.settings(pg_url, staging), date_step=1)
    assert _all_tables(cloud, pg_url, ds.schema) == via_worker


# --- conservation ----------------------------------------------------------------------------------------------


def _read_folder(ds: Dataset, folder: str) -> pd.DataFrame:
    fs = ds.fs()
    if not fs.exists(strip_scheme(folder)):
        return pd.DataFrame()
    tables = []
    for path in sorted(fs.ls(strip_scheme(folder))):
        with fs.open(path, "rb") as fh:
            tables.append(pq.read_table(fh))
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _podless_days(pg_url: str, ds: Dataset, pv: str) -> set:
    """Days on which no OCP storage row of the PV carries a node resource id (its claim's pod is pending)."""
    rows = fetch(pg_url, ds.schema, SUMMARY_TABLE, "usage_start, bool_or(coalesce(resource_id, '') <> '')",
                 "persistentvolume = %s AND NOT (" + BACK_POPULATED + ") GROUP BY 1", (pv,))
    return {day for day, has_node in rows if not has_node}


def _expected_aws(ds: Dataset, _pg_url: str) -> tuple[str, pd.Series]:
    """Per day, the amortized cost of the bill's lines the sample planted for the cluster (instances, their data
    transfer, disks, tagged lines), minus the two Koku cannot attribute: an in-tree volume matched by its PV name
    (no CSI handle, so no disk share, and it contains no node id) and a line whose tag matches an OpenShift label
    only case-blind."""
    aws = ds.scenario["aws"]
    features = aws["features"]
    mine = set(features["ec2_nodes"].values()) | set(features["ebs_volumes"].values())
    mine.add(features["released_pv"]["csi_volume_handle"])
    mine |= {t["resource_id"] for t in features["tag_matched"].values() if t["resource_id"]}
    lost = {features["tag_matched"]["s3_enabled_key_case_mismatch"]["resource_id"]}
    if features.get("ebs_matched_by_pv_name"):  # bigger samples only
        lost.add(features["ebs_matched_by_pv_name"])
    lines = _read_folder(ds, provider_prefix(ds.root, ds.scenario["account"], "AWS", aws["source_uuid"], aws["year"],
                                             aws["month"], daily=True))
    ours = lines["lineitem_resourceid"].isin(mine - lost) | (lines["bill_billingentity"] == "AWS Marketplace")
    amortized = lines["lineitem_unblendedcost"].where(lines["lineitem_lineitemtype"].isin(["Usage", "Tax"]),
                                                      lines["savingsplan_savingsplaneffectivecost"])
    days = lines.loc[ours, "lineitem_usagestartdate"].dt.date
    return "calculated_amortized_cost", amortized[ours].groupby(days).sum()


def _expected_azure(ds: Dataset, pg_url: str) -> tuple[str, pd.Series]:
    """Per day, the pre-tax cost of every line the sample planted for the cluster, minus those Koku cannot
    attribute: a line whose enabled key matches an OpenShift label only case-blind (`App`), and the disk whose meter
    the capacity lookup does not know (matched directly by its PV name) on days its claim's pod is pending (the
    direct match needs the node's resource id)."""
    az = ds.scenario["azure"]
    f = az["features"]
    lines = _read_folder(ds, provider_prefix(ds.root, ds.scenario["account"], "Azure", az["source_uuid"], az["year"],
                                             az["month"], daily=False))
    lines["day"] = lines["date"].dt.date
    lost = set(f["unmatched"].values()) | {f["tag_matched"]["files_enabled_key_case_mismatch"]["resource_id"]}
    ours = ~lines["resourceid"].isin(lost)
    unknown = f["pv_disks"][f["disk_meter_unknown"]]["resource_id"]
    ours &= ~((lines["resourceid"] == unknown) & lines["day"].isin(_podless_days(pg_url, ds, f["disk_meter_unknown"])))
    return "pretax_cost", lines.loc[ours, "costinbillingcurrency"].groupby(lines.loc[ours, "day"]).sum()


def _expected_gcp(ds: Dataset, pg_url: str) -> tuple[str, pd.Series]:
    """Per day, cost + credits of every line the sample planted for the cluster (every invoice month), where a
    disk whose global name Koku sizes and whose resource name is its PV name counts twice (sized, and matched
    directly on days its claim's pod runs on a node: the direct match needs the node's resource id), a disk matched
    only by PV name whose claim's pod is pending not at all, and a line labelled with a key nobody enabled not at
    all."""
    g = ds.scenario["gcp"]
    f = g["features"]
    months = {(im[:4], im[4:]) for im in g["invoice_months"]}
    frames = [_read_folder(ds, provider_prefix(ds.root, ds.scenario["account"], "GCP", g["source_uuid"], y, m,
                                               daily=True)) for y, m in months]
    lines = pd.concat([x for x in frames if not x.empty], ignore_index=True)
    lines["day"] = pd.to_datetime(lines["usage_start_time"], utc=True).dt.date
    name = lines["resource_name"]
    lost = {v for v in f["unmatched"].values() if v} | {f["tag_matched"]["filestore_key_not_enabled"]["resource_name"]}
    ours = ~name.isin(lost) & ~(name.fillna("") == "")
    for pv in f["direct_disk_without_node"]:
        ours &= ~((name == f["disks"][pv]["resource_name"]) & lines["day"].isin(_podless_days(pg_url, ds, pv)))
    twice = pd.Series(False, index=lines.index)
    if f.get("disk_attributed_twice"):  # ... on the days its claim's pod runs on a node (see _expected_azure)
        pv = f["disk_attributed_twice"]
        twice = (name == f["disks"][pv]["resource_name"]) & ~lines["day"].isin(_podless_days(pg_url, ds, pv))
    value = (lines["cost"] + lines["daily_credits"]) * (1 + twice.astype(float))
    return "unblended_cost + credit_amount", value[ours].groupby(lines.loc[ours, "day"]).sum()


def test_each_day_the_attributed_cost_equals_the_cost_of_the_clusters_lines(cloud, pg_url, local):
    ds, p = local, flow.provider(cloud)
    expected_of = {"AWS": _expected_aws, "Azure": _expected_azure, "GCP": _expected_gcp}[cloud]
    column, expected = expected_of(ds, pg_url)
    out = flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    # inputs read: every cloud line of the month at least once, and each day's matched lines
    assert out["rows_read"] >= sum(pq.read_metadata(f).num_rows for f in _line_files(cloud, ds))
    assert sorted(out["days"]) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert all(d["matched_lines"] > 0 for d in out["days"].values())
    attributed = dict(fetch(pg_url, ds.schema, p.project_table, f"usage_start, sum({column})", "true GROUP BY 1"))
    assert sorted(attributed) == sorted(expected.index) == [dt.date(2026, 1, d) for d in (1, 2, 3)]
    for day, cost in expected.items():
        assert float(attributed[day]) == pytest.approx(cost, abs=1e-6), day
    # the OCP summary's own rows carry it too: the back-populated rows hold cost + markup (+ credits) per OCP key
    back = dict(fetch(pg_url, ds.schema, SUMMARY_TABLE, "usage_start, sum(infrastructure_raw_cost)",
                      BACK_POPULATED + " GROUP BY 1"))
    for day, cost in expected.items():
        assert float(back[day]) == pytest.approx(cost, abs=1e-6), day
    # the UI cost summary's totals are the project table's
    total = p.conservation_costs[0]
    ui = next(t.name for t in p.ui_tables if t.name.endswith("_cost_summary_p"))
    totals = dict(fetch(pg_url, ds.schema, ui, f"usage_start, sum({total})", "true GROUP BY 1"))
    project = dict(fetch(pg_url, ds.schema, p.project_table, f"usage_start, sum({total})", "true GROUP BY 1"))
    for day, cost in project.items():
        assert float(totals[day]) == pytest.approx(float(cost), abs=1e-6), day
    namespaces = {r[0] for r in fetch(pg_url, ds.schema, p.project_table, "DISTINCT namespace")}
    assert {"Worker unallocated", "Platform unallocated", "Storage unattributed", "Network unattributed"} <= namespaces
    if cloud == "AWS":
        assert fetch(pg_url, ds.schema, CATEGORY_SUMMARY, "count(*)")[0][0] > 0


# --- idempotence -----------------------------------------------------------------------------------------------


def test_rerun_gives_the_same_rows_and_leaves_the_ocp_summary_rows_alone(cloud, pg_url, local):
    ds, p = local, flow.provider(cloud)
    ocp_rows = summary_multiset(pg_url, ds.schema, where="NOT (" + BACK_POPULATED + ")")
    first = flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    after_first = _all_tables(cloud, pg_url, ds.schema)
    second = flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    assert second["rows"] == first["rows"]
    assert _all_tables(cloud, pg_url, ds.schema) == after_first
    _run_ocp(ds, pg_url)  # a third run after the OCP summary was re-run: no duplicated back-populated rows,
    third = flow.run(p, _spec(cloud, ds), ds.settings(pg_url))  # no growing tag-summary rows
    assert third["rows"] == first["rows"]
    assert _all_tables(cloud, pg_url, ds.schema) == after_first
    assert summary_multiset(pg_url, ds.schema, where="NOT (" + BACK_POPULATED + ")") == ocp_rows
    # a re-run of the OCP summary keeps the back-populated rows that carry cost (Koku's delete rule; those whose
    # cost is NULL or 0 go with the OCP rows)
    assert sum(_multiset(pg_url, ds.schema, SUMMARY_TABLE, BACK_POPULATED).values()) == first["rows"][SUMMARY_TABLE]
    costed = BACK_POPULATED + " AND infrastructure_raw_cost <> 0"
    back = _multiset(pg_url, ds.schema, SUMMARY_TABLE, costed)
    _run_ocp(ds, pg_url)
    assert _multiset(pg_url, ds.schema, SUMMARY_TABLE, BACK_POPULATED) == back


def test_tag_summaries_union_values_and_drop_disabled_keys(cloud, pg_url, local):
    ds, p = local, flow.provider(cloud)
    flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    keys = {r[0] for r in fetch(pg_url, ds.schema, p.tags.summary, "DISTINCT key")}
    assert "app" in keys
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET values = array_append(values, 'older') WHERE key = 'app'").format(
            qualified(ds.schema, p.tags.summary)))
        conn.commit()
    flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    apps = fetch(pg_url, ds.schema, p.tags.summary, "values", "key = 'app'")
    assert apps and all("older" in v[0] and v[0] == sorted(v[0]) for v in apps)  # stored values kept (union)
    disabled = max(keys)  # 'app' where it is the only one
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET enabled = false WHERE key = %s AND provider_type = %s")
                    .format(qualified(ds.schema, "reporting_enabledtagkeys")), (disabled, cloud))
        conn.commit()
    flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    assert not fetch(pg_url, ds.schema, p.tags.summary, "1", "key = %s", (disabled,))
    assert not fetch(pg_url, ds.schema, p.tags.values, "1", "key = %s", (disabled,))


def test_a_day_in_parts_gives_the_same_rows(cloud, pg_url, local, monkeypatch):
    """Day parts (POC_BUCKET_ROWS=1: one resource per part where the provider splits a day) change no row."""
    ds, p = local, flow.provider(cloud)
    whole = flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    before = _all_tables(cloud, pg_url, ds.schema)
    monkeypatch.setenv("POC_BUCKET_ROWS", "1")
    seen: list[int] = []

    def counted(*args: Any) -> Any:
        out = list(line_parts(*args))
        seen.append(len(out))
        return iter(out)

    for module in (provider_module, aws):
        monkeypatch.setattr(module, "line_parts", counted)
    parts = flow.run(p, _spec(cloud, ds), ds.settings(pg_url))
    assert max(seen) > 1, seen  # days really were split (GCP: one part per group of nodes)
    assert parts["rows"] == whole["rows"]
    after = _all_tables(cloud, pg_url, ds.schema)
    ui = {t.name for t in p.ui_tables}
    for name in before:
        # a UI row sums its parts' sums: doubles added in another order, equal to the last stored digit but one
        assert after[name] == before[name] if name not in ui else _close(after[name], before[name]), name


def _close(a: collections.Counter, b: collections.Counter, tol: float = 1.01e-9) -> bool:
    """Multisets of text rows equal, decimal texts within `tol` (one unit of numeric(33,9), doubles' slack)."""
    def decimal_text(v: Any) -> bool:
        return isinstance(v, str) and "." in v and v.lstrip("-").replace(".", "", 1).isdigit()

    def split(row: tuple) -> tuple[str, tuple]:
        return repr([v for v in row if not decimal_text(v)]), tuple(float(v) for v in row if decimal_text(v))

    left, right = sorted(map(split, a.elements())), sorted(map(split, b.elements()))
    return len(left) == len(right) and all(
        lt == rt and all(abs(x - y) <= tol for x, y in zip(ln, rn, strict=True))
        for (lt, ln), (rt, rn) in zip(left, right, strict=True))


# --- bad input -------------------------------------------------------------------------------------------------


def _argv(cloud: str, ds: Dataset, pg_url: str) -> list[str]:
    key = CLOUDS[cloud]
    return ["run", f"ocp-on-{key}", "--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema,
            "--ocp-source-uuid", ds.source, f"--{key}-source-uuid", ds.scenario[key]["source_uuid"],
            "--cluster-id", ds.config.cluster_id, "--cluster-alias", ds.config.cluster_alias,
            "--start", "2026-01-01", "--end", "2026-01-03"]


def _line_files(cloud: str, ds: Dataset) -> list[Path]:
    key = CLOUDS[cloud]
    sec = ds.scenario[key]
    if cloud == "AWS":
        folder = provider_prefix(ds.root, ds.scenario["account"], "AWS", sec["source_uuid"], sec["year"],
                                 sec["month"], daily=True)
    elif cloud == "Azure":
        folder = provider_prefix(ds.root, ds.scenario["account"], "Azure", sec["source_uuid"], sec["year"],
                                 sec["month"], daily=False)
    else:
        folder = provider_prefix(ds.root, ds.scenario["account"], "GCP", sec["source_uuid"], "2026", "01",
                                 daily=True)
    return sorted(Path(folder).glob("*.parquet"))


def _nothing_written(cloud: str, pg_url: str, ds: Dataset, ocp_rows: collections.Counter) -> None:
    p = flow.provider(cloud)
    for table in [p.project_table, *(t.name for t in p.ui_tables), p.tags.summary]:
        assert fetch(pg_url, ds.schema, table, "count(*)")[0][0] == 0, table
    assert summary_multiset(pg_url, ds.schema) == ocp_rows


@pytest.mark.parametrize("case", ["missing_column", "bad_tags"])
def test_bad_cloud_input_names_file_and_column_and_writes_nothing(cloud, pg_url, local, case):
    ds = local
    ocp_rows = summary_multiset(pg_url, ds.schema)
    path = _line_files(cloud, ds)[1]
    table = pq.read_table(path)
    tags = {"AWS": "resourcetags", "Azure": "tags", "GCP": "labels"}[cloud]
    dropped = {"AWS": "lineitem_usageaccountid", "Azure": "subscriptionguid", "GCP": "billing_account_id"}[cloud]
    if case == "missing_column":
        pq.write_table(table.drop_columns([dropped]), path)
        expected = [str(path), f"'{dropped}'"]
    else:
        col = table.column_names.index(tags)
        pq.write_table(table.set_column(col, tags, pa.array(['{"openshift_project": '] * table.num_rows)), path)
        expected = [f"'{tags}'", "unusable"]
    res = run_cli(*_argv(cloud, ds, pg_url))
    assert res.code == 2, res.stderr
    for text in expected:
        assert text in res.stderr
    _nothing_written(cloud, pg_url, ds, ocp_rows)


def test_without_the_ocp_summary_the_run_says_so(cloud, pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    ds = _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))
    res = run_cli(*_argv(cloud, ds, pg_url))
    assert res.code == 2
    assert "run the OCP summary of the range first" in res.stderr
    assert fetch(pg_url, ds.schema, flow.provider(cloud).project_table, "count(*)")[0][0] == 0


def test_without_cloud_data_for_the_month_the_run_says_so(cloud, pg_url, local):
    ds = local
    marker = {"AWS": "/AWS/", "Azure": "/Azure/", "GCP": "/GCP/raw/"}[cloud]  # GCP: its daily lines (every month)
    for path in Path(ds.root).rglob("*.parquet"):
        if marker in str(path):
            path.unlink()
    res = run_cli(*_argv(cloud, ds, pg_url))
    assert res.code == 2, res.stderr
    assert "Parquet for" in res.stderr
    assert fetch(pg_url, ds.schema, flow.provider(cloud).project_table, "count(*)")[0][0] == 0


def test_azure_without_the_disk_capacity_lookup_the_run_says_so(pg_url, tenant_schema, tmp_path, clean_env,  # noqa: F811
                                                                  monkeypatch):
    from poc_tasks.cloud import azure
    from poc_tasks.errors import ConfigurationError

    ds = _dataset("Azure", pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)

    def missing(_conn):
        raise ConfigurationError("public.reporting_common_diskcapacity does not exist")

    monkeypatch.setattr(azure, "disk_tiers", missing)
    with pytest.raises(ConfigurationError, match="reporting_common_diskcapacity"):
        flow.run(flow.provider("Azure"), _spec("Azure", ds), ds.settings(pg_url))
    assert fetch(pg_url, ds.schema, flow.provider("Azure").project_table, "count(*)")[0][0] == 0


def test_a_bill_the_cloud_source_does_not_have_is_refused(cloud, pg_url, local):
    from poc_tasks.errors import MissingInputData

    with pytest.raises(MissingInputData, match="bill_id 999"):
        flow.run(flow.provider(cloud), _spec(cloud, local, bill_id=999), local.settings(pg_url))
    assert fetch(pg_url, local.schema, flow.provider(cloud).project_table, "count(*)")[0][0] == 0


# --- a provider's own rules ------------------------------------------------------------------------------------


def test_aws_lines_without_product_code_are_refused_and_nothing_is_written(pg_url, tenant_schema, tmp_path,
                                                                          clean_env):  # noqa: F811
    ds = _dataset("AWS", pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    ocp_rows = summary_multiset(pg_url, ds.schema)
    path = _line_files("AWS", ds)[1]
    table = pq.read_table(path)
    col = table.column_names.index("lineitem_productcode")
    pq.write_table(table.set_column(col, "lineitem_productcode", pa.array([""] * table.num_rows)), path)
    res = run_cli(*_argv("AWS", ds, pg_url))
    assert res.code == 2, res.stderr
    assert "'lineitem_productcode'" in res.stderr and "product_code is NOT NULL" in res.stderr
    _nothing_written("AWS", pg_url, ds, ocp_rows)
