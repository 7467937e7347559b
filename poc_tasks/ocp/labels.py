"""OpenShift label handling as Koku's PostgreSQL port does it (filter_json_by_keys, jsonb ||).

Labels arrive as JSON text ('{"app": "web"}', '{}' or ''), one string per row. Each distinct string is parsed once
(LabelParser caches), filtered to the tenant's enabled keys, and represented by a canonical JSON text (sorted keys,
compact) so that equal maps compare equal, as jsonb values do in Koku's GROUP BY.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from poc_tasks.errors import InputFileError

# Koku always adds this key in front of the tenant's enabled OCP keys (cte_pg_enabled_keys).
ALWAYS_ENABLED_KEY = "vm_kubevirt_io_name"
EMPTY = "{}"

LabelMap = dict[str, Any]


def enabled_key_set(enabled_keys: Iterable[str]) -> frozenset[str]:
    """The keys Koku keeps: 'vm_kubevirt_io_name' plus the enabled OCP keys (the PG port keeps the literal even
    when no key is enabled, since array || NULL is the array there)."""
    return frozenset([ALWAYS_ENABLED_KEY, *enabled_keys])


def _as_text(value: Any) -> str | None:
    """The value jsonb_each_text would give: strings as they are, JSON null as NULL, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def canonical(labels: Mapping[str, Any]) -> str:
    """One text per label map: equal maps give equal texts (like jsonb equality)."""
    if not labels:
        return EMPTY
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def from_canonical(text: str | None) -> LabelMap:
    return {} if not text else json.loads(text)


class LabelParser:
    """Parses and filters label JSON texts, each distinct text once per run."""

    def __init__(self, enabled_keys: Iterable[str]) -> None:
        self.enabled = enabled_key_set(enabled_keys)
        self._parsed: dict[str, LabelMap] = {}
        self._filtered: dict[str, str] = {}

    def parse(self, raw: str | None, path: str = "?", column: str = "labels") -> LabelMap:
        if raw is None or not raw.strip():
            return {}
        hit = self._parsed.get(raw)
        if hit is not None:
            return hit
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise InputFileError(path, f"label text {raw[:80]!r} is not JSON ({exc})", column) from exc
        if not isinstance(value, dict):
            raise InputFileError(path, f"label text {raw[:80]!r} is not a JSON object", column)
        self._parsed[raw] = value
        return value

    def keys_seen(self) -> set[str]:
        """Every label key of the texts parsed so far, enabled or not (what Koku's ingestion records)."""
        keys: set[str] = set()
        for parsed in self._parsed.values():
            keys.update(parsed)
        return keys

    def validate(self, raws: Iterable[str | None], path: str, column: str) -> None:
        """Parse every distinct text now, so a bad one is reported with the file it came from."""
        for raw in raws:
            if raw is not None and raw not in self._parsed:
                self.parse(raw, path, column)

    def filtered(self, raw: str | None) -> str:
        """Canonical text of the label map restricted to the enabled keys ('{}' when nothing is left)."""
        key = raw if raw is not None else ""
        hit = self._filtered.get(key)
        if hit is None:
            parsed = self.parse(raw)
            hit = canonical({k: _as_text(v) for k, v in parsed.items() if k in self.enabled})
            self._filtered[key] = hit
        return hit


@lru_cache(maxsize=262_144)
def _loads(text: str) -> LabelMap:
    return json.loads(text)


@lru_cache(maxsize=262_144)  # the same node/namespace/pod label texts meet again day after day
def merge(*canonical_texts: str | None) -> str:
    """jsonb || chained left to right: later maps win on equal keys (node < namespace < pod, or < PV < PVC)."""
    present = [t for t in canonical_texts if t and t != EMPTY]
    if len(present) <= 1:
        return present[0] if present else EMPTY
    out: LabelMap = {}
    for text in present:
        out.update(_loads(text))
    return canonical(out)
