"""Embedded services for the demo and the tests: a throwaway PostgreSQL, a free TCP port.

The embedded PostgreSQL comes from the ``pgserver`` package (the ``embedded`` extra): a real PostgreSQL
binary shipped on PyPI, started on a Unix socket inside the data directory, so nothing else on the machine
needs to be installed or configured. Where pgserver is missing or cannot start, ``POC_DATABASE_URL`` is used
instead, so the same code runs against any PostgreSQL the user names.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from poc_tasks.errors import ConfigurationError
from poc_tasks.settings import redact_url

__all__ = ["embedded_postgres", "free_port"]

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it; another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _import_pgserver() -> Any:
    # pgserver asks platformdirs for a runtime dir at import time; without XDG_RUNTIME_DIR (root, CI, cron)
    # platformdirs warns and falls back to /tmp, which is fine for us, so the warning is only noise (and an
    # error under pytest's "warnings are errors").
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # type: ignore[import-untyped]

    return pgserver


@contextmanager
def embedded_postgres(data_dir: str | os.PathLike[str]) -> Iterator[str]:
    """Start a PostgreSQL server whose data lives in ``data_dir``; yield its ``postgresql://`` URL; stop it.

    The URL reaches the server over a Unix socket (``postgresql://postgres:@/postgres?host=<socket dir>``),
    which both libpq and SQLAlchemy understand. The data directory is kept, so a second start reuses the
    databases of the first. If pgserver is not installed or cannot start, the URL in ``POC_DATABASE_URL`` is
    yielded instead (and nothing is stopped on exit); without it, ConfigurationError says what to do.
    """
    server, reason = _start_pgserver(Path(data_dir))
    if server is None:
        # Outside the except blocks on purpose: an error in the caller's block must not read as a pgserver one.
        yield _fallback_url(reason)
        return
    try:
        yield server.get_uri()
    finally:
        # pgserver keeps one handle per process and data dir; cleanup() stops the server when this process
        # holds the last handle (its own atexit hook then finds nothing left to do).
        server.cleanup()


def _start_pgserver(data_dir: Path) -> tuple[Any | None, str]:
    """The running pgserver handle, or None and why not."""
    try:
        pgserver = _import_pgserver()
    except ImportError as exc:
        return None, f"the pgserver package is not installed ({exc})"
    path = data_dir.expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return pgserver.get_server(path, cleanup_mode="stop"), ""
    except Exception as exc:  # noqa: BLE001 - pgserver raises whatever initdb/pg_ctl/the OS raise
        log.warning("embedded PostgreSQL did not start in %s: %s", path, exc)
        return None, f"pgserver could not start PostgreSQL in {path} ({type(exc).__name__}: {exc})"


def _fallback_url(reason: str) -> str:
    url = os.environ.get("POC_DATABASE_URL")
    if not url:
        raise ConfigurationError(
            f"no embedded PostgreSQL: {reason}. Install the 'embedded' extra (pip install 'poc_tasks[embedded]') "
            "or set POC_DATABASE_URL to a PostgreSQL server, e.g. postgresql://postgres@127.0.0.1:5432/postgres"
        )
    log.info("using POC_DATABASE_URL %s instead of an embedded PostgreSQL: %s", redact_url(url), reason)
    return url
