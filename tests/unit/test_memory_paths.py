"""The memory-saving paths of OCP on cloud give the rows of the paths they replace: grouping text as codes, the
back-populated rows of a day made from its parts' groups, the joined (line, OCP row) frame, the final rows split
in place."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud import gcp
from poc_tasks.cloud.outputs import (
    CostTerm,
    _grouped,
    back_populate_groups,
    back_populate_rows,
    back_populate_rows_of,
    group_rows_sorted,
    merge_back_populate_groups,
)
from poc_tasks.ocp.frames import sql_group

NAN = float("nan")
DAY = dt.date(2026, 1, 5)


def _canonical(frame: pd.DataFrame) -> list[tuple]:
    """The rows as a sorted list of tuples, NULLs (None, NaN) as None: the same rows in any order."""
    f = frame.astype(object).where(frame.notna(), None)
    return sorted(f.itertuples(index=False, name=None), key=repr)


TEXT = pd.DataFrame({
    "k": ["b", None, "a", "b", NAN, "é", "z", "a", "", "Z"],
    "m": [None, "x", "y", None, "q", "Z", None, "yy", "", "é"],
    "v": [1.0, 2.0, NAN, 4.0, 5.0, 0.1, 0.2, 0.7, 1e-17, 3.0],
    "n": [1, 2, 3, 1, 2, 3, 4, 3, 1, 1],
})


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("keys,aggs", [(["k"], {"m": "max", "v": "sum"}), (["k", "n"], {"m": "min", "v": "sum"}),
                                       (["m"], {"k": "max", "n": "max"}), (["k", "m"], {"v": "sum"})])
def test_text_codes_give_the_same_groups_maxima_and_sums(ordered, keys, aggs):
    plain = sql_group(TEXT, keys, aggs, ordered)
    coded = sql_group(TEXT, keys, aggs, ordered, text_codes=True)
    assert list(coded.columns) == list(plain.columns) and coded.dtypes.equals(plain.dtypes)
    assert _canonical(coded) == _canonical(plain)
    # the columns may come as a mapping of Series (group_rows' converted columns)
    mapped = sql_group({c: TEXT[c] for c in TEXT.columns}, keys, aggs, ordered, text_codes=True)
    assert _canonical(mapped) == _canonical(plain)


def test_text_codes_keep_the_value_order_of_ordered_sums():
    # float sums depend on the order of their terms: ordered=True adds them in the rows' value order, which the
    # codes keep (code order = text order, NULL last)
    rng = np.random.default_rng(7)
    n = 5000
    frame = pd.DataFrame({"k": rng.choice(["a", "b", "c"], n).astype(object),
                          "t": rng.choice(["x", "yy", "zz", "é", None], n).astype(object),
                          "v": rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n)})
    plain = sql_group(frame, ["k"], {"t": "max", "v": "sum"}, ordered=True).set_index("k")
    coded = sql_group(frame, ["k"], {"t": "max", "v": "sum"}, ordered=True, text_codes=True).set_index("k")
    assert coded.loc[plain.index, "v"].tolist() == plain["v"].tolist()  # bit for bit
    assert coded.loc[plain.index, "t"].tolist() == plain["t"].tolist()


def test_text_codes_leave_non_text_columns_to_arrow_and_its_errors():
    with pytest.raises(Exception) as plain:
        sql_group(pd.DataFrame({"k": [1, "a"], "v": [1.0, 2.0]}), ["k"], {"v": "sum"})
    with pytest.raises(type(plain.value)):
        sql_group(pd.DataFrame({"k": [1, "a"], "v": [1.0, 2.0]}), ["k"], {"v": "sum"}, text_codes=True)
    empty = sql_group(pd.DataFrame({"k": pd.Series([], dtype=object), "v": pd.Series([], dtype=float)}), ["k"],
                      {"v": "sum"}, text_codes=True)
    assert empty.empty and list(empty.columns) == ["k", "v"]
    frame = pd.DataFrame({"k": pd.Series([None, NAN], dtype=object), "v": [1.0, 2.0]})
    nulls = sql_group(frame, ["k"], {"v": "sum"}, text_codes=True)
    assert nulls["k"].tolist() == [None] and nulls["v"].tolist() == [3.0]
    assert _canonical(nulls) == _canonical(sql_group(frame, ["k"], {"v": "sum"}))


TERMS = (CostTerm("unblended_cost", 15), CostTerm("markup_cost", 15), CostTerm("credit_amount", 9))


def _day(n: int, seed: int) -> pd.DataFrame:
    """Project rows of one day whose back-populate groups span many rows, with data transfer rows (IN / in / OUT)
    and NULL cost terms."""
    rng = np.random.default_rng(seed)
    direction = rng.choice(np.array([None, None, None, "IN", "in", "OUT"], dtype=object), n)
    gb = rng.uniform(0, 50, n) * 1.07374
    return pd.DataFrame({
        "usage_start": DAY, "cluster_id": "c", "cluster_alias": "C",
        "namespace": rng.choice(["a", "b", "Worker unallocated", "Network unattributed"], n).astype(object),
        "data_source": rng.choice(np.array(["Pod", "Storage", None], dtype=object), n),
        "node": rng.choice(np.array(["n1", "n2", None], dtype=object), n),
        "persistentvolumeclaim": rng.choice(np.array([None, "pvc"], dtype=object), n),
        "persistentvolume": rng.choice(np.array([None, "pv1", "pv2"], dtype=object), n),
        "storageclass": rng.choice(np.array([None, "gp", "ssd"], dtype=object), n),
        "resource_id": rng.choice(["r1", "r2"], n).astype(object),
        "enabled_tags": rng.choice(np.array(['{"app":"x"}', '{"app":"y"}', None], dtype=object), n),
        "data_transfer_direction": direction,
        "currency": rng.choice(np.array(["USD", None], dtype=object), n),
        "infrastructure_data_in_gigabytes": np.where(direction == "IN", gb, 0.0),
        "infrastructure_data_out_gigabytes": np.where(direction == "OUT", gb, 0.0),
        "cost_category_id": rng.choice([NAN, 1.0, 2.0], n),
        "unblended_cost": np.round(rng.normal(size=n) * 10.0 ** rng.integers(-6, 4, n), 15),
        "markup_cost": np.where(rng.random(n) < 0.1, NAN, rng.uniform(0, 1, n)),
        "credit_amount": np.round(-rng.uniform(0, 1, n), 9),
    })


@pytest.mark.parametrize("strict_raw,strict_project", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("parts", [1, 3, 17])
def test_a_days_back_populated_rows_from_its_parts_groups_are_the_rows_of_the_whole_day(strict_raw, strict_project,
                                                                                         parts):
    day = _day(600, seed=parts)
    whole = back_populate_rows(day, 7, "ocp", TERMS, strict_raw, "currency", strict_project)
    # parts of rows in any order, so that groups (and transfer groups) span parts
    order = np.random.default_rng(parts).permutation(len(day))
    pieces = [day.iloc[i].reset_index(drop=True) for i in np.array_split(order, parts)]
    groups = [back_populate_groups(p, TERMS, strict_raw, "currency", strict_project) for p in pieces]
    merged = merge_back_populate_groups(groups, "currency")
    by_parts = back_populate_rows_of(merged, 7, "ocp", TERMS, "currency")
    assert list(by_parts.columns) == list(whole.columns)
    assert _canonical(by_parts) == _canonical(whole)
    assert whole["infrastructure_data_in_gigabytes"].notna().sum() > 1  # transfer groups summed over parts


def test_back_populated_data_transfer_sums_add_the_rows_as_one_grouping_does():
    # one IN group of rows in three parts: its sum is that of its own rows in value order, whatever the parts
    values = [0.1, 1e16, -1e16, 0.2, 0.3, 1e-3]
    rows = pd.DataFrame([{"usage_start": DAY, "cluster_id": "c", "cluster_alias": "C", "namespace": "n",
                          "data_source": "Pod", "node": "x", "persistentvolumeclaim": None, "persistentvolume": None,
                          "storageclass": None, "resource_id": "r", "enabled_tags": "{}",
                          "data_transfer_direction": "IN", "currency": "USD",
                          "infrastructure_data_in_gigabytes": v, "infrastructure_data_out_gigabytes": 0.0,
                          "cost_category_id": NAN, "unblended_cost": 1.0, "markup_cost": 0.0, "credit_amount": 0.0}
                         for v in values])
    whole = back_populate_rows(rows, 7, "ocp", TERMS, False, "currency")
    groups = [back_populate_groups(rows.iloc[i].reset_index(drop=True), TERMS, False, "currency")
              for i in ([0, 4], [1, 5], [2, 3])]
    merged = back_populate_rows_of(merge_back_populate_groups(groups, "currency"), 7, "ocp", TERMS, "currency")
    assert merged["infrastructure_data_in_gigabytes"].tolist() == whole["infrastructure_data_in_gigabytes"].tolist()
    assert merged["infrastructure_raw_cost"].tolist() == [6.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_pass_grouping_gives_the_sorted_groupings_digits_and_each_rows_group(seed):
    # keys with NULLs of both kinds, text maxima (NULL below every value), a float maximum, and sums whose digits
    # depend on the order of their terms (1e16 cancellations): the same rows, to the last bit, as group_rows
    rng = np.random.default_rng(seed)
    n = 3000
    frame = pd.DataFrame({
        "usage_start": rng.choice(np.array([DAY, dt.date(2026, 1, 6)], dtype=object), n),
        "a": rng.choice(np.array(["x", "y", None, NAN, "é", ""], dtype=object), n),
        "b": rng.integers(-1, 3, n),
        "pv": rng.choice(np.array([None, "pv1", "pv2", "Z"], dtype=object), n),
        "cat": rng.choice([NAN, 1.0, 2.0], n),
        "s1": rng.choice([0.1, 1e16, -1e16, 0.2, 0.3, 1e-3, NAN], n) * rng.uniform(0.5, 2, n),
        "s2": rng.choice([NAN, -0.0, 7.25, 1e-17], n),
    })
    keys, aggs = ["usage_start", "a", "b"], {"pv": "max", "s1": "sum", "cat": "max", "s2": "sum"}
    expected = group_rows_sorted({c: frame[c] for c in [*keys, *aggs]}, keys, aggs)
    got, row_group = _grouped({c: frame[c] for c in [*keys, *aggs]}, keys, aggs)
    assert list(got.columns) == list(expected.columns)
    assert _canonical(got) == _canonical(expected)
    # each row's group holds its keys (NULLs equal)
    back = got.iloc[row_group].reset_index(drop=True)
    for k in keys:
        mine = frame[k].astype(object).where(frame[k].notna(), None).tolist()
        assert back[k].astype(object).where(back[k].notna(), None).tolist() == mine


def test_no_groups_give_no_rows():
    empty = _day(0, seed=0)
    assert back_populate_rows(empty, 7, "ocp", TERMS, False, "currency").empty
    assert back_populate_rows_of(merge_back_populate_groups([], "currency"), 7, "ocp", TERMS, "currency").empty


def test_joined_lines_and_ocp_rows_as_a_concat_of_both_takes():
    lines = pd.DataFrame({"row_uuid": ["a", "b", None], "x": [1.0, 2.0, 3.0]})
    o = pd.DataFrame({"node": ["n1", "n2", None, "n4"], "cap": [1.0, NAN, 3.0, 4.0], "k": [1, 2, 3, 4]},
                     index=[10, 11, 12, 13])
    pairs = pd.DataFrame({"line": [0, 2, 1, 0], "pos": [3, 0, 0, 2]})
    left = lines.iloc[pairs["line"].to_numpy()].reset_index(drop=True).add_suffix("_line")
    right = o.iloc[pairs["pos"].to_numpy()].reset_index(drop=True)
    pd.testing.assert_frame_equal(gcp._joined(lines, o, pairs), pd.concat([left, right], axis=1), check_exact=True)


def test_with_network_splits_in_place_and_gives_the_rows_of_a_copy():
    cols = [*gcp.PROFILE.cloud_columns, *attr.TEMP_ROW_COLUMNS]
    base = {c: None for c in cols}
    rows = pd.DataFrame([{**base, "row_uuid": "l1", "usage_amount": 2.0, "unblended_cost": 3.0, "credit_amount": -1.0,
                          "data_source": "Pod", "resource_id_matched": True, attr.EFF_CPU: 1.0, attr.CAP_CPU: 4.0,
                          "tags": '{"a":"1"}', "pod_labels": '{"b":"2"}'},
                         {**base, "row_uuid": "l1", "usage_amount": 2.0, "unblended_cost": 3.0, "credit_amount": -1.0,
                          "data_source": "Pod", "resource_id_matched": True, attr.EFF_CPU: 3.0, attr.CAP_CPU: 4.0,
                          "tags": '{"a":"1"}', "pod_labels": None, "volume_labels": '{"c":"3"}'}])
    expected = attr.final_rows(rows.copy(), {}, "cpu", 0.1, {}, gcp.PROFILE)
    parts = [rows.copy(), attr.empty_frame(cols)]
    got = attr.with_network(parts, attr.empty_frame(attr.final_columns(gcp.PROFILE)), "cpu", 0.1, gcp.PROFILE)
    assert parts == []  # the caller's list is emptied: its frames go while the split is made
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["unblended_cost"].tolist() == [0.75, 2.25] and got["markup_cost"].tolist() == [0.75 * 0.1, 2.25 * 0.1]
