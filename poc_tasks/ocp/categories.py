"""Attach cost categories to rows by namespace, with Koku's join fan-out (one row per matching pattern)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from poc_tasks.ocp.cost_category import matching_categories


def explode_categories(df: pd.DataFrame, patterns: Sequence[tuple[str, int]],
                       column: str = "cost_category_id") -> pd.DataFrame:
    """LEFT JOIN reporting_ocp_cost_category_namespace ON namespace LIKE pattern.

    A namespace matching k patterns yields k copies of its rows (Koku's sums are multiplied then); one matching
    none keeps one row with a NULL category.
    """
    if df.empty:
        out = df.copy()
        out[column] = pd.Series(dtype=float)
        return out
    uniq = pd.unique(df["namespace"])
    lookup = pd.DataFrame(
        [(ns, float(cat)) for ns in uniq for cat in (matching_categories(ns, patterns) or [np.nan])],
        columns=["namespace", column],
    )
    # namespace NULL never matches: keep such rows with a NULL category
    null_ns = df["namespace"].isna()
    matched = df[~null_ns].merge(lookup.dropna(subset=["namespace"]), on="namespace", how="left", sort=False)
    if null_ns.any():
        rest = df[null_ns].copy()
        rest[column] = np.nan
        matched = pd.concat([matched, rest], ignore_index=True)
    return matched
