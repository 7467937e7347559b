"""Koku's GCP daily summary rules and invoice-month lookups (poc_tasks.daily.gcp, .gcp_lookups), by hand."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.daily import gcp
from poc_tasks.daily.gcp_lookups import (
    fetch_invoice_month_dates,
    get_gcp_topology,
    invoice_date_partitions,
    invoice_window,
)
from poc_tasks.errors import InputFileError
from poc_tasks.settings import Settings

SOURCE = "0b9a43d1-3d6e-4a55-9d2c-6b6e6f0e7a11"
KEYS = frozenset({"app"})
SPEC = json.dumps({"compute.googleapis.com/machine_spec": "n1-standard-2"})


def _line(start: dt.datetime, hours: int = 1, **kw) -> dict:
    base = {"usage_start_time": start, "usage_end_time": start + dt.timedelta(hours=hours),
            "billing_account_id": "0123-4567", "project_id": "proj-a", "project_name": "Project A",
            "service_id": "6F81", "service_description": "Compute Engine", "sku_id": "sku-1",
            "sku_description": "N1 core", "location_region": "us-east1", "system_labels": SPEC,
            "labels": json.dumps({"app": "web", "owner": "x"}), "usage_pricing_unit": "hour",
            "usage_amount_in_pricing_units": 1.0, "currency": "USD", "cost_type": "regular", "cost": 1.0,
            "invoice_month": "202603", "credits": "{}"}
    base.update(kw)
    return base


def _table(lines: list[dict]) -> pa.Table:
    types = {"usage_start_time": pa.timestamp("ms"), "usage_end_time": pa.timestamp("ms"),
             "usage_amount_in_pricing_units": pa.float64(), "cost": pa.float64()}
    cols = [c.name for c in gcp.LINE_COLUMNS]
    return pa.table({c: pa.array([ln[c] for ln in lines], types.get(c, pa.string())) for c in cols})


def _summary(lines: list[dict], markup: str = "0.1", invoice: str = "202603", batches: int = 1) -> list[dict]:
    tbl = _table(lines)
    size = -(-tbl.num_rows // batches)
    parts = [gcp.partial(gcp.line_values(tbl.slice(i, size), KEYS, markup, invoice))
             for i in range(0, tbl.num_rows, size)]
    rows = gcp.summary_rows(parts, 3, SOURCE).to_pylist()
    return sorted(rows, key=lambda r: (r["usage_start"], r["sku_id"], r["region"] or "", str(r["unblended_cost"])))


def test_sums_cast_once_credits_per_line_and_double_markup():
    rows = _summary([
        _line(dt.datetime(2026, 3, 5, 1), cost=0.1, credits=json.dumps({"name": "SUD", "amount": -0.1234567895})),
        _line(dt.datetime(2026, 3, 5, 2), cost=0.2, usage_amount_in_pricing_units=2.5,
              credits=json.dumps({"amount": -0.0000000004})),
    ])
    assert len(rows) == 1
    r = rows[0]
    assert r["unblended_cost"] == Decimal("0.300000000")  # cast(0.1 + 0.2 = 0.30000000000000004 AS decimal(24,9))
    assert r["markup_cost"] == Decimal("0.030000000")  # cast(sum(cost * 0.1) AS decimal)
    assert r["usage_amount"] == Decimal("3.500000000")
    # each credit cast to decimal(24,9) first: -0.123456790 + -0.000000000
    assert r["credit_amount"] == Decimal("-0.123456790")
    assert r["tags"] == '{"app":"web"}'
    assert r["instance_type"] == "n1-standard-2"
    assert (r["usage_start"], r["usage_end"]) == (dt.date(2026, 3, 5), dt.date(2026, 3, 5))
    assert (r["project_name"], r["service_alias"], r["sku_alias"], r["unit"]) == (
        "Project A", "Compute Engine", "N1 core", "hour")
    assert (r["cost_entry_bill_id"], r["source_uuid"], r["invoice_month"], r["line_item_type"]) == (
        3, SOURCE, "202603", "regular")


def test_a_line_ending_after_midnight_is_its_own_group():
    rows = _summary([_line(dt.datetime(2026, 3, 5, 22), cost=1.0), _line(dt.datetime(2026, 3, 5, 23), cost=2.0)],
                    markup="0")
    assert [r["unblended_cost"] for r in rows] == [Decimal("1.000000000"), Decimal("2.000000000")]
    assert {r["usage_start"] for r in rows} == {dt.date(2026, 3, 5)}
    assert all(r["markup_cost"] == Decimal("0E-9") for r in rows)


def test_only_the_invoice_month_and_region_null_and_empty_are_two_groups():
    lines = [_line(dt.datetime(2026, 3, 1, 3), invoice_month="202602", cost=5.0),
             _line(dt.datetime(2026, 3, 1, 4), location_region="", cost=1.0),
             _line(dt.datetime(2026, 3, 1, 5), location_region=None, cost=2.0)]
    rows = _summary(lines, markup="0")
    assert [(r["region"], r["unblended_cost"]) for r in rows] == [(None, Decimal("1.000000000")),
                                                                  (None, Decimal("2.000000000"))]
    feb = _summary(lines, markup="0", invoice="202602")
    assert [(r["invoice_month"], r["usage_start"], r["unblended_cost"]) for r in feb] == [
        ("202602", dt.date(2026, 3, 1), Decimal("5.000000000"))]


def test_maxima_tags_and_batches():
    lines = [_line(dt.datetime(2026, 3, 7, h), cost=0.01 * h, project_name=f"P{h % 3}",
                   labels=json.dumps({"app": f"a{h % 2}", "zz": "é\"x"})) for h in range(12)]
    one, three = _summary(lines, batches=1), _summary(lines, batches=3)
    assert one == three
    assert {r["tags"] for r in one} == {'{"app":"a0"}', '{"app":"a1"}'}
    assert {r["project_name"] for r in one} == {"P2"}  # max per group
    assert sum(r["unblended_cost"] for r in one) == Decimal("0.660000000")


def test_credit_values():
    assert gcp.credit("{}") == Decimal("0E-9")
    assert gcp.credit(None) == Decimal("0E-9")
    assert gcp.credit('{"amount": null}') == Decimal("0E-9")
    assert gcp.credit('{"amount": -1.0000000005}') == Decimal("-1.000000001")  # half away from zero
    assert gcp.credit('{"amount": 2}') == Decimal("2.000000000")
    assert gcp.credit('[{"amount": 2}]') == Decimal("0E-9")  # $["amount"] of an array is NULL
    with pytest.raises(ValueError, match="cannot be cast"):
        gcp.credit('{"amount": "abc"}')


def test_bad_input_names_the_column():
    with pytest.raises(InputFileError, match="'credits'"):
        gcp.line_values(_table([_line(dt.datetime(2026, 3, 5), credits='{"amount": "x"}')]), KEYS, "0", "202603")
    with pytest.raises(InputFileError, match="'labels'"):
        gcp.line_values(_table([_line(dt.datetime(2026, 3, 5), labels="{")]), KEYS, "0", "202603")
    with pytest.raises(InputFileError, match="'system_labels'"):
        gcp.line_values(_table([_line(dt.datetime(2026, 3, 5), system_labels="[")]), KEYS, "0", "202603")


def test_summary_partitions_and_invoice_windows():
    assert gcp.summary_partitions(dt.date(2026, 3, 1), dt.date(2026, 3, 5)) == [("2026", "03"), ("2026", "02")]
    assert gcp.summary_partitions(dt.date(2026, 2, 27), dt.date(2026, 3, 3)) == [
        ("2026", "02"), ("2026", "03"), ("2026", "01")]
    assert invoice_date_partitions(dt.date(2026, 1, 1), dt.date(2026, 1, 31)) == [
        ("2026", "01"), ("2025", "12"), ("2026", "02")]
    assert invoice_window(dt.date(2026, 3, 1), dt.date(2026, 3, 31)) == (dt.datetime(2026, 2, 26),
                                                                         dt.datetime(2026, 4, 3))
    assert invoice_window(dt.date(2026, 3, 2), dt.date(2026, 3, 30)) == (dt.datetime(2026, 3, 2),
                                                                         dt.datetime(2026, 3, 30))


def _write(root: Path, daily: bool, year: str, month: str, lines: list[dict]) -> None:
    base = root / "data/parquet" / ("daily/org1/GCP/raw" if daily else "org1/GCP")
    folder = base / f"source={SOURCE}/year={year}/month={month}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(_table(lines), folder / f"{year}{month}_{len(list(folder.iterdir()))}.parquet")


def test_invoice_month_dates_across_a_month_boundary(tmp_path):
    # invoice 202603: usage from Feb 27 (crossover) to Apr 2; a 202602 line on Mar 1 and an April-invoice line
    _write(tmp_path, True, "2026", "03", [
        _line(dt.datetime(2026, 2, 27), invoice_month="202603"),
        _line(dt.datetime(2026, 3, 15), invoice_month="202603"),
        _line(dt.datetime(2026, 4, 2), invoice_month="202603"),
        _line(dt.datetime(2026, 4, 5), invoice_month="202603"),  # beyond the +3 days window
    ])
    _write(tmp_path, True, "2026", "02", [_line(dt.datetime(2026, 3, 1), invoice_month="202602")])
    settings = Settings(data_root=str(tmp_path))
    got = fetch_invoice_month_dates(settings, "org1", dt.date(2026, 3, 1), dt.date(2026, 3, 31), "202603", SOURCE)
    assert got == [(dt.datetime(2026, 2, 27), dt.datetime(2026, 4, 2))]
    # a mid-month range: no widening, the end compared with its midnight
    got = fetch_invoice_month_dates(settings, "org1", dt.date(2026, 3, 2), dt.date(2026, 3, 15), "202603", SOURCE)
    assert got == [(dt.datetime(2026, 3, 15), dt.datetime(2026, 3, 15))]
    assert fetch_invoice_month_dates(settings, "org1", dt.date(2026, 3, 2), dt.date(2026, 3, 14), "202603",
                                     SOURCE) == [(None, None)]


def test_topology_distinct_rows_of_the_invoice_partition(tmp_path):
    _write(tmp_path, False, "2026", "03", [
        _line(dt.datetime(2026, 3, 1, 1)), _line(dt.datetime(2026, 3, 1, 2)),
        _line(dt.datetime(2026, 3, 2, 1), project_id="proj-b", location_region=None),
        _line(dt.datetime(2026, 3, 9, 1), project_id="proj-c"),  # outside the range
    ])
    got = get_gcp_topology(Settings(data_root=str(tmp_path)), "org1", SOURCE, dt.date(2026, 3, 1),
                           dt.date(2026, 3, 2), "202603")
    assert got == [(SOURCE, "0123-4567", "proj-a", "Project A", "6F81", "Compute Engine", "us-east1"),
                   (SOURCE, "0123-4567", "proj-b", "Project A", "6F81", "Compute Engine", None)]


def test_each_chunk_reads_the_partitions_of_koku_query():
    files = [f"r/source=s/year={y}/month={m}/f.parquet" for y, m in (("2026", "01"), ("2026", "02"), ("2026", "03"),
                                                                      ("2026", "04"))]
    index = [{"path": f} for f in files]
    keep, idx = gcp.chunk_files(files, index, dt.date(2026, 2, 27), dt.date(2026, 3, 3))
    assert keep == files[:3] and idx == index[:3]  # Feb (start), Mar (end), Jan (the month before start)
    keep, _ = gcp.chunk_files(files, None, dt.date(2026, 4, 1), dt.date(2026, 4, 2))
    assert keep == [files[2], files[3]]
