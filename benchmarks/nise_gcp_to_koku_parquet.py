#!/usr/bin/env python3
"""Turn a nise GCP billing export into Koku's GCP Parquet and add the 'gcp' block to a dataset's scenario.json.

nise is used only as an external generator (``nise report gcp -r ... --gcp-bucket-name DIR``, without
``--gcp-report-prefix``, so its files are named ``{YYYYMM}_{etag}_{start}:{end}.csv`` as Koku's local GCP provider
expects); point this script at the directory it wrote. The steps repeat what Koku does with such files, as read in
koku/masu/external/downloader/gcp_local/gcp_local_report_downloader.py (create_daily_archives: the split by
invoice month and partition date), koku/masu/util/gcp/gcp_post_processor.py (converters, daily frame) and
koku/masu/processor/parquet/parquet_report_processor.py (chunks, file names, invoice-month partitions); see spec
ocp-on-cloud.md §2.1, §2.4 and test-data-and-prior-poc.md §A.7. Nothing is copied from Koku or nise.

1. Downloader (Koku's local GCP path): the export is read whole with pandas' default type inference; each
   (``invoice.month``, ``partition_date``) pair in order of appearance becomes the CSV
   ``{invoice month}_{partition date}.csv`` (so numbers and empty cells are rewritten the way pandas writes them).
   Koku's production path (BigQuery) names its files ``{invoice month}_{partition date}_{partition date}_{i}.csv``
   instead, lists the columns in its own order (resource columns before partition_date) and gives tz-aware
   timestamps; poc_tasks.sample.gcp writes that shape.
2. Parquet step, per daily CSV in chunks of PARQUET_PROCESSING_BATCH_SIZE rows: ``usage_start_time``,
   ``usage_end_time``, ``export_time`` parsed as ciso8601 does (nise writes no offset, so **timestamp[ms] without
   time zone**); ``cost``, ``currency_conversion_rate``, ``usage.amount``, ``usage.amount_in_pricing_units`` through
   safe_float; ``labels``, ``system_labels``, ``project.labels`` from ``[{"key": k, "value": v}, ...]`` to one JSON
   object (json.dumps, export order, '{}' for empty or unparseable text); ``credits`` to the JSON of its **first**
   element only ('{}' when none; nise writes a Python-repr list that Koku reads through its quote-replacing
   fallback); every other column text, '' for "no value"; names normalised (``\\W+`` -> ``_``, lower case, e.g.
   ``usage.amount_in_pricing_units`` -> ``usage_amount_in_pricing_units``). Raw chunk ``<stem>_{i}.parquet`` and
   Koku's daily group-by ``<stem>_daily_{i}.parquet`` (poc_tasks.sample.gcp.koku_gcp_daily: daily_credits = the
   kept credit's amount, sums and maxima per (invoice month, account, project, day, service, sku, system labels,
   labels, cost type, region, resource name), a seeded stand-in for Koku's uuid4 row_uuid) go under
   ``data/parquet/[daily/]{account}/GCP/[raw/]source={uuid}/year={YYYY}/month={MM}/`` where YYYY/MM is the
   **invoice month** taken from the file name: usage of one month can sit in two (or three) invoice-month partitions.
3. scenario.json of the dataset gains ``"gcp": {source_uuid, source_name, enabled_tag_keys, tag_keys_seen, ...}``.
   Koku records every GCP label key it sees *disabled* (populate_enabled_tag_rows_with_false); ``enabled_tag_keys``
   are the keys a user switched on afterwards (``--enabled-keys``).

Usage:
    python benchmarks/nise_gcp_to_koku_parquet.py --csv-dir NISE_GCP_DIR --dataset DATASET_ROOT \\
        --source-uuid UUID [--source-name NAME] [--enabled-keys k1,k2] [--batch-size N] [--overwrite]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without the package installed
from koku_csv import normalise, parse_ciso8601, read_scenario, source_dirs, write_scenario  # noqa: E402
from nise_to_koku_parquet import DEFAULT_BATCH_SIZE, safe_float, write_parquet  # noqa: E402

from poc_tasks.sample.cloud_files import uuid_factory  # noqa: E402
from poc_tasks.sample.gcp import koku_gcp_daily  # noqa: E402

# GCPPostProcessor.get_column_converters, by lower-cased export name
TIMESTAMP_COLUMNS = frozenset({"usage_start_time", "usage_end_time", "export_time"})
FLOAT_COLUMNS = frozenset({"cost", "currency_conversion_rate", "usage.amount", "usage.amount_in_pricing_units"})
LABEL_COLUMNS = frozenset({"project.labels", "labels", "system_labels"})


def gcp_labels(text: str) -> str:
    """A [{key, value}, ...] list as one JSON object (json.dumps, list order); '' or unparseable JSON -> '{}'."""
    labels: dict = {}
    if text:
        try:
            labels = {entry.get("key"): entry.get("value") for entry in json.loads(text)}
        except json.JSONDecodeError:
            pass
    return json.dumps(labels)


def gcp_credits(text: str) -> str:
    """The first credit of the list as JSON text, '{}' when none. Text that is not JSON is read once more with
    single quotes made double and None made "None" (a Python-repr list, as nise writes it)."""
    credits = None
    try:
        credits = json.loads(text)
    except json.JSONDecodeError:
        try:
            credits = json.loads(text.replace("'", '"').replace("None", '"None"'))
        except json.JSONDecodeError:
            pass
    return json.dumps(credits[0] if credits else {})


def converters(header: list[str]) -> dict[str, Callable[[str], object]]:
    out: dict[str, Callable[[str], object]] = {}
    for col in header:
        name = col.lower()
        out[col] = (parse_ciso8601 if name in TIMESTAMP_COLUMNS else safe_float if name in FLOAT_COLUMNS
                    else gcp_labels if name in LABEL_COLUMNS else gcp_credits if name == "credits" else str)
    return out


# ----------------------------------------------------------------------------------------------
# Step 1: Koku's local GCP downloader: one CSV per (invoice month, partition date)
# ----------------------------------------------------------------------------------------------
def day_csvs(path: Path) -> Iterator[tuple[str, str, str]]:
    """(invoice month YYYYMM, partition date, CSV text) in the downloader's order."""
    frame = pd.read_csv(path)  # default type inference, as the local downloader reads it
    for column in ("invoice.month", "partition_date", "usage_start_time"):
        if column not in frame.columns:
            raise SystemExit(f"{path}: no {column!r} column: not a GCP billing export")
    for invoice_month in frame["invoice.month"].unique():
        invoice_rows = frame[frame["invoice.month"] == invoice_month]
        for partition_date in invoice_rows["partition_date"].unique():
            rows = invoice_rows[invoice_rows["partition_date"] == partition_date]
            yield f"{invoice_month}", f"{partition_date}", rows.to_csv(index=False)


# ----------------------------------------------------------------------------------------------
# Step 2: GCPPostProcessor.process_dataframe on one daily CSV
# ----------------------------------------------------------------------------------------------
def convert_day(text: str, batch_size: int, new_uuid: Callable[[], str]
                ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, set[str]]]:
    """(raw chunk, daily chunk, label keys seen) per chunk of the daily CSV."""
    header = list(pd.read_csv(io.StringIO(text), nrows=0).columns)
    with pd.read_csv(io.StringIO(text), converters=converters(header), chunksize=batch_size) as reader:
        for chunk in reader:
            if chunk.empty:
                continue
            raw = chunk.rename(columns=normalise)
            keys: set[str] = set()
            for labels in raw["labels"].unique():
                keys.update(json.loads(labels))
            yield raw, koku_gcp_daily(raw, new_uuid), keys


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def find_exports(csv_dir: Path) -> list[Path]:
    files = sorted(p for p in csv_dir.rglob("*.csv") if ":" in p.stem)
    if not files:
        raise SystemExit(f"{csv_dir}: no GCP export named {{YYYYMM}}_{{etag}}_{{start}}:{{end}}.csv (run nise without "
                         "--gcp-report-prefix)")
    return files


def convert(csv_dir: Path, dataset: Path, source_uuid: str, source_name: str, enabled_keys: list[str],
            batch_size: int, manifest_id: int, seed: int, overwrite: bool) -> dict:
    scenario = read_scenario(dataset)
    account = scenario["account"]
    raw_root, daily_root = source_dirs(dataset, account, "GCP", source_uuid, overwrite)
    new_uuid = uuid_factory(seed)
    label_keys: set[str] = set()
    accounts: set[str] = set()
    projects: set[str] = set()
    usage_days: set[str] = set()
    entries: list[dict] = []
    raw_columns: list[str] = []
    for path in find_exports(csv_dir):
        for invoice_month, partition_date, text in day_csvs(path):
            if len(invoice_month) != 6 or not invoice_month.isdigit():
                raise SystemExit(f"{path}: invoice month {invoice_month!r} is not YYYYMM")
            part = Path(f"year={invoice_month[:4]}") / f"month={invoice_month[4:]}"
            stem = f"{invoice_month}_{partition_date}"
            rows = daily_rows = 0
            for i, (raw, daily, keys) in enumerate(convert_day(text, batch_size, new_uuid)):
                write_parquet(raw, raw_root / part / f"{stem}_{i}.parquet")
                write_parquet(daily, daily_root / part / f"{stem}_daily_{i}.parquet")
                label_keys |= keys
                accounts |= set(raw["billing_account_id"])
                projects |= set(raw["project_id"])
                usage_days |= {str(d) for d in raw["usage_start_time"].dt.date.unique()}
                raw_columns = raw_columns or list(raw.columns)
                rows += len(raw)
                daily_rows += len(daily)
            entries.append({"base": stem, "invoice_month": invoice_month, "partition_date": partition_date,
                            "export": path.name, "rows": rows, "daily_rows": daily_rows})
    if not entries:
        raise SystemExit(f"{csv_dir}: the export has no rows")
    unknown = sorted(set(enabled_keys) - label_keys)
    if unknown:
        raise SystemExit(f"--enabled-keys: {', '.join(unknown)} not among the export's label keys "
                         f"{sorted(label_keys)}")
    days = sorted(usage_days)
    scenario["gcp"] = {
        "source_uuid": source_uuid,
        "source_name": source_name,
        "enabled_tag_keys": sorted(enabled_keys),  # switched on by a user; Koku adds new keys disabled
        "tag_keys_seen": sorted(label_keys),
        "billing_account_ids": sorted(accounts - {""}),
        "project_ids": sorted(projects - {""}),
        "invoice_months": sorted({e["invoice_month"] for e in entries}),
        "start_date": days[0],
        "end_date": days[-1],
        "manifest_id": manifest_id,
        "batch_size": batch_size,
        "raw_columns": raw_columns,
        "generator": {"tool": "nise", "exports": sorted({e["export"] for e in entries}), "row_uuid_seed": seed,
                      "koku_path": "gcp_local"},
        "files": entries,
    }
    write_scenario(dataset, scenario)
    return scenario["gcp"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv-dir", required=True, type=Path, help="nise GCP output ({YYYYMM}_{etag}_{start}:{end}.csv)")
    ap.add_argument("--dataset", required=True, type=Path,
                    help="dataset root with an OCP scenario.json; gets data/parquet/.../GCP/... and scenario 'gcp'")
    ap.add_argument("--source-uuid", default=None, help="GCP source uuid (default: a new random uuid)")
    ap.add_argument("--source-name", default="GCP source", help="api_provider.name of the GCP source")
    ap.add_argument("--enabled-keys", default="", help="comma-separated GCP label keys a user enabled")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                    help="Koku's PARQUET_PROCESSING_BATCH_SIZE: rows per chunk")
    ap.add_argument("--manifest-id", type=int, default=1, help="manifest id recorded in scenario.json (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the row_uuid stream (default 0)")
    ap.add_argument("--overwrite", action="store_true", help="replace this source's GCP Parquet if present")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be positive")
    source_uuid = str(uuid.UUID(args.source_uuid)) if args.source_uuid else str(uuid.uuid4())
    keys = [k for k in args.enabled_keys.split(",") if k]
    gcp = convert(args.csv_dir, args.dataset, source_uuid, args.source_name, keys, args.batch_size,
                  args.manifest_id, args.seed, args.overwrite)
    print(json.dumps({
        "dataset": str(args.dataset), **{k: gcp[k] for k in ("source_uuid", "enabled_tag_keys", "tag_keys_seen",
                                                              "invoice_months")},
        "days": [gcp["start_date"], gcp["end_date"]], "files": len(gcp["files"]),
        "raw_rows": sum(f["rows"] for f in gcp["files"]), "daily_rows": sum(f["daily_rows"] for f in gcp["files"]),
        "raw_columns": len(gcp["raw_columns"]),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
