"""OCP on AWS: everything specific to AWS, as the provider module of the one OCP-on-cloud run (cloud/flow.py).

The CUR Parquet Koku writes, the matched-line columns, EBS capacity, the tenant rows AWS's ingestion makes (bill,
account aliases), Koku's matched-tag discovery, the day's attribution in parts, the project rows, the eight UI
tables, the tag tables and the cost-category summary finalize writes.

Inputs (spec ocp-on-cloud.md §2.1-2.2): ``aws_line_items_daily`` (one row per resource, day and CUR key, with a
``row_uuid``) under ``data/parquet/daily/{account}/AWS/raw/source=/year=/month=/`` and the hourly
``aws_line_items`` under ``data/parquet/{account}/AWS/source=/year=/month=/`` (only for EBS capacity). Both are
read a day at a time by ``lineitem_usagestartdate``.

:func:`daily_temp` is Koku's step 1 output for the lines of one day (``managed_aws_openshift_daily_temp``):
derived columns, resource-id match, tag match; :func:`ebs_capacities` is step 2's disk capacity.

A chunk's first pass (:func:`pass_one`) reads resource ids (and tag texts when the matched tags must be discovered
from the Parquet): which lines can match, the EBS capacity of each disk and day, each disk's total PV capacity over
the chunk. Then per day the matched lines are attributed in parts of about POC_BUCKET_ROWS step-2 rows
(:func:`day_rows`), so that memory stays bounded on big clusters.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud import project, tenant
from poc_tasks.cloud.attribution import CloudProfile
from poc_tasks.cloud.frames import mapped_once, nullif_empty, renamed_texts, text_column
from poc_tasks.cloud.jsontext import candidate_string
from poc_tasks.cloud.matching import (
    SuffixMatcher,
    contained_pairs,
    label_pairs,
    matched_tags_from_pairs,
    step1_lines,
)
from poc_tasks.cloud.ocp_input import ocp_label_texts, read_ocp_rows
from poc_tasks.cloud.outputs import CostTerm, UiTable
from poc_tasks.cloud.provider import ChunkContext, ChunkState, DaySources, bucket_rows, line_parts, module_provider
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.cloud.tag_summary import TagTables
from poc_tasks.db.connection import qualified
from poc_tasks.db.tables_aws import OCPAWS_PROJECT_TABLE, OCPAWS_TAGS_SUMMARY
from poc_tasks.errors import InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource, line_columns
from poc_tasks.validate import parse_date

__all__ = [
    "COSTS",
    "MARKUPS",
    "CLOUD_ATTRIBUTES",
    "open_sources",
    "daily_temp",
    "ebs_capacities",
    "hours_in_month",
    "round_half_away",
    "PROFILE",
    "UI_TABLES",
    "PROVIDER",
]

Connection = psycopg2.extensions.connection

TIME = "lineitem_usagestartdate"
# The four cost columns Koku carries, each with its markup column.
COSTS = ("unblended_cost", "blended_cost", "savingsplan_effective_cost", "calculated_amortized_cost")
MARKUPS = {"unblended_cost": "markup_cost", "blended_cost": "markup_cost_blended",
           "savingsplan_effective_cost": "markup_cost_savingsplan",
           "calculated_amortized_cost": "markup_cost_amortized"}
# Cloud columns that travel unchanged from a matched line to every row attributed from it.
CLOUD_ATTRIBUTES = ("resource_id", "product_code", "product_family", "instance_type", "usage_account_id",
                    "availability_zone", "region", "unit", "currency_code")

DAILY_COLUMNS = line_columns(
    TIME,
    "row_uuid lineitem_resourceid bill_billingentity bill_payeraccountid product_productname "
    "lineitem_productcode lineitem_usageaccountid lineitem_availabilityzone product_productfamily "
    "product_instancetype product_region pricing_unit resourcetags costcategory lineitem_usageamount "
    "lineitem_usagetype lineitem_operation lineitem_currencycode lineitem_lineitemtype "
    "lineitem_unblendedcost lineitem_blendedcost savingsplan_savingsplaneffectivecost",
    numbers=frozenset({"lineitem_usageamount", "lineitem_unblendedcost", "lineitem_blendedcost",
                       "savingsplan_savingsplaneffectivecost"}),
    optional=frozenset({"bill_payeraccountid"}),
)
RAW_COLUMNS = [
    ColumnSpec(TIME, TIMESTAMP),
    ColumnSpec("lineitem_resourceid", STRING),
    ColumnSpec("lineitem_unblendedcost", NUMBER),
    ColumnSpec("lineitem_unblendedrate", NUMBER),
]
TEMP_COLUMNS = ["row_uuid", "resource_id", "product_code", "usage_start", "usage_account_id", "availability_zone",
                "product_family", "instance_type", "region", "unit", "tags", "aws_cost_category", "usage_amount",
                "data_transfer_direction", "currency_code", *COSTS, "resource_id_matched", "matched_tag"]


def open_sources(root: str, account: str, source_uuid: str, year: str, month: str,
                     storage_options: dict[str, Any] | None = None,
                     index: dict[str, Any] | None = None) -> DaySources:
    """The AWS source-month's daily and raw Parquet in Koku's layout; no daily file is MissingInputData."""
    fs = filesystem(root, storage_options)
    daily_dir = provider_prefix(root, account, "AWS", source_uuid, year, month, daily=True)
    raw_dir = provider_prefix(root, account, "AWS", source_uuid, year, month, daily=False)
    index = index or {}
    daily = ParquetSource(fs, list_parquet(fs, daily_dir), DAILY_COLUMNS, "aws_line_items_daily",
                          time_column=TIME, index=index.get("daily"))
    raw = ParquetSource(fs, list_parquet(fs, raw_dir), RAW_COLUMNS, "aws_line_items", time_column=TIME,
                        index=index.get("raw"))
    if not daily.files:
        raise MissingInputData(f"no aws_line_items_daily Parquet for AWS source {source_uuid} {year}-{month} "
                               f"under {daily_dir}")
    return DaySources({(year, month): daily}, raw)


def _contains_lower(col: pd.Series, needle: str) -> np.ndarray:
    return col.str.lower().str.contains(needle, regex=False, na=False).to_numpy(dtype=bool)


def transfer_direction(product_code: pd.Series, family: pd.Series, usage_type: pd.Series,
                       operation: pd.Series) -> pd.Series:
    """'IN' / 'OUT' for EC2 data-transfer lines (Koku's order of tests), NULL otherwise."""
    network = ((product_code == "AmazonEC2") & (family == "Data Transfer")).fillna(False).to_numpy(dtype=bool)
    regional = _contains_lower(usage_type, "regional-bytes")
    choices = [
        _contains_lower(usage_type, "in-bytes"),
        _contains_lower(usage_type, "out-bytes"),
        regional & _contains_lower(operation, "-in"),
        regional & _contains_lower(operation, "-out"),
    ]
    out = np.select(choices, ["IN", "OUT", "IN", "OUT"], default=None)
    return pd.Series(np.where(network, out, None), index=product_code.index, dtype=object)


def product_code(billing_entity: pd.Series, product_name: pd.Series, code: pd.Series) -> pd.Series:
    """Marketplace lines are named by their product name (if any), others by lineitem_productcode; '' is NULL."""
    name, code_n = nullif_empty(product_name), nullif_empty(code)
    marketplace = (billing_entity == "AWS Marketplace").fillna(False).to_numpy(dtype=bool)
    return pd.Series(np.where(marketplace, name.where(name.notna(), code_n), code_n), index=code.index,
                     dtype=object)


def costs(line_type: pd.Series, unblended: pd.Series, blended: pd.Series,
          savingsplan: pd.Series) -> dict[str, np.ndarray]:
    """The four cost columns of a matched line (COST-5098: SavingsPlanCoveredUsage shows no unblended cost;
    amortized = unblended for Tax and Usage lines, the savings-plan effective cost for every other type)."""
    covered = (line_type == "SavingsPlanCoveredUsage").fillna(False).to_numpy(dtype=bool)
    tax_or_usage = line_type.isin(["Tax", "Usage"]).to_numpy(dtype=bool)
    u, b, s = (c.to_numpy(dtype=float) for c in (unblended, blended, savingsplan))
    return {
        "unblended_cost": np.where(covered, 0.0, u),
        "blended_cost": np.where(covered, 0.0, b),
        "savingsplan_effective_cost": s,
        "calculated_amortized_cost": np.where(tax_or_usage, u, s),
    }


# step 1's text columns: {temp column: CUR column}, as text / with '' as NULL
_TEXTS = {"row_uuid": "row_uuid", "usage_account_id": "lineitem_usageaccountid", "aws_cost_category": "costcategory"}
_NULLIF = dict(availability_zone="lineitem_availabilityzone", product_family="product_productfamily",
               instance_type="product_instancetype", region="product_region", unit="pricing_unit",
               currency_code="lineitem_currencycode")


def daily_temp(day_table: pa.Table, matcher: SuffixMatcher, candidates: list[str],
               enabled_aws_keys: Iterable[str], path_hint: str = "aws_line_items_daily") -> pd.DataFrame:
    """Koku's step 1 for one day of daily CUR lines: the lines that belong to the cluster, in the temp shape.

    A line is kept when its resource id ends with a node / volume id (`matcher`; resource_id_matched) or, if
    not, when a candidate occurs in its raw tag text (matched_tag). `tags` keeps only the enabled AWS keys and the
    openshift_* keys. A tag text that is not a JSON object raises InputFileError naming the column.
    """
    df = day_table.to_pandas()
    if df.empty:
        return pd.DataFrame(columns=TEMP_COLUMNS)
    rid = text_column(df["lineitem_resourceid"])
    resource_matched = mapped_once(rid, matcher.matches).astype(bool).to_numpy()
    keep, hits, tags = step1_lines(resource_matched, text_column(df["resourcetags"]), candidates, enabled_aws_keys,
                                   path_hint, "resourcetags")
    df, rid, resource_matched = df[keep], rid[keep], resource_matched[keep]
    out = pd.DataFrame({
        **renamed_texts(df, _TEXTS, _NULLIF),
        "resource_id": rid.where(rid != "", None),
        "product_code": product_code(df["bill_billingentity"], df["product_productname"], df["lineitem_productcode"]),
        "usage_start": df[TIME].dt.date,
        "tags": tags,
        "usage_amount": df["lineitem_usageamount"].to_numpy(dtype=float),
        "data_transfer_direction": transfer_direction(df["lineitem_productcode"], df["product_productfamily"],
                                                      df["lineitem_usagetype"], df["lineitem_operation"]),
        **costs(df["lineitem_lineitemtype"], df["lineitem_unblendedcost"], df["lineitem_blendedcost"],
                df["savingsplan_savingsplaneffectivecost"]),
        "resource_id_matched": resource_matched,
        "matched_tag": hits,
    })
    return out.reset_index(drop=True)[TEMP_COLUMNS]


def hours_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1] * 24


def round_half_away(x: float) -> float:
    """Trino's round(double): half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def ebs_capacities(raw: ParquetSource, day: dt.date, resource_ids: Iterable[str]) -> dict[str, int]:
    """Step 2's disk capacity in GiB for the given resources on one day, from the hourly lines.

    capacity = round(max(unblended cost) / (max(unblended rate) / hours in the month)); only capacity > 0 is
    kept, as an integer. A disk with zero rate and non-zero cost (an infinite capacity, on which Koku's insert
    into the integer column fails) is left out: it is then attributed like any other resource.
    """
    wanted = sorted({r for r in resource_ids if r})
    if not wanted:
        return {}
    hours = hours_in_month(day)
    value_set = pa.array(wanted, type=pa.string())
    parts = []
    for _path, tbl in raw.read_day(day, ["lineitem_resourceid", "lineitem_unblendedcost", "lineitem_unblendedrate"]):
        tbl = tbl.filter(pc.is_in(tbl.column("lineitem_resourceid"), value_set=value_set))
        if tbl.num_rows:
            parts.append(tbl.group_by("lineitem_resourceid").aggregate(
                [("lineitem_unblendedcost", "max"), ("lineitem_unblendedrate", "max")]))
    if not parts:
        return {}
    maxima = pa.concat_tables(parts).group_by("lineitem_resourceid").aggregate(
        [("lineitem_unblendedcost_max", "max"), ("lineitem_unblendedrate_max", "max")]).to_pylist()
    out: dict[str, int] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for row in maxima:
            cost, rate = row["lineitem_unblendedcost_max_max"], row["lineitem_unblendedrate_max_max"]
            if cost is None or rate is None:
                continue
            value = float(np.float64(cost) / (np.float64(rate) / hours))
            if not math.isfinite(value):
                continue
            value = round_half_away(value)
            if value > 0:
                out[row["lineitem_resourceid"]] = int(value)
    return out


# --- the provider module's hooks (cloud/provider.py) ----------------------------------------------------------

PROFILE = CloudProfile(costs=COSTS, markups=MARKUPS, attributes=CLOUD_ATTRIBUTES, category="aws_cost_category")
CATEGORY_SUMMARY = "reporting_ocpawscategory_summary"
LOG = logging.getLogger(__name__)


def _accounts(sources: DaySources, start: dt.date, end: dt.date) -> tuple[set[str], str | None]:
    """Usage accounts of the range and the bill's payer (Koku: the first distinct bill_payeraccountid)."""
    lo = dt.datetime(start.year, start.month, start.day)
    hi = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)
    accounts: set[str] = set()
    payers: set[str] = set()
    for _p, tbl in sources.daily.read_range(lo, hi, ["lineitem_usageaccountid", "bill_payeraccountid"]):
        d = tbl.group_by(["lineitem_usageaccountid", "bill_payeraccountid"]).aggregate([]).to_pydict()
        accounts.update(a for a in d["lineitem_usageaccountid"] if a)
        payers.update(p for p in d["bill_payeraccountid"] if p)
    return accounts, (min(payers) if payers else None)


def ensure_account_aliases(conn: Connection, schema: str, accounts: set[str]) -> None:
    """An alias row per account that has none (Koku's update_account_aliases: the alias defaults to the id)."""
    accounts = {a for a in accounts if a}
    if accounts:
        with conn.cursor() as cur:
            execute_values(cur, sql.SQL("INSERT INTO {} (account_id, account_alias) VALUES %s"
                                        " ON CONFLICT (account_id) DO NOTHING").format(
                qualified(schema, "reporting_awsaccountalias")), [(a, a) for a in sorted(accounts)])


def account_aliases(conn: Connection, schema: str) -> dict[str, tuple[int, str | None]]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT account_id, id, account_alias FROM {}").format(
            qualified(schema, "reporting_awsaccountalias")))
        return {r[0]: (int(r[1]), r[2]) for r in cur.fetchall()}


def prepare_tenant(conn: Connection, spec: CloudRunSpec, sources: DaySources) -> dict[str, Any]:
    """AWSReportParquetProcessor.create_bill (billing_resource 'aws', the payer; bill_type NULL) and the account
    aliases of the range's accounts; the manifest carries every alias (id, name)."""
    accounts, payer = _accounts(sources, spec.start_date, spec.end_date)
    tenant.ensure_bill(conn, spec.schema_name, "reporting_awscostentrybill", spec.cloud_provider_uuid, "AWS",
                       spec.start_date, match={"payer_account_id": payer}, defaults={"billing_resource": "aws"})
    ensure_account_aliases(conn, spec.schema_name, accounts | ({payer} if payer else set()))
    return {"aliases": {k: [v[0], v[1]] for k, v in account_aliases(conn, spec.schema_name).items()}}


def postgres_matched_tags(conn: Connection, schema: str) -> list[str]:
    """Koku's matched-tag discovery from PostgreSQL (sql/aws/openshift/reporting_ocpaws_matched_tags.sql), as
    candidate strings: AWS (key, value) pairs of reporting_awstags_values equal, case-insensitively, to an
    OpenShift pair of reporting_ocptags_values, for keys the tenant lists (any state) for both; [] when those
    tables are empty or absent (then the run falls back to the Parquet, as Koku falls back to Trino)."""
    with conn.cursor() as cur:
        if not all(tenant.table_exists(cur, schema, t) for t in (
                "reporting_awstags_summary", "reporting_awstags_values", "reporting_ocptags_values")):
            return []
        etk = qualified(schema, "reporting_enabledtagkeys")
        q = sql.SQL(
            "WITH aws_keys AS (SELECT DISTINCT s.key FROM {aws_summary} s JOIN {etk} e ON lower(e.key) = lower(s.key)),"
            " ocp_keys AS (SELECT DISTINCT v.key FROM {ocp_values} v JOIN {etk} e ON lower(e.key) = lower(v.key)"
            "   WHERE e.provider_type = 'OCP'),"
            " pairs AS (SELECT DISTINCT a.key AS aws_key, o.key AS ocp_key FROM aws_keys a JOIN ocp_keys o"
            "   ON lower(a.key) = lower(o.key)),"
            " aws_tags AS (SELECT DISTINCT v.key, v.value FROM {aws_values} v JOIN {etk} e"
            "   ON lower(e.key) = lower(v.key) WHERE v.key IN (SELECT aws_key FROM pairs) AND e.provider_type = 'AWS'),"
            " ocp_tags AS (SELECT DISTINCT v.key, v.value FROM {ocp_values} v JOIN {etk} e"
            "   ON lower(e.key) = lower(v.key) WHERE v.key IN (SELECT ocp_key FROM pairs) AND e.provider_type = 'OCP')"
            " SELECT a.key, a.value FROM aws_tags a JOIN ocp_tags o"
            "   ON lower(a.key) = lower(o.key) AND lower(a.value) = lower(o.value)"
        ).format(aws_summary=qualified(schema, "reporting_awstags_summary"),
                 aws_values=qualified(schema, "reporting_awstags_values"),
                 ocp_values=qualified(schema, "reporting_ocptags_values"), etk=etk)
        cur.execute(q)
        rows = cur.fetchall()
    return sorted({candidate_string(k, v) for k, v in rows})


def pass_one(ctx: ChunkContext, conn: Connection) -> ChunkState:
    """Narrow pass over the chunk's days: matchable resource ids, each disk's EBS capacity per day, the PV capacity
    contributions (totals over the chunk) and, when discovering, the (key, value) pairs of the texts that hold a
    matched key (a 50,000-pod chunk has ~29 k distinct label texts but far fewer distinct pairs)."""
    spec, sets, keys = ctx.spec, ctx.ocp, ctx.manifest["matched_keys"]
    matcher = SuffixMatcher([*sets.node_resource_ids, *sets.volumes, *sets.csi_handles])
    capacity: dict[dt.date, dict[str, int]] = {}
    contributions: list[pd.DataFrame] = []
    cloud_pairs: set[tuple[str, str | None]] = set()
    ocp_pairs: set[tuple[str, str | None]] = set()
    columns = ["lineitem_resourceid", *(["resourcetags"] if ctx.discover else [])]
    for day in ctx.days:
        tbl = ctx.sources.read_day(day, columns)
        ids: set[str] = set()
        if tbl is not None:
            ids = {r for r in pc.unique(tbl.column("lineitem_resourceid")).to_pylist() if r}
            if ctx.discover:
                cloud_pairs |= label_pairs(pc.unique(tbl.column("resourcetags")).to_pylist(), keys)
        matched = {r for r in ids if matcher.matches(r)}
        storage = read_ocp_rows(ctx.stage, conn, spec.schema_name, day, spec.openshift_provider_uuid,
                                sets.csi_by_day_pv, storage_only=True)
        if ctx.discover:
            pods, volumes = ocp_label_texts(ctx.stage, spec.openshift_provider_uuid, [day])
            ocp_pairs |= label_pairs(pods | volumes, keys)
        own_storage = storage[storage["source"] == spec.openshift_provider_uuid]
        capacity[day] = ebs_capacities(ctx.sources.raw, day, attr.disk_candidates(matched, own_storage))
        contrib = attr.pv_capacity_contributions(matched, storage)
        if not contrib.empty:
            contributions.append(contrib)
    conn.rollback()
    totals = attr.pv_capacity_totals(pd.concat(contributions, ignore_index=True)) if contributions else {}
    state = ChunkState()
    state.data = {"matcher": matcher, "capacity": capacity, "totals": totals, "cloud_pairs": cloud_pairs,
                  "ocp_pairs": ocp_pairs}
    return state


def discovery_pairs(_ctx: ChunkContext, state: ChunkState, _conn: Connection) -> list[str]:
    """Koku's Trino matched-tag query over the chunk's pairs (pass one)."""
    return matched_tags_from_pairs(state.data["cloud_pairs"], state.data["ocp_pairs"])


def _line_groups(temp: pd.DataFrame, pre: pd.DataFrame, namespaces: int) -> pd.Series:
    """An estimate, per line, of the rows step 2 makes of it: the OCP groups of the nodes its id contains (direct
    match), or twice the namespaces (tag match: one row per namespace and data source)."""
    per_node = pre.groupby("resource_id", sort=False).size() if not pre.empty else pd.Series(dtype=int)
    pairs = contained_pairs(temp["resource_id"].dropna().unique(), per_node.index)
    per_line = pairs.assign(n=pairs["needle"].map(per_node)).groupby("haystack")["n"].sum()
    est = temp["resource_id"].map(per_line).fillna(0).to_numpy(dtype=float)
    tagged = ~temp["resource_id_matched"].to_numpy(dtype=bool)
    return pd.Series(1 + np.where(tagged, 2 * namespaces, est), index=temp.index)


def day_rows(ctx: ChunkContext, state: ChunkState, day: dt.date, candidates: Sequence[str],
              conn: Connection) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Pass 2 for one day: the matched lines, then per part of them the step-2 rows and the final rows."""
    spec, manifest, data = ctx.spec, ctx.manifest, state.data
    tbl = ctx.sources.read_day(day, [c.name for c in DAILY_COLUMNS])
    if tbl is None:
        return
    temp = daily_temp(tbl, data["matcher"], list(candidates), manifest["cloud_keys"], ctx.sources.folder())
    del tbl
    temp = attr.collapse_copies(temp)  # a line read twice is one line in Koku's step 2
    if temp.empty:
        yield temp, pd.DataFrame()
        return
    ocp_all = read_ocp_rows(ctx.stage, conn, spec.schema_name, day, spec.openshift_provider_uuid,
                            ctx.ocp.csi_by_day_pv)
    own = (ocp_all["source"] == spec.openshift_provider_uuid).to_numpy(dtype=bool)
    # one cluster on the bill (the usual case): its rows ARE the day's rows -- no copy of the day's OCP frame,
    # which the tag cluster counts keep beside it for the whole day (~50 MiB at 50,000 pods)
    ocp = ocp_all if own.all() else ocp_all[own]
    capacity = data["capacity"].get(day, {})
    aliases = {k: v[0] for k, v in manifest["aliases"].items()}
    pre = attr.direct_pre(ocp)
    weights = _line_groups(temp, pre, int(ocp["namespace"].nunique()))
    cache_this: dict[str, np.ndarray] = {}
    cache_all = cache_this if ocp is ocp_all else {}  # tag_join_mask's memos are per frame
    for part in line_parts(temp, weights, bucket_rows()):
        rows = [attr.storage_rows(part, ocp, capacity, data["totals"], PROFILE),
                attr.direct_rows(part, ocp, set(capacity), PROFILE, pre=pre),
                attr.tag_rows(part, ocp, PROFILE, cache=cache_this)]
        rows = [r for r in rows if not r.empty]
        final_parts = []
        if rows:
            counts = attr.tag_cluster_counts(part, ocp_all, cache=cache_all)
            final_parts.append(attr.final_rows(attr.concat_rows(rows), counts, manifest["distribution"],
                                               manifest["markup"], aliases, PROFILE))
        del rows
        network = attr.network_rows(part, ocp, manifest["markup"], aliases, PROFILE)
        if not network.empty:
            final_parts.append(network)
        yield part, attr.concat_rows(final_parts)


def project_rows(final: pd.DataFrame, tag_keys: frozenset[str], ctx: ChunkContext) -> pd.DataFrame:
    """Step 3, with the account alias names the tag values carry; Koku's insert fails on a NULL product code: say
    so, write nothing."""
    rows = project.project_rows(final, tag_keys, PROFILE).rename(columns={"category_json": "aws_cost_category"})
    if not rows.empty and rows["product_code"].isna().any():
        bad = rows.loc[rows["product_code"].isna(), "resource_id"].dropna().unique()[:3]
        raise InputFileError(ctx.sources.folder(), f"matched CUR lines of {rows['usage_start'].iloc[0]} have no "
                             f"product code (lineitem_productcode is empty; e.g. resources {list(bad)}); Koku's insert "
                             f"into {OCPAWS_PROJECT_TABLE} fails on them (product_code is NOT NULL)",
                             "lineitem_productcode")
    names = {k: v[1] for k, v in ctx.manifest["aliases"].items()}
    rows["account_alias"] = rows["usage_account_id"].map(lambda a: names.get(a) if isinstance(a, str) else None)
    return rows


def check_ui(ctx: ChunkContext, ui: dict[str, pd.DataFrame], day: dt.date) -> None:
    """Koku's inserts into the UI tables fail on a NULL currency: say so, write nothing."""
    for name, rows in ui.items():
        if not rows.empty and rows["currency_code"].isna().any():
            raise InputFileError(ctx.sources.folder(), f"matched CUR lines of {day} have no currency code; Koku's "
                                 f"insert into {name} fails on them (currency_code is NOT NULL)",
                                 "lineitem_currencycode")


def update_category_summary(conn: Connection, schema: str, bill_ids: Sequence[int], start: dt.date,
                            end: dt.date) -> int:
    """reporting_ocpawscategory_summary (§5.3), in the caller's transaction; returns the rows upserted.

    Koku runs this once per run, after every chunk, in PostgreSQL over the project table (every cluster's rows of
    the run's bills and dates, not only this run's), so it runs here the same way, after the project table is
    written: summary rows of category keys disabled in reporting_awsenabledcategorykeys are deleted; per (key,
    bill, usage account) of the enabled keys, the distinct values, unioned with the stored row's values when the
    stored row has the same account alias (an alias-less row is never merged, as in Koku), upserted on (key, bill,
    usage account); the alias is the account's reporting_awsaccountalias id.
    """
    summary, keys = qualified(schema, CATEGORY_SUMMARY), qualified(schema, "reporting_awsenabledcategorykeys")
    with conn.cursor() as cur:
        if not (tenant.table_exists(cur, schema, CATEGORY_SUMMARY)
                and tenant.table_exists(cur, schema, "reporting_awsenabledcategorykeys")):
            # a schema made before these tables were declared: nothing to summarise into
            LOG.warning("%s has no %s / reporting_awsenabledcategorykeys (run init-db): cost-category summary "
                        "skipped", schema, CATEGORY_SUMMARY)
            return 0
        cur.execute(sql.SQL("DELETE FROM {} s WHERE s.key IN (SELECT k.key FROM {} k WHERE NOT k.enabled)")
                    .format(summary, keys))
        bills = sql.SQL(" AND p.cost_entry_bill_id = ANY(%(bills)s)") if bill_ids else sql.SQL("")
        query = sql.SQL(
            "WITH pairs AS ("
            "  SELECT DISTINCT c.key, c.value, p.cost_entry_bill_id AS bill, p.usage_account_id AS account"
            "    FROM {project} p CROSS JOIN LATERAL jsonb_each_text(p.aws_cost_category) c"
            "   WHERE p.usage_start >= %(start)s AND p.usage_start <= %(end)s"
            "     AND p.aws_cost_category ?| (SELECT array_agg(DISTINCT k.key) FROM {keys} k WHERE k.enabled)"
            "{bills}"
            "), fresh AS ("
            "  SELECT pairs.key, array_agg(DISTINCT pairs.value) AS vals, pairs.bill, pairs.account,"
            "         a.id AS alias"
            "    FROM pairs JOIN {keys} k ON k.key = pairs.key AND k.enabled"
            "    LEFT JOIN {alias} a ON a.account_id = pairs.account"
            "   GROUP BY pairs.key, pairs.bill, pairs.account, a.id"
            "), merged AS ("
            "  SELECT f.key, f.bill, f.account, f.alias,"
            "         ARRAY(SELECT DISTINCT v FROM unnest(f.vals || coalesce(s.values, '{{}}'::text[])) AS v"
            "               ORDER BY v) AS vals"
            "    FROM fresh f LEFT JOIN {summary} s ON s.key = f.key AND s.cost_entry_bill_id = f.bill"
            "     AND s.usage_account_id = f.account AND s.account_alias_id = f.alias"
            ")"
            " INSERT INTO {summary} (uuid, key, cost_entry_bill_id, usage_account_id, account_alias_id, values)"
            " SELECT gen_random_uuid(), key, bill, account, alias, vals FROM merged"
            " ON CONFLICT (key, cost_entry_bill_id, usage_account_id) DO UPDATE SET values = EXCLUDED.values"
        ).format(project=qualified(schema, OCPAWS_PROJECT_TABLE), keys=keys, bills=bills,
                 alias=qualified(schema, "reporting_awsaccountalias"), summary=summary)
        cur.execute(query, {"start": start, "end": end, "bills": list(bill_ids)})
        return cur.rowcount


def finalize_steps(conn: Connection, manifest: dict[str, Any]) -> dict[str, int]:
    # Koku: once per run, after every chunk (it reads the project table as written)
    start, end = parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")
    return {CATEGORY_SUMMARY: update_category_summary(conn, manifest["run"]["schema_name"], manifest["bill_ids"],
                                                      start, end)}


# --- the eight reporting_ocpaws_*_p UI tables (Koku's trino_sql/aws/openshift/ui_summary/*.sql) -------------------
# Each a filter and a GROUP BY over the final rows of a day: cluster id / alias, account alias and currency are
# maxima, the eight cost columns sums; cost_category_id is kept (max) only by reporting_ocpaws_cost_summary_p.

DATABASE_CODES = ("AmazonRDS", "AmazonDynamoDB", "AmazonElastiCache", "AmazonNeptune", "AmazonRedshift",
                  "AmazonDocumentDB")
NETWORK_CODES = ("AmazonVPC", "AmazonCloudFront", "AmazonRoute53", "AmazonAPIGateway")  # not EC2 data transfer
_UI_MAX = ("cluster_id", "cluster_alias", "currency_code")
_UI_COSTS = (*COSTS, *MARKUPS.values())
_UI_USAGE = (*_UI_COSTS, "usage_amount")
_ACCOUNT = ("usage_account_id", "account_alias_id")


def _isin(column: str, values: tuple[str, ...]):
    return lambda f: f[column].isin(values).to_numpy(dtype=bool)


def _storage(f: pd.DataFrame) -> np.ndarray:
    family = f["product_family"].astype(object)
    return (family.str.contains("Storage", regex=False, na=False) & (f["unit"] == "GB-Mo")).to_numpy(dtype=bool)


UI_TABLES = (
    UiTable("reporting_ocpaws_compute_summary_p", (*_ACCOUNT, "instance_type", "resource_id"), _UI_USAGE,
            (*_UI_MAX, "unit"), lambda f: f["instance_type"].notna().to_numpy(dtype=bool)),
    UiTable("reporting_ocpaws_cost_summary_p", (), _UI_COSTS, (*_UI_MAX, "cost_category_id")),
    UiTable("reporting_ocpaws_cost_summary_by_account_p", _ACCOUNT, _UI_COSTS, _UI_MAX),
    UiTable("reporting_ocpaws_cost_summary_by_region_p", (*_ACCOUNT, "region", "availability_zone"), _UI_COSTS,
            _UI_MAX),
    UiTable("reporting_ocpaws_cost_summary_by_service_p", (*_ACCOUNT, "product_code", "product_family"), _UI_COSTS,
            _UI_MAX),
    UiTable("reporting_ocpaws_database_summary_p", (*_ACCOUNT, "product_code"), _UI_USAGE, (*_UI_MAX, "unit"),
            _isin("product_code", DATABASE_CODES)),
    UiTable("reporting_ocpaws_network_summary_p", (*_ACCOUNT, "product_code"), _UI_USAGE, (*_UI_MAX, "unit"),
            _isin("product_code", NETWORK_CODES)),
    UiTable("reporting_ocpaws_storage_summary_p", (*_ACCOUNT, "product_family"), _UI_USAGE, (*_UI_MAX, "unit"),
            _storage),
)

PROVIDER = module_provider(
    __name__,
    name="AWS",
    profile=PROFILE,
    project_table=OCPAWS_PROJECT_TABLE,
    ui_tables=UI_TABLES,
    tags=TagTables(OCPAWS_TAGS_SUMMARY, "reporting_ocpawstags_values", "AWS", ("usage_account_id",),
                   (("usage_account_ids", "usage_account_id"), ("account_aliases", "account_alias")),
                   insert_only=("account_alias_id",), first_arrays=("account_aliases",)),
    cost_terms=(CostTerm("calculated_amortized_cost", 9), CostTerm("markup_cost_amortized", 9)),
    strict_project=True,
    currency="currency_code",
    conservation_costs=("calculated_amortized_cost", "unblended_cost"),
    ui_numeric=("account_alias_id", "cost_category_id"),
)
