"""The `poc-tasks run azure|gcp` and `compare azure|gcp` commands (added to poc_tasks/cli.py's parsers)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from poc_tasks.settings import Settings

__all__ = ["add_run_parsers", "add_compare_parsers", "daily_spec"]

LOG = logging.getLogger("poc_tasks")


def _add_args(p: argparse.ArgumentParser, cloud: str) -> None:
    p.add_argument("--schema", required=True)
    p.add_argument("--source-uuid", required=True, help=f"the {cloud} source (Koku's provider uuid)")
    p.add_argument("--start", required=True, help="YYYY-MM-DD (inclusive)")
    p.add_argument("--end", required=True, help="YYYY-MM-DD (inclusive, same month)")
    p.add_argument("--bill-id", type=int, help="default: the source's bill of the month (created if missing)")
    p.add_argument("--markup-value", default=None,
                   help="Koku's markup_value: the cost model's markup as a fraction (10%% -> 0.1; default 0)")
    if cloud == "GCP":
        p.add_argument("--invoice-month", help="YYYYMM: summarise that invoice month's lines of [start, end] (the "
                                               "accessor's call); default: the updater's loop, the invoice month of "
                                               "--start over the days its lines ran")


def daily_spec(args: argparse.Namespace, settings: Settings) -> Any:
    """The DailyRunSpec of `run azure|gcp` arguments (GCP without --invoice-month: the updater's range)."""
    from poc_tasks.daily.run import DailyRunSpec

    start, end, invoice_month = args.start, args.end, getattr(args, "invoice_month", None)
    if args.cloud == "GCP" and not invoice_month:
        from poc_tasks.daily.gcp import resolve_invoice_range
        from poc_tasks.run import validate_schema, validate_uuid

        invoice_month, start, end = resolve_invoice_range(settings, validate_schema(args.schema),
                                                          validate_uuid(args.source_uuid), start, end)
    return DailyRunSpec.build(args.cloud, args.schema, args.source_uuid, start, end, args.bill_id, args.markup_value,
                              invoice_month)


def _cmd_run(settings_of: Callable[[argparse.Namespace], Settings]) -> Callable[[argparse.Namespace], Any]:
    def cmd(args: argparse.Namespace) -> dict[str, Any]:
        from poc_tasks.daily.run import run

        settings = settings_of(args)
        return run(daily_spec(args, settings), settings, progress=lambda step, meta: LOG.info("%s %s", step, meta))

    return cmd


def add_run_parsers(run_sub: Any, add_common: Callable[[argparse.ArgumentParser], None],
                    settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """`run azure` and `run gcp`: the daily summary in-process, the same steps as summarize_azure / _gcp."""
    for cloud, table in (("Azure", "reporting_azurecostentrylineitem_daily_summary"),
                         ("GCP", "reporting_gcpcostentrylineitem_daily_summary")):
        p = run_sub.add_parser(cloud.lower(), help=f"the {cloud} daily summary ({table})")
        add_common(p)
        _add_args(p, cloud)
        p.set_defaults(func=_cmd_run(settings_of), cloud=cloud)


def _cmd_compare(settings_of: Callable[[argparse.Namespace], Settings]) -> Callable[[argparse.Namespace], Any]:
    def cmd(args: argparse.Namespace) -> dict[str, Any]:
        from poc_tasks.compare.rows import Tolerance
        from poc_tasks.daily.shadow import shadow_compare_daily

        settings = settings_of(args)
        result = shadow_compare_daily(daily_spec(args, settings), settings, report_path=args.report,
                                      tolerance=Tolerance(rel=args.rel_tol, abs=args.abs_tol),
                                      progress=lambda step, meta: LOG.info("%s %s", step, meta))
        args.exit_status = 0 if result["equal"] else 1
        return result

    return cmd


def add_compare_parsers(compare_sub: Any, add_common: Callable[[argparse.ArgumentParser], None],
                        settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """`compare azure` and `compare gcp`: compute the rows without writing, compare them with the live table."""
    for cloud in ("Azure", "GCP"):
        p = compare_sub.add_parser(cloud.lower(), help=f"the {cloud} daily summary of a range Koku (Trino) already "
                                                       "summarised (exit 0 equal, 1 different)")
        add_common(p)
        _add_args(p, cloud)
        p.add_argument("--report", help="report path: PATH.json (default: $POC_SHADOW_REPORT_ROOT or "
                                        "DATA_ROOT/poc_tasks_reports/...)")
        p.add_argument("--rel-tol", type=float, default=0.0, help="relative tolerance of numbers (default 0)")
        p.add_argument("--abs-tol", type=float, default=0.0, help="absolute tolerance of numbers (default 0)")
        p.set_defaults(func=_cmd_compare(settings_of), cloud=cloud)
