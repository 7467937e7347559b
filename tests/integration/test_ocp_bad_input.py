"""Bad input to `poc-tasks run ocp`: a clear error naming the file and column, exit status 2, and the summary
table exactly as the previous good run left it (same rows, same uuids: nothing was deleted or added).

Each test first summarises a good sample (the rows to keep), then breaks one thing and runs again.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.integration.ocp_support import (
    CliResult,
    Dataset,
    count_rows,
    fetch,
    fresh_tenant,
    make_dataset,
    read_parquet,
    run_cli,
    summary_multiset,
    write_parquet,
)

pytestmark = pytest.mark.integration


@dataclass
class Seeded:
    ds: Dataset
    pg_url: str
    argv: list[str]  # the good run's arguments; later options of the same name override them
    rows: collections.Counter  # the table after the good run, uuids included

    def run(self, *extra: str) -> CliResult:
        return run_cli(*self.argv, *extra)


def _seed(pg_url: str, ds: Dataset) -> Seeded:
    argv = [*ds.run_argv(), "--database-url", pg_url, "--data-root", ds.root]
    if ds.endpoint:
        argv += ["--s3-endpoint-url", ds.endpoint]
    good = run_cli(*argv)
    assert good.code == 0, good.stderr
    assert count_rows(pg_url, ds.schema) == good.json["rows"]["reporting_ocpusagelineitem_daily_summary"] > 0
    return Seeded(ds, pg_url, argv, summary_multiset(pg_url, ds.schema, exclude=()))


@pytest.fixture
def no_poc_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POC_STAGING_ROOT", "POC_DATE_STEP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def seeded(pg_url: str, tenant_schema: str, tmp_path: Path, no_poc_env) -> Seeded:
    """A good run in the test's own tenant, over files the test may break."""
    return _seed(pg_url, make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket")))


@pytest.fixture(scope="module")
def seeded_once(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A good run shared by the tests that change no file (bad arguments, ranges without data)."""
    with fresh_tenant(pg_url) as schema:
        yield _seed(pg_url, make_dataset(pg_url, schema, str(tmp_path_factory.mktemp("bad-args") / "bucket")))


def assert_rejected(seeded: Seeded, result: CliResult, *fragments: str) -> str:
    """Exit 2, one error line on stderr containing every fragment, nothing on stdout, the table untouched."""
    assert result.code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poc-tasks: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert summary_multiset(seeded.pg_url, seeded.ds.schema, exclude=()) == seeded.rows
    fs, staging = seeded.ds.fs(), seeded.ds.staging_root()
    assert not fs.exists(staging) or fs.find(staging) == []  # a failed run leaves no staged files
    return lines[0]


# --- no data --------------------------------------------------------------------------------------------------


def test_a_month_without_parquet_is_missing_input(seeded_once, no_poc_env):
    seeded = seeded_once
    folder = seeded.ds.folder("pod_usage", daily=True, month=2)
    result = seeded.run("--start", "2026-02-01", "--end", "2026-02-03")
    assert_rejected(seeded, result, "no openshift_pod_usage_line_items_daily Parquet",
                    f"source {seeded.ds.source} 2026-02", folder)
    # nothing was prepared for February
    assert [r[0] for r in fetch(seeded.pg_url, seeded.ds.schema, "reporting_ocpusagereportperiod",
                                "report_period_start::date")] == [dt.date(2026, 1, 1)]


def test_a_range_of_the_month_without_pod_rows_is_missing_input(seeded_once, no_poc_env):
    seeded = seeded_once
    result = seeded.run("--start", "2026-01-10", "--end", "2026-01-12")
    assert_rejected(seeded, result, f"no pod usage rows for source {seeded.ds.source} between 2026-01-10 and "
                                    "2026-01-12 in 4 daily file(s)")


def test_a_month_without_raw_pod_files_is_missing_input(seeded):
    fs = seeded.ds.fs()
    for path in seeded.ds.files("pod_usage", daily=False):
        fs.rm(path)
    result = seeded.run()
    assert_rejected(seeded, result, "no openshift_pod_usage_line_items Parquet",
                    seeded.ds.folder("pod_usage", daily=False))


# --- broken files ---------------------------------------------------------------------------------------------


def _drop(column: str) -> Callable[[pa.Table], pa.Table]:
    return lambda t: t.drop_columns([column])


def _as_string(column: str) -> Callable[[pa.Table], pa.Table]:
    def change(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index(column)
        return t.set_column(i, column, pc.cast(t.column(i), pa.string()))

    return change


def _bad_json(column: str) -> Callable[[pa.Table], pa.Table]:
    def change(t: pa.Table) -> pa.Table:
        values = t.column(column).to_pylist()
        values[len(values) // 2] = '{"app": "web", '  # cut off mid-object
        return t.set_column(t.schema.get_field_index(column), column, pa.array(values, pa.string()))

    return change


# (report type, daily?, which file, change, column named, message)
BROKEN = {
    "daily pod file without a required column": (
        "pod_usage", True, 0, _drop("pod_usage_cpu_core_seconds"), "pod_usage_cpu_core_seconds",
        "required column missing from openshift_pod_usage_line_items_daily"),
    "raw pod file without node capacity": (
        "pod_usage", False, -1, _drop("node_capacity_cpu_core_seconds"), "node_capacity_cpu_core_seconds",
        "required column missing from openshift_pod_usage_line_items"),
    "number column holding strings": (
        "pod_usage", True, -1, _as_string("pod_request_cpu_core_seconds"), "pod_request_cpu_core_seconds",
        "column has type string, expected a number column"),
    "storage number column holding strings": (
        "storage_usage", True, 0, _as_string("persistentvolumeclaim_capacity_bytes"),
        "persistentvolumeclaim_capacity_bytes", "column has type string, expected a number column"),
    "time column holding strings": (
        "pod_usage", True, 0, _as_string("interval_start"), "interval_start",
        "column has type string, expected a timestamp column"),
    "pod labels that are not JSON": (
        "pod_usage", True, -1, _bad_json("pod_labels"), "pod_labels", """label text '{"app": "web", ' is not JSON"""),
    "node labels that are not JSON": (
        "node_labels", True, 0, _bad_json("node_labels"), "node_labels", "is not JSON"),
    "namespace labels that are not JSON": (
        "namespace_labels", True, -1, _bad_json("namespace_labels"), "namespace_labels", "is not JSON"),
    "PVC labels that are not JSON": (
        "storage_usage", True, -1, _bad_json("persistentvolumeclaim_labels"), "persistentvolumeclaim_labels",
        "is not JSON"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_is_named_with_its_column(seeded, case):
    report_type, daily, which, change, column, message = BROKEN[case]
    fs = seeded.ds.fs()
    path = seeded.ds.files(report_type, daily)[which]
    write_parquet(fs, path, change(read_parquet(fs, path)))

    line = assert_rejected(seeded, seeded.run(), f"{path}, column '{column}': ", message)
    assert line.startswith(f"poc-tasks: error: {path}, column '{column}': ")


@pytest.mark.parametrize("report_type", ["pod_usage", "storage_usage"])
def test_a_truncated_parquet_file_is_named(seeded, report_type):
    fs = seeded.ds.fs()
    path = seeded.ds.files(report_type, daily=True)[0]
    with fs.open(path, "rb") as fh:
        data = fh.read()
    with fs.open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])

    assert_rejected(seeded, seeded.run(), f"{path}: not a readable Parquet file")


def test_a_truncated_file_on_s3_is_named_by_its_bucket_path(pg_url, tenant_schema, s3_server, no_poc_env):
    seeded = _seed(pg_url, make_dataset(pg_url, tenant_schema, f"s3://{s3_server.bucket}",
                                        s3_server.storage_options))
    fs = seeded.ds.fs()
    path = seeded.ds.files("pod_usage", daily=True)[-1]
    with fs.open(path, "rb") as fh:
        data = fh.read()
    with fs.open(path, "wb") as fh:
        fh.write(data[:-16])  # the footer's length and magic bytes are gone

    assert_rejected(seeded, seeded.run(), f"{path}: not a readable Parquet file")
    assert path.startswith(f"{s3_server.bucket}/data/parquet/daily/{seeded.ds.schema}/OCP/pod_usage/")


# --- bad arguments -----------------------------------------------------------------------------------------------


BAD_ARGUMENTS = {
    "schema public": (("--schema", "public"), "schema_name 'public' is not a Koku tenant schema"),
    "schema with SQL": (("--schema", "org1; drop"), "schema_name 'org1; drop' is not a Koku tenant schema"),
    "schema upper case": (("--schema", "ORG1234"), "schema_name 'ORG1234' is not a Koku tenant schema"),
    "source not a uuid": (("--source-uuid", "not-a-uuid"), "source_uuid 'not-a-uuid' is not a UUID"),
    "end before start": (("--start", "2026-01-02", "--end", "2026-01-01"),
                         "end_date 2026-01-01 is before start_date 2026-01-02"),
    "range across two months": (("--start", "2026-01-31", "--end", "2026-02-01"),
                                "start_date 2026-01-31 and end_date 2026-02-01 are not in the same month"),
    "not a date": (("--start", "2026-13-01"), "start_date '2026-13-01' is not an ISO date"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_a_bad_argument_is_named(seeded_once, no_poc_env, case):
    seeded = seeded_once
    extra, message = BAD_ARGUMENTS[case]
    assert_rejected(seeded, seeded.run(*extra), message)


# --- NULL keys, encodings, copies, empty files, big labels (issue 12 item 4, issue 16 item 6) --------------------


def _null_at(column: str) -> Callable[[pa.Table], pa.Table]:
    """One row's `column` set to NULL."""

    def change(t: pa.Table) -> pa.Table:
        values = t.column(column).to_pylist()
        values[len(values) // 2] = None
        i = t.schema.get_field_index(column)
        return t.set_column(i, t.schema.field(i), pa.array(values, t.schema.field(i).type))

    return change


def _not_utf8(column: str) -> Callable[[pa.Table], pa.Table]:
    """The column as bytes, one value not UTF-8 (Latin-1 'café')."""

    def change(t: pa.Table) -> pa.Table:
        values = [None if v is None else v.encode() for v in t.column(column).to_pylist()]
        values[0] = b"caf\xe9"
        return t.set_column(t.schema.get_field_index(column), column, pa.array(values, pa.binary()))

    return change


# Koku's SQL drops rows without interval_start (its range filter is never true for them) and fails on a NULL
# namespace (a NOT NULL column of the summary); a NULL node would make a summary row without capacity whose usage
# poc_tasks' unallocated rows cannot place: each is refused, naming the file and the column.
NULL_KEYS = {
    "pod row without namespace": ("pod_usage", True, _null_at("namespace"), "namespace",
                                  "row(s) have a NULL namespace, a key column of the summary"),
    "pod row without node": ("pod_usage", True, _null_at("node"), "node", "row(s) have a NULL node"),
    "pod row without interval_start": ("pod_usage", True, _null_at("interval_start"), "interval_start",
                                       "have no time value (NULL); Koku's SQL would drop them silently"),
    "storage row without namespace": ("storage_usage", True, _null_at("namespace"), "namespace",
                                      "row(s) have a NULL namespace"),
    "node label row without node": ("node_labels", True, _null_at("node"), "node", "row(s) have a NULL node"),
    "namespace with bytes that are not UTF-8": ("pod_usage", True, _not_utf8("namespace"), "namespace",
                                                "column has type binary, expected a string column"),
}


@pytest.mark.parametrize("case", list(NULL_KEYS))
def test_a_null_key_or_bad_encoding_is_refused_naming_file_and_column(seeded, case):
    report_type, daily, change, column, message = NULL_KEYS[case]
    fs = seeded.ds.fs()
    path = seeded.ds.files(report_type, daily)[0]
    write_parquet(fs, path, change(read_parquet(fs, path)))
    assert_rejected(seeded, seeded.run(), f"{path}, column '{column}': ", message)


def _rows_without_uuid(seeded: Seeded) -> collections.Counter:
    return summary_multiset(seeded.pg_url, seeded.ds.schema)


def test_aware_timestamps_and_an_empty_file_give_the_same_rows(seeded):
    before = _rows_without_uuid(seeded)
    fs = seeded.ds.fs()
    path = seeded.ds.files("pod_usage", daily=True)[0]
    table = read_parquet(fs, path)
    i = table.schema.get_field_index("interval_start")
    aware = pc.cast(table.column(i), pa.timestamp("us", tz="UTC"))  # the same instants, tz-aware, another unit
    write_parquet(fs, path, table.set_column(i, "interval_start", aware))
    write_parquet(fs, path.replace(".parquet", "_empty.parquet"), table.slice(0, 0))  # valid schema, no rows

    result = seeded.run()
    assert result.code == 0, result.stderr
    assert _rows_without_uuid(seeded) == before


def test_a_one_megabyte_label_is_stored_whole(seeded):
    fs = seeded.ds.fs()
    path = seeded.ds.files("pod_usage", daily=True)[0]
    table = read_parquet(fs, path)
    big = "x" * (1 << 20)
    labels = table.column("pod_labels").to_pylist()
    labels[0] = f'{{"app": "{big}"}}'  # an enabled key: it survives Koku's label filter
    write_parquet(fs, path, table.set_column(table.schema.get_field_index("pod_labels"), "pod_labels",
                                             pa.array(labels, pa.string())))
    result = seeded.run()
    assert result.code == 0, result.stderr
    longest = fetch(seeded.pg_url, seeded.ds.schema, "reporting_ocpusagelineitem_daily_summary",
                    "max(length(pod_labels->>'app'))")[0][0]
    assert longest == 1 << 20


HOSTILE_ARGUMENTS = {
    "schema with ../": (("--schema", "../org1"), "schema_name '../org1' is not a Koku tenant schema"),
    "schema in unicode": (("--schema", "orgé1"), "schema_name 'orgé1' is not a Koku tenant schema"),
    "schema with a quote": (("--schema", 'org1"x'), "is not a Koku tenant schema"),
    "source with ../": (("--source-uuid", "../../etc/passwd"), "source_uuid '../../etc/passwd' is not a UUID"),
    "source with a quote": (("--source-uuid", "6e2a1c8f'--"), "is not a UUID"),
    "start after end, reversed": (("--start", "2026-01-03", "--end", "2026-01-01"), "is before start_date"),
}


@pytest.mark.parametrize("case", list(HOSTILE_ARGUMENTS))
def test_a_hostile_argument_is_named(seeded_once, no_poc_env, case):
    extra, message = HOSTILE_ARGUMENTS[case]
    assert_rejected(seeded_once, seeded_once.run(*extra), message)


def test_a_cluster_alias_with_quotes_and_unicode_is_stored_as_given(seeded_once, no_poc_env):
    alias = """o'brien"; DROP TABLE x; -- ../../ café 集群"""
    result = seeded_once.run("--cluster-alias", alias)
    assert result.code == 0, result.stderr
    assert {r[0] for r in fetch(seeded_once.pg_url, seeded_once.ds.schema, "reporting_ocpusagelineitem_daily_summary",
                                "DISTINCT cluster_alias")} == {alias}
    seeded_once.run()  # the shared tenant as the other tests expect it
