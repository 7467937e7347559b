"""Errors that name what is wrong: the file, the column, the task, the argument.

Every error a run can raise on bad input derives from PocTasksError, so the Celery layer and the CLI can tell
"the input is wrong" (do not retry, exit 2) from "something broke" (retry, exit 1).
"""

from __future__ import annotations


class PocTasksError(Exception):
    """Base class of the errors poc_tasks raises on bad input or bad configuration."""


class InvalidArgument(PocTasksError, ValueError):
    """A task or CLI argument is not acceptable (schema name, uuid, date, ...)."""


class MissingInputData(PocTasksError):
    """No Parquet where Koku's layout says there must be some."""


class InputFileError(PocTasksError):
    """A Parquet file is unreadable, lacks a required column, or has a column of the wrong type."""

    def __init__(self, path: str, message: str, column: str | None = None) -> None:
        self.path = path
        self.column = column
        where = f"{path}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")


class ConfigurationError(PocTasksError):
    """A setting is missing or malformed."""
