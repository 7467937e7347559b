"""Cost categories: Koku joins namespaces to reporting_ocp_cost_category_namespace with `namespace LIKE pattern`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=1024)
def like_regex(pattern: str) -> re.Pattern[str]:
    """PostgreSQL LIKE (case-sensitive, '%' any run, '_' one character, backslash escapes) as a regex."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def matching_categories(namespace: str | None, patterns: Sequence[tuple[str, int]]) -> list[int]:
    """Category ids of every pattern the namespace matches, once per matching pattern row (Koku's join fans out
    when patterns overlap; callers multiply accordingly). NULL never matches."""
    if namespace is None:
        return []
    return [cat for pat, cat in patterns if like_regex(pat).fullmatch(namespace)]
