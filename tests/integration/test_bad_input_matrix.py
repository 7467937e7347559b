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
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
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
    null_refused: dict[str, str] = field(default_factory=dict)  # key column -> why Koku fails or drops the row
    null_accepted: tuple[str, ...] = ()  # key columns Koku's SQL keeps as NULL (grouped as one value)
    total: str = ""  # a summed column of the main table: doubles when every line file is there twice
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


_NOT_NULL = "a NOT NULL column of Koku's {}"
FLOWS = {
    "ocp": Flow("ocp", _ocp("pod_usage", True), "interval_start", "pod_usage_cpu_core_seconds", "pod",
                "pod_labels", {"namespace": "", "node": "", "interval_start": ""},
                total="pod_usage_cpu_core_hours"),
    "ocp-on-aws": Flow("ocp-on-aws", _cloud("AWS", True), "lineitem_usagestartdate", "lineitem_unblendedcost",
                       "lineitem_productcode", "resourcetags",
                       {"lineitem_usagestartdate": "", "lineitem_productcode": "product_code"},
                       ("lineitem_resourceid",), total="unblended_cost"),
    "ocp-on-azure": Flow("ocp-on-azure", _cloud("Azure", False), "date", "costinbillingcurrency", "servicename",
                         "tags", {"date": ""}, ("resourceid",), total="pretax_cost"),
    "ocp-on-gcp": Flow("ocp-on-gcp", _cloud("GCP", True), "usage_start_time", "cost", "service_description",
                       "labels", {"usage_start_time": ""}, ("resource_name",), total="unblended_cost"),
    "aws": Flow("aws", _cloud("AWS", True), "lineitem_usagestartdate", "lineitem_unblendedcost",
                "lineitem_productcode", "resourcetags",
                {"lineitem_usagestartdate": "", "lineitem_usageaccountid": "usage_account_id",
                 "lineitem_productcode": "product_code"}, ("lineitem_resourceid",), total="unblended_cost"),
    "aws-ec2": Flow("aws-ec2", _cloud("AWS", True), "lineitem_usagestartdate", "lineitem_unblendedcost",
                    "lineitem_productcode", "resourcetags",
                    {"lineitem_usagestartdate": "", "lineitem_resourceid": "resource_id",
                     "lineitem_usageaccountid": "usage_account_id"}, total="unblended_cost"),
    "azure": Flow("azure", _cloud("Azure", False), "date", "costinbillingcurrency", "servicename", "tags",
                  {"date": "", "subscriptionid+subscriptionguid": "subscription_guid"}, ("resourceid",), total="pretax_cost"),
    "gcp": Flow("gcp", _cloud("GCP", False), "usage_start_time", "cost", "service_description", "labels",
                {"usage_start_time": "", "billing_account_id": "account_id", "project_id": "project_id"},
                total="unblended_cost", extra=("--invoice-month", "202601")),
    "ocp-cost-model": Flow("ocp-cost-model", _ocp("gpu_usage", True), "interval_start", "gpu_pod_uptime",
                           "gpu_model_name", None, {"interval_start": ""}),
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


def _without_uuids(snapshot: dict[str, collections.Counter]) -> dict[str, collections.Counter]:
    """Rows with every uuid-looking value blanked (a re-run gives new uuids)."""
    import re

    pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return {t: collections.Counter({pattern.sub("U", k): 0 for k in c}) + collections.Counter(
        pattern.sub("U", k) for k in c.elements()) for t, c in snapshot.items()}


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
        assert_refused(world, flow, world.run(flow), before, f"{b.path}, column '{column.split('+')[-1]}': ")
