"""Top-level Celery settings module (`celery --config celeryconfig ...`): the same settings the poc_tasks app
loads from poc_tasks.celeryconfig, which is the one place they are written."""

from poc_tasks.celeryconfig import *  # noqa: F403
