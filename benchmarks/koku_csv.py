"""Koku's CSV -> Parquet conventions shared by the nise converters of the cloud providers (AWS, Azure, GCP).

Facts read in Koku's masu/util/common.py; nothing is copied from Koku.
"""

from __future__ import annotations

import re

__all__ = ["normalise"]


def normalise(name: str) -> str:
    """Koku's strip_characters_from_column_name: runs of non-word characters -> '_', lower case."""
    return re.sub(r"\W+", "_", name).lower()
