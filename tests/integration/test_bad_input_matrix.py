"""Bad input tried on every flow (issue 12 item 4): OCP, OCP on AWS / Azure / GCP, the AWS, EC2, Azure and GCP daily
summaries and the OCP cost model, each broken in the same ways.

One tenant holds every flow's clean run (a 2-day sample with its matched AWS, Azure and GCP bills, GPUs and VMs);
each case breaks one file (restored afterwards) or passes one bad argument, runs the flow through the in-process
CLI and checks: exit 2, one error line naming the file and column or the argument, and every table the flow writes
exactly as before (same rows, same uuids). Inputs Koku accepts (tz-aware timestamps, an empty file, a 1 MB tag, the
same rows in two files, a NULL resource id) are accepted here too, with the rows Koku's SQL gives.
The OCP flow's own cases (each report type, S3 paths, its labels) are in test_ocp_bad_input.py.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from psycopg2 import sql

from poc_tasks.cost_model.sample_data import add_gpus_and_vms, cost_model_rows
from poc_tasks.db.connection import connect, qualified
from poc_tasks.io.layout import ocp_prefix, provider_prefix
from poc_tasks.sample.scenario import seed_cloud_tenant
from tests.integration.ocp_support import CliResult, Dataset, fresh_tenant, make_dataset, run_cli
from tests.integration.test_ocp_run import start_worker  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

SUMMARY = "reporting_ocpusagelineitem_daily_summary"
START, END = "2026-01-01", "2026-01-02"


# --- the flows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """How to run one flow and where its input lives."""

    command: str  # `poc-tasks run <command>`
    folder: Callable[[Dataset], str]  # the folder of the line files a case breaks
    time: str  # the time column of those files
    number: str  # a required number column
    text: str  # a required text column
    tags: str | None  # the label / tag JSON column (None: the files have none)
    null_refused: dict[str, str] = field(default_factory=dict)  # key column -> the message's why (Koku fails/drops)
    null_accepted: tuple[str, ...] = ()  # key columns Koku's SQL keeps as NULL (grouped as one value)
    total: str = ""  # a summed usage or cost column of the flow's main table
    extra: tuple[str, ...] = ()  # arguments besides schema, sources and range

    def argv(self, w: World, **override: str) -> list[str]:
        ds = w.ds
        args = {"--schema": ds.schema, "--start": START, "--end": END}
        if self.command == "ocp" or self.command == "ocp-cost-model":
            args |= {"--source-uuid": ds.source, "--cluster-id": ds.config.cluster_id}
            if self.command == "ocp":
                args["--cluster-alias"] = ds.config.cluster_alias
        elif self.command.startswith("ocp-on-"):
            key = self.command.removeprefix("ocp-on-")
            args |= {"--ocp-source-uuid": ds.source, f"--{key}-source-uuid": ds.scenario[key]["source_uuid"],
                     "--cluster-id": ds.config.cluster_id, "--cluster-alias": ds.config.cluster_alias}
        else:
            args["--source-uuid"] = ds.scenario[self.command.split("-")[0]]["source_uuid"]
        args |= override
        out = ["run", self.command, "--database-url", w.pg_url, "--data-root", ds.root, *self.extra]
        if self.command == "ocp-cost-model":
            out += ["--load-cost-model", str(w.cost_model)]
        for name, value in args.items():
            out += [name, value]
        return out

    def files(self, ds: Dataset) -> list[Path]:
        return sorted(Path(self.folder(ds)).glob("*.parquet"))


def _ocp(report_type: str, daily: bool) -> Callable[[Dataset], str]:
    return lambda ds: ocp_prefix(ds.root, ds.scenario["account"], report_type, ds.source, "2026", "01", daily)


def _cloud(cloud: str, daily: bool) -> Callable[[Dataset], str]:
    return lambda ds: provider_prefix(ds.root, ds.scenario["account"], cloud,
                                      ds.scenario[cloud.lower()]["source_uuid"], "2026", "01", daily=daily)


_TIME = "have no time value (NULL); Koku's SQL would drop them silently"
FLOWS = {
    "ocp": Flow("ocp", _ocp("pod_usage", True), "interval_start", "pod_usage_cpu_core_seconds", "pod",
                "pod_labels", {"namespace": "", "node": "", "interval_start": ""},
                total="pod_usage_cpu_core_hours"),
    "ocp-on-aws": Flow("ocp-on-aws", _cloud("AWS", True), "lineitem_usagestartdate", "lineitem_unblendedcost",
                       "lineitem_productcode", "resourcetags",
                       {"lineitem_usagestartdate": _TIME, "lineitem_productcode": "product_code is NOT NULL"},
                       ("lineitem_resourceid",), total="unblended_cost"),
    "ocp-on-azure": Flow("ocp-on-azure", _cloud("Azure", False), "date", "costinbillingcurrency", "servicename",
                         "tags", {"date": _TIME}, ("resourceid",), total="pretax_cost"),
    "ocp-on-gcp": Flow("ocp-on-gcp", _cloud("GCP", True), "usage_start_time", "cost", "service_description",
                       "labels", {"usage_start_time": _TIME}, ("resource_name",), total="unblended_cost"),
    "aws": Flow("aws", _cloud("AWS", True), "lineitem_usagestartdate", "lineitem_unblendedcost",
                "lineitem_productcode", "resourcetags",
                {"lineitem_usagestartdate": _TIME, "lineitem_usageaccountid": "usage_account_id is NOT NULL",
                 "lineitem_productcode": "product_code is NOT NULL"}, ("lineitem_resourceid",),
                total="unblended_cost"),
    "aws-ec2": Flow("aws-ec2", _cloud("AWS", True), "lineitem_usagestartdate", "lineitem_unblendedcost",
                    "lineitem_productcode", "resourcetags",
                    {"lineitem_usagestartdate": _TIME, "lineitem_resourceid": "would drop them silently",
                     "lineitem_usageaccountid": "usage_account_id is NOT NULL"}, total="unblended_cost"),
    "azure": Flow("azure", _cloud("Azure", False), "date", "costinbillingcurrency", "servicename", "tags",
                  {"date": _TIME, "subscriptionid+subscriptionguid": "subscription_guid is NOT NULL"},
                  ("resourceid",), total="pretax_cost"),
    "gcp": Flow("gcp", _cloud("GCP", False), "usage_start_time", "cost", "service_description", "labels",
                {"usage_start_time": _TIME, "billing_account_id": "account_id is NOT NULL",
                 "project_id": "project_id is NOT NULL"}, total="unblended_cost", extra=("--invoice-month", "202601")),
    "ocp-cost-model": Flow("ocp-cost-model", _ocp("gpu_usage", True), "interval_start", "gpu_pod_uptime",
                           "gpu_model_name", None,
                           {"interval_start": _TIME, "namespace": "namespace is NOT NULL"}),
}


# --- the tenant --------------------------------------------------------------------------------------------------


@dataclass
class World:
    pg_url: str
    ds: Dataset
    cost_model: Path
    tables: dict[str, list[str]]  # flow -> the tables it writes

    def run(self, flow: str, *extra: str, **override: str) -> CliResult:
        return run_cli(*FLOWS[flow].argv(self, **override), *extra)

    def snapshot(self, flow: str) -> dict[str, collections.Counter]:
        """Every row (uuids included) of every table the flow writes."""
        with closing(connect(self.pg_url)) as conn, conn.cursor() as cur:
            out = {}
            for table in self.tables[flow]:
                cur.execute(sql.SQL("SELECT t::text FROM {} t").format(qualified(self.ds.schema, table)))
                out[table] = collections.Counter(r[0] for r in cur.fetchall())
            conn.rollback()
        return out


@pytest.fixture(scope="module")
def world(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("bad-input-matrix")
    with pytest.MonkeyPatch.context() as mp, fresh_tenant(pg_url) as schema:
        for name in ("POC_STAGING_ROOT", "POC_DATE_STEP", "POC_DATA_ROOT", "POC_DATABASE_URL"):
            mp.delenv(name, raising=False)
        ds = make_dataset(pg_url, schema, str(root / "bucket"), label_changes=False, nodes=4, pods=22, days=2,
                          with_aws=True, with_azure=True, with_gcp=True)
        add_gpus_and_vms(ds.root, ds.scenario)
        with closing(connect(pg_url)) as conn:
            for cloud in ("aws", "azure", "gcp"):
                seed_cloud_tenant(conn, schema, ds.scenario, cloud)
            conn.commit()
        cost_model = root / "cost_model.json"
        cost_model.write_text(json.dumps(cost_model_rows(ds.source, dt.date(2026, 1, 1), dt.date(2026, 1, 2)),
                                         default=str))
        w = World(pg_url, ds, cost_model, {})
        for name in FLOWS:  # OCP first: the OCP-on-cloud and cost-model runs read its summary
            ok = w.run(name)
            assert ok.code == 0, (name, ok.stderr)
            written = set(ok.json.get("rows", {})) if name != "ocp-cost-model" else {"reporting_ocp_gpu_summary_p"}
            if name.startswith("ocp-"):
                written.add(SUMMARY)  # back-populated or cost-model rows
            w.tables[name] = sorted(written)
        yield w


def assert_refused(w: World, flow: str, result: CliResult, before: dict, *fragments: str) -> str:
    """Exit 2, one error line holding every fragment, nothing on stdout, the flow's tables as they were."""
    assert result.code == 2, (flow, result.code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poc-tasks: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert w.snapshot(flow) == before
    return lines[0]


class Broken:
    """One file of a flow changed for the length of a `with`, then put back byte for byte."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved = path.read_bytes()
        self.added: list[Path] = []

    def __enter__(self) -> Broken:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.path.write_bytes(self.saved)
        for p in self.added:
            p.unlink(missing_ok=True)

    def table(self) -> pa.Table:
        return pq.read_table(self.path)

    def write(self, table: pa.Table) -> None:
        pq.write_table(table, self.path)


# --- the file cases ----------------------------------------------------------------------------------------------


def _set(t: pa.Table, column: str, values: list, typ: pa.DataType | None = None) -> pa.Table:
    i = t.schema.get_field_index(column)
    return t.set_column(i, column, pa.array(values, typ or t.schema.field(i).type))


def _truncated(b: Broken, f: Flow) -> tuple[str, ...]:
    b.path.write_bytes(b.saved[: len(b.saved) // 2])
    return f"{b.path}: not a readable Parquet file",


def _missing(b: Broken, f: Flow) -> tuple[str, ...]:
    b.write(b.table().drop_columns([f.number]))
    return f"{b.path}, column '{f.number}': required column missing",


def _mistyped(b: Broken, f: Flow) -> tuple[str, ...]:
    t = b.table()
    b.write(t.set_column(t.schema.get_field_index(f.number), f.number, pc.cast(t.column(f.number), pa.string())))
    return f"{b.path}, column '{f.number}': column has type string, expected a number column",


def _not_utf8(b: Broken, f: Flow) -> tuple[str, ...]:
    t = b.table()
    values = [None if v is None else v.encode() for v in t.column(f.text).to_pylist()]
    values[0] = b"caf\xe9"
    b.write(_set(t, f.text, values, pa.binary()))
    return f"{b.path}, column '{f.text}': column has type binary, expected a string column",


def _bad_json(b: Broken, f: Flow) -> tuple[str, ...]:
    t = b.table()
    values = t.column(f.tags).to_pylist()
    values[0] = '{"app": "web", '  # cut off mid-object
    b.write(_set(t, f.tags, values))
    return str(b.path), f"'{f.tags}'"


FILE_CASES: dict[str, Callable[[Broken, Flow], tuple[str, ...]]] = {
    "truncated file": _truncated,
    "missing column": _missing,
    "number column of strings": _mistyped,
    "text that is not UTF-8": _not_utf8,
    "tags that are not JSON": _bad_json,
}


@pytest.mark.parametrize("case", list(FILE_CASES))
@pytest.mark.parametrize("flow", list(FLOWS))
def test_a_broken_file_is_refused_naming_it(world, flow, case):
    f = FLOWS[flow]
    if case == "tags that are not JSON" and f.tags is None:
        pytest.skip(f"{flow} reads no tag JSON from its line files")
    if flow == "ocp" and case != "tags that are not JSON":
        pytest.skip("test_ocp_bad_input.py breaks each OCP report type this way")
    before = world.snapshot(flow)
    with Broken(f.files(world.ds)[0]) as b:
        expected = FILE_CASES[case](b, f)
        result = world.run(flow, "-v") if flow == "ocp-on-aws" else world.run(flow)
        assert_refused(world, flow, result, before, *expected)


def _null_keys() -> list[tuple[str, str]]:
    return [(flow, column) for flow, f in FLOWS.items() for column in f.null_refused if flow != "ocp"]


@pytest.mark.parametrize(("flow", "column"), _null_keys())
def test_a_null_in_a_key_column_koku_fails_or_drops_on_is_refused(world, flow, column):
    f = FLOWS[flow]
    before = world.snapshot(flow)
    with Broken(f.files(world.ds)[0]) as b:
        t = b.table()
        for name in column.split("+"):  # Azure: both columns a NULL subscription_guid comes from
            values = t.column(name).to_pylist()
            values[len(values) // 2] = None
            t = _set(t, name, values)
        b.write(t)
        assert_refused(world, flow, world.run(flow), before, f"{b.path}, column '{column.split('+')[-1]}': ",
                       f.null_refused[column])


# --- bad arguments -----------------------------------------------------------------------------------------------


def _source_options(flow: str) -> list[str]:
    if flow.startswith("ocp-on-"):
        return ["--ocp-source-uuid", f"--{flow.removeprefix('ocp-on-')}-source-uuid"]
    return ["--source-uuid"]


HOSTILE_SCHEMAS = ['org1"; DROP SCHEMA public CASCADE; --', "../org1", "orgé1"]
HOSTILE_SOURCES = ["../../etc/passwd", "x' OR '1'='1 ünï"]


# the task keyword each source option feeds, named by the error (the OCP and daily runs: source_uuid)
_SOURCE_ARGUMENT = {"--ocp-source-uuid": "openshift_provider_uuid", "--aws-source-uuid": "aws_provider_uuid",
                    "--azure-source-uuid": "azure_provider_uuid", "--gcp-source-uuid": "gcp_provider_uuid"}


def _argument_cases() -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(flow, case, options, fragments of the message)."""
    cases = []
    for flow in FLOWS:
        for i, schema in enumerate(HOSTILE_SCHEMAS):
            cases.append((flow, f"schema {i}", ("--schema", schema), (f"schema_name {schema!r}",)))
        for option in _source_options(flow):
            for i, source in enumerate(HOSTILE_SOURCES):
                cases.append((flow, f"{option} {i}", (option, source),
                              (f"{_SOURCE_ARGUMENT.get(option, 'source_uuid')} {source!r} is not a UUID",)))
        cases.append((flow, "range reversed", ("--start", "2026-01-02", "--end", "2026-01-01"),
                      ("2026-01-01", "2026-01-02")))
        if flow != "gcp":  # a GCP invoice month's lines may run into the next month: Koku summarises them
            cases.append((flow, "range across months", ("--start", "2026-01-31", "--end", "2026-02-01"),
                          ("2026-01-31", "2026-02-01")))
        cases.append((flow, "not a date", ("--start", "2026-13-01"), ("'2026-13-01'",)))
    return cases


@pytest.mark.parametrize(("flow", "case", "options", "fragments"), _argument_cases(),
                         ids=[f"{c[0]}-{c[1]}" for c in _argument_cases()])
def test_a_hostile_or_bad_argument_is_refused_naming_it(world, flow, case, options, fragments):
    before = world.snapshot(flow)
    override = dict(zip(options[::2], options[1::2], strict=True))
    assert_refused(world, flow, world.run(flow, **override), before, *fragments)


@pytest.mark.parametrize("flow", [f for f in FLOWS if f.startswith("ocp-on-")])
def test_a_hostile_cluster_alias_is_only_a_value(world, flow):
    """Quotes, a path and unicode in --cluster-alias: a value (a tag-matching candidate, bound, never SQL text); the
    rows carry the report period's alias as Koku's do (the OCP run stores the argument: test_ocp_bad_input.py::
    test_a_cluster_alias_with_quotes_and_unicode_is_stored_as_given)."""
    alias = """O'Brien's "prod" ../../etc ☃ '); DROP TABLE x; --"""
    table = next(t for t in world.tables[flow] if t.endswith("project_daily_summary_p"))
    try:
        ok = world.run(flow, **{"--cluster-alias": alias})
        assert ok.code == 0, ok.stderr
        with closing(connect(world.pg_url)) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT DISTINCT cluster_alias FROM {}").format(qualified(world.ds.schema, table)))
            assert cur.fetchall() == [(world.ds.config.cluster_alias,)]
    finally:
        assert world.run(flow).code == 0  # the clean rows back for the other cases


# --- input Koku accepts ------------------------------------------------------------------------------------------


def _rows(snapshot: dict[str, collections.Counter]) -> dict[str, collections.Counter]:
    """The rows of the flow's own tables, their uuids blanked (a re-run makes new ones). The OCP summary is left out:
    this tenant's one OCP source runs on all three clouds, so each OCP-on-cloud run's back-populate delete (Koku's:
    the OCP source's rows with cloud cost) also takes the other clouds' rows, and the cost model's."""
    blank = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return {t: collections.Counter(blank.sub("-", row) for row in c.elements()) for t, c in snapshot.items()
            if t != SUMMARY}


_POD_ROWS = sql.SQL("data_source = 'Pod' AND namespace NOT LIKE '%%unallocated%%'")


def _total(w: World, flow: str, column: str) -> tuple[Decimal, int]:
    table = w.tables[flow][0] if len(w.tables[flow]) == 1 else next(
        t for t in w.tables[flow] if t.endswith("project_daily_summary_p") or t == SUMMARY)
    where = _POD_ROWS if flow == "ocp" else sql.SQL("true")
    with closing(connect(w.pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT coalesce(sum({}), 0), count(*) FROM {} WHERE {}").format(
            sql.Identifier(column), qualified(w.ds.schema, table), where))
        total, n = cur.fetchone()
        return Decimal(total), n


def _aware(b: Broken, f: Flow) -> None:
    t = b.table()
    i = t.schema.get_field_index(f.time)
    b.write(t.set_column(i, f.time, pc.cast(t.column(i), pa.timestamp("us", tz="UTC"))))


def _empty_file(b: Broken, f: Flow) -> None:
    extra = b.path.with_name(b.path.stem + "_empty.parquet")
    b.added.append(extra)
    pq.write_table(b.table().slice(0, 0), extra)


ACCEPTED: dict[str, Callable[[Broken, Flow], None]] = {
    "tz-aware timestamps (UTC)": _aware,
    "an empty file with a valid schema": _empty_file,
}


@pytest.mark.parametrize("case", list(ACCEPTED))
@pytest.mark.parametrize("flow", [f for f in FLOWS if f != "ocp" and not f.startswith("ocp-on-")])
def test_input_koku_reads_alike_gives_the_same_rows(world, flow, case):
    """Aware timestamps are converted to UTC (Koku's naive UTC) and an empty file adds nothing: the rows of the clean
    run, uuids aside (test_ocp_bad_input.py::test_aware_timestamps_and_an_empty_file_give_the_same_rows for OCP)."""
    f = FLOWS[flow]
    before = _rows(world.snapshot(flow))
    with Broken(f.files(world.ds)[0]) as b:
        ACCEPTED[case](b, f)
        ok = world.run(flow)
        assert ok.code == 0, ok.stderr
    assert _rows(world.snapshot(flow)) == before


@pytest.mark.parametrize("flow", [f for f in FLOWS if f.startswith("ocp-on-")])
def test_aware_timestamps_an_empty_file_and_a_one_megabyte_tag_give_an_ocp_on_cloud_run_the_same_rows(world, flow):
    """The three in one run (each run of these flows costs seconds): tz-aware times in one file, an empty file with
    its schema, and a 1 MB value under a tag key the tenant has not enabled (parsed, then filtered out as Koku's
    map_filter does): the rows of the clean run, uuids aside."""
    f = FLOWS[flow]
    before = _rows(world.snapshot(flow))
    files = f.files(world.ds)
    with Broken(files[0]) as aware, Broken(files[-1]) as big:
        _aware(aware, f)
        _empty_file(aware, f)
        t = big.table()
        values = t.column(f.tags).to_pylist()
        values[0] = json.dumps({**json.loads(values[0] or "{}"), "zz_not_enabled_big": "x" * (1 << 20)})
        big.write(_set(t, f.tags, values))
        ok = world.run(flow)
        assert ok.code == 0, ok.stderr
    assert _rows(world.snapshot(flow)) == before


def _double_every_file(f: Flow, ds: Dataset) -> list[Path]:
    copies = []
    for path in f.files(ds):
        copy = path.with_name(path.stem + "_again.parquet")
        shutil.copyfile(path, copy)
        copies.append(copy)
    return copies


@pytest.mark.parametrize("flow", ["aws", "aws-ec2", "azure", "gcp"])
def test_the_same_rows_in_two_files_are_summed_twice_as_kokus_sql_does(world, flow):
    """Koku's SQL reads every file of the partition and sums: a copy of every line file doubles every summed usage
    and cost and adds no row (OCP: the pods' usage; capacity is a maximum and stays)."""
    f = FLOWS[flow]
    total, n = _total(world, flow, f.total)
    copies = _double_every_file(f, world.ds)
    try:
        ok = world.run(flow)
        assert ok.code == 0, ok.stderr
        doubled, n2 = _total(world, flow, f.total)
        assert n2 == n and total > 0
        assert abs(doubled - 2 * total) <= Decimal("1e-6") * n, (doubled, total)
    finally:
        for copy in copies:
            copy.unlink()
        assert world.run(flow).code == 0


def _project_rows(w: World, flow: str, cost: str) -> dict[str, list[Decimal | None]]:
    """The OCP-on-cloud project table as {the row's text columns: its costs (NULL first)}: every column but uuids,
    ids and numbers is the key."""
    table = next(t for t in w.tables[flow] if t.endswith("project_daily_summary_p"))
    with closing(connect(w.pg_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                    " AND data_type NOT IN ('uuid', 'numeric', 'double precision', 'integer', 'bigint')"
                    " ORDER BY ordinal_position", (w.ds.schema, table))
        key = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(r[0])) for r in cur.fetchall())
        cur.execute(sql.SQL("SELECT concat_ws('|', {}), {} FROM {}").format(
            key, sql.Identifier(cost), qualified(w.ds.schema, table)))
        out: dict[str, list[Decimal | None]] = collections.defaultdict(list)
        for k, v in cur.fetchall():
            out[k].append(v)
        return {k: sorted(v, key=lambda x: (x is not None, x or 0)) for k, v in out.items()}


def _copy_cloud_files(w: World, flow: str) -> list[Path]:
    """A second name for every Parquet file of the flow's cloud (raw and daily) in its partition."""
    cloud = {"ocp-on-aws": "AWS", "ocp-on-azure": "Azure", "ocp-on-gcp": "GCP"}[flow]
    copies = []
    for daily in (False, True):
        for path in sorted(Path(_cloud(cloud, daily)(w.ds)).glob("*.parquet")):
            copy = path.with_name(path.stem + "_again.parquet")
            shutil.copyfile(path, copy)
            copies.append(copy)
    return copies


@pytest.mark.parametrize("flow", ["ocp-on-aws", "ocp-on-azure", "ocp-on-gcp"])
def test_the_same_cloud_rows_in_two_files_give_kokus_rows_for_ocp_on_cloud(world, flow):
    """Koku's step 2 (trino_sql/<cloud>/openshift/populate_daily_summary/2_summarize_data_by_cluster.sql) groups
    every insert by the line's row_uuid with max() of its columns, so a line in two files is one line there: storage,
    tag-matched and Network unattributed rows are those of one read (the network rows were doubled before). The one
    sum over the copies is the direct match's sum(ocp.pod_effective_usage_*), so a directly matched instance's Pod
    shares double. The same rows (keys) either way; compared with Koku's SQL by benchmarks/duplicate_files_parity.sh.
    """
    cost = FLOWS[flow].total
    before = _project_rows(world, flow, cost)
    copies = _copy_cloud_files(world, flow)
    try:
        ok = world.run(flow)
        assert ok.code == 0, ok.stderr
        after = _project_rows(world, flow, cost)
    finally:
        for copy in copies:
            copy.unlink()
        assert world.run(flow).code == 0
    assert after.keys() == before.keys()
    tol = Decimal("2e-9")
    doubled = 0
    for key, costs in before.items():
        pod = "|Pod|" in key and "Network unattributed" not in key
        for was, now in zip(costs, after[key], strict=True):
            if was is None or now is None:
                assert was is None and now is None, (key, was, now)
            elif pod and was and abs(now - 2 * was) <= tol:
                doubled += 1  # a directly matched instance's share
            else:
                assert abs(now - was) <= tol, (key, was, now)
    assert doubled > 0  # the sample matches its nodes' instances directly
    assert any("Network unattributed" in k for k in before)  # the sample has node data transfer


def _tag_key(w: World, flow: str) -> str:
    cloud = flow.removeprefix("ocp-on-").split("-")[0]
    return sorted(w.ds.scenario[cloud]["enabled_tag_keys"])[0]


@pytest.mark.parametrize("flow", ["aws", "azure", "gcp"])
def test_a_one_megabyte_tag_value_is_stored_whole(world, flow):
    f = FLOWS[flow]
    big = "x" * (1 << 20)
    try:
        with Broken(f.files(world.ds)[0]) as b:
            t = b.table()
            values = t.column(f.tags).to_pylist()
            values[0] = json.dumps({_tag_key(world, flow): big})
            b.write(_set(t, f.tags, values))
            ok = world.run(flow)
            assert ok.code == 0, ok.stderr
        table = world.tables[flow][0]
        with closing(connect(world.pg_url)) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE tags->>%s = %s").format(
                qualified(world.ds.schema, table)), (_tag_key(world, flow), big))
            assert cur.fetchone()[0] >= 1
    finally:
        assert world.run(flow).code == 0


@pytest.mark.parametrize(("flow", "column"), [(flow, c) for flow, f in FLOWS.items() for c in f.null_accepted])
def test_a_null_resource_id_is_kept_as_kokus_sql_keeps_it(world, flow, column):
    """Koku groups a NULL resource id as one value (daily summaries: the line's cost stays in the total) or finds
    no match for it (OCP on cloud: the line is not attributed by resource id)."""
    f = FLOWS[flow]
    total, _n = _total(world, flow, f.total)
    try:
        with Broken(f.files(world.ds)[0]) as b:
            t = b.table()
            values = t.column(column).to_pylist()
            values[len(values) // 2] = None
            b.write(_set(t, column, values))
            ok = world.run(flow)
            assert ok.code == 0, ok.stderr
        after, _n = _total(world, flow, f.total)
        if flow.startswith("ocp-on-"):
            assert after <= total + Decimal("1e-9")  # the line may still be matched by its tags
        else:
            assert abs(after - total) <= Decimal("1e-6"), (after, total)
    finally:
        assert world.run(flow).code == 0


# --- the Celery task path: argument validation -------------------------------------------------------------------


TASKS = {
    "poc_tasks.summarize_ocp_on_aws": lambda w, bad: {
        "schema_name": bad, "openshift_provider_uuid": w.ds.source,
        "aws_provider_uuid": w.ds.scenario["aws"]["source_uuid"], "start_date": START, "end_date": END,
        "cluster_id": w.ds.config.cluster_id},
    "poc_tasks.summarize_gcp": lambda w, bad: {
        "schema_name": w.ds.schema, "source_uuid": bad, "start_date": START, "end_date": END},
    "poc_tasks.summarize_azure": lambda w, bad: {
        "schema_name": w.ds.schema, "source_uuid": w.ds.scenario["azure"]["source_uuid"], "start_date": END,
        "end_date": START},
    "poc_tasks.apply_ocp_cost_model": lambda w, bad: {
        "schema_name": w.ds.schema, "provider_uuid": bad, "start_date": START, "end_date": END,
        "cluster_id": w.ds.config.cluster_id},
}


def test_bad_task_arguments_fail_the_task_naming_the_argument(world, start_worker, monkeypatch):  # noqa: F811
    """Through a real worker: each task refuses a hostile argument before any work (the message names it) and the
    tables keep their rows."""
    from poc_tasks.app import app

    monkeypatch.setenv("POC_DATABASE_URL", world.pg_url)
    monkeypatch.setenv("POC_DATA_ROOT", world.ds.root)
    start_worker()
    bad = "../x'; DROP TABLE y; --"
    before = {name: world.snapshot(name) for name in ("ocp-on-aws", "gcp", "azure", "ocp-cost-model")}
    expected = {"poc_tasks.summarize_ocp_on_aws": f"schema_name {bad!r}",
                "poc_tasks.summarize_gcp": f"{bad!r} is not a UUID",
                "poc_tasks.summarize_azure": "2026-01-01",
                "poc_tasks.apply_ocp_cost_model": f"{bad!r} is not a UUID"}
    results = {name: app.send_task(name, kwargs=make(world, bad), queue="poc_aggregation")
               for name, make in TASKS.items()}
    for name, result in results.items():
        with pytest.raises(Exception) as info:  # noqa: B017 - the type is rebuilt from the result backend
            result.get(timeout=60)
        assert type(info.value).__name__ in ("InvalidArgument", "OwnershipConflict"), (name, info.value)
        assert expected[name] in str(info.value), (name, str(info.value))
    assert {name: world.snapshot(name) for name in before} == before
