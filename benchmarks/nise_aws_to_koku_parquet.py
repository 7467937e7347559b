#!/usr/bin/env python3
"""Turn a nise AWS Cost and Usage Report into Koku's AWS Parquet and add the 'aws' block to a dataset's scenario.json.

nise is used only as an external generator (``nise report aws ... --aws-s3-bucket-name DIR``); point this script at
the directory it wrote (CSV or CSV.gz files, ``*-Manifest.json``). The steps repeat what Koku's AWS ingestion does,
as read in koku/masu/external/downloader/aws/aws_report_downloader.py (day split), koku/masu/util/aws/common.py
(column sets), koku/masu/util/aws/aws_post_processor.py (converters, tag folding, daily frame) and
koku/masu/processor/parquet/parquet_report_processor.py (chunks, file names); see spec ocp-on-cloud.md §2.1-2.2 and
test-data-and-prior-poc.md §A.7. Nothing is copied from Koku or nise.

1. Downloader: keep only Koku's "recommended" and "optional" CUR columns plus the ``resourceTags*`` /
   ``costCategory*`` columns that hold a value somewhere in the file; read the file in batches of
   PARQUET_PROCESSING_BATCH_SIZE rows as text (pandas' NA strings such as "", "NA", "null" become missing, and
   are written back as ""), and cut each batch by the day of ``identity/TimeInterval`` into
   ``{date}_manifestid-{m}_basefile-{base}_batch-{i}.csv``.
2. Parquet step, per daily CSV (never more than one chunk, since a day file has at most one batch of rows):
   ``bill/BillingPeriod{Start,End}Date`` and ``lineItem/Usage{Start,End}Date`` parsed to tz-aware UTC; the ten
   cost/usage/rate columns through ``safe_float`` (unparseable -> 0.0); the rest text. ``resourceTags/user:*``
   folded into ``resourceTags`` (JSON: keys without the prefix, sorted by column name, empty values dropped),
   ``costCategory/*`` into ``costCategory``; missing required columns added ('' / 0.0); every ``resourceTags/*``
   and ``costCategory/*`` column dropped (also ``aws:createdBy``); names normalised with ``\\W+`` -> ``_``,
   lower-cased. Written raw as ``<stem>_0.parquet`` and as Koku's daily group-by ``<stem>_daily_0.parquet`` under
   ``data/parquet/[daily/]{account}/AWS/[raw/]source={uuid}/year={YYYY}/month={MM}/`` (ms timestamps).
3. scenario.json of the dataset (an OCP dataset, e.g. made by nise_to_koku_parquet.py) gains
   ``"aws": {source_uuid, source_name, payer_account, usage_accounts, enabled_tag_keys, category_keys, ...}``:
   Koku enables every AWS tag key it sees (under its 200-key limit), and every cost-category key.

Only the CUR v1 ("slash") header is handled; nise writes nothing else. ``row_uuid`` is Koku's uuid4 per daily row,
drawn here from a seeded stream so that a rebuild gives the same files.

Usage:
    python benchmarks/nise_aws_to_koku_parquet.py --csv-dir NISE_AWS_DIR --dataset DATASET_ROOT \\
        --source-uuid UUID [--source-name NAME] [--batch-size N] [--manifest-id N] [--overwrite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without the package installed
from koku_csv import normalise  # noqa: E402
from nise_to_koku_parquet import DEFAULT_BATCH_SIZE, _cached, safe_float, write_parquet  # noqa: E402

from poc_tasks.io.layout import provider_prefix  # noqa: E402
from poc_tasks.sample.aws import AWS_DAILY_AGGREGATIONS, AWS_DAILY_KEYS, koku_aws_daily  # noqa: E402
from poc_tasks.sample.cloud_files import uuid_factory  # noqa: E402

# masu/util/aws/common.py: RECOMMENDED_COLUMNS | OPTIONAL_COLS, the CUR columns Koku's downloader keeps.
KEPT_COLUMNS = frozenset({
    "bill/BillingEntity", "bill/BillType", "bill/PayerAccountId", "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate", "bill/InvoiceId", "identity/TimeInterval", "lineItem/LineItemType",
    "lineItem/LegalEntity", "lineItem/LineItemDescription", "lineItem/UsageAccountId", "lineItem/UsageStartDate",
    "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageType", "lineItem/Operation",
    "lineItem/AvailabilityZone", "lineItem/ResourceId", "lineItem/UsageAmount", "lineItem/NormalizationFactor",
    "lineItem/NormalizedUsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedRate", "lineItem/UnblendedCost",
    "lineItem/BlendedRate", "lineItem/BlendedCost", "savingsPlan/SavingsPlanEffectiveCost", "lineItem/TaxType",
    "pricing/publicOnDemandCost", "pricing/publicOnDemandRate", "reservation/AmortizedUpfrontFeeForBillingPeriod",
    "reservation/AmortizedUpfrontCostForUsage", "reservation/RecurringFeeForUsage", "reservation/UnusedQuantity",
    "reservation/UnusedRecurringFee", "pricing/term", "pricing/unit", "product/sku", "product/ProductName",
    "product/productFamily", "product/servicecode", "product/region", "reservation/NumberOfReservations",
    "reservation/UnitsPerReservation", "reservation/StartTime", "reservation/EndTime",
    # optional
    "product/physicalCores", "product/instanceType", "product/vcpu", "product/memory", "product/operatingSystem",
})
OPTIONAL_PREFIXES = ("resourcetags", "costcategory")  # compared lower-cased, as the downloader does
TAG_PREFIX, ALL_TAGS_PREFIX, CATEGORY_PREFIX = "resourceTags/user:", "resourceTags/", "costCategory/"
TIME_INTERVAL = "identity/TimeInterval"

# Converters by lower-cased CUR name (AWSPostProcessor.get_column_converters).
DATE_COLUMNS = frozenset({"bill/billingperiodstartdate", "bill/billingperiodenddate", "lineitem/usagestartdate",
                          "lineitem/usageenddate"})
FLOAT_COLUMNS = frozenset({
    "lineitem/usageamount", "lineitem/normalizationfactor", "lineitem/normalizedusageamount",
    "lineitem/unblendedrate", "lineitem/unblendedcost", "lineitem/blendedrate", "lineitem/blendedcost",
    "pricing/publicondemandcost", "pricing/publicondemandrate", "savingsplan/savingsplaneffectivecost",
})
# reporting/provider/aws/models.py TRINO_REQUIRED_COLUMNS: added with these defaults when the CUR lacks them.
REQUIRED_DEFAULTS: dict[str, object] = {
    "bill/BillingEntity": "", "lineItem/UsageStartDate": pd.NaT, "lineItem/ProductCode": "",
    "product/productFamily": "", "product/ProductName": "", "lineItem/UsageAccountId": "",
    "lineItem/LegalEntity": "", "lineItem/LineItemDescription": "", "lineItem/LineItemType": "",
    "lineItem/AvailabilityZone": "", "product/region": "", "product/instanceType": "", "product/physicalCores": "",
    "product/vcpu": "", "product/memory": "", "product/operatingSystem": "", "pricing/unit": "",
    "lineItem/UsageAmount": 0.0, "lineItem/NormalizationFactor": 0.0, "lineItem/NormalizedUsageAmount": 0.0,
    "lineItem/CurrencyCode": "", "lineItem/UnblendedRate": 0.0, "lineItem/UnblendedCost": 0.0,
    "lineItem/BlendedRate": 0.0, "lineItem/BlendedCost": 0.0, "savingsPlan/SavingsPlanEffectiveCost": 0.0,
    "pricing/publicOnDemandCost": 0.0, "pricing/publicOnDemandRate": 0.0, "lineItem/ResourceId": "",
    "resourceTags": "", "costCategory": "",
}
_STR = pd.StringDtype(storage="pyarrow")


def parse_utc(value: str) -> dt.datetime:
    """CUR timestamps ('2025-10-01T00:00:00Z', '2025-10-01 00:00:00+00:00') -> tz-aware UTC, as ciso8601 gives."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        # ciso8601 raises too, and Koku then fails the whole file
        raise ValueError(f"unparseable CUR timestamp {value!r}") from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


# ----------------------------------------------------------------------------------------------
# Step 1: the downloader's column choice and day split
# ----------------------------------------------------------------------------------------------
def kept_columns(path: Path, batch_size: int) -> list[str]:
    """CUR columns the downloader keeps, in file order: the fixed set plus tag/category columns with a value."""
    header = list(pd.read_csv(path, nrows=0).columns)
    if "lineItem/UsageStartDate" not in header:
        raise SystemExit(f"{path}: not a CUR v1 ('slash' column names) file; only those are handled")
    optional = [c for c in header if c.lower().startswith(OPTIONAL_PREFIXES)]
    non_empty: set[str] = set()
    if optional:
        with pd.read_csv(path, usecols=optional, dtype=_STR, chunksize=batch_size) as reader:
            for chunk in reader:
                non_empty |= {c for c in optional if chunk[c].notna().any()}
    return [c for c in header if c in KEPT_COLUMNS or c in non_empty]


def day_batches(path: Path, columns: list[str], batch_size: int) -> Iterator[tuple[int, str, pd.DataFrame]]:
    """(batch index, day, rows) in file order: the downloader's daily CSVs, NA cells written back as ''."""
    keep = set(columns)
    with pd.read_csv(path, usecols=lambda c: c in keep, dtype=_STR, chunksize=batch_size) as reader:
        for i, chunk in enumerate(reader):
            if chunk.empty:
                continue
            day = chunk[TIME_INTERVAL].str.split("T").str[0]
            for date in sorted(day.dropna().unique()):
                yield i, str(date), chunk[day == date].astype(object).fillna("")


# ----------------------------------------------------------------------------------------------
# Step 2: AWSPostProcessor.process_dataframe on one daily CSV
# ----------------------------------------------------------------------------------------------
def convert_types(df: pd.DataFrame) -> pd.DataFrame:
    """What Koku's read_csv converters make of the text cells."""
    out = {}
    for col in df.columns:
        name = col.lower()
        if name in DATE_COLUMNS:
            parse = _cached(parse_utc)
            try:
                out[col] = pd.to_datetime(df[col].map(parse), utc=True)
            except ValueError as exc:
                raise SystemExit(f"column {col}: {exc}") from exc
        elif name in FLOAT_COLUMNS:
            out[col] = df[col].map(_cached(safe_float)).astype("float64")
        else:
            out[col] = df[col].astype(object)
    return pd.DataFrame(out, index=df.index)


def fold_json(df: pd.DataFrame, prefix: str) -> tuple[pd.Series, set[str]]:
    """One JSON text column from the columns whose name contains `prefix`, as Koku folds tags and categories."""
    cols = sorted(c for c in df.columns if prefix in c)
    keys = [c.replace(prefix, "") for c in cols]
    if not cols:
        return pd.Series("{}", index=df.index, dtype=object), set()
    cache: dict[tuple, str] = {}

    def to_json(values: tuple) -> str:
        try:
            return cache[values]
        except KeyError:
            cache[values] = text = json.dumps({k: v for k, v in zip(keys, values, strict=True) if v})
            return text

    texts = [to_json(v) for v in zip(*(df[c] for c in cols), strict=True)]
    return pd.Series(texts, index=df.index, dtype=object), set(keys)


def post_process(df: pd.DataFrame) -> tuple[pd.DataFrame, set[str], set[str]]:
    """Raw frame with Koku's columns and names; the tag keys and category keys seen."""
    df = convert_types(df)
    tags, tag_keys = fold_json(df, TAG_PREFIX)
    categories, category_keys = fold_json(df, CATEGORY_PREFIX)
    df["resourceTags"] = tags
    df["costCategory"] = categories
    for col in sorted(set(REQUIRED_DEFAULTS) - set(df.columns)):
        default = REQUIRED_DEFAULTS[col]
        df[col] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]") if default is pd.NaT else default
    df = df.drop(columns=[c for c in df.columns if ALL_TAGS_PREFIX in c or CATEGORY_PREFIX in c])
    df = df.rename(columns=normalise)
    missing = [c for c in (*AWS_DAILY_KEYS, *AWS_DAILY_AGGREGATIONS) if c not in df.columns]
    if missing:  # not among Koku's defaulted columns either: its daily group-by fails on such a file too
        raise SystemExit(f"the CUR lacks columns Koku's daily aggregation needs: {', '.join(missing)}")
    return df, tag_keys, category_keys


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def find_cur_files(csv_dir: Path) -> tuple[list[Path], dict]:
    """CUR files in the manifest's order (reportKeys), else sorted; the manifest (nearest to the files)."""
    files = sorted([*csv_dir.rglob("*.csv.gz"), *csv_dir.rglob("*.csv")])
    if not files:
        raise SystemExit(f"{csv_dir}: no CUR CSV files")
    manifests = sorted(csv_dir.rglob("*-Manifest.json"), key=lambda p: (-len(p.parts), str(p)))
    manifest = json.loads(manifests[0].read_text()) if manifests else {}
    order = {Path(k).name: i for i, k in enumerate(manifest.get("reportKeys") or [])}
    files.sort(key=lambda p: (order.get(p.name, len(order)), str(p)))
    return files, manifest


def convert(csv_dir: Path, dataset: Path, source_uuid: str, source_name: str, batch_size: int, manifest_id: int,
            seed: int, overwrite: bool) -> dict:
    scenario_path = dataset / "scenario.json"
    if not scenario_path.exists():
        raise SystemExit(f"{scenario_path} missing: convert the OCP side first (nise_to_koku_parquet.py)")
    scenario = json.loads(scenario_path.read_text())
    account = scenario["account"]
    year, month = scenario["year"], scenario["month"]
    raw_dir = Path(provider_prefix(str(dataset), account, "AWS", source_uuid, year, month, daily=False))
    daily_dir = Path(provider_prefix(str(dataset), account, "AWS", source_uuid, year, month, daily=True))
    for folder in (raw_dir.parents[1], daily_dir.parents[1]):  # source=... of this source, every month
        if folder.exists():
            if not overwrite:
                raise SystemExit(f"{folder} exists; pass --overwrite to replace it")
            shutil.rmtree(folder)

    files, manifest = find_cur_files(csv_dir)
    new_uuid: Callable[[], str] = uuid_factory(seed)
    tag_keys: set[str] = set()
    category_keys: set[str] = set()
    payers: set[str] = set()
    accounts: set[str] = set()
    entries: list[dict] = []
    columns: list[str] = []
    for path in files:
        base_name = path.name.split(".")[0]
        for batch, date, rows in day_batches(path, kept_columns(path, batch_size), batch_size):
            if date[:7] != f"{year}-{month}":
                raise SystemExit(f"{path}: day {date} is outside the dataset's month {year}-{month}")
            raw, keys, cats = post_process(rows)
            tag_keys |= keys
            category_keys |= cats
            payers |= set(raw["bill_payeraccountid"])
            accounts |= set(raw["lineitem_usageaccountid"])
            daily = koku_aws_daily(raw, new_uuid)
            stem = f"{date}_manifestid-{manifest_id}_basefile-{base_name}_batch-{batch}"
            write_parquet(raw, raw_dir / f"{stem}_0.parquet")
            write_parquet(daily, daily_dir / f"{stem}_daily_0.parquet")
            columns = columns or list(raw.columns)
            entries.append({"base": stem, "date": date, "cur": path.name, "rows": len(raw),
                            "daily_rows": len(daily)})
    if not entries:
        raise SystemExit(f"{csv_dir}: the CUR has no rows")
    payers.discard("")
    accounts.discard("")
    if len(payers) != 1:
        raise SystemExit(f"expected one payer account, found {sorted(payers)}")
    days = sorted({e["date"] for e in entries})
    scenario["aws"] = {
        "source_uuid": source_uuid,
        "source_name": source_name,
        "payer_account": payers.pop(),
        "usage_accounts": sorted(accounts),
        # Koku enables every new AWS tag key up to ENABLED_TAG_LIMIT (200) and every cost-category key
        "enabled_tag_keys": sorted(tag_keys)[:200],
        "category_keys": sorted(category_keys),
        "year": year,
        "month": month,
        "start_date": days[0],
        "end_date": days[-1],
        "manifest_id": manifest_id,
        "batch_size": batch_size,
        "raw_columns": columns,
        "generator": {"tool": "nise", "assembly_id": manifest.get("assemblyId"), "row_uuid_seed": seed},
        "files": entries,
    }
    scenario_path.write_text(json.dumps(scenario, indent=1) + "\n")
    return scenario["aws"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv-dir", required=True, type=Path, help="nise AWS output (CUR .csv/.csv.gz, *-Manifest.json)")
    ap.add_argument("--dataset", required=True, type=Path,
                    help="dataset root with an OCP scenario.json; gets data/parquet/.../AWS/... and scenario 'aws'")
    ap.add_argument("--source-uuid", default=None, help="AWS source uuid (default: a new random uuid)")
    ap.add_argument("--source-name", default="AWS source", help="api_provider.name of the AWS source")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                    help="Koku's PARQUET_PROCESSING_BATCH_SIZE: rows per downloader batch")
    ap.add_argument("--manifest-id", type=int, default=1, help="manifest id used in file names (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the row_uuid stream (default 0)")
    ap.add_argument("--overwrite", action="store_true", help="replace this source's AWS Parquet if present")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be positive")
    source_uuid = str(uuid.UUID(args.source_uuid)) if args.source_uuid else str(uuid.uuid4())
    aws = convert(args.csv_dir, args.dataset, source_uuid, args.source_name, args.batch_size, args.manifest_id,
                  args.seed, args.overwrite)
    print(json.dumps({
        "dataset": str(args.dataset), **{k: aws[k] for k in ("source_uuid", "payer_account", "usage_accounts",
                                                              "enabled_tag_keys", "category_keys")},
        "days": [aws["start_date"], aws["end_date"]], "files": len(aws["files"]),
        "raw_rows": sum(f["rows"] for f in aws["files"]), "daily_rows": sum(f["daily_rows"] for f in aws["files"]),
        "raw_columns": len(aws["raw_columns"]),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
