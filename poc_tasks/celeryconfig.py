"""Celery settings for a standalone poc_tasks worker, shaped like Koku's own (koku/koku/settings.py, celery.py).

Loaded by poc_tasks.app with ``app.config_from_object("celeryconfig")``. Inside Koku's workers Koku's own
settings apply instead; the values here mirror them so that a task behaves the same in both places.
Broker and result backend come from CELERY_BROKER_URL / CELERY_RESULT_BACKEND; the default is Koku's
REDIS_URL shape (Redis database 1 for both).
"""

from __future__ import annotations

import os

_DEFAULT_REDIS = "redis://localhost:6379/1"

broker_url = os.environ.get("CELERY_BROKER_URL") or _DEFAULT_REDIS
result_backend = os.environ.get("CELERY_RESULT_BACKEND") or broker_url

# JSON only, as Koku: task arguments are plain values (schema, uuid, ISO dates), never pickles.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

result_expires = 28800  # 8 hours, Koku's CELERY_RESULT_EXPIRES

# One task at a time per process, acknowledged after it ran: a worker that dies mid-run gives the task back
# to the queue, and the tasks are idempotent (each write replaces its rows in one transaction).
worker_prefetch_multiplier = 1
task_acks_late = True
task_reject_on_worker_lost = True

task_default_queue = "poc_aggregation"
task_routes = {"poc_tasks.*": {"queue": "poc_aggregation"}}

# Koku's: give up quickly when the broker is down instead of blocking the caller forever.
# visibility_timeout: how long an unacknowledged message (a task whose whole worker died: no parent left to requeue
# it) waits in Redis before another worker gets it. Koku sets none, so the Redis transport's 3600 s applies there;
# poc_tasks' longest task (a 5-day chunk or the largest table's write of a 500-node month) takes about two minutes,
# so 900 s (POC_VISIBILITY_TIMEOUT; the run lock's POC_LOCK_TTL is the same by default) fits it with room, and a
# killed worker's run resumes within ~15 minutes by itself. A task longer than this would be handed to a second
# worker while it still runs (harmless -- every step is idempotent and writes are serialised in PostgreSQL -- but
# wasted work): raise it with the data.
# kombu looks for such messages every unacked_restore_interval (10 s) times unacked_restore_throttle (default 10:
# every 100 s); throttle 1 makes it every 10 s (one ZRANGE on the unacked index), so the bound is the visibility
# timeout plus 10 s.
broker_transport_options = {"max_retries": 4, "interval_start": 0, "interval_step": 0.5, "interval_max": 3,
                            "visibility_timeout": float(os.environ.get("POC_VISIBILITY_TIMEOUT") or 900),
                            "unacked_restore_throttle": 1}
broker_connection_retry = True
broker_connection_retry_on_startup = True  # explicit: Celery 5.3+ warns when it is left unset
broker_connection_max_retries = 400  # Koku's CELERY_BROKER_CONNECTION_MAX_RETRIES
redis_backend_health_check_interval = 5  # Koku's REDIS_HEALTH_CHECK_INTERVAL
redis_retry_on_timeout = True

# Events for Flower (the worker also needs -E, or worker_send_task_events as here).
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

# Koku keeps its own logging configuration; so do we (the CLI and the worker set up logging themselves).
worker_hijack_root_logger = False
