"""Koku's Azure daily summary rules (poc_tasks.daily.azure), on lines built by hand, expected values by hand."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest

from poc_tasks.daily import azure
from poc_tasks.daily.decimal9 import cast_double, cast_double_slow, markup_literal, times_literal
from poc_tasks.errors import InputFileError

SOURCE = "6e2ae1f0-6b5a-4f8e-9d7c-1f8f3b8a9c01"
KEYS = frozenset({"app", "env"})
D1 = dt.datetime(2026, 3, 1)
D2 = dt.datetime(2026, 3, 2)


def _line(**kw) -> dict:
    base = {"date": D1, "subscriptionid": "sub-1", "subscriptionguid": "guid-1", "subscriptionname": "Sub One",
            "resourcelocation": "eastus", "servicename": "Virtual Machines", "metercategory": "Virtual Machines",
            "additionalinfo": json.dumps({"ServiceType": "Standard_D2s_v3"}), "quantity": 1.0,
            "costinbillingcurrency": 1.0, "billingcurrencycode": "USD", "billingcurrency": "EUR",
            "tags": json.dumps({"app": "web"}), "resourceid": "/subscriptions/s/vm-1", "unitofmeasure": "1 Hour"}
    base.update(kw)
    return base


def _table(lines: list[dict]) -> pa.Table:
    cols = [c.name for c in azure.LINE_COLUMNS]
    types = {"date": pa.timestamp("ms"), "quantity": pa.float64(), "costinbillingcurrency": pa.float64()}
    return pa.table({c: pa.array([ln[c] for ln in lines], types.get(c, pa.string())) for c in cols})


def _summary(lines: list[dict], markup: object = 0.1, batches: int = 1) -> list[dict]:
    tbl = _table(lines)
    size = -(-tbl.num_rows // batches)
    parts = [azure.partial(azure.line_values(tbl.slice(i, size), KEYS, markup_literal(markup)))
             for i in range(0, tbl.num_rows, size)]
    rows = azure.summary_rows(parts, 7, SOURCE).to_pylist()
    return sorted(rows, key=lambda r: (r["usage_start"], r["service_name"] or "", r["tags"] or ""))


def test_lines_of_a_group_are_summed_as_decimals_with_per_line_markup():
    rows = _summary([
        _line(costinbillingcurrency=1.1234567895, quantity=0.5,
              tags=json.dumps({"env": "prod", "app": "web", "owner": "x"})),
        _line(costinbillingcurrency=2.0, quantity=0.25, tags=json.dumps({"app": "web", "env": "prod"}),
              resourceid="/subscriptions/s/vm-2"),
    ])
    assert len(rows) == 1
    r = rows[0]
    # 1.1234567895 -> 1.123456790 (half up at the 9th decimal); + 2.000000000
    assert r["pretax_cost"] == Decimal("3.123456790")
    # markup per line: cast(1.123456790 * 0.1 AS decimal(24,9)) = 0.112345679, + 0.2
    assert r["markup_cost"] == Decimal("0.312345679")
    assert r["usage_quantity"] == Decimal("0.750000000")  # '1 Hour': multiplier 1
    assert r["unit_of_measure"] == "Hrs"
    assert r["tags"] == '{"app":"web","env":"prod"}'  # the disabled key 'owner' dropped, keys sorted, no spaces
    assert r["instance_ids"] == ["/subscriptions/s/vm-1", "/subscriptions/s/vm-2"]
    assert r["instance_count"] == 2
    assert r["currency"] == "USD"
    assert (r["subscription_guid"], r["subscription_name"]) == ("sub-1", "Sub One")
    assert r["instance_type"] == "Standard_D2s_v3"
    assert (r["usage_start"], r["usage_end"]) == (dt.date(2026, 3, 1), dt.date(2026, 3, 1))
    assert (r["cost_entry_bill_id"], r["source_uuid"]) == (7, SOURCE)


def test_group_keys_split_rows_and_empty_texts_fall_back():
    rows = _summary([
        _line(date=D1, servicename="", metercategory="Storage", unitofmeasure="10 GB/Month", quantity=0.3,
              subscriptionid="", subscriptionname="", billingcurrencycode="", costinbillingcurrency=0.5),
        _line(date=D2, costinbillingcurrency=0.25),
    ], markup=0)
    assert len(rows) == 2
    storage, vm = rows
    assert storage["service_name"] == "Storage"  # coalesce(nullif(servicename, ''), metercategory)
    assert storage["subscription_guid"] == "guid-1"  # subscriptionid '' -> subscriptionguid
    assert storage["subscription_name"] == "guid-1"  # name '' and id '' -> guid
    assert storage["currency"] == "EUR"  # billingcurrencycode '' -> billingcurrency
    assert storage["unit_of_measure"] == "GB-Mo"
    assert storage["usage_quantity"] == Decimal("3.000000000")  # 0.3 x 10
    assert storage["markup_cost"] == Decimal("0E-9")
    assert vm["usage_start"] == dt.date(2026, 3, 2)


def test_unit_rewrite_with_trino_split_part():
    assert azure.unit_of_measure("100 Hours") == "Hrs"
    assert azure.unit_of_measure("1 Hour") == "Hrs"
    assert azure.unit_of_measure("1 GB/Month") == "GB-Mo"
    assert azure.unit_of_measure("10 GB") == "10 GB"  # no 3rd field: split_part is NULL, not ''
    assert azure.unit_of_measure("10 GB ") == "GB"  # an empty 3rd field
    assert azure.unit_of_measure("1 GB Hours ") == "1 GB Hours "
    assert azure.unit_of_measure("Hours") == "Hours"
    assert azure.unit_of_measure(None) is None


def test_multiplier_rules_and_three_valued_logic():
    assert azure.multiplier("100 Hours", "Storage") == 100
    assert azure.multiplier("100 Hours", "Virtual Machines") == 1  # already hours
    assert azure.multiplier("100 Hours", None) == 1  # NOT (TRUE AND NULL) is NULL: the ELSE branch
    assert azure.multiplier("10 GB", "Storage") == 10
    assert azure.multiplier("10", "Storage") == 1  # no 2nd word (NULL)
    assert azure.multiplier("10 ", "Storage") == 1  # an empty 2nd word
    assert azure.multiplier("1K GB", "Storage") == 1  # not numeric
    assert azure.multiplier(None, "Storage") == 1
    with pytest.raises(ValueError, match="INTEGER"):
        azure.multiplier("0.5 GB", "Storage")


def test_vm_hours_multiplier_in_the_batch_path():
    rows = _summary([
        _line(unitofmeasure="100 Hours", metercategory="Virtual Machines", quantity=2.0),
        _line(unitofmeasure="100 Hours", metercategory="Bandwidth", servicename="Bandwidth", quantity=2.0),
        _line(unitofmeasure="100 Hours", metercategory=None, servicename="Other", quantity=2.0),
    ], markup=0)
    by_service = {r["service_name"]: r["usage_quantity"] for r in rows}
    assert by_service == {"Virtual Machines": Decimal("2.000000000"), "Bandwidth": Decimal("200.000000000"),
                          "Other": Decimal("2.000000000")}


def test_instance_ids_keep_a_null_once_but_do_not_count_it():
    rows = _summary([_line(resourceid=None), _line(resourceid=None), _line(resourceid="r1")])
    assert rows[0]["instance_ids"] == ["r1", None]
    assert rows[0]["instance_count"] == 1


def test_batches_combine_to_the_same_rows():
    lines = [_line(costinbillingcurrency=0.1 * i, quantity=0.01 * i, resourceid=f"r{i % 3}",
                   tags=json.dumps({"app": f"a{i % 2}"})) for i in range(12)]
    one = _summary(lines, batches=1)
    three = _summary(lines, batches=3)
    assert one == three
    assert sum(r["pretax_cost"] for r in one) == sum(cast_double_slow(0.1 * i) for i in range(12))


def test_odd_tag_texts():
    rows = _summary([
        _line(tags=json.dumps({"app": "ünïcødé \"q\"", "env": "a,b:c", "zz": "drop"})),
        _line(tags="{}", resourceid="r2"),
        _line(tags=None, resourceid="r3"),
        _line(tags="", resourceid="r4"),  # documented deviation: '' read as {}
    ])
    tags = sorted((r["tags"] for r in rows), key=lambda t: (t is None, t or ""))
    assert tags == ['{"app":"ünïcødé \\"q\\"","env":"a,b:c"}', "{}", None]
    assert [r["instance_count"] for r in rows if r["tags"] == "{}"] == [2]


def test_bad_input_names_the_column():
    with pytest.raises(InputFileError, match="'tags'"):
        azure.line_values(_table([_line(tags="{not json")]), KEYS, "0")
    with pytest.raises(InputFileError, match="'unitofmeasure'"):
        azure.line_values(_table([_line(unitofmeasure="0.5 GB")]), KEYS, "0")
    with pytest.raises(InputFileError, match="'additionalinfo'"):
        azure.line_values(_table([_line(additionalinfo="[1,")]), KEYS, "0")


def test_decimal_cast_and_markup_literals():
    assert cast_double(pa.array([0.1234567895, -0.1234567895, 2.5e-10, None])).to_pylist() == [
        Decimal("0.123456790"), Decimal("-0.123456790"), Decimal("0E-9"), None]
    assert markup_literal(None) == "0" and markup_literal(0.0) == "0" and markup_literal(0.1) == "0.1"
    dec = cast_double(pa.array([1.000000005, -0.000000015]))
    assert times_literal(dec, "0.1").to_pylist() == [Decimal("0.100000001"), Decimal("-2E-9")]  # half up
    assert times_literal(dec, "1e-05").to_pylist() == [Decimal("0.000010000"), Decimal("0E-9")]  # a double
