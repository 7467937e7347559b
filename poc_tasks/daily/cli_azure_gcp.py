"""What `poc-tasks run gcp` and `compare azure|gcp` add to poc_tasks/cli.py (the run parsers are cli.py's
``_add_daily_run``, shared with `run aws`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from poc_tasks.settings import Settings

__all__ = ["resolve_gcp_args", "add_compare_args", "daily_spec"]

LOG = logging.getLogger("poc_tasks")


def resolve_gcp_args(args: argparse.Namespace, settings: Settings) -> None:
    """GCP without --invoice-month: GCPReportParquetSummaryUpdater's range, the invoice month of --start over the
    days its lines ran (fetch_invoice_month_dates), set on `args`."""
    if getattr(args, "invoice_month", None):
        return
    from poc_tasks.daily.gcp import resolve_invoice_range
    from poc_tasks.run import validate_schema, validate_uuid

    args.invoice_month, start, end = resolve_invoice_range(settings, validate_schema(args.schema),
                                                           validate_uuid(args.source_uuid), args.start, args.end)
    args.start, args.end = start.isoformat(), end.isoformat()


def daily_spec(args: argparse.Namespace, settings: Settings) -> Any:
    """The DailyRunSpec of `compare azure|gcp` arguments (the same as `run azure|gcp`'s)."""
    from poc_tasks.daily.run import DailyRunSpec, koku_markup

    if args.flow == "GCP":
        resolve_gcp_args(args, settings)
    markup = koku_markup(args.markup, "markup") / 100 if args.markup_value is None else args.markup_value
    return DailyRunSpec.build(args.flow, args.schema, args.source_uuid, args.start, args.end, args.bill_id, markup,
                              getattr(args, "invoice_month", None))


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


def add_compare_args(p: argparse.ArgumentParser, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """What `compare azure|gcp` adds to the `run` arguments (cli.py's _add_daily_run made `p`)."""
    if p.get_default("flow") == "GCP":
        p.add_argument("--invoice-month", help="YYYYMM (default: the updater's range, see `run gcp`)")
    p.add_argument("--report", help="report path PATH.json (default: $POC_SHADOW_REPORT_ROOT or "
                                    "DATA_ROOT/poc_tasks_reports/...)")
    p.add_argument("--rel-tol", type=float, default=0.0, help="relative tolerance of numbers (default 0)")
    p.add_argument("--abs-tol", type=float, default=0.0, help="absolute tolerance of numbers (default 0)")
    p.set_defaults(func=_cmd_compare(settings_of))
