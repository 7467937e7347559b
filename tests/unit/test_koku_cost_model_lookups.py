"""poc_tasks.koku.cost_model's look-up hooks (patch 0009), in-process (inline mode; through a worker:
tests/integration/test_koku_daily.py): Koku's _reporting_period_has_gpu_data and
get_max_min_timestamp_from_parquet answered from the Parquet on the poc_tasks path, by Koku's Trino query otherwise."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.koku import RoutingConfig
from poc_tasks.koku.cost_model import max_min_timestamp_or_trino, reporting_period_has_gpu_data_or_trino

SRC = "6e2e2d3c-8a0a-4b8e-9d8e-0a1b2c3d4e5f"
ON = RoutingConfig(enabled=True, percent=100, providers=frozenset({"OCP"}), mode="inline")  # no worker here
OFF = RoutingConfig(enabled=False)


class Trino:
    def __init__(self, value: object) -> None:
        self.calls, self.value = 0, value

    def __call__(self) -> object:
        self.calls += 1
        return self.value


@pytest.fixture
def root(tmp_path, monkeypatch) -> str:
    root = str(tmp_path)
    monkeypatch.setenv("POC_DATA_ROOT", root)
    for report, times in (("pod_usage", [dt.datetime(2026, 4, 2, 5), dt.datetime(2026, 4, 9, 23)]),
                          ("gpu_usage", [dt.datetime(2026, 4, 3)])):
        folder = ocp_prefix(root, "org1", report, SRC, "2026", "04", True)
        (tmp_path / folder.removeprefix(root + "/")).mkdir(parents=True)
        pq.write_table(pa.table({"interval_start": pa.array(times, pa.timestamp("ms"))}), f"{folder}/x_0.parquet")
    return root


def test_poc_path_reads_the_parquet_and_the_trino_path_runs_only_kokus_query(root) -> None:
    args = {"schema_name": "org1", "source_uuid": SRC}
    trino = Trino(False)
    assert reporting_period_has_gpu_data_or_trino(**args, start_date="2026-04-17", trino=trino, config=ON).result
    assert not reporting_period_has_gpu_data_or_trino(**args, start_date=dt.date(2026, 5, 1), trino=trino,
                                                      config=ON).result
    assert trino.calls == 0
    off = reporting_period_has_gpu_data_or_trino(**args, start_date="2026-04-17", trino=trino, config=OFF)
    assert (off.path, off.result, trino.calls) == ("trino", False, 1)

    koku_answer = (dt.datetime(2026, 4, 1), dt.datetime(2026, 4, 30))
    trino = Trino(koku_answer)
    out = max_min_timestamp_or_trino(**args, start_date=dt.date(2026, 4, 1), end_date=dt.date(2026, 4, 30),
                                     trino=trino, config=ON)
    assert (out.path, out.result) == ("poc", (dt.datetime(2026, 4, 2, 5), dt.datetime(2026, 4, 9, 23)))
    # no row in the range: Koku's defaults, the midnights of start and end
    out = max_min_timestamp_or_trino(**args, start_date="2026-04-20", end_date="2026-04-25", trino=trino, config=ON)
    assert out.result == (dt.datetime(2026, 4, 20), dt.datetime(2026, 4, 25)) and trino.calls == 0
    out = max_min_timestamp_or_trino(**args, start_date="2026-04-01", end_date="2026-04-30", trino=trino, config=OFF)
    assert (out.path, out.result, trino.calls) == ("trino", koku_answer, 1)


def test_unreadable_parquet_or_no_data_root_falls_back_and_bad_arguments_raise(root, tmp_path, monkeypatch) -> None:
    args = {"schema_name": "org1", "source_uuid": SRC, "start_date": "2026-04-01", "end_date": "2026-04-30"}
    for f in tmp_path.rglob("*.parquet"):
        f.write_bytes(b"not parquet")
    trino = Trino((None, None))
    out = max_min_timestamp_or_trino(**args, trino=trino, config=ON)
    assert (out.path, out.result, trino.calls) == ("fallback", (None, None), 1) and "x_0.parquet" in out.error
    monkeypatch.delenv("POC_DATA_ROOT")
    trino = Trino(True)
    out = reporting_period_has_gpu_data_or_trino(schema_name="org1", source_uuid=SRC, start_date="2026-04-01",
                                                 trino=trino, config=ON)
    assert (out.path, out.result, trino.calls) == ("fallback", True, 1)
    with pytest.raises(InvalidArgument, match="end_date"):
        max_min_timestamp_or_trino(**{**args, "end_date": "2026-03-31"}, trino=trino, config=ON)
    with pytest.raises(InvalidArgument, match="public"):
        reporting_period_has_gpu_data_or_trino(schema_name="public", source_uuid=SRC, start_date="2026-04-01",
                                               trino=trino, config=ON)
    assert trino.calls == 1
