"""One filesystem abstraction for local directories and s3:// buckets (fsspec/s3fs)."""

from __future__ import annotations

from typing import Any

import fsspec


def filesystem(root: str, storage_options: dict[str, Any] | None = None) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem for a data root: s3fs (custom endpoint allowed) or the local disk."""
    if root.startswith(("s3://", "s3a://")):
        opts = dict(storage_options or {})
        # Koku's ingestion writes without listing caches; we must see files written a moment ago.
        opts.setdefault("use_listings_cache", False)
        return fsspec.filesystem("s3", **opts)
    return fsspec.filesystem("file")


def strip_scheme(path: str) -> str:
    for scheme in ("s3://", "s3a://", "file://"):
        if path.startswith(scheme):
            return path[len(scheme) :]
    return path


def list_parquet(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    """Parquet files directly in a folder, sorted; [] if the folder does not exist."""
    path = strip_scheme(folder)
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    return sorted(p for p in entries if p.endswith(".parquet"))
