"""A newcomer's first hour (issue 15): arguments that would touch rows a run does not own are refused, a tenant
without enabled label keys is told so, `compare ocp` after OCP on AWS is not a false alarm, and every failure a
user can cause (no tables, no S3, no database, wrong credentials) exits 2 with a message that names the thing
and the fix, without a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from contextlib import closing

import psycopg2
import pytest
from psycopg2 import sql

from poc_tasks import cli
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.init import ensure_report_period
from poc_tasks.embedded import free_port
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.settings import libpq_url
from tests.integration.ocp_support import SUMMARY_TABLE, count_rows, fetch, make_dataset, run_cli, summary_multiset
from tests.integration.test_ocp_on_cloud import (
    _argv,
    aws_local,  # noqa: F401 - fixture
)
from tests.integration.test_ocp_run import clean_env  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

REPORT_PERIODS = "reporting_ocpusagereportperiod"


def aws_argv(ds, pg_url: str) -> list[str]:
    return _argv("AWS", ds, pg_url)


def _periods(pg_url: str, schema: str) -> list[tuple]:
    return fetch(pg_url, schema, REPORT_PERIODS, "id, provider_id::text, cluster_id", "true ORDER BY id")


def _good_run(pg_url: str, ds) -> list[str]:
    argv = [*ds.run_argv(), "--database-url", pg_url, "--data-root", ds.root]
    res = run_cli(*argv)
    assert res.code == 0, res.stderr
    return argv


def _refused(res, *fragments: str) -> None:
    assert res.code == 2, res.stderr
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("poc-tasks: error: "), res.stderr
    for fragment in fragments:
        assert fragment in line, line


@pytest.fixture
def ran(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    """One good `run ocp` in the test's tenant: (dataset, its argv, the summary rows with uuids)."""
    ds = make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))
    argv = _good_run(pg_url, ds)
    return ds, argv, summary_multiset(pg_url, ds.schema, exclude=())


# --- 1. ownership: the OCP run --------------------------------------------------------------------------------


def test_a_cluster_id_that_contradicts_the_sources_report_period_is_refused(pg_url, ran):
    ds, argv, rows = ran
    before = _periods(pg_url, ds.schema)
    assert len(before) == 1
    res = run_cli(*argv, "--cluster-id", "my-ocp-cluster-typo")
    _refused(res, "'my-ocp-cluster-typo'", "contradicts", f"--cluster-id '{ds.config.cluster_id}'", "doubled")
    # no second report period, no second copy of the rows: the source's costs are not doubled
    assert _periods(pg_url, ds.schema) == before
    assert summary_multiset(pg_url, ds.schema, exclude=()) == rows


def test_a_report_period_of_another_source_or_none_at_all_is_refused(pg_url, ran):
    ds, argv, rows = ran
    other = str(uuid.uuid4())
    with closing(connect(pg_url)) as conn:
        with conn:
            other_rp = ensure_report_period(conn, ds.schema, other, "other-cluster", "Other", dt.date(2026, 1, 1))
    _refused(run_cli(*argv, "--report-period-id", str(other_rp)), f"report_period_id {other_rp}", other,
             "rows it does not own")
    _refused(run_cli(*argv, "--report-period-id", "987654"), "report_period_id 987654 does not exist")
    mine = _periods(pg_url, ds.schema)[0][0]
    assert run_cli(*argv, "--report-period-id", str(mine)).code == 0  # its own period is fine
    assert count_rows(pg_url, ds.schema) == sum(rows.values())


def test_a_cluster_id_another_source_holds_is_refused(pg_url, tenant_schema, tmp_path, clean_env):  # noqa: F811
    ds = make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))
    other = str(uuid.uuid4())
    with closing(connect(pg_url)) as conn:
        with conn:
            ensure_report_period(conn, ds.schema, other, ds.config.cluster_id, "Other", dt.date(2026, 1, 1))
    res = run_cli(*ds.run_argv(), "--database-url", pg_url, "--data-root", ds.root)
    _refused(res, "belongs to another source", other)
    assert count_rows(pg_url, ds.schema) == 0
    assert len(_periods(pg_url, ds.schema)) == 1


def test_the_same_checks_guard_the_celery_task(pg_url, ran, monkeypatch):
    """summarize_ocp (called directly: the same code the chord runs) refuses the typo as the CLI does."""
    from poc_tasks.errors import OwnershipConflict
    from poc_tasks.tasks import summarize_ocp

    ds, _argv, rows = ran
    monkeypatch.setenv("POC_DATABASE_URL", pg_url)
    monkeypatch.setenv("POC_DATA_ROOT", ds.root)
    with pytest.raises(OwnershipConflict, match="contradicts"):
        summarize_ocp(ds.schema, ds.source, "2026-01-01", "2026-01-02", "my-ocp-cluster-typo")
    assert summary_multiset(pg_url, ds.schema, exclude=()) == rows


# --- 1. ownership: OCP on AWS -------------------------------------------------------------------------------


def test_ocp_on_aws_refuses_a_cluster_id_or_report_period_that_is_not_the_ocp_sources(pg_url, aws_local):  # noqa: F811
    ds = aws_local
    argv = aws_argv(ds, pg_url)
    ocp_rows = summary_multiset(pg_url, ds.schema, exclude=())
    _refused(run_cli(*argv, "--cluster-id", "my-ocp-cluster-typo"), "'my-ocp-cluster-typo'", "contradicts",
             f"--cluster-id '{ds.config.cluster_id}'")
    _refused(run_cli(*argv, "--report-period-id", "987654"), "report_period_id 987654", "rows it does not own")
    aws = ds.scenario["aws"]["source_uuid"]
    with closing(connect(pg_url)) as conn:  # the uuid is a GCP source of this tenant (a copy-paste slip)
        with conn, conn.cursor() as cur:
            cur.execute(sql.SQL("INSERT INTO {} (uuid, name, type) VALUES (%s, 'gcp', 'GCP')").format(
                qualified(ds.schema, "reporting_tenant_api_provider")), (aws,))
    _refused(run_cli(*argv), f"aws_provider_uuid {aws} is a GCP source", "not a AWS source")
    assert summary_multiset(pg_url, ds.schema, exclude=()) == ocp_rows
    assert fetch(pg_url, ds.schema, "reporting_ocpawscostlineitem_project_daily_summary_p", "count(*)")[0][0] == 0


# --- 1. compare after OCP on AWS ----------------------------------------------------------------------------


def test_compare_after_ocp_on_aws_is_equal_and_report_cmp_html_writes_cmp_html(pg_url, aws_local, tmp_path):  # noqa: F811
    ds = aws_local
    assert run_cli(*aws_argv(ds, pg_url)).code == 0
    # the case that made the false alarm: back-populated rows whose attributed cost is 0 (raw cost 0, not NULL)
    zero_cost = fetch(pg_url, ds.schema, SUMMARY_TABLE, "count(*)",
                      "supplementary_usage_cost IS NOT NULL AND coalesce(infrastructure_raw_cost, 0) = 0")[0][0]
    assert zero_cost > 0
    report = tmp_path / "out" / "cmp.html"
    res = run_cli("compare", "ocp", "--database-url", pg_url, "--data-root", ds.root, "--schema", ds.schema,
                  "--source-uuid", ds.source, "--start", "2026-01-01", "--end", "2026-01-03", "--report",
                  str(report), "--no-store")
    assert res.code == 0, res.stdout + res.stderr
    out = res.json
    assert out["equal"] and out["rows"]["live"] == out["rows"]["poc"] > 0
    assert out["report"] == {"json": str(tmp_path / "out" / "cmp.json"), "html": str(report)}
    assert sorted(p.name for p in report.parent.iterdir()) == ["cmp.html", "cmp.json"]


# --- 1. a tenant without enabled label keys ------------------------------------------------------------------


def test_a_tenant_without_enabled_keys_is_told_how_to_enable_them(pg_url, tenant_schema, tmp_path,
                                                                  clean_env):  # noqa: F811
    root = str(tmp_path / "bucket")
    write_sample(root, SampleConfig(schema=tenant_schema, nodes=4, pods=30, days=2))  # init-db only: no keys
    base = ["run", "ocp", "--database-url", pg_url, "--data-root", root, "--schema", tenant_schema,
            "--source-uuid", SampleConfig().source_uuid, "--cluster-id", SampleConfig().cluster_id,
            "--start", "2026-01-01", "--end", "2026-01-02"]
    res = run_cli(*base)
    assert res.code == 0, res.stderr
    assert res.json["label_keys"]["enabled"] == 0 and res.json["label_keys"]["not_enabled_count"] > 0
    assert "none is enabled" in res.stderr and f"poc-tasks tag-keys --schema {tenant_schema} --enable" in res.stderr
    assert "app" in res.json["label_keys"]["not_enabled"]
    labelled = "pod_labels ? 'app'"
    assert fetch(pg_url, tenant_schema, SUMMARY_TABLE, "count(*)", labelled)[0][0] == 0
    # the command the warning names, then the same run again: the key is on the rows
    keys = run_cli("tag-keys", "--database-url", pg_url, "--schema", tenant_schema, "--enable", "app")
    assert keys.code == 0, keys.stderr
    assert keys.json["enabled"] == ["app"]
    again = run_cli(*base)
    assert again.code == 0
    assert fetch(pg_url, tenant_schema, SUMMARY_TABLE, "count(*)", labelled)[0][0] > 0
    assert again.json["label_keys"]["enabled"] == 1 and "app" not in again.json["label_keys"]["not_enabled"]
    assert "1 of them" not in again.stderr and "are not enabled" in again.stderr


# --- 1. failures a user can cause: exit 2, the thing and the fix, no traceback ------------------------------


@pytest.fixture
def sample_root(tmp_path) -> str:
    root = str(tmp_path / "bucket")
    write_sample(root, SampleConfig(schema="org5550001", nodes=4, pods=30, days=1))
    return root


def _ocp(pg: str, root: str, schema: str = "org5550001", *extra: str) -> list[str]:
    return ["run", "ocp", "--database-url", pg, "--data-root", root, "--schema", schema, "--source-uuid",
            SampleConfig().source_uuid, "--cluster-id", SampleConfig().cluster_id, "--start", "2026-01-01",
            "--end", "2026-01-01", *extra]


def test_a_schema_without_the_tables_names_init_db_and_kokus_migrations(pg_url, sample_root, clean_env):  # noqa: F811
    schema = "org5550001"
    with closing(psycopg2.connect(libpq_url(pg_url))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        _refused(run_cli(*_ocp(pg_url, sample_root)), "does not exist", f"poc-tasks init-db --schema {schema}",
                 "migrate_schemas")
    finally:
        with closing(psycopg2.connect(libpq_url(pg_url))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_no_postgresql_or_wrong_credentials_or_no_database_url(pg_url, sample_root, clean_env):  # noqa: F811
    port = free_port()
    _refused(run_cli(*_ocp(f"postgresql://postgres@127.0.0.1:{port}/postgres", sample_root)),
             f"127.0.0.1:{port}", "start PostgreSQL")
    host = pg_url.rsplit("@", 1)[1]
    secret = "s3cr3t-value"
    res = run_cli(*_ocp(f"postgresql://nobody_{uuid.uuid4().hex[:6]}:{secret}@{host}", sample_root))
    _refused(res, "user and password", "POC_DATABASE_URL")
    assert secret not in res.stderr
    res = run_cli(*[a for a in _ocp("x", sample_root) if a not in ("--database-url", "x")])
    _refused(res, "POC_DATABASE_URL", "--database-url")


def test_a_bad_s3_endpoint_fails_at_once_naming_the_endpoint_and_the_variables(pg_url, clean_env):  # noqa: F811
    endpoint = f"http://127.0.0.1:{free_port()}"
    clean_env.setenv("AWS_ACCESS_KEY_ID", "key-id-value")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "secret-value")
    res = run_cli(*_ocp(pg_url, "s3://bucket", "org5550001", "--s3-endpoint-url", endpoint))
    _refused(res, endpoint, "POC_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
    assert "key-id-value" not in res.stderr and "secret-value" not in res.stderr


def test_a_missing_bucket_says_which(pg_url, s3_server, clean_env):  # noqa: F811
    opts = s3_server.storage_options
    clean_env.setenv("AWS_ACCESS_KEY_ID", opts["key"])
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", opts["secret"])
    res = run_cli(*_ocp(pg_url, "s3://no-such-bucket-here", "org5550001", "--s3-endpoint-url",
                        opts["client_kwargs"]["endpoint_url"]))
    _refused(res, "s3://no-such-bucket-here", "create bucket 'no-such-bucket-here'")


# --- 3. the command line --------------------------------------------------------------------------------------


def _actions(parser: argparse.ArgumentParser, path: str = "poc-tasks"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_flag_has_help_and_the_top_level_help_reads_as_a_manual():
    parser = cli.build_parser()
    missing = [f"{path} {'/'.join(a.option_strings)}" for path, a in _actions(parser)
               if a.option_strings and not (a.help and a.help.strip())]
    assert missing == []
    manual = parser.format_help()
    for text in ("poc-tasks demo", "init-db", "run ocp", "compare ocp", "tag-keys", "POC_DATABASE_URL",
                 "Exit status", "before or after the command"):
        assert text in manual


def test_options_are_accepted_after_the_command_and_progress_lines_show_each_day(pg_url, ran):
    ds, argv, _rows = ran
    res = run_cli(*argv, "-v", "--progress")  # both after the subcommand
    assert res.code == 0, res.stderr
    assert "summarize 2026-01-01 (1/2)" in res.stderr and "summarize 2026-01-02 (2/2)" in res.stderr
    assert "write 1 table(s)" in res.stderr
    quiet = run_cli("-q", *argv)
    assert quiet.code == 0 and "summarize" not in quiet.stderr


# --- 3. the worker's log at its default level ------------------------------------------------------------------


def test_a_worker_at_its_default_log_level_logs_one_line_per_run_step(pg_url, tenant_schema, tmp_path, redis_url,
                                                                      clean_env):  # noqa: F811
    """`celery -A poc_tasks worker` as the README starts it (no --loglevel), in its own process."""
    from celery import Celery

    ds = make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))
    queue = f"poc_aggregation_t{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url,
           "POC_DATABASE_URL": pg_url, "POC_DATA_ROOT": ds.root}
    env.pop("POC_LOG_LEVEL", None)
    log = tmp_path / "worker.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "poc_tasks", "worker", "-Q", queue,
                                 "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path))
    try:
        client = Celery("client", broker=redis_url, backend=redis_url)
        client.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
        kwargs = {"schema_name": ds.schema, "source_uuid": ds.source, "start_date": "2026-01-01",
                  "end_date": "2026-01-02", "cluster_id": ds.config.cluster_id}
        client.send_task("poc_tasks.summarize_ocp", kwargs=kwargs, queue=queue).get(timeout=120)
        # the finalize callback's line is written when the chord's result is stored: give the log a moment
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while "finalize_run" not in log.read_text() and dt.datetime.now() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    for step in ("summarize_ocp schema=", "summarize_ocp handed on to its chord", "compute_chunk 2026-01-01..",
                 f"write_table: {SUMMARY_TABLE}", "finalize_run run"):
        assert step in text, text[-3000:]
    assert "INFO" in text


def test_the_demo_report_module_names_the_empty_namespace_one_way():
    from poc_tasks.demo_report import EMPTY_NAMESPACE, namespace_label

    assert namespace_label("") == namespace_label(None) == EMPTY_NAMESPACE
    assert namespace_label("web") == "web"


def test_read_demo_data_counts_only_the_rows_each_step_owns(pg_url, aws_local):  # noqa: F811
    """The demo's numbers: the OCP table counts the summary's own rows, the cost the back-populated ones; a
    re-run of the OCP summary after OCP on AWS gives the same numbers (what made the demo drift)."""
    from poc_tasks.demo_report import read_demo_data

    ds = aws_local
    assert run_cli(*aws_argv(ds, pg_url)).code == 0

    def numbers():
        return read_demo_data(pg_url, ds.schema, ds.source, ds.config.cluster_id, dt.date(2026, 1, 1),
                              dt.date(2026, 1, 3), "aws", {})

    first = numbers()
    assert run_cli(*ds.run_argv(), "--database-url", pg_url, "--data-root", ds.root).code == 0
    assert run_cli(*aws_argv(ds, pg_url)).code == 0
    second = numbers()
    assert (first.per_namespace, first.per_day, first.per_node, first.per_service) == (
        second.per_namespace, second.per_day, second.per_node, second.per_service)
    total_cost = fetch(pg_url, ds.schema, SUMMARY_TABLE, "sum(infrastructure_raw_cost)",
                       "supplementary_usage_cost IS NOT NULL")[0][0]
    assert sum(c for _s, c in first.per_service) == pytest.approx(float(total_cost), rel=1e-9)
    assert sum(float(r[-1] or 0) for r in first.per_namespace) == pytest.approx(float(total_cost), rel=1e-9)
    names = {r[0] for r in first.per_namespace}
    assert "Network unattributed" in names  # a cost-only namespace shows with its cost
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT sum(pod_usage_cpu_core_hours) FROM {} WHERE supplementary_usage_cost IS NULL"
                            ).format(qualified(ds.schema, SUMMARY_TABLE)))
        cpu = float(cur.fetchone()[0])
    assert sum(float(r[1] or 0) for r in first.per_namespace) == pytest.approx(cpu, rel=1e-12)

