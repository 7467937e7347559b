"""ParquetSource: row groups chosen by their interval_start statistics, projection, type checks, named errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.errors import InputFileError
from poc_tasks.io.fs import filesystem
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource

COLUMNS = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("node", STRING), ColumnSpec("v", NUMBER),
           ColumnSpec("extra", STRING, required=False)]


def _write(path, days_hours: list[tuple[int, int]], row_group_size: int = 2, **overrides) -> str:
    ts = [dt.datetime(2026, 1, d, h) for d, h in days_hours]
    data = {"interval_start": pa.array(ts, pa.timestamp("ms")), "node": [f"n{i}" for i in range(len(ts))],
            "v": [float(i) for i in range(len(ts))]}
    data.update(overrides)
    pq.write_table(pa.table(data), path, row_group_size=row_group_size)
    return str(path)


def test_reads_only_the_day_and_only_overlapping_row_groups(tmp_path):
    f = _write(tmp_path / "a.parquet", [(1, 0), (1, 23), (2, 0), (2, 5), (3, 1), (3, 2)])
    src = ParquetSource(filesystem(str(tmp_path)), [f], COLUMNS, "t")
    got = list(src.read_day(dt.date(2026, 1, 2), ["node", "v", "extra"]))
    assert [t.column("node").to_pylist() for _p, t in got] == [["n2", "n3"]]
    assert got[0][1].column("extra").null_count == 2  # optional column the file lacks: NULLs
    assert src.rows_read == 2
    assert src.min_time(dt.datetime(2026, 1, 1, 12), dt.datetime(2026, 1, 4)) == dt.datetime(2026, 1, 1, 23)


def test_exported_index_is_reused_without_reading_footers(tmp_path):
    f = _write(tmp_path / "a.parquet", [(1, 0), (2, 0)])
    src = ParquetSource(filesystem(str(tmp_path)), [f], COLUMNS, "t")
    again = ParquetSource(filesystem(str(tmp_path)), [], COLUMNS, "t", index=src.export_index())
    assert again.files == [f]
    assert [t.num_rows for _p, t in again.read_day(dt.date(2026, 1, 2), ["v"])] == [1]


def test_missing_required_column_names_file_and_column(tmp_path):
    f = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"interval_start": pa.array([dt.datetime(2026, 1, 1)], pa.timestamp("ms")),
                             "node": ["n"]}), f)
    with pytest.raises(InputFileError, match=r"bad\.parquet.*'v'") as err:
        ParquetSource(filesystem(str(tmp_path)), [str(f)], COLUMNS, "t").index()
    assert err.value.column == "v"


def test_wrong_type_names_file_and_column(tmp_path):
    f = _write(tmp_path / "w.parquet", [(1, 0)], v=["oops"])
    with pytest.raises(InputFileError, match=r"w\.parquet, column 'v'.*expected a number"):
        ParquetSource(filesystem(str(tmp_path)), [f], COLUMNS, "t").index()


def test_corrupt_file_is_named(tmp_path):
    f = tmp_path / "c.parquet"
    f.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputFileError, match=r"c\.parquet: not a readable Parquet file"):
        ParquetSource(filesystem(str(tmp_path)), [str(f)], COLUMNS, "t").index()


def test_tz_aware_and_other_units_are_read_as_utc_naive_ms(tmp_path):
    ts = pa.array([dt.datetime(2026, 1, 2, 1, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC"))
    f = _write(tmp_path / "tz.parquet", [(2, 1)], interval_start=ts)
    got = list(ParquetSource(filesystem(str(tmp_path)), [f], COLUMNS, "t").read_day(dt.date(2026, 1, 2), ["v"]))
    assert got[0][1].num_rows == 1
