#!/usr/bin/env python3
"""Turn a nise Azure cost export into Koku's Azure Parquet and add the 'azure' block to a dataset's scenario.json.

nise is used only as an external generator (``nise report azure ... --azure-container-name DIR``); point this script
at the directory it wrote (``costreport_<uuid>.csv`` files). The steps repeat what Koku's Azure ingestion does, as
read in koku/masu/external/downloader/azure/azure_report_downloader.py (create_daily_archives: day split),
koku/masu/util/azure/azure_post_processor.py (converters, renames, required columns, row_uuid),
koku/reporting/provider/azure/models.py (TRINO_REQUIRED_COLUMNS) and
koku/masu/processor/parquet/parquet_report_processor.py (chunks, file names, no daily table for Azure); see spec
ocp-on-cloud.md §2.1, §2.3 and test-data-and-prior-poc.md §A.7. Nothing is copied from Koku or nise.

1. Downloader: the export is read in batches of PARQUET_PROCESSING_BATCH_SIZE rows, every column as text
   (pandas' NA strings such as "", "NA", "null" become missing and are written back as ""), the ``Date`` column
   parsed; each batch is sorted by date (pandas' sort_index, so rows of one day are not kept in file order), rows
   outside [first day of the bill month, today] are dropped, and each date of the batch becomes the CSV
   ``{date}_manifestid-{m}_basefile-{export name}_batch-{i}.csv`` (dates written back as YYYY-MM-DD).
2. Parquet step, per daily CSV (a day file has at most one batch of rows, so one chunk ``_0``): ``Date`` and
   ``BillingPeriod{Start,End}Date`` parsed as ciso8601 does (naive when the text has no offset; MM/DD/YYYY also
   accepted), so the timestamps are **timestamp[ms] without time zone** for nise and for most real exports;
   ``Quantity``, ``ResourceRate``, ``CostInBillingCurrency``, ``EffectivePrice``, ``UnitPrice``, ``PayGPrice``
   through safe_float (unparseable -> 0.0); ``Tags`` and ``AdditionalInfo`` rewritten as json.dumps text (a JSON
   object as is, in the export's key order and with its value types, e.g. ``"com_redhat_rhel": 7``; the legacy
   ``"k": "v","k2": "v2"`` form parsed; anything else ``{}``); every other column text, '' for "no value". Names
   normalised (``\\W+`` -> ``_``, lower case), then ``resourcegroupname`` -> ``resourcegroup``,
   ``instancename`` -> ``resourceid``, ``product`` -> ``productname``; the TRINO_REQUIRED_COLUMNS the export lacks
   are appended with their defaults ('' / 0.0 / NaT) -- Koku appends them in set order, which varies between
   processes, so they come here in sorted order; then ``row_uuid`` (Koku's uuid4 per row, drawn here from a seeded
   stream so a rebuild gives the same files). Written as ``<stem>_0.parquet`` under
   ``data/parquet/{account}/Azure/source={uuid}/year={YYYY}/month={MM}/`` (ms timestamps). No daily file: Koku's
   OCP-on-Azure SQL reads this raw table (its "daily" table is the same table).
3. scenario.json of the dataset (an OCP dataset, e.g. made by nise_to_koku_parquet.py) gains
   ``"azure": {source_uuid, source_name, enabled_tag_keys, subscription_guids, ...}``: Koku enables every Azure
   tag key it sees (populate_enabled_tag_rows_with_limit, up to 200 enabled keys).

Usage:
    python benchmarks/nise_azure_to_koku_parquet.py --csv-dir NISE_AZURE_DIR --dataset DATASET_ROOT \\
        --source-uuid UUID [--source-name NAME] [--batch-size N] [--manifest-id N] [--today YYYY-MM-DD] [--overwrite]
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from poc_tasks.sample.azure import AZURE_REQUIRED_DEFAULTS  # noqa: E402
from poc_tasks.sample.cloud_files import daily_split_stem, uuid_factory  # noqa: E402

# AzurePostProcessor.COL_TRANSLATION, applied to the normalised names.
RENAMES = {"resourcegroupname": "resourcegroup", "instancename": "resourceid", "product": "productname"}
DATE_COLUMNS = frozenset({"date", "billingperiodstartdate", "billingperiodenddate"})  # lower-cased export names
FLOAT_COLUMNS = frozenset({"quantity", "resourcerate", "costinbillingcurrency", "effectiveprice", "unitprice",
                           "paygprice"})
JSON_COLUMNS = frozenset({"tags", "additionalinfo"})
DATE_HEADERS = ("Date", "date")  # the downloader's date column; 'UsageDateTime' marks the unsupported legacy schema
_STR = pd.StringDtype(storage="pyarrow")


def azure_date(text: str) -> object:
    """Koku's Azure date converter: ISO 8601 (as ciso8601 parses it), else MM/DD/YYYY; '' -> NaT."""
    if not text:
        return pd.NaT
    try:
        return parse_ciso8601(text)
    except ValueError:
        month, day, year = text.split("/")[:3]  # a text that is neither raises, and Koku fails the file too
        return parse_ciso8601(year + month + day)


def azure_json(text: str) -> str:
    """Tags / AdditionalInfo as json.dumps text. A text with '{' is JSON (kept as parsed, whatever its type); else
    the legacy form '"k": "v","k2": "v2"', read pair by pair up to the first pair that is not 'key: value'.
    Unparseable text gives what was read so far ('{}' when nothing)."""
    parsed: object = {}
    try:
        if "{" in text:
            parsed = json.loads(text)
        else:
            for pair in text.split('","'):
                key, value = pair.split(": ")
                parsed[key.strip('"')] = value.strip('"')  # type: ignore[index]
    except (ValueError, TypeError):
        pass
    return json.dumps(parsed)


def converters(header: list[str]) -> dict[str, Callable[[str], object]]:
    """AzurePostProcessor.get_column_converters: by lower-cased export name, str for the rest."""
    out: dict[str, Callable[[str], object]] = {}
    for col in header:
        name = col.lower()
        out[col] = (azure_date if name in DATE_COLUMNS else safe_float if name in FLOAT_COLUMNS
                    else azure_json if name in JSON_COLUMNS else str)
    return out


# ----------------------------------------------------------------------------------------------
# Step 1: the downloader's day split
# ----------------------------------------------------------------------------------------------
def date_column(path: Path) -> str:
    header = list(pd.read_csv(path, nrows=0).columns)
    for name in DATE_HEADERS:
        if name in header:
            return name
    raise SystemExit(f"{path}: no 'Date' column (Koku skips legacy 'UsageDateTime' exports and unknown ones)")


def day_csvs(path: Path, batch_size: int, first_day: dt.date, today: dt.date) -> Iterator[tuple[int, str, str]]:
    """(batch index, YYYY-MM-DD, daily CSV text) in the downloader's order."""
    date_col = date_column(path)
    with pd.read_csv(path, chunksize=batch_size, parse_dates=[date_col], dtype=_STR) as reader:
        for i, batch in enumerate(reader):
            if batch.empty:
                continue
            if not pd.api.types.is_datetime64_any_dtype(batch[date_col]):
                raise SystemExit(f"{path}: batch {i}: column {date_col} holds values that are not dates")
            batch = batch.set_index(date_col, drop=False).sort_index()
            batch = batch.loc[pd.Timestamp(first_day):pd.Timestamp(today)]  # Koku: process_date .. today
            for date in batch[date_col].unique():
                day = batch.loc[[date]]
                if not day.empty:
                    yield i, pd.Timestamp(date).strftime("%Y-%m-%d"), day.to_csv(index=False)


# ----------------------------------------------------------------------------------------------
# Step 2: AzurePostProcessor.process_dataframe on one daily CSV
# ----------------------------------------------------------------------------------------------
def post_process(df: pd.DataFrame, new_uuid: Callable[[], str]) -> tuple[pd.DataFrame, set[str]]:
    """Raw frame with Koku's names and columns; the tag keys seen."""
    names = [RENAMES.get(normalise(c), normalise(c)) for c in df.columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:  # e.g. both ResourceId and InstanceName: Koku's Parquet would carry the name twice
        raise SystemExit(f"the export maps several columns to {', '.join(duplicates)}")
    df = df.set_axis(names, axis=1)
    missing = sorted(set(AZURE_REQUIRED_DEFAULTS) - set(df.columns))
    df = df.assign(**{k: AZURE_REQUIRED_DEFAULTS[k] for k in missing})
    keys: set[str] = set()
    for text in df["tags"].unique():
        if pd.notna(text):
            keys.update(json.loads(text))
    df["row_uuid"] = [new_uuid() for _ in range(len(df))]
    return df, keys


def convert_day(text: str, batch_size: int, new_uuid: Callable[[], str]) -> Iterator[tuple[pd.DataFrame, set[str]]]:
    header = list(pd.read_csv(io.StringIO(text), nrows=0).columns)
    with pd.read_csv(io.StringIO(text), converters=converters(header), chunksize=batch_size) as reader:
        for chunk in reader:
            if not chunk.empty:
                yield post_process(chunk, new_uuid)


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def find_exports(csv_dir: Path) -> list[Path]:
    files = sorted([*csv_dir.rglob("*.csv"), *csv_dir.rglob("*.csv.gz")])
    if not files:
        raise SystemExit(f"{csv_dir}: no Azure export CSV files")
    return files


def convert(csv_dir: Path, dataset: Path, source_uuid: str, source_name: str, batch_size: int, manifest_id: int,
            seed: int, today: dt.date, overwrite: bool) -> dict:
    scenario = read_scenario(dataset)
    account, year, month = scenario["account"], scenario["year"], scenario["month"]
    raw_root, _ = source_dirs(dataset, account, "Azure", source_uuid, overwrite)
    raw_dir = raw_root / f"year={year}" / f"month={month}"
    first_day = dt.date(int(year), int(month), 1)
    new_uuid = uuid_factory(seed)
    tag_keys: set[str] = set()
    subscriptions: set[str] = set()
    entries: list[dict] = []
    columns: list[str] = []
    for path in find_exports(csv_dir):
        base_name = path.name.split(".")[0]
        for batch, date, text in day_csvs(path, batch_size, first_day, today):
            if date[:7] != f"{year}-{month}":
                raise SystemExit(f"{path}: day {date} is outside the dataset's month {year}-{month}")
            stem = daily_split_stem(date, manifest_id, base_name, batch)
            rows = 0
            for chunk, (raw, keys) in enumerate(convert_day(text, batch_size, new_uuid)):
                write_parquet(raw, raw_dir / f"{stem}_{chunk}.parquet")
                tag_keys |= keys
                subscriptions |= set(raw["subscriptionid"].where(raw["subscriptionid"] != "", raw["subscriptionguid"]))
                columns = columns or list(raw.columns)
                rows += len(raw)
            entries.append({"base": stem, "date": date, "export": path.name, "rows": rows})
    if not entries:
        raise SystemExit(f"{csv_dir}: the export has no rows in {year}-{month} up to {today}")
    subscriptions.discard("")
    days = sorted({e["date"] for e in entries})
    scenario["azure"] = {
        "source_uuid": source_uuid,
        "source_name": source_name,
        # populate_enabled_tag_rows_with_limit: every key seen is enabled while fewer than 200 keys are enabled
        "enabled_tag_keys": sorted(tag_keys),
        "subscription_guids": sorted(subscriptions),
        "year": year,
        "month": month,
        "start_date": days[0],
        "end_date": days[-1],
        "manifest_id": manifest_id,
        "batch_size": batch_size,
        "raw_columns": columns,
        "generator": {"tool": "nise", "exports": sorted({e["export"] for e in entries}), "row_uuid_seed": seed},
        "files": entries,
    }
    write_scenario(dataset, scenario)
    return scenario["azure"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv-dir", required=True, type=Path, help="nise Azure output (costreport_*.csv)")
    ap.add_argument("--dataset", required=True, type=Path,
                    help="dataset root with an OCP scenario.json; gets data/parquet/.../Azure/... and scenario 'azure'")
    ap.add_argument("--source-uuid", default=None, help="Azure source uuid (default: a new random uuid)")
    ap.add_argument("--source-name", default="Azure source", help="api_provider.name of the Azure source")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                    help="Koku's PARQUET_PROCESSING_BATCH_SIZE: rows per downloader batch")
    ap.add_argument("--manifest-id", type=int, default=1, help="manifest id used in file names (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the row_uuid stream (default 0)")
    ap.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today(),
                    help="processing day: the downloader drops rows dated after it (default: today)")
    ap.add_argument("--overwrite", action="store_true", help="replace this source's Azure Parquet if present")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be positive")
    source_uuid = str(uuid.UUID(args.source_uuid)) if args.source_uuid else str(uuid.uuid4())
    azure = convert(args.csv_dir, args.dataset, source_uuid, args.source_name, args.batch_size, args.manifest_id,
                    args.seed, args.today, args.overwrite)
    print(json.dumps({
        "dataset": str(args.dataset), **{k: azure[k] for k in ("source_uuid", "enabled_tag_keys",
                                                                "subscription_guids")},
        "days": [azure["start_date"], azure["end_date"]], "files": len(azure["files"]),
        "raw_rows": sum(f["rows"] for f in azure["files"]), "raw_columns": len(azure["raw_columns"]),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
