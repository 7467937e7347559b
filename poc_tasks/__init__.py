"""poc_tasks: Koku's Trino aggregation steps as Celery tasks.

The Celery app is exposed lazily (``celery -A poc_tasks worker`` finds ``poc_tasks.app``) so that importing
``poc_tasks.koku`` inside Koku's own process neither creates a second Celery app nor pulls in pandas/pyarrow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from poc_tasks.app import app

        return app
    raise AttributeError(f"module 'poc_tasks' has no attribute {name!r}")
