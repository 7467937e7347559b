"""Which cloud lines belong to a cluster: resource-id matching and tag matching, as Koku's SQL decides it.

Resource ids (spec ocp-on-cloud.md §4.1): a cloud resource id is *matchable* when it **ends with** a node's
``resource_id``, a ``persistentvolume`` name or a non-empty ``csi_volume_handle`` seen in the OCP data of the
chunk. The later joins of step 2 use **contains** (``strpos(cloud_id, ocp_id) != 0``) instead; both tests are
exact and case-sensitive.

Tags (§3, §4.1): a line that is not resource-matched is tag-matched when one of the candidate strings
(``"key": "value"``; see jsontext.candidate_string) occurs, case-sensitively, in the line's *raw* tag JSON
text. The candidates are the matched tag strings (keys enabled for both the cloud and OpenShift whose values
match case-insensitively), plus ``"openshift_cluster": "<cluster id>"``, ``"openshift_cluster": "<alias>"``,
``"openshift_node": "<node>"`` and ``"openshift_project": "<namespace>"`` for the chunk's nodes and namespaces.
The attribution join (:func:`tag_join_mask`) then compares the *filtered* tags with each OCP row.

Both searches work on distinct strings, so the cost grows with the number of distinct resource ids / tag texts,
not with the number of lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from poc_tasks.cloud.frames import mapped_once
from poc_tasks.cloud.jsontext import (
    TagJsonError,
    candidate_string,
    distinct_pairs,
    filter_text,
    json_query_scalar,
    parse_map,
)
from poc_tasks.errors import InputFileError

__all__ = [
    "SuffixMatcher",
    "ContainsMatcher",
    "fallback_matched_tags",
    "contained_pairs",
    "special_candidates",
    "tag_candidates",
    "matched_tag",
    "TagKey",
    "tag_join_mask",
    "SPECIAL_NAMESPACES",
    "matched_tags_from_pairs",
]

# OCP rows that never take tag-matched cost (step 2 tag join and the cluster count exclude them).
SPECIAL_NAMESPACES = frozenset({"Worker unallocated", "Platform unallocated", "Storage unattributed",
                                "Network unattributed"})


class SuffixMatcher:
    """``substr(s, -length(x)) = x`` for any needle x: does s end with one of the needles? Empty needles never
    match (Koku filters them out before the test)."""

    def __init__(self, needles: Iterable[str | None]) -> None:
        self.needles = frozenset(n for n in needles if n)
        self.lengths = sorted({len(n) for n in self.needles})

    def matches(self, value: str | None) -> bool:
        if not value:
            return False
        size = len(value)
        return any(value[size - n:] in self.needles for n in self.lengths if n <= size)


def contained_pairs(haystacks: Iterable[str | None], needles: Iterable[str | None]) -> pd.DataFrame:
    """Every (haystack, needle) with ``strpos(haystack, needle) != 0``, needle non-empty.

    Columns ``haystack`` and ``needle``. Each haystack is cut into substrings of the needles' lengths, so the work
    is (distinct haystacks) x (distinct needle lengths) x (haystack length), not haystacks x needles.
    """
    wanted = frozenset(n for n in needles if n)
    lengths = sorted({len(n) for n in wanted})
    hay_out: list[str] = []
    needle_out: list[str] = []
    # Sorted, not set order: the pairs' order reaches float sums downstream, and a set of str iterates in an order
    # that changes with PYTHONHASHSEED, which made reruns differ in the last bit.
    for hay in sorted({h for h in haystacks if h}):
        found: set[str] = set()
        size = len(hay)
        for n in lengths:
            for i in range(size - n + 1):
                piece = hay[i:i + n]
                if piece in wanted:
                    found.add(piece)
        for needle in sorted(found):
            hay_out.append(hay)
            needle_out.append(needle)
    return pd.DataFrame({"haystack": pd.Series(hay_out, dtype=object), "needle": pd.Series(needle_out, dtype=object)})


def _fmt(value: str | None) -> str:
    """Trino's format('%s', NULL) writes 'null'."""
    return "null" if value is None else value


def special_candidates(cluster_id: str, cluster_alias: str, nodes: Iterable[str | None],
                       namespaces: Iterable[str | None]) -> set[str]:
    """ocp_special_matched_tags.sql: the openshift_cluster / openshift_node / openshift_project candidates."""
    out = {f'"openshift_cluster": "{_fmt(cluster_id)}"', f'"openshift_cluster": "{_fmt(cluster_alias)}"'}
    out.update(f'"openshift_node": "{_fmt(n)}"' for n in nodes)
    out.update(f'"openshift_project": "{_fmt(ns)}"' for ns in namespaces)
    return out


def tag_candidates(matched_tag_strings: Iterable[str], special: Iterable[str]) -> list[str]:
    """The matched_tag_array: the UNION (distinct) of both lists, in a stable order."""
    return sorted(set(matched_tag_strings) | set(special))


def matched_tag(raw_tags: str | None, candidates: Sequence[str]) -> str | None:
    """The comma-joined candidates found in the raw tag text; None when none is (or the text is NULL)."""
    if not raw_tags or not candidates:
        return None
    hits = [c for c in candidates if c in raw_tags]
    return ",".join(hits) if hits else None


def matched_tags_from_pairs(cloud_pairs: Iterable[tuple[str, str | None]],
                            ocp_pairs: Iterable[tuple[str, str | None]]) -> list[str]:
    """Koku's matched-tag discovery join: cloud (key, value) pairs whose key and value equal an OpenShift label's
    case-insensitively, as candidate strings (spelled as the cloud spells them)."""
    ocp = {(k.lower(), v.lower()) for k, v in ocp_pairs if v is not None}
    out = {candidate_string(k, v) for k, v in cloud_pairs if v is not None and (k.lower(), v.lower()) in ocp}
    return sorted(out)


@dataclass(frozen=True)
class TagKey:
    """What the tag join needs of a tag-matched cloud line: its filtered tags and its matched candidates."""

    tags: str | None
    matched_tag: str | None
    project: str | None = field(init=False)
    node: str | None = field(init=False)
    cluster: str | None = field(init=False)
    label_needles: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "project", json_query_scalar(self.tags, "openshift_project"))
        object.__setattr__(self, "node", json_query_scalar(self.tags, "openshift_node"))
        object.__setattr__(self, "cluster", json_query_scalar(self.tags, "openshift_cluster"))
        needles: tuple[str, ...] = ()
        if self.matched_tag:  # split(matched_tag, ',') then replace(x, ' '): every space goes, values' too
            needles = tuple(dict.fromkeys(x.replace(" ", "") for x in self.matched_tag.split(",")))
        object.__setattr__(self, "label_needles", needles)


def _factorized(ocp: pd.DataFrame, column: str, cache: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of an OCP column, kept in `cache` (keys with a NUL, which no needle has): a day's
    OCP rows repeat their labels, nodes and namespaces, so tests run once per distinct value."""
    key = "\x00" + column
    if key not in cache:
        codes, uniques = pd.factorize(ocp[column].to_numpy(dtype=object), use_na_sentinel=True)
        cache[key], cache[key + "\x00"] = codes, np.asarray(uniques, dtype=object)
    return cache[key], cache[key + "\x00"]


def _on_distinct(ocp: pd.DataFrame, column: str, test, cache: dict[str, np.ndarray]) -> np.ndarray:
    """test(value) for each row's value of `column`, evaluated once per distinct value; NULL rows are False."""
    codes, uniques = _factorized(ocp, column, cache)
    hits = np.fromiter((bool(test(u)) for u in uniques), dtype=bool, count=len(uniques))
    return np.append(hits, False)[codes]  # code -1 (NULL) takes the appended False


def _equals(ocp: pd.DataFrame, column: str, value: str | None, cache: dict[str, np.ndarray]) -> np.ndarray:
    if value is None:
        return np.zeros(len(ocp), dtype=bool)
    key = f"\x00={column}\x00{value}"
    if key not in cache:
        cache[key] = _on_distinct(ocp, column, lambda u: u == value, cache)
    return cache[key]


def _contains(ocp: pd.DataFrame, column: str, needle: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    return _on_distinct(ocp, column, lambda u: isinstance(u, str) and needle in u, cache)


def tag_join_mask(key: TagKey, ocp: pd.DataFrame, cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The OCP rows a tag-matched line joins (step 2 tag matching and the cluster count), as a boolean mask.

    A row joins when its namespace is not one of SPECIAL_NAMESPACES (nor NULL) and one of: the line's
    ``openshift_project`` tag equals the namespace; ``openshift_node`` equals the node; ``openshift_cluster``
    equals the cluster alias or id; a candidate without spaces occurs in ``pod_labels`` or ``volume_labels``.
    `cache` memoises, for one OCP frame, the label substring masks per needle, the equality masks and the
    distinct values of the columns tested.
    """
    if ocp.empty:
        return np.zeros(0, dtype=bool)
    cache = {} if cache is None else cache
    mask = _equals(ocp, "namespace", key.project, cache) | _equals(ocp, "node", key.node, cache)
    mask |= _equals(ocp, "cluster_alias", key.cluster, cache) | _equals(ocp, "cluster_id", key.cluster, cache)
    for needle in key.label_needles:
        hit = cache.get(needle)
        if hit is None:
            hit = cache[needle] = (_contains(ocp, "pod_labels", needle, cache)
                                   | _contains(ocp, "volume_labels", needle, cache))
        mask |= hit
    allowed = cache.get("\x00allowed")
    if allowed is None:
        allowed = cache["\x00allowed"] = _on_distinct(ocp, "namespace", lambda u: u not in SPECIAL_NAMESPACES,
                                                      cache)
    return mask & allowed


def label_pairs(texts: Iterable[str | None], keys: Iterable[str]) -> set[tuple[str, str | None]]:
    """(key, value) pairs of the map texts that contain one of `keys` as a substring (Koku's ``any_match(keys,
    x -> strpos(text, x) != 0)`` row filter of the Trino matched-tag query), every pair of such a text."""
    keys = [k for k in keys if k]
    chosen = [t for t in set(texts) if t and any(k in t for k in keys)]
    return distinct_pairs(chosen)


def parse_ok(text: str | None) -> bool:
    """True if the text is a tag object Koku's SQL can cast to a map."""
    try:
        parse_map(text)
    except ValueError:
        return False
    return True


class ContainsMatcher:
    """``strpos(haystack, needle) != 0`` for any of the needles (Azure's and GCP's step-1 resource match), cached per
    haystack. Empty needles are left out, as Koku's ``node != ''`` / ``persistentvolume != ''`` filters do."""

    def __init__(self, needles: Iterable[str | None]) -> None:
        self.needles = frozenset(n for n in needles if n)
        self.lengths = sorted({len(n) for n in self.needles})
        self._cache: dict[str, bool] = {}

    def matches(self, haystack: str | None) -> bool:
        if not haystack or not self.needles:
            return False
        hit = self._cache.get(haystack)
        if hit is None:
            size = len(haystack)
            hit = any(haystack[i:i + n] in self.needles for n in self.lengths if n <= size
                      for i in range(size - n + 1))
            self._cache[haystack] = hit
        return hit


def fallback_matched_tags(cloud_pairs: Iterable[tuple[str, str | None]],
                          pod_pairs: Iterable[tuple[str, str | None]],
                          volume_pairs: Iterable[tuple[str, str | None]],
                          cloud_enabled: Iterable[str], any_keys: Iterable[str], ocp_keys: Iterable[str]) -> list[str]:
    """Koku's Azure / GCP Trino matched-tag query (reporting_ocp{azure,gcp}_matched_tags.sql), as candidates.

    A cloud (key, value) whose key is enabled for the cloud (exact key) matches an OpenShift pod-label pair or
    volume-label pair when keys and values are equal case-insensitively; a pod-label key must be listed in
    reporting_enabledtagkeys for *any* provider (enabled or not: the SQL's ``pod_key = otk.key OR volume_key =
    otk.key AND provider_type = 'OCP'`` binds the provider test to the volume key only), a volume-label key for OCP.
    (Pod rows have no volume labels and Storage rows no pod labels, so the SQL's zipped UNNEST pairs each row's
    labels with NULLs.)"""
    enabled, anyk, ocpk = frozenset(cloud_enabled), frozenset(any_keys), frozenset(ocp_keys)
    ocp = {(k.lower(), v.lower()) for k, v in pod_pairs if v is not None and k in anyk}
    ocp |= {(k.lower(), v.lower()) for k, v in volume_pairs if v is not None and k in ocpk}
    return sorted({candidate_string(k, v) for k, v in cloud_pairs
                   if v is not None and k in enabled and (k.lower(), v.lower()) in ocp})


OPENSHIFT_TAG_KEYS = ("openshift_cluster", "openshift_node", "openshift_project")


def step1_lines(matched: np.ndarray, raw_tags: pd.Series, candidates: Sequence[str], enabled_keys: Iterable[str],
                path_hint: str, column: str, what: str = "tag") -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Koku's step 1 filter, the same for every cloud: a line is kept when its resource matched (`matched`) or, if
    not, when a candidate occurs in its raw tag text (resource matching wins: such lines are never tag-matched).
    Returns the keep mask, the kept lines' matched tags and their tags filtered to the keys enabled for the cloud
    and the openshift_* keys; a tag text that is not a JSON object raises InputFileError naming `column`."""
    hits = mapped_once(raw_tags, lambda t: matched_tag(t, candidates)).where(~matched, None)
    keep = matched | hits.notna().to_numpy()
    keys = frozenset(enabled_keys) | frozenset(OPENSHIFT_TAG_KEYS)
    try:
        tags = mapped_once(raw_tags[keep], lambda t: filter_text(t, keys))
    except TagJsonError as exc:
        raise InputFileError(path_hint, f"unusable {what} JSON: {exc}", column) from exc
    return keep, hits[keep], tags
