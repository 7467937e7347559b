"""Label and tag JSON as Koku's OCP-on-cloud SQL sees it: JSON *text*, compared as text.

Koku matches cloud tags with OpenShift labels by substring tests on JSON text, so the exact text matters:
- Cloud tags (``resourcetags`` of the AWS Parquet) are written by Python's ``json.dumps``: ``{"k": "v", ...}``
  with one space after ``:`` and ``,``, non-ASCII escaped as ``\\uXXXX``.
- Trino's ``json_format(cast(map AS json))`` writes maps with the keys sorted and no spaces: ``{"k":"v"}``; this
  is the text of the OCP summary's ``pod_labels`` / ``volume_labels`` in Hive and of every map Koku's OCP-on-cloud
  SQL re-serialises (filtered tags, merged labels). :func:`trino_text` produces it.
- PostgreSQL's jsonb text (``{"k": "v"}``, keys ordered by length) is what the OCP summary table gives us; it is
  turned into Trino's text before any comparison.
- A match candidate is ``json.dumps({k: v})`` with every brace removed: ``"k": "v"`` (Koku's
  ``_get_matched_tags_strings``); the OCP side of the test removes every space from it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = [
    "clear_caches",
    "trino_text",
    "parse_map",
    "filter_text",
    "concat_text",
    "canonical_text",
    "json_query_scalar",
    "candidate_string",
    "TagJsonError",
]


# Per-function memo sizes: label and tag texts repeat across a day's rows, but a 50,000-pod cluster has ~50,000
# distinct label texts of a few hundred bytes each, so the memos are bounded (LRU) and cleared for every chunk.
_CACHE = 8192


def clear_caches() -> None:
    """Forget the memoised parses and serialisations (the pipeline calls it after each day)."""
    for fn in (_parse_cached, _filter_cached, _concat_cached, canonical_text, json_query_scalar):
        fn.cache_clear()


class TagJsonError(ValueError):
    """A tag or label text that is not a JSON object of scalars (Trino's cast to map(varchar, varchar) fails)."""


# json.dumps with these options builds a new encoder per call: one encoder, the same text
_TRINO = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def trino_text(mapping: Mapping[str, Any]) -> str:
    """Trino's json_format(cast(map AS json)): keys sorted, no whitespace, non-ASCII as is."""
    return _TRINO.encode(dict(mapping))


def _scalar_text(value: Any) -> str | None:
    """cast(JSON scalar AS varchar): strings as they are, other scalars as their JSON text, null as NULL."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise TagJsonError(f"nested JSON value {value!r} cannot be a tag value")


@lru_cache(maxsize=_CACHE)
def _parse_cached(text: str) -> tuple[tuple[str, str | None], ...]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise TagJsonError(f"not JSON: {text[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise TagJsonError(f"not a JSON object: {text[:80]!r}")
    return tuple((str(k), _scalar_text(v)) for k, v in obj.items())


def parse_map(text: str | None) -> dict[str, str | None] | None:
    """cast(json_parse(text) AS map(varchar, varchar)); NULL stays None.

    An empty string is read as ``{}`` (documented deviation: Trino's json_parse('') fails the whole query; Koku's
    ingestion always writes '{}' for a line without tags, so '' only comes from other writers).
    """
    if text is None:
        return None
    if text == "":
        return {}
    return dict(_parse_cached(text))


@lru_cache(maxsize=_CACHE)
def _filter_cached(text: str, keys: frozenset[str]) -> str:
    mapping = parse_map(text) or {}
    return trino_text({k: v for k, v in mapping.items() if k in keys})


def filter_text(text: str | None, keys: frozenset[str]) -> str | None:
    """json_format(cast(map_filter(cast(json_parse(text) AS map), (k, v) -> contains(keys, k)) AS json)).

    Keys compare case-sensitively; NULL stays NULL; no key left gives '{}'.
    """
    if text is None:
        return None
    return _filter_cached(text, keys)


@lru_cache(maxsize=_CACHE)
def _concat_cached(first: str, second: str) -> str:
    merged = dict(parse_map(first) or {})
    merged.update(parse_map(second) or {})
    return trino_text(merged)


def concat_text(first: str | None, second: str | None) -> str | None:
    """json_format(cast(map_concat(first, second) AS json)): the second map wins; NULL if either is NULL."""
    if first is None or second is None:
        return None
    return _concat_cached(first, second)


@lru_cache(maxsize=_CACHE)
def canonical_text(text: str | None) -> str | None:
    """Any JSON object text (e.g. PostgreSQL's jsonb output) as Trino's map text; NULL stays None."""
    if text is None:
        return None
    return trino_text(parse_map(text) or {})


@lru_cache(maxsize=_CACHE)
def json_query_scalar(text: str | None, key: str) -> str | None:
    """json_query(text, 'strict $.<key>' OMIT QUOTES) on a flat tag object: the value, or NULL when absent."""
    if text is None:
        return None
    mapping = parse_map(text) or {}
    return mapping.get(key)


def candidate_string(key: str, value: str) -> str:
    """``"key": "value"`` as Koku builds it: json.dumps of {key: value} with every '{' and '}' removed."""
    return json.dumps({key: value}).replace("{", "").replace("}", "")


def distinct_pairs(texts: Iterable[str | None]) -> set[tuple[str, str | None]]:
    """Every (key, value) of the given map texts (CROSS JOIN UNNEST(map)), NULL texts contributing none."""
    out: set[tuple[str, str | None]] = set()
    for text in texts:
        mapping = parse_map(text)
        if mapping:
            out.update(mapping.items())
    return out
