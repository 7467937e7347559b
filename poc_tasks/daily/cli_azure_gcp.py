"""`poc-tasks run gcp` / `compare gcp` without --invoice-month: the updater's range (cli.py's _gcp_invoice)."""

from __future__ import annotations

import argparse
import logging

from poc_tasks.settings import Settings

__all__ = ["resolve_gcp_args"]

LOG = logging.getLogger("poc_tasks")


def resolve_gcp_args(args: argparse.Namespace, settings: Settings) -> None:
    """GCP without --invoice-month: GCPReportParquetSummaryUpdater's range, the invoice month of --start over the
    days its lines ran (fetch_invoice_month_dates), set on `args`."""
    if getattr(args, "invoice_month", None):
        return
    from poc_tasks.daily.gcp import resolve_invoice_range
    from poc_tasks.validate import validate_schema, validate_uuid

    args.invoice_month, start, end = resolve_invoice_range(settings, validate_schema(args.schema),
                                                           validate_uuid(args.source_uuid), args.start, args.end)
    args.start, args.end = start.isoformat(), end.isoformat()
