"""The `poc-tasks` command: init-db, run, compare, sample, demo. Thin: every command calls the same code as the tasks.

Exit status: 0 done, 1 failed, 2 bad input or usage (a PocTasksError names what is wrong); `compare` exits 0
when the rows are equal and 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from poc_tasks.errors import PocTasksError
from poc_tasks.settings import Settings

LOG = logging.getLogger("poc_tasks")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().override(
        database_url=getattr(args, "database_url", None),
        data_root=getattr(args, "data_root", None),
        s3_endpoint_url=getattr(args, "s3_endpoint_url", None),
        staging_root=getattr(args, "staging_root", None),
    )


def _add_common(p: argparse.ArgumentParser, data: bool = True) -> None:
    p.add_argument("--database-url", help="PostgreSQL URL (default: $POC_DATABASE_URL)")
    if data:
        p.add_argument("--data-root", help="s3://bucket or a directory holding Koku's data/ tree ($POC_DATA_ROOT)")
        p.add_argument("--s3-endpoint-url", help="S3 endpoint ($POC_S3_ENDPOINT_URL)")
        p.add_argument("--staging-root", help="where runs stage results (default: DATA_ROOT/poc_tasks_staging)")


def _cmd_init_db(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.db.init import init_tenant

    init_tenant(_settings(args).require_database_url(), args.schema)
    return {"schema": args.schema, "initialised": True}


def _cmd_run_ocp(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.ocp.pipeline import run_ocp
    from poc_tasks.run import OcpRunSpec

    spec = OcpRunSpec.build(args.schema, args.source_uuid, args.cluster_id, args.start, args.end,
                            args.cluster_alias, args.report_period_id)
    return run_ocp(spec, _settings(args), progress=lambda step, meta: LOG.info("%s %s", step, meta))


def _cmd_run_ocp_on_aws(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.cloud.pipeline import run_ocp_on_aws
    from poc_tasks.cloud.spec import CloudRunSpec

    spec = CloudRunSpec.build(args.schema, args.ocp_source_uuid, args.aws_source_uuid, args.cluster_id, args.start,
                              args.end, args.cluster_alias, args.markup, args.distribution, args.report_period_id)
    return run_ocp_on_aws(spec, _settings(args), progress=lambda step, meta: LOG.info("%s %s", step, meta))


def _cmd_run_ocp_on_cloud(args: argparse.Namespace) -> dict[str, Any]:
    """run ocp-on-azure / ocp-on-gcp: the shared OCP-on-cloud flow with the provider module of args.cloud."""
    from poc_tasks.cloud import flow
    from poc_tasks.cloud.spec import CloudRunSpec

    p = flow.provider(args.cloud)
    spec = CloudRunSpec.build(args.schema, args.ocp_source_uuid, getattr(args, f"{args.cloud.lower()}_source_uuid"),
                              args.cluster_id, args.start, args.end, args.cluster_alias, args.markup,
                              args.distribution, args.report_period_id, cloud_type=p.name)
    return flow.run(p, spec, _settings(args), progress=lambda step, meta: LOG.info("%s %s", step, meta))


def _cmd_compare_ocp(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.compare.rows import Tolerance
    from poc_tasks.compare.shadow import resolve_ocp_spec, shadow_compare_ocp

    settings = _settings(args)
    spec = resolve_ocp_spec(settings, args.schema, args.source_uuid, args.start, args.end, args.cluster_id,
                            args.cluster_alias, args.report_period_id)
    result = shadow_compare_ocp(spec, settings, report_path=args.report, store=not args.no_store,
                                tolerance=Tolerance(rel=args.rel_tol, abs=args.abs_tol),
                                progress=lambda step, meta: LOG.info("%s %s", step, meta))
    args.exit_status = 0 if result["equal"] else 1
    return result


def _cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    from poc_tasks.sample import SampleConfig, write_sample

    settings = _settings(args)
    config = SampleConfig(schema=args.schema, nodes=args.nodes, pods=args.pods, days=args.days, seed=args.seed,
                          year=args.year, month=args.month, with_node_role=not args.without_node_role,
                          label_changes=not args.clean, with_aws=args.with_aws, with_azure=args.with_azure,
                          with_gcp=args.with_gcp)
    scenario = write_sample(settings.require_data_root(), config, settings.storage_options())
    out = {k: scenario[k] for k in ("schema", "source_uuid", "cluster_id", "start_date", "end_date")}
    for cloud in ("aws", "azure", "gcp"):
        if cloud in scenario:
            out[f"{cloud}_source_uuid"] = scenario[cloud]["source_uuid"]
    return out


def _cmd_demo(args: argparse.Namespace) -> dict[str, Any] | None:
    from poc_tasks.demo import run_demo

    run_demo(workdir=args.workdir, nodes=args.nodes, pods=args.pods, days=args.days, broker=args.broker,
             cloud=None if args.cloud == "none" else args.cloud)
    return None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="poc-tasks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init-db", help="create a tenant schema with every Koku table poc_tasks reads or writes")
    _add_common(p, data=False)
    p.add_argument("--schema", required=True)
    p.set_defaults(func=_cmd_init_db)

    run = sub.add_parser("run", help="run one provider's aggregation in-process (same code as the tasks)")
    run_sub = run.add_subparsers(dest="provider", required=True)
    p = run_sub.add_parser("ocp", help="the OCP daily summary (reporting_ocpusagelineitem_daily_summary)")
    _add_common(p)
    p.add_argument("--schema", required=True)
    p.add_argument("--source-uuid", required=True)
    p.add_argument("--cluster-id", required=True)
    p.add_argument("--cluster-alias")
    p.add_argument("--start", required=True, help="YYYY-MM-DD (inclusive)")
    p.add_argument("--end", required=True, help="YYYY-MM-DD (inclusive, same month)")
    p.add_argument("--report-period-id", type=int)
    p.set_defaults(func=_cmd_run_ocp)
    p = run_sub.add_parser("ocp-on-aws", help="OCP on AWS: the project daily summary, back-populated OCP rows, "
                                              "tag summaries and the eight UI tables (needs `run ocp` first)")
    _add_common(p)
    p.add_argument("--schema", required=True)
    p.add_argument("--ocp-source-uuid", required=True)
    p.add_argument("--aws-source-uuid", required=True)
    p.add_argument("--cluster-id", required=True)
    p.add_argument("--cluster-alias")
    p.add_argument("--start", required=True, help="YYYY-MM-DD (inclusive)")
    p.add_argument("--end", required=True, help="YYYY-MM-DD (inclusive, same month)")
    p.add_argument("--markup", default="0", help="the AWS cost model's markup in percent (default 0)")
    p.add_argument("--distribution", default="cpu", choices=["cpu", "memory"],
                   help="the OCP cost model's distribution type (default cpu)")
    p.add_argument("--report-period-id", type=int, help="default: the OCP source's report period of the month")
    p.set_defaults(func=_cmd_run_ocp_on_aws)
    for cloud, what in (("Azure", "the eight UI tables"), ("GCP", "the nine UI tables")):
        p = run_sub.add_parser(f"ocp-on-{cloud.lower()}",
                               help=f"OCP on {cloud}: the project daily summary, back-populated OCP rows, tag "
                                    f"summaries and {what} (needs `run ocp` first)")
        _add_common(p)
        p.add_argument("--schema", required=True)
        p.add_argument("--ocp-source-uuid", required=True)
        p.add_argument(f"--{cloud.lower()}-source-uuid", required=True)
        p.add_argument("--cluster-id", required=True)
        p.add_argument("--cluster-alias")
        p.add_argument("--start", required=True, help="YYYY-MM-DD (inclusive)")
        p.add_argument("--end", required=True, help="YYYY-MM-DD (inclusive, same month)")
        p.add_argument("--markup", default="0", help=f"the {cloud} cost model's markup in percent (default 0)")
        p.add_argument("--distribution", default="cpu", choices=["cpu", "memory"],
                       help="the OCP cost model's distribution type (default cpu)")
        p.add_argument("--report-period-id", type=int, help="default: the OCP source's report period of the month")
        p.set_defaults(func=_cmd_run_ocp_on_cloud, cloud=cloud)

    compare = sub.add_parser("compare", help="phase-1 shadow run: compute without writing, compare with the live "
                                             "tables, report (exit 0 equal, 1 different)")
    compare_sub = compare.add_subparsers(dest="provider", required=True)
    p = compare_sub.add_parser("ocp", help="the OCP daily summary of a range Koku (Trino) already summarised")
    _add_common(p)
    p.add_argument("--schema", required=True)
    p.add_argument("--source-uuid", required=True)
    p.add_argument("--cluster-id", help="default: the live report period's")
    p.add_argument("--cluster-alias", help="default: the live report period's")
    p.add_argument("--start", required=True, help="YYYY-MM-DD (inclusive)")
    p.add_argument("--end", required=True, help="YYYY-MM-DD (inclusive, same month)")
    p.add_argument("--report-period-id", type=int, help="default: the live report period of the month")
    p.add_argument("--report", help="report path: PATH.json and PATH.html (default: "
                                    "$POC_SHADOW_REPORT_ROOT or DATA_ROOT/poc_tasks_reports/...)")
    p.add_argument("--rel-tol", type=float, default=1e-9, help="relative tolerance of numbers (default 1e-9)")
    p.add_argument("--abs-tol", type=float, default=1e-9, help="absolute tolerance of numbers (default 1e-9)")
    p.add_argument("--no-store", action="store_true", help="do not record the verdict in poc_shadow_comparison")
    p.set_defaults(func=_cmd_compare_ocp)

    p = sub.add_parser("sample", help="write Koku-shaped synthetic Parquet (deterministic for a seed)")
    _add_common(p)
    p.add_argument("--schema", default="org1234567")
    p.add_argument("--nodes", type=int, default=6)
    p.add_argument("--pods", type=int, default=60)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--year", type=int, default=2026)
    p.add_argument("--month", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--without-node-role", action="store_true", help="omit node_role (old operators)")
    p.add_argument("--clean", action="store_true", help="no mid-day label changes (one label set per day)")
    p.add_argument("--with-aws", action="store_true", help="also a matched AWS bill (CUR Parquet)")
    p.add_argument("--with-azure", action="store_true", help="also a matched Azure export")
    p.add_argument("--with-gcp", action="store_true", help="also a matched GCP export")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("demo", help="sample data, embedded PostgreSQL, in-process worker, the run, a report")
    p.add_argument("--workdir", default=".poc-tasks/demo")
    p.add_argument("--nodes", type=int, default=6)
    p.add_argument("--pods", type=int, default=120)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--broker", default="memory://", help="Celery broker (default: in-process memory://)")
    p.add_argument("--cloud", choices=["aws", "azure", "gcp", "none"], default="aws",
                   help="the OCP-on-cloud run shown after the OCP summary (default: aws)")
    p.set_defaults(func=_cmd_demo)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = args.func(args)
    except PocTasksError as exc:
        print(f"poc-tasks: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with -v
        LOG.debug("failed", exc_info=True)
        print(f"poc-tasks: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.verbose:
            raise
        return 1
    if result is not None:
        print(json.dumps(result, default=str))
    return int(getattr(args, "exit_status", 0))


if __name__ == "__main__":
    sys.exit(main())
