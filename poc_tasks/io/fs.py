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


# The credentials variables a user can set (their values are never shown).
S3_CREDENTIAL_VARIABLES = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"


def probe_root(root: str, storage_options: dict[str, Any] | None = None) -> None:
    """Fail fast (ServiceUnavailable, naming the endpoint and the variables to fix) when an s3:// data root
    cannot be listed: one attempt with short timeouts instead of boto's and s3fs's retries (~20 s).
    A local directory is not probed (a missing one is reported as missing data, with its path)."""
    if not root.startswith(("s3://", "s3a://")):
        return
    opts = dict(storage_options or {})
    endpoint = (opts.get("client_kwargs") or {}).get("endpoint_url") or "AWS's default endpoint"
    opts.update(skip_instance_cache=True, use_listings_cache=False,
                config_kwargs={"connect_timeout": 3, "read_timeout": 10, "retries": {"max_attempts": 1}})
    bucket = strip_scheme(root).split("/", 1)[0]
    try:
        fs = fsspec.filesystem("s3", **opts)
        fs.retries = 1  # s3fs's own retry loop (a class attribute, 5 by default)
        fs.ls(bucket, detail=False)
    except Exception as exc:  # noqa: BLE001 - botocore, aiohttp and s3fs raise many kinds; all mean the same here
        from poc_tasks.errors import ServiceUnavailable

        detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        if isinstance(exc, FileNotFoundError):
            fix = f"create bucket {bucket!r} or fix the data root (POC_DATA_ROOT / --data-root)"
        elif isinstance(exc, PermissionError) or "credential" in detail.lower():
            fix = f"check the credentials in {S3_CREDENTIAL_VARIABLES}"
        else:
            fix = (f"check POC_S3_ENDPOINT_URL / --s3-endpoint-url (is the S3 server up?) and the credentials in "
                   f"{S3_CREDENTIAL_VARIABLES}")
        raise ServiceUnavailable(f"cannot list {root} at S3 endpoint {endpoint}: {type(exc).__name__}: {detail}. "
                                 f"Fix: {fix}") from None
