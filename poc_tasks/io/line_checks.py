"""Rows of Koku's cloud (and GPU) line items that Koku's SQL fails on, refused as read, naming the file and column.

Koku's daily summaries insert some line columns into NOT NULL columns (AWS `usage_account_id` and `product_code`,
Azure `subscription_guid`, GCP `account_id` and `project_id`) and cast every tag text to a map: one such row fails
Koku's whole statement. Without these checks poc_tasks failed later, in PostgreSQL's COPY (`NotNullViolation`,
no file named) or in the tag parser (`TagJsonError`, exit 1). The OCP-on-cloud runs read the same files and are
refused too: in Koku the cloud's daily summary runs first on them and fails.

The rules are keyed by Koku's table name (the `table` of a ParquetSource) and applied only when a read holds
every column a rule needs, so a narrow read (a matching pass reading resource ids only) is not checked twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.errors import InputFileError

__all__ = ["check_lines", "refuse_rows", "tag_text_ok"]


def _empty(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """NULL or '' (Koku's nullif(x, '') is NULL)."""
    return pc.fill_null(pc.equal(col, ""), True)


def _null(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    return pc.is_null(col)


@dataclass(frozen=True)
class _Rule:
    column: str  # named in the error
    needs: tuple[str, ...]  # the rule applies when the read holds all of them
    bad: Callable[[pa.Table], pa.ChunkedArray]  # True for a refused row
    why: str


def _aws_no_product_code(t: pa.Table) -> pa.ChunkedArray:
    """product_code = CASE WHEN bill_billingentity = 'AWS Marketplace' THEN coalesce(nullif(product_productname,
    ''), nullif(lineitem_productcode, '')) ELSE nullif(lineitem_productcode, '') END is NULL."""
    marketplace = pc.fill_null(pc.equal(t.column("bill_billingentity"), "AWS Marketplace"), False)
    named = pc.and_(marketplace, pc.invert(_empty(t.column("product_productname"))))
    return pc.and_(_empty(t.column("lineitem_productcode")), pc.invert(named))


def _azure_no_subscription(t: pa.Table) -> pa.ChunkedArray:
    """subscription_guid = coalesce(nullif(subscriptionid, ''), subscriptionguid) is NULL."""
    return pc.and_(_empty(t.column("subscriptionid")), _null(t.column("subscriptionguid")))


def _not_null(column: str, target: str, summary: str) -> _Rule:
    return _Rule(column, (column,), lambda t: _null(t.column(column)),
                 f"Koku's insert into {summary} fails on them ({target} is NOT NULL)")


_AWS = (
    _not_null("lineitem_usageaccountid", "usage_account_id", "reporting_awscostentrylineitem_daily_summary"),
    _Rule("lineitem_productcode", ("lineitem_productcode", "bill_billingentity", "product_productname"),
          _aws_no_product_code, "they have no product code (NULL or '', and not an AWS Marketplace line with a "
          "product name): Koku's insert into reporting_awscostentrylineitem_daily_summary fails on them "
          "(product_code is NOT NULL)"),
)
_AZURE = (
    _Rule("subscriptionguid", ("subscriptionid", "subscriptionguid"), _azure_no_subscription,
          "they have neither subscriptionid nor subscriptionguid: Koku's insert into "
          "reporting_azurecostentrylineitem_daily_summary fails on them (subscription_guid is NOT NULL)"),
)
_GCP = (
    _not_null("billing_account_id", "account_id", "reporting_gcpcostentrylineitem_daily_summary"),
    _not_null("project_id", "project_id", "reporting_gcpcostentrylineitem_daily_summary"),
)
# the cost model's GPU rows: monthly_cost_gpu.sql inserts gpu.namespace into the OCP summary's NOT NULL namespace
_GPU = (_not_null("namespace", "namespace", "reporting_ocpusagelineitem_daily_summary"),)
RULES: dict[str, tuple[_Rule, ...]] = {
    "aws_line_items": _AWS, "aws_line_items_daily": _AWS,
    "azure_line_items": _AZURE,
    "gcp_line_items": _GCP, "gcp_line_items_daily": _GCP,
    "openshift_gpu_usage_line_items": _GPU, "openshift_gpu_usage_line_items_daily": _GPU,
}
# the tag texts Koku casts to map(varchar, varchar) on every line of its daily summary
TAG_COLUMNS: dict[str, tuple[str, ...]] = {
    "aws_line_items": ("resourcetags",), "aws_line_items_daily": ("resourcetags",),
    "azure_line_items": ("tags",),
    "gcp_line_items": ("labels",), "gcp_line_items_daily": ("labels",),
}


def tag_text_ok(text: str) -> bool:
    """A JSON object whose values are scalars or null (what Trino's cast to map(varchar, varchar) takes); '' is
    read as {} by poc_tasks' tag parser, so it passes too. Short texts are remembered (a month repeats them);
    long ones are not, so a few 1 MB texts cannot fill the memory."""
    return _tag_text_ok_cached(text) if len(text) <= 4096 else _tag_text_ok(text)


def _tag_text_ok(text: str) -> bool:
    if text == "":
        return True
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    return isinstance(obj, dict) and not any(isinstance(v, dict | list) for v in obj.values())


_tag_text_ok_cached = lru_cache(maxsize=65536)(_tag_text_ok)


def refuse_rows(path: str, bad: pa.ChunkedArray | pa.Array, column: str, why: str) -> None:
    """Raise InputFileError naming path and column when any row of the `bad` mask is true."""
    n = pc.sum(pc.cast(pc.fill_null(bad, False), pa.int64())).as_py() or 0
    if n:
        raise InputFileError(path, f"{n} row(s) refused: {why}", column)


def check_lines(table: str, tbl: pa.Table, path: str) -> None:
    """Apply the rules of Koku's `table` to rows just read from `path` (columns as ParquetSource conformed them)."""
    names = set(tbl.column_names)
    for rule in RULES.get(table, ()):
        if names.issuperset(rule.needs):
            refuse_rows(path, rule.bad(tbl), rule.column, rule.why)
    for column in TAG_COLUMNS.get(table, ()):
        if column in names:
            bad = [t for t in pc.unique(tbl.column(column)).to_pylist() if t is not None and not tag_text_ok(t)]
            if bad:
                raise InputFileError(path, f"unusable tag JSON: {len(bad)} distinct text(s) are not a JSON object "
                                           f"of scalars (Koku's cast to a map fails on them), e.g. {bad[0][:80]!r}",
                                     column)
