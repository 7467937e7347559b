"""Koku's GCP Parquet shape (shared with benchmarks/nise_gcp_to_koku_parquet.py).

Placeholder: the synthetic bill is added below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

# ---------------------------------------------------------------------------------------------------------------
# Koku's GCP Parquet shape (gcp_post_processor.py, gcp_report_downloader.py, masu/util/gcp/common.py)
# ---------------------------------------------------------------------------------------------------------------
# Columns converted by GCPPostProcessor.get_column_converters (normalised names): ciso8601 timestamps, safe_float
# doubles, and the JSON rewrites ({key, value} lists -> one object; credits -> its first element).
GCP_TIMESTAMP_COLUMNS = ("usage_start_time", "usage_end_time", "export_time")
GCP_FLOAT_COLUMNS = ("cost", "currency_conversion_rate", "usage_amount", "usage_amount_in_pricing_units")
GCP_LABEL_COLUMNS = ("project_labels", "labels", "system_labels")
# GCPPostProcessor._generate_daily_data: group keys (the day of usage_start_time is the fourth key) ...
GCP_DAILY_KEYS = ("invoice_month", "billing_account_id", "project_id", "usage_start_time", "service_id", "sku_id",
                  "system_labels", "labels", "cost_type", "location_region", "resource_name")
# ... and aggregations, in Koku's order; then a row_uuid per daily row.
GCP_DAILY_AGGREGATIONS = {
    "project_name": "max", "service_description": "max", "sku_description": "max", "usage_pricing_unit": "max",
    "usage_amount_in_pricing_units": "sum", "currency": "max", "cost": "sum", "daily_credits": "sum",
    "resource_global_name": "max",
}
GCP_DAILY_COLUMNS = (*GCP_DAILY_KEYS, *GCP_DAILY_AGGREGATIONS, "row_uuid")


def credit_amount(credits_json: str) -> float:
    """daily_credits of one line: the `amount` of the (first) credit Koku kept, 0.0 when none or 0."""
    return json.loads(credits_json).get("amount") or 0.0


def koku_gcp_daily(raw: pd.DataFrame, new_uuid: Callable[[], str]) -> pd.DataFrame:
    """The daily frame of one raw chunk, as GCPPostProcessor builds it: daily_credits from the credits JSON, group by
    the keys with usage_start_time floored to the day (NaN keys kept, groups sorted), max/sum per column, then a
    row_uuid per daily row. An empty chunk gives the chunk itself, as in Koku."""
    if raw.empty:
        return raw
    daily = raw.copy()
    amounts: dict[str, Any] = {}
    daily["daily_credits"] = daily["credits"].map(
        lambda text: amounts[text] if text in amounts else amounts.setdefault(text, credit_amount(text)))
    if "resource_name" not in daily.columns:  # an export without resource columns
        daily["resource_name"] = ""
        daily["resource_global_name"] = ""
    keys: list[Any] = list(GCP_DAILY_KEYS)
    keys[3] = pd.Grouper(key="usage_start_time", freq="D")
    daily = daily.groupby(keys, dropna=False).agg({col: [how] for col, how in GCP_DAILY_AGGREGATIONS.items()})
    daily.columns = daily.columns.droplevel(1)
    daily = daily.reset_index()
    daily["row_uuid"] = [new_uuid() for _ in range(len(daily))]
    return daily
