"""sqlfn.str_mask: the per-distinct-value LIKE mask equals the per-row predicate it replaced."""

import numpy as np
import pandas as pd
import pytest

from poc_tasks.cloud.sqlfn import like, str_mask


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
