"""The `poc-tasks` command. Thin: every command calls the same code as the Celery tasks.

Exit status: 0 done, 1 failed (a bug or an outage; -v shows the traceback), 2 bad input, usage or configuration
(the message names the argument, file, table or service, and the fix); `compare` exits 1 when the rows differ.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from poc_tasks.errors import PocTasksError, user_error
from poc_tasks.settings import Settings

LOG = logging.getLogger("poc_tasks")

MANUAL = """\
poc-tasks computes Koku's (Red Hat cost management's) OpenShift summary tables from Koku's Parquet with plain
Python and PostgreSQL instead of Trino: the same rows, written into the same tenant tables Koku's API reads.
The same steps run as Celery tasks inside Koku's workers (see README.md); this command runs them in-process.

First look, nothing to set up (sample data, an embedded PostgreSQL, an in-process worker, an HTML report):
  poc-tasks demo

Your own run (a PostgreSQL server and a data root holding Koku's data/parquet/... tree):
  export POC_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres POC_DATA_ROOT=/data   # or s3://bucket
  poc-tasks sample --with-aws                # Koku-shaped sample Parquet; prints the ids used below
  poc-tasks init-db --schema org1234567      # Koku's tables in a tenant schema (inside Koku: its migrations)
  poc-tasks tag-keys --schema org1234567 --enable app environment    # the label keys rows should carry
  poc-tasks run ocp --schema org1234567 --source-uuid UUID --cluster-id ID --start 2026-01-01 --end 2026-01-03
  poc-tasks run ocp-on-aws --schema org1234567 --ocp-source-uuid UUID --aws-source-uuid UUID \\
      --cluster-id ID --start 2026-01-01 --end 2026-01-03
  poc-tasks compare ocp --schema org1234567 --source-uuid UUID --start 2026-01-01 --end 2026-01-03 --report cmp.html

A run replaces the rows it owns (its source's report period over its dates, as Koku's delete does) and refuses
arguments that would touch rows it does not own (a cluster id or report period that contradicts the tenant's).
`run` prints one JSON object on stdout (rows per table, timings) and, in a terminal, progress lines on stderr.

Environment (flags override): POC_DATABASE_URL, POC_DATA_ROOT, POC_S3_ENDPOINT_URL with AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, POC_STAGING_ROOT, POC_DATE_STEP (days per compute chunk, default 5).

Exit status: 0 done; 1 failed (a bug or an outage: -v shows the traceback); 2 bad input, usage or
configuration (the message names the argument, file, table or service and the fix); compare: 1 when different.
Options may come before or after the command. `poc-tasks COMMAND --help` lists a command's options.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the manual's layout; show an option's default when it has a real one; use a wide terminal's width."""

    def __init__(self, prog: str) -> None:
        import shutil

        super().__init__(prog, max_help_position=32, width=min(shutil.get_terminal_size((116, 24)).columns, 116))

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().override(
        database_url=getattr(args, "database_url", None),
        data_root=getattr(args, "data_root", None),
        s3_endpoint_url=getattr(args, "s3_endpoint_url", None),
        staging_root=getattr(args, "staging_root", None),
    )


def _checked_settings(args: argparse.Namespace) -> Settings:
    """Settings of a command that reads the data root: an s3:// root is probed first (fails in seconds, naming
    the endpoint and the credentials variables, instead of after boto's retries)."""
    from poc_tasks.io.fs import probe_root

    settings = _settings(args)
    probe_root(settings.require_data_root(), settings.storage_options())
    return settings


class _Progress:
    """Progress lines on stderr: one per step, with the day's position in the range (the run's progress callback)."""

    def __init__(self, args: argparse.Namespace) -> None:
        # on by default when stderr is a terminal (a pipe or a log file gets the JSON and errors only)
        wanted = getattr(args, "progress", None)
        self.quiet = bool(getattr(args, "quiet", False)) or not (wanted or (wanted is None and sys.stderr.isatty()))
        self.t0 = time.perf_counter()
        self.days = 0
        try:
            from poc_tasks.runspec import days_in_range
            from poc_tasks.validate import parse_date

            self.days = len(days_in_range(parse_date(args.start, "start"), parse_date(args.end, "end")))
        except Exception:  # noqa: BLE001 - the run reports bad dates itself
            self.days = 0
        self.seen: set[str] = set()

    def __call__(self, step: str, meta: dict[str, Any]) -> None:
        LOG.debug("%s %s", step, meta)
        if self.quiet:
            return
        what = step
        if "day" in meta:
            key = f"{step}:{meta['day']}"
            self.seen.add(key)
            n = sum(1 for k in self.seen if k.startswith(f"{step}:"))
            what = f"{step} {meta['day']}" + (f" ({n}/{self.days})" if self.days else "")
        elif "chunk" in meta:
            what = f"{step} {meta['chunk'][0]}..{meta['chunk'][1]}"
        elif "tables" in meta:
            what = f"{step} {meta['tables']} table(s)" + (", each chunk as it finishes" if meta.get("streamed") else "")
        print(f"poc-tasks: [{time.perf_counter() - self.t0:6.1f}s] {what}", file=sys.stderr, flush=True)


def _warn_labels(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Say loudly when the data has label keys the tenant did not enable: no row carries them."""
    keys = result.get("label_keys") or {}
    missing = int(keys.get("not_enabled_count") or 0)
    if not missing:
        return
    names = list(keys.get("not_enabled") or [])
    shown = " ".join(names) + (" ..." if missing > len(names) else "")
    none = "none is enabled" if not keys.get("enabled") else f"{missing} of them are not enabled"
    print(f"poc-tasks: warning: the data has {keys.get('in_data')} OCP label key(s) and {none} in "
          f"{args.schema}.reporting_enabledtagkeys, so no row carries them and their tag summaries stay empty "
          f"(Koku records new OCP label keys disabled until a user enables them). To enable: "
          f"poc-tasks tag-keys --schema {args.schema} --enable {shown} ; then run again.", file=sys.stderr)


def _cmd_init_db(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.db.init import init_tenant

    init_tenant(_settings(args).require_database_url(), args.schema)
    return {"schema": args.schema, "initialised": True}


def _cmd_tag_keys(args: argparse.Namespace) -> dict[str, Any]:
    from contextlib import closing

    from poc_tasks.db.connection import connect
    from poc_tasks.db.tag_keys import list_keys, set_keys

    with closing(connect(_settings(args).require_database_url())) as conn:
        with conn:
            set_keys(conn, args.schema, args.provider, args.enable or (), args.disable or ())
            keys = list_keys(conn, args.schema, args.provider)
    return {"schema": args.schema, "provider_type": args.provider, **keys}


def _cmd_run_ocp(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.ocp.pipeline import run_ocp
    from poc_tasks.runspec import OcpRunSpec

    spec = OcpRunSpec.build(args.schema, args.source_uuid, args.cluster_id, args.start, args.end,
                            args.cluster_alias, args.report_period_id)
    result = run_ocp(spec, _checked_settings(args), progress=_Progress(args))
    _warn_labels(args, result)
    return result


def _cmd_run_ocp_on_cloud(args: argparse.Namespace) -> dict[str, Any]:
    """run ocp-on-aws / ocp-on-azure / ocp-on-gcp: the one OCP-on-cloud run with the provider module of args.cloud."""
    from poc_tasks.cloud import flow
    from poc_tasks.cloud.spec import CloudRunSpec

    p = flow.provider(args.cloud)
    spec = CloudRunSpec.build(args.schema, args.ocp_source_uuid, getattr(args, f"{args.cloud.lower()}_source_uuid"),
                              args.cluster_id, args.start, args.end, args.cluster_alias, args.markup,
                              args.distribution, args.report_period_id, cloud_type=p.name)
    return flow.run(p, spec, _checked_settings(args), progress=_Progress(args))


def _cmd_compare_ocp(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.compare.rows import Tolerance
    from poc_tasks.compare.shadow import resolve_ocp_spec, shadow_compare_ocp

    settings = _checked_settings(args)
    spec = resolve_ocp_spec(settings, args.schema, args.source_uuid, args.start, args.end, args.cluster_id,
                            args.cluster_alias, args.report_period_id)
    result = shadow_compare_ocp(spec, settings, report_path=args.report, store=not args.no_store,
                                tolerance=Tolerance(rel=args.rel_tol, abs=args.abs_tol), progress=_Progress(args))
    args.exit_status = 0 if result["equal"] else 1
    return result


def _daily_spec(args: argparse.Namespace) -> Any:
    from poc_tasks.daily.run import DailyRunSpec, koku_markup

    # --markup is the cost model's percent; Koku's updaters pass float(percent) / 100 (markup_value)
    markup = koku_markup(args.markup, "markup") / 100 if args.markup_value is None else args.markup_value
    return DailyRunSpec.build(args.flow, args.schema, args.source_uuid, args.start, args.end, args.bill_id, markup,
                              getattr(args, "invoice_month", None))


def _cmd_run_daily(args: argparse.Namespace) -> dict[str, Any]:
    """run aws / aws-ec2 (and the other cloud daily summaries): poc_tasks/daily/run.py in-process."""
    from poc_tasks.daily.run import run

    return run(_daily_spec(args), _checked_settings(args), progress=_Progress(args))


def _cmd_compare_daily(args: argparse.Namespace) -> dict[str, Any]:
    """compare aws / aws-ec2: the daily flow's rows computed privately and compared with the live table."""
    from poc_tasks.compare.daily import shadow_compare_daily
    from poc_tasks.compare.rows import Tolerance

    result = shadow_compare_daily(_daily_spec(args), _checked_settings(args), report_path=args.report,
                                  store=not args.no_store, tolerance=Tolerance(rel=args.rel_tol, abs=args.abs_tol),
                                  progress=_Progress(args))
    args.exit_status = 0 if result["equal"] else 1
    return result


def _cmd_infra_map(args: argparse.Namespace) -> dict[str, Any]:
    """Koku's get_ocp_infrastructure_map_trino: {ocp source: [cloud source, type]}."""
    from poc_tasks.daily.infra_map import get_ocp_infrastructure_map, to_json

    return to_json(get_ocp_infrastructure_map(
        args.schema, args.start, args.end, settings=_checked_settings(args), ocp_provider_uuid=args.ocp_provider_uuid,
        aws_provider_uuid=args.aws_provider_uuid, azure_provider_uuid=args.azure_provider_uuid,
        gcp_provider_uuid=args.gcp_provider_uuid))


def _without_ocp(args: argparse.Namespace, settings: Settings) -> None:
    """sample --without-ocp: drop the cluster's OCP Parquet, leaving a tenant with only the cloud bills."""
    from poc_tasks.io.fs import filesystem, strip_scheme
    from poc_tasks.io.layout import account_of, join

    root = settings.require_data_root()
    fs = filesystem(root, settings.storage_options())
    for base in ("data/parquet", "data/parquet/daily"):
        folder = strip_scheme(join(root, base, account_of(args.schema), "OCP"))
        if fs.exists(folder):
            fs.rm(folder, recursive=True)


def _cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.sample import SampleConfig, write_sample

    settings = _checked_settings(args)
    config = SampleConfig(schema=args.schema, nodes=args.nodes, pods=args.pods, days=args.days, seed=args.seed,
                          year=args.year, month=args.month, with_node_role=not args.without_node_role,
                          label_changes=not args.clean, with_aws=args.with_aws, with_azure=args.with_azure,
                          with_gcp=args.with_gcp)
    scenario = write_sample(settings.require_data_root(), config, settings.storage_options())
    # cost model: GPUs, VMs and cost_model.json (poc_tasks.cost_model.cli)
    from poc_tasks.cost_model.cli import after_sample

    scenario = after_sample(args, settings.require_data_root(), scenario, settings.storage_options())
    if args.without_ocp:
        _without_ocp(args, settings)
    out = {k: scenario[k] for k in ("schema", "source_uuid", "cluster_id", "start_date", "end_date")}
    for cloud in ("aws", "azure", "gcp"):
        if cloud in scenario:
            out[f"{cloud}_source_uuid"] = scenario[cloud]["source_uuid"]
    out["enabled_tag_keys"] = scenario.get("enabled_tag_keys") or []
    return out


def _cmd_demo(args: argparse.Namespace) -> dict[str, Any] | None:
    from poc_tasks.demo import open_shell, run_demo

    if args.shell:
        args.exit_status = open_shell(args.workdir)
        return None
    run_demo(workdir=args.workdir, nodes=args.nodes, pods=args.pods, days=args.days, broker=args.broker,
             cloud=None if args.cloud == "none" else args.cloud, report=args.report, verbose=args.verbose,
             cloud_only=args.cloud_only)
    return None


# --- parser --------------------------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """-v / -q, accepted before and after the command: the copies on the subcommands default to SUPPRESS so they
    do not overwrite what was given before the command."""
    default: Any = False if top else argparse.SUPPRESS
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log at INFO on stderr, and show the traceback when a run fails")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress lines on stderr (the result still goes to stdout)")
    parser.add_argument("--progress", action="store_true", default=None if top else argparse.SUPPRESS,
                        help="progress lines on stderr even when it is not a terminal (they are on in a terminal)")


def _sub(subparsers: Any, name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    import textwrap

    p = subparsers.add_parser(name, help=help_text, description=textwrap.fill(description or help_text, 112),
                              formatter_class=_Formatter)
    _global_options(p, top=False)
    return p


def _add_database(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", metavar="URL",
                   help="PostgreSQL URL, postgresql://USER[:PASSWORD]@HOST:PORT/DB (default: $POC_DATABASE_URL)")


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", metavar="ROOT",
                   help="s3://bucket or a directory holding Koku's data/parquet/... tree (default: $POC_DATA_ROOT)")
    p.add_argument("--s3-endpoint-url", metavar="URL",
                   help="S3 endpoint for an s3:// root, e.g. http://127.0.0.1:9000 (default: $POC_S3_ENDPOINT_URL; "
                        "credentials from $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY)")
    p.add_argument("--staging-root", metavar="ROOT",
                   help="where a run stages its rows before writing (default: $POC_STAGING_ROOT or "
                        "DATA_ROOT/poc_tasks_staging)")


def _add_schema(p: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    p.add_argument("--schema", required=required, default=default, metavar="SCHEMA",
                   help="Koku tenant schema: org<digits> or acct<digits>")


def _add_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", required=True, metavar="YYYY-MM-DD", help="first day (inclusive)")
    p.add_argument("--end", required=True, metavar="YYYY-MM-DD", help="last day (inclusive, same month as --start)")


def _add_cluster(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--cluster-id", required=what == "run", metavar="ID",
                   help="the OpenShift cluster id of the source; must match the source's report period if it has "
                        "one" + ("" if what == "run" else " (default: the live report period's)"))
    p.add_argument("--cluster-alias", metavar="NAME",
                   help="the cluster's display name" + (" (default: the cluster id)" if what == "run"
                                                         else " (default: the live report period's)"))


def _add_daily_run(run_sub: Any, name: str, flow: str, help_text: str,
                   description: str | None = None) -> argparse.ArgumentParser:
    """A `run <name>` subcommand of a cloud daily summary flow, with Koku's argument names."""
    p = _sub(run_sub, name, help_text, description)
    _add_database(p)
    _add_data(p)
    _add_schema(p)
    p.add_argument("--source-uuid", required=True, metavar="UUID", help="the cloud source (Koku's provider uuid)")
    _add_range(p)
    p.add_argument("--bill-id", type=int, metavar="N",
                   help="the source's bill (default: its bill of the month, created when missing)")
    p.add_argument("--markup", default="0", metavar="PERCENT", help="the cost model's markup in percent")
    p.add_argument("--markup-value", type=float, metavar="FRACTION",
                   help="the markup as Koku passes it (a fraction); wins over --markup")
    p.set_defaults(func=_cmd_run_daily, flow=flow)
    return p


def _add_daily_compare(compare_sub: Any, name: str, flow: str, help_text: str) -> argparse.ArgumentParser:
    """A `compare <name>` subcommand: the arguments of `run <name>` plus the report options."""
    p = _add_daily_run(compare_sub, name, flow, help_text,
                       f"{help_text}: compute the rows without writing them, compare them row by row with the rows "
                       "Koku's delete rule gives the run, write a JSON and an HTML report, record the verdict. "
                       "Exit 0 when equal, 1 when different.")
    p.add_argument("--report", metavar="PATH", help="report path: PATH.json and PATH.html (default: "
                                                    "$POC_SHADOW_REPORT_ROOT or DATA_ROOT/poc_tasks_reports/...)")
    p.add_argument("--rel-tol", type=float, default=1e-9, help="relative tolerance of numbers")
    p.add_argument("--abs-tol", type=float, default=1e-9, help="absolute tolerance of numbers")
    p.add_argument("--no-store", action="store_true", help="do not record the verdict in poc_shadow_comparison")
    p.set_defaults(func=_cmd_compare_daily)
    return p


def _gcp_invoice(p: argparse.ArgumentParser) -> None:
    """GCP's `--invoice-month`; without it, GCPReportParquetSummaryUpdater's range (daily/gcp.py)."""
    p.add_argument("--invoice-month", metavar="YYYYMM",
                   help="that invoice month's lines of [start, end] (Koku's accessor call; the range may cross a "
                        "month); default: the updater's loop, the invoice month of --start over the days its lines ran")
    inner = p.get_default("func")

    def func(args: argparse.Namespace) -> Any:
        from poc_tasks.daily.cli_azure_gcp import resolve_gcp_args

        resolve_gcp_args(args, _checked_settings(args))
        return inner(args)

    p.set_defaults(func=func)


def _add_cloud_run(run_sub: Any, cloud: str, tables: str, func: Any) -> None:
    low = cloud.lower()
    p = _sub(run_sub, f"ocp-on-{low}",
             f"OCP on {cloud}: the project daily summary, back-populated OCP rows, tag summaries and {tables}",
             f"OCP on {cloud} for one (OCP source, {cloud} source) pair: matches the {cloud} bill to the cluster, "
             f"attributes its cost to namespaces and nodes, and writes the project daily summary, the OCP rows "
             f"carrying that cost, tag summaries and {tables}. Needs `run ocp` over the same range first.")
    _add_database(p)
    _add_data(p)
    _add_schema(p)
    p.add_argument("--ocp-source-uuid", required=True, metavar="UUID", help="the OCP source (Koku's provider uuid)")
    p.add_argument(f"--{low}-source-uuid", required=True, metavar="UUID", help=f"the {cloud} source")
    _add_cluster(p, "run")
    _add_range(p)
    p.add_argument("--markup", default="0", metavar="PERCENT", help=f"the {cloud} cost model's markup in percent")
    p.add_argument("--distribution", default="cpu", choices=["cpu", "memory"],
                   help="the OCP cost model's distribution type")
    p.add_argument("--report-period-id", type=int, metavar="N",
                   help="the OCP source's report period (default: found from the source and month; another "
                        "period is refused)")
    p.set_defaults(func=func, cloud=cloud)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="poc-tasks", description=MANUAL, formatter_class=_Formatter)
    _global_options(ap, top=True)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    p = _sub(sub, "demo", "start here: sample data, embedded PostgreSQL, in-process worker, the runs, an HTML report",
             "The whole job on embedded defaults, with no servers: Koku-shaped sample data, an embedded PostgreSQL "
             "(kept in WORKDIR/pg, so a second demo reuses it and gives the same report), a Celery worker in this "
             "process, the OCP summary and OCP on a cloud through the real tasks, then a summary on the terminal "
             "and an HTML report with plots. --shell opens psql on the demo's database afterwards.")
    p.add_argument("--workdir", default=".poc-tasks/demo", help="where the data, the database and the report go")
    p.add_argument("--nodes", type=int, default=6, help="nodes of the sample cluster (at least 4)")
    p.add_argument("--pods", type=int, default=120, help="pods of the sample cluster")
    p.add_argument("--days", type=int, default=7, help="days of January 2026 to generate and summarise")
    p.add_argument("--broker", default="memory://", help="Celery broker (memory:// runs everything in-process)")
    p.add_argument("--cloud", choices=["aws", "azure", "gcp", "none"], default="aws",
                   help="the OCP-on-cloud run after the OCP summary")
    p.add_argument("--cloud-only", action="store_true",
                   help="a user with only the --cloud account: its daily summary and cost report, no OpenShift")
    p.add_argument("--report", metavar="PATH", help="the HTML report (default: WORKDIR/report.html)")
    p.add_argument("--shell", action="store_true",
                   help="open psql on the database of an earlier demo in WORKDIR (nothing is run)")
    p.set_defaults(func=_cmd_demo)

    p = _sub(sub, "init-db", "create a tenant schema with every Koku table poc_tasks reads or writes",
             "Create, idempotently, a tenant schema with Koku's tables (as Koku's migrations define them) and "
             "Koku's seeds (the 'Platform' cost category). Inside Koku its migrations do this instead.")
    _add_database(p)
    _add_schema(p)
    p.set_defaults(func=_cmd_init_db)

    p = _sub(sub, "tag-keys", "list, enable or disable the tenant's tag and label keys (rows carry enabled keys only)",
             "The tenant's enabled keys (reporting_enabledtagkeys). Koku's ingestion records new OCP label keys "
             "disabled; a run keeps only enabled keys, so until some are enabled no OCP row carries a label. "
             "Prints the keys after the change; run the summary again to apply it.")
    _add_database(p)
    _add_schema(p)
    p.add_argument("--provider", default="OCP", choices=["OCP", "AWS", "Azure", "GCP"], help="whose keys")
    p.add_argument("--enable", nargs="+", metavar="KEY", help="keys to enable (created when missing)")
    p.add_argument("--disable", nargs="+", metavar="KEY", help="keys to disable")
    p.set_defaults(func=_cmd_tag_keys)

    run = _sub(sub, "run", "run one aggregation in-process (the same code as the Celery tasks)")
    run_sub = run.add_subparsers(dest="provider", required=True, metavar="PROVIDER", title="providers")
    p = _sub(run_sub, "ocp", "the OCP daily summary (reporting_ocpusagelineitem_daily_summary and cluster tables)",
             "The OCP daily summary of one source over days of one month, as Koku's "
             "populate_line_item_daily_summary_table does: creates the source's report period when missing, fills "
             "the cluster tables, replaces the period's rows over the range (rows carrying OCP-on-cloud cost stay).")
    _add_database(p)
    _add_data(p)
    _add_schema(p)
    p.add_argument("--source-uuid", required=True, metavar="UUID", help="the OCP source (Koku's provider uuid)")
    _add_cluster(p, "run")
    _add_range(p)
    p.add_argument("--report-period-id", type=int, metavar="N",
                   help="the source's report period (default: found or created; another source's is refused)")
    p.set_defaults(func=_cmd_run_ocp)
    for cloud, tables in (("AWS", "the eight UI tables"), ("Azure", "the eight UI tables"),
                          ("GCP", "the nine UI tables")):
        _add_cloud_run(run_sub, cloud, tables, _cmd_run_ocp_on_cloud)
    _add_daily_run(run_sub, "aws", "AWS", "the AWS daily summary (reporting_awscostentrylineitem_daily_summary)",
                   "Koku's populate_line_item_daily_summary_table_trino of one AWS source over days of one month, "
                   "without Trino: replaces the range's rows of the bill (Koku's delete) in one transaction.")
    _add_daily_run(run_sub, "aws-ec2", "AWS-EC2", "the month's EC2 compute summary "
                                                  "(reporting_awscostentrylineitem_summary_by_ec2_compute_p)")
    _add_daily_run(run_sub, "azure", "Azure",
                   "the Azure daily summary (reporting_azurecostentrylineitem_daily_summary)")
    _gcp_invoice(_add_daily_run(run_sub, "gcp", "GCP",
                                "the GCP daily summary (reporting_gcpcostentrylineitem_daily_summary)"))

    p = _sub(sub, "infra-map", "which OCP cluster runs on which AWS/Azure/GCP source (Koku's "
                               "get_ocp_infrastructure_map_trino); prints {ocp uuid: [cloud uuid, type]}")
    _add_database(p)
    _add_data(p)
    _add_schema(p)
    _add_range(p)
    for kind in ("ocp", "aws", "azure", "gcp"):
        p.add_argument(f"--{kind}-provider-uuid", metavar="UUID", help=f"Koku's {kind}_provider_uuid keyword")
    p.set_defaults(func=_cmd_infra_map)

    compare = _sub(sub, "compare", "phase-1 shadow run: compute without writing, compare with the live tables")
    compare_sub = compare.add_subparsers(dest="provider", required=True, metavar="PROVIDER", title="providers")
    p = _sub(compare_sub, "ocp", "the OCP daily summary of a range Koku (Trino) already summarised",
             "Compute the OCP daily summary of a range without writing it, compare it row by row with the live "
             "table (the rows the summary step owns), write a JSON and an HTML report, and record the verdict. "
             "Exit 0 when equal, 1 when different.")
    _add_database(p)
    _add_data(p)
    _add_schema(p)
    p.add_argument("--source-uuid", required=True, metavar="UUID", help="the OCP source")
    _add_cluster(p, "compare")
    _add_range(p)
    p.add_argument("--report-period-id", type=int, metavar="N", help="default: the live report period of the month")
    p.add_argument("--report", metavar="PATH",
                   help="report path: cmp.html or cmp.json writes cmp.html and cmp.json; another PATH gets both "
                        "suffixes (default: $POC_SHADOW_REPORT_ROOT or DATA_ROOT/poc_tasks_reports/...)")
    p.add_argument("--rel-tol", type=float, default=1e-9, help="relative tolerance of numbers")
    p.add_argument("--abs-tol", type=float, default=1e-9, help="absolute tolerance of numbers")
    p.add_argument("--no-store", action="store_true", help="do not record the verdict in poc_shadow_comparison")
    p.set_defaults(func=_cmd_compare_ocp)
    _add_daily_compare(compare_sub, "aws", "AWS", "the AWS daily summary of a range Koku (Trino) already summarised")
    _add_daily_compare(compare_sub, "aws-ec2", "AWS-EC2", "the month's EC2 compute summary Koku (Trino) wrote")
    _add_daily_compare(compare_sub, "azure", "Azure",
                       "the Azure daily summary of a range Koku (Trino) already summarised")
    _gcp_invoice(_add_daily_compare(compare_sub, "gcp", "GCP",
                                    "the GCP daily summary of a range Koku (Trino) already summarised"))

    p = _sub(sub, "sample", "write Koku-shaped synthetic Parquet (deterministic for a seed)",
             "Koku-shaped Parquet for a synthetic cluster (and matched cloud bills) under the data root, in Koku's "
             "layout and types, plus scenario.json; prints the ids a run needs.")
    _add_data(p)
    _add_schema(p, required=False, default="org1234567")
    p.add_argument("--nodes", type=int, default=6, help="nodes (at least 4: master, infra, 2 workers)")
    p.add_argument("--pods", type=int, default=60, help="pods")
    p.add_argument("--days", type=int, default=3, help="days 1..N of the month")
    p.add_argument("--year", type=int, default=2026, help="year of the data")
    p.add_argument("--month", type=int, default=1, help="month of the data")
    p.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same bytes")
    p.add_argument("--without-node-role", action="store_true", help="omit node_role (operators before it existed)")
    p.add_argument("--clean", action="store_true", help="no mid-day label changes (one label set per day)")
    p.add_argument("--with-aws", action="store_true", help="also a matched AWS bill (CUR Parquet)")
    p.add_argument("--with-azure", action="store_true", help="also a matched Azure export")
    p.add_argument("--with-gcp", action="store_true", help="also a matched GCP export")
    p.add_argument("--without-ocp", action="store_true",
                   help="drop the cluster's OCP Parquet: a tenant with only the cloud account(s) of --with-*")
    p.set_defaults(func=_cmd_sample)
    # cost model (poc_tasks.cost_model.cli): `sample --with-cost-model`, `run ocp-cost-model`
    from poc_tasks.cost_model import cli as cost_model_cli

    cost_model_cli.add_sample_arguments(p)
    p = _sub(run_sub, "ocp-cost-model", cost_model_cli.RUN_HELP, cost_model_cli.RUN_DESCRIPTION)
    _add_database(p)
    _add_data(p)
    _add_schema(p)
    p.add_argument("--source-uuid", required=True, metavar="UUID", help="the OCP source (Koku's provider uuid)")
    _add_cluster(p, "run")
    _add_range(p)
    p.add_argument("--report-period-id", type=int, metavar="N", help="the source's report period (default: found)")
    cost_model_cli.add_run_arguments(p, _settings)
    return ap


def _failure(exc: BaseException, args: argparse.Namespace) -> PocTasksError | None:
    database_url = getattr(args, "database_url", None)
    try:
        database_url = database_url or Settings.from_env().database_url
    except Exception:  # noqa: BLE001 - only for the message
        database_url = None
    return user_error(exc, database_url, getattr(args, "schema", None))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = args.func(args)
    except PocTasksError as exc:
        print(f"poc-tasks: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("poc-tasks: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with -v
        known = _failure(exc, args)
        if known is not None:
            LOG.debug("failed", exc_info=True)
            print(f"poc-tasks: error: {known}", file=sys.stderr)
            return 2
        print(f"poc-tasks: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.verbose:
            raise
        print("poc-tasks: (run again with -v for the traceback)", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, default=str))
    return int(getattr(args, "exit_status", 0))


if __name__ == "__main__":
    sys.exit(main())
