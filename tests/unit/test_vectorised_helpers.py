"""Vectorised helpers equal what they replaced: frames.str_mask (per-distinct LIKE) and outputs._tuple_ids."""

import numpy as np
import pandas as pd
import pytest

from poc_tasks.cloud.frames import str_mask
from poc_tasks.cloud.sqlfn import like


def _per_row(values, pred):
    return np.array([isinstance(v, str) and bool(pred(v)) for v in values], dtype=bool)


@pytest.mark.parametrize("dtype", [object, "string", "category"])
def test_mask_equals_the_per_row_predicate_with_nulls_and_repeats(dtype):
    rng = np.random.default_rng(7)
    names = ["Cloud SQL", "Spanner API", "VPC network", None, "Compute Engine", "cloud sql", "", "100% SQL"]
    values = [names[i] for i in rng.integers(0, len(names), 500)]
    series = pd.Series(values, dtype=dtype)
    pred = lambda v: like(v, "%SQL%") or like(v, "%VPC%")  # noqa: E731 - a predicate
    got = str_mask(series, pred)
    assert got.dtype == bool and len(got) == 500
    assert (got == _per_row(values, pred)).all()
    assert got.sum() > 0 and (~got).sum() > 0  # both outcomes occur: the test can fail either way


def test_non_strings_nan_and_empty_input_are_false():
    values = [None, float("nan"), 3, "abc pd x", pd.NA]
    got = str_mask(pd.Series(values, dtype=object), lambda s: like(s.lower(), "% pd %"))
    assert got.tolist() == [False, False, False, True, False]
    assert str_mask(pd.Series([], dtype=object), lambda s: True).tolist() == []
    assert str_mask(["x", None], lambda s: s == "x").tolist() == [True, False]


def test_tuple_ids_equal_numpy_unique_by_rows():
    from poc_tasks.cloud.outputs import _tuple_ids

    rng = np.random.default_rng(3)
    for shape, high in (((2000, 3), 7), ((500, 1), 40), ((1, 4), 2), ((300, 2), 2**40), ((3000, 25), 60)):
        codes = rng.integers(0, high, shape)
        want_uniq, want = np.unique(codes, axis=0, return_inverse=True)
        got, n = _tuple_ids(codes)
        assert n == len(want_uniq) and (got == want.reshape(-1)).all()  # the last two re-number a prefix on the way
    got, n = _tuple_ids(np.zeros((0, 3), dtype=np.int64))
    assert n == 0 and len(got) == 0
