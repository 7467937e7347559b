"""poc_tasks.koku.cost_model's step hook (patch 0009): Koku's use_rtu and the vm_ui_summary step reach the task.

The message is captured at Koku's Celery app (send_task), the wait answered at once: what is checked here is what
Koku's process sends, not the worker (tests/integration/test_cost_model.py runs the steps on a worker).
"""

from __future__ import annotations

from typing import Any

import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.koku import RoutingConfig
from poc_tasks.koku import wait as koku_wait
from poc_tasks.koku.cost_model import (
    COST_MODEL_STEPS,
    COST_MODEL_TASK,
    KOKU_CALL_SITES,
    OPTIONAL_STEPS,
    RTU_STEPS,
    cost_model_kwargs,
    cost_model_step_or_trino,
)

SOURCE = "6e0b8b1a-0d2c-4b8e-9a4e-5f1c2d3e4f50"
ARGS = {"schema_name": "org1234567", "provider_uuid": SOURCE, "start_date": "2026-01-01", "end_date": "2026-01-31",
        "cluster_id": "my-cluster"}
ON = RoutingConfig(enabled=True, percent=100, providers=frozenset({"OCP"}))


class KokuApp:
    """Koku's Celery app as the hook uses it: send_task by name; every message kept."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_task(self, name: str, kwargs: dict[str, Any] | None = None, queue: str | None = None,
                  task_id: str | None = None) -> str:
        self.sent.append({"name": name, "kwargs": kwargs, "queue": queue, "task_id": task_id})
        return task_id or "sent"


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's answer, at once: send, then return what a finished apply_ocp_cost_model returns."""
    def send_and_wait(app: Any, send: Any, timeout: float, what: str) -> dict[str, Any]:
        send("task-1")
        return {"steps": {}}

    monkeypatch.setattr(koku_wait, "send_and_wait", send_and_wait)


def test_use_rtu_defaults_to_koku_s_legacy_path_and_is_sent_as_given() -> None:
    assert cost_model_kwargs(**ARGS)["use_rtu"] is False  # Koku's flag is off unless Unleash says otherwise
    assert cost_model_kwargs(**ARGS, use_rtu=True)["use_rtu"] is True


@pytest.mark.parametrize("value", ["true", "False", 1, 0, None])
def test_use_rtu_that_is_not_a_bool_is_refused(value: Any) -> None:
    # "False" is truthy: taken as given it would run the other pipeline and write rates_to_usage instead
    with pytest.raises(InvalidArgument, match="use_rtu"):
        cost_model_kwargs(**ARGS, use_rtu=value)


def test_vm_ui_summary_is_a_step_koku_can_send_and_names_its_call_site() -> None:
    assert "vm_ui_summary" in OPTIONAL_STEPS and "vm_ui_summary" not in COST_MODEL_STEPS  # sent only when named
    assert cost_model_kwargs(**ARGS, steps=["vm_ui_summary"])["steps"] == ["vm_ui_summary"]
    assert "_populate_virtualization_ui_summary_table" in KOKU_CALL_SITES["vm_ui_summary"]
    assert set(KOKU_CALL_SITES) == set(COST_MODEL_STEPS + OPTIONAL_STEPS)
    # the worker's list of steps (cost_model.flow) is the same as the one Koku's process validates against
    from poc_tasks.cost_model import flow

    assert (COST_MODEL_STEPS, OPTIONAL_STEPS) == (flow.STEPS, flow.OPTIONAL_STEPS)
    # the UI and scratch-table steps have no _rtu variant; every other step has one
    assert set(RTU_STEPS) == set(COST_MODEL_STEPS + OPTIONAL_STEPS) - {"vm_ui_summary", "gpu_ui_usage_only",
                                                                        "vm_tmp_table"}


@pytest.mark.parametrize(("step", "use_rtu"), [("vm_core_monthly", True), ("vm_hourly", False),
                                               ("gpu_distribution", True), ("vm_ui_summary", False)])
def test_the_hook_sends_the_step_and_koku_s_use_rtu_to_the_task(answered: None, step: str, use_rtu: bool) -> None:
    app, koku_calls = KokuApp(), []
    outcome = cost_model_step_or_trino(step, **ARGS, trino=lambda: koku_calls.append(step), app=app, config=ON,
                                       use_rtu=use_rtu, tracing_id="t-1")
    assert outcome.path == "poc" and koku_calls == []
    [message] = app.sent
    assert message["name"] == COST_MODEL_TASK and message["queue"] == "poc_aggregation"
    assert message["kwargs"]["steps"] == [step] and message["kwargs"]["use_rtu"] is use_rtu
    assert message["kwargs"]["tracing_id"] == "t-1"


def test_routed_to_trino_koku_s_call_runs_and_nothing_is_sent() -> None:
    app = KokuApp()
    outcome = cost_model_step_or_trino("vm_ui_summary", **ARGS, trino=lambda: "koku's rows", app=app,
                                       config=RoutingConfig(enabled=False), use_rtu=True)
    assert (outcome.path, outcome.result, app.sent) == ("trino", "koku's rows", [])


def test_a_bad_use_rtu_is_refused_before_anything_runs() -> None:
    app, koku_calls = KokuApp(), []
    with pytest.raises(InvalidArgument, match="use_rtu"):
        cost_model_step_or_trino("vm_hourly", **ARGS, trino=lambda: koku_calls.append(1), app=app, config=ON,
                                 use_rtu="yes")
    assert (app.sent, koku_calls) == ([], [])
