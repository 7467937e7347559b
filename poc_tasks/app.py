"""The Celery app of a standalone poc_tasks worker (`celery -A poc_tasks worker -Q poc_aggregation`).

Inside Koku, tasks are sent by name through Koku's own app (poc_tasks.koku); only the worker needs this app.
Settings are Koku-shaped (poc_tasks/celeryconfig.py): JSON, prefetch 1, late acks, Redis from the environment.
"""

from __future__ import annotations

from celery import Celery

QUEUE = "poc_aggregation"
QUEUE_XL = "poc_aggregation_xl"

app = Celery("poc_tasks", include=["poc_tasks.tasks", "poc_tasks.cost_model.tasks", "poc_tasks.lookup_tasks"])
app.config_from_object("poc_tasks.celeryconfig")

# one INFO line per run step in the worker's log, at its default log level (poc_tasks/worker_log.py)
from poc_tasks import worker_log  # noqa: E402

worker_log.install(app)
