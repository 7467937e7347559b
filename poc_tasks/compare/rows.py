"""Compare two result sets of one table: rows as a multiset with tolerances, and totals per group.

Pure: frames in, findings out. A row's key is every non-numeric column (JSON in canonical form, NULL equal to
NULL); rows with equal keys are paired in the order of their numeric values, so duplicates compare as a
multiset. Numbers agree when |a - b| <= max(abs, rel * max(|a|, |b|)); NULL only equals NULL.

"live" is what Koku's tables hold (Trino's rows in phase 1), "poc" what poc_tasks computed.
Results accumulate over chunks of days (Comparison.add) so memory stays at one chunk.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Tolerance", "TableShape", "Comparison", "canonical_json", "close"]

NULL = "\x1eNULL\x1e"  # a key value no real text has (and no NUL: pandas hashes text as C strings)
_PAIR = "_pair"
_KEY = "_key"
_SEP = "\x1f"  # unit separator: never part of a name, a label or a date
TOTAL_DIMENSIONS = ("usage_start", "namespace", "node")


@dataclass(frozen=True)
class Tolerance:
    rel: float = 1e-9
    abs: float = 1e-9


@dataclass(frozen=True)
class TableShape:
    """Which columns are keys (exact), JSON keys (canonical), numbers (with tolerance)."""

    keys: tuple[str, ...]
    numbers: tuple[str, ...]
    json: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()

    @property
    def columns(self) -> list[str]:
        return [*self.keys, *self.numbers]


def _json_number(text: str) -> float:
    return float(text)


def canonical_json(value: Any) -> str:
    """One text per JSON value: keys sorted, no spaces, every number as a float (0, 0.0 and 0.000 agree)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NULL
    obj = json.loads(value, parse_int=_json_number) if isinstance(value, str | bytes) else value
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _key_text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return NULL
    if isinstance(value, float):
        if math.isnan(value):
            return NULL
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return _key_text(float(value))
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat() if value == value.replace(hour=0, minute=0, second=0, microsecond=0) \
            else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _canonical_column(values: pd.Series, fn: Any) -> pd.Series:
    """fn applied once per distinct value (labels repeat on many rows), NULL as the sentinel."""
    obj = values.astype(object)
    missing = obj.isna().to_numpy()
    out = np.full(len(obj), NULL, dtype=object)
    if not missing.all():
        present = obj[~missing]
        mapping = {v: fn(v) for v in pd.unique(present)}
        out[~missing] = present.map(mapping).to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=object)


def canonical_frame(frame: pd.DataFrame, shape: TableShape) -> pd.DataFrame:
    """Keys as canonical text, numbers as float64 (NaN for NULL); missing columns are NULL."""
    out = {}
    n = len(frame)
    for col in shape.keys:
        values = frame[col] if col in frame.columns else pd.Series([None] * n, index=frame.index, dtype=object)
        out[col] = _canonical_column(values, canonical_json if col in shape.json else _key_text)
    for col in shape.numbers:
        values = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
        out[col] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def close(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Element-wise agreement of two float arrays (NaN only equals NaN)."""
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
        scale = np.maximum(np.abs(a), np.abs(b))
        ok = diff <= np.maximum(tol.abs, tol.rel * scale)
    return both_nan | (ok & ~np.isnan(diff))


def _plain(value: Any) -> Any:
    """A JSON-safe value for the report (NULL sentinel back to None, NaN to None)."""
    if isinstance(value, str):
        return None if value == NULL else value
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


@dataclass
class Comparison:
    """Findings of one comparison, accumulated chunk by chunk."""

    shape: TableShape
    tolerance: Tolerance = field(default_factory=Tolerance)
    max_examples: int = 50
    live_rows: int = 0
    poc_rows: int = 0
    equal_rows: int = 0
    changed_rows: int = 0
    missing_rows: int = 0  # in the live table, not in poc_tasks' result
    extra_rows: int = 0  # in poc_tasks' result, not in the live table
    changed_columns: Counter = field(default_factory=Counter)
    differing_days: Counter = field(default_factory=Counter)
    differing_namespaces: Counter = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    _totals: dict[str, list[pd.DataFrame]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.changed_rows == 0 and self.missing_rows == 0 and self.extra_rows == 0

    # --- rows -------------------------------------------------------------------------------------------------

    def add(self, live: pd.DataFrame, poc: pd.DataFrame) -> None:
        """Compare one chunk (the same days on both sides)."""
        keys, nums = list(self.shape.keys), list(self.shape.numbers)
        left, right = canonical_frame(live, self.shape), canonical_frame(poc, self.shape)
        self.live_rows += len(left)
        self.poc_rows += len(right)
        self._add_totals(left, right)
        for side in (left, right):
            # one text per key (the parts cannot contain the separator's role: NULL is a sentinel)
            side[_KEY] = side[keys[0]].str.cat([side[k] for k in keys[1:]], sep=_SEP) if len(side) else ""
            side.sort_values([_KEY, *nums], na_position="last", inplace=True, kind="mergesort")
            side[_PAIR] = side.groupby(_KEY, sort=False).cumcount()
        merged = left.merge(right.drop(columns=keys), on=[_KEY, _PAIR], how="outer", suffixes=("__live", "__poc"),
                            indicator=True)
        # keys of rows only poc_tasks has come from its side
        extra_mask = merged["_merge"] == "right_only"
        if extra_mask.any():
            parts = merged.loc[extra_mask, _KEY].str.split(_SEP, expand=True, regex=False)
            for i, k in enumerate(keys):
                merged.loc[extra_mask, k] = parts[i].to_numpy()
        missing = merged[merged["_merge"] == "left_only"]
        extra = merged[merged["_merge"] == "right_only"]
        both = merged[merged["_merge"] == "both"]
        self.missing_rows += len(missing)
        self.extra_rows += len(extra)
        bad = np.zeros(len(both), dtype=bool)
        per_column: dict[str, np.ndarray] = {}
        for col in nums:
            differs = ~close(both[f"{col}__live"].to_numpy(float), both[f"{col}__poc"].to_numpy(float),
                             self.tolerance)
            if differs.any():
                per_column[col] = differs
                self.changed_columns[col] += int(differs.sum())
                bad |= differs
        changed = both[bad]
        self.changed_rows += len(changed)
        self.equal_rows += len(both) - len(changed)
        for kind, rows in (("missing_in_poc", missing), ("extra_in_poc", extra), ("changed", changed)):
            self._note(kind, rows, per_column, bad)

    def _note(self, kind: str, rows: pd.DataFrame, per_column: dict[str, np.ndarray], bad: np.ndarray) -> None:
        if rows.empty:
            return
        if "usage_start" in rows.columns:
            self.differing_days.update(_plain(v) for v in rows["usage_start"])
        if "namespace" in rows.columns:
            self.differing_namespaces.update(str(_plain(v)) for v in rows["namespace"])
        room = self.max_examples - sum(1 for e in self.examples if e["kind"] == kind)
        if room <= 0:
            return
        nums = list(self.shape.numbers)
        # positions of the changed rows among `both` (per_column masks are aligned with `both`)
        changed_masks = {c: m[bad] for c, m in per_column.items()} if kind == "changed" else {}
        for i, (_, row) in enumerate(rows.head(room).iterrows()):
            example: dict[str, Any] = {"kind": kind}
            example["key"] = {k: _plain(row[k]) for k in self.shape.keys}
            if kind == "changed":
                example["columns"] = {
                    c: {"live": _plain(row[f"{c}__live"]), "poc": _plain(row[f"{c}__poc"])}
                    for c, mask in changed_masks.items() if mask[i]
                }
            else:
                side = "__live" if kind == "missing_in_poc" else "__poc"
                example["values"] = {c: _plain(row[f"{c}{side}"]) for c in nums if not pd.isna(row[f"{c}{side}"])}
            self.examples.append(example)

    # --- totals -----------------------------------------------------------------------------------------------

    def _add_totals(self, left: pd.DataFrame, right: pd.DataFrame) -> None:
        nums = list(self.shape.numbers)
        for dim in TOTAL_DIMENSIONS:
            if dim not in self.shape.keys:
                continue
            for side, frame in (("live", left), ("poc", right)):
                g = frame.groupby(dim, sort=False)[nums].sum(min_count=1) if len(frame) else None
                if g is None:
                    continue
                g["rows"] = frame.groupby(dim, sort=False).size().astype(float)
                g["side"] = side
                self._totals.setdefault(dim, []).append(g.reset_index())

    def totals(self) -> dict[str, pd.DataFrame]:
        """Per dimension: group, metric, live, poc (NaN where a side has no rows of the group)."""
        out = {}
        metrics = [*self.shape.numbers, "rows"]
        for dim, parts in self._totals.items():
            frame = pd.concat(parts, ignore_index=True)
            summed = frame.groupby([dim, "side"], sort=True)[metrics].sum(min_count=1).reset_index()
            live = summed[summed["side"] == "live"].drop(columns="side").set_index(dim)
            poc = summed[summed["side"] == "poc"].drop(columns="side").set_index(dim)
            joined = live.join(poc, how="outer", lsuffix="__live", rsuffix="__poc")
            rows = []
            for metric in metrics:
                a = joined.get(f"{metric}__live", pd.Series(np.nan, index=joined.index)).to_numpy(float)
                b = joined.get(f"{metric}__poc", pd.Series(np.nan, index=joined.index)).to_numpy(float)
                rows.append(pd.DataFrame({"group": joined.index, "metric": metric, "live": a, "poc": b}))
            out[dim] = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
        return out

    def differing_totals(self, limit: int = 200) -> dict[str, list[dict[str, Any]]]:
        """The totals that disagree beyond the tolerance (a group on one side only counts as disagreeing)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for dim, frame in self.totals().items():
            if frame.empty:
                found[dim] = []
                continue
            a, b = frame["live"].to_numpy(float), frame["poc"].to_numpy(float)
            # a missing group on one side is a sum of nothing: 0, which still differs from a non-zero sum
            differs = ~close(np.nan_to_num(a), np.nan_to_num(b), self.tolerance)
            sel = frame[differs].head(limit)
            found[dim] = [
                {"group": _plain(r.group), "metric": r.metric, "live": _plain(r.live), "poc": _plain(r.poc),
                 "rel_diff": _rel(r.live, r.poc)}
                for r in sel.itertuples(index=False)
            ]
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "rows": {"live": self.live_rows, "poc": self.poc_rows, "equal": self.equal_rows,
                     "changed": self.changed_rows, "missing_in_poc": self.missing_rows,
                     "extra_in_poc": self.extra_rows},
            "changed_columns": dict(sorted(self.changed_columns.items())),
            "differing_days": [{"day": d, "rows": n} for d, n in sorted(self.differing_days.items(), key=_by_key)],
            "differing_namespaces": [{"namespace": ns, "rows": n}
                                     for ns, n in sorted(self.differing_namespaces.items(), key=_by_key)],
            "tolerance": {"rel": self.tolerance.rel, "abs": self.tolerance.abs},
        }


def _by_key(item: tuple[Any, int]) -> str:
    return "" if item[0] is None else str(item[0])


def _rel(a: float, b: float) -> float | None:
    a, b = (0.0 if math.isnan(a) else a), (0.0 if math.isnan(b) else b)
    scale = max(abs(a), abs(b))
    return None if scale == 0 else abs(a - b) / scale


def shape_of(columns: Sequence[str], numbers: Sequence[str], json_columns: Sequence[str] = (),
             ignore: Sequence[str] = ()) -> TableShape:
    """A TableShape from a table's compared columns: numbers as given, every other column a key."""
    ignored = set(ignore)
    nums = tuple(c for c in columns if c in set(numbers) and c not in ignored)
    keys = tuple(c for c in columns if c not in set(numbers) and c not in ignored)
    return TableShape(keys, nums, frozenset(json_columns), frozenset(ignored))
