"""Koku's rate resolution helpers (cost_models' metric_to_tag_params_map, amortisation) on hand-made inputs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from poc_tasks.cost_model.rates import (
    CostModelInputs,
    TagRateParams,
    _tag_params,
    amortized_monthly_rate,
    days_in_month,
)
from poc_tasks.errors import InvalidArgument


def test_tag_params_split_values_and_default_as_koku():
    rates = [
        {"metric": {"name": "gpu_cost_per_month"}, "cost_type": "Infrastructure",
         "tag_rates": {"tag_key": "nvidia", "tag_values": [
             {"tag_value": "A100", "value": "1000"}, {"tag_value": "x", "value": 5, "default": True}]}},
        {"metric": {"name": "gpu_cost_per_month"}, "cost_type": "Supplementary",
         "tag_rates": {"tag_key": "amd", "tag_values": [{"tag_value": "any", "value": 7, "default": True}]}},
        {"metric": {"name": "cpu_core_usage_per_hour"}, "cost_type": "Infrastructure",
         "tiered_rates": [{"value": 1}]},  # not a tag rate: ignored
    ]
    out = _tag_params(rates, "test")
    assert out == {"gpu_cost_per_month": [TagRateParams("Infrastructure", "nvidia", {"A100": 1000.0}, 5.0),
                                          TagRateParams("Supplementary", "amd", None, 7.0)]}


@pytest.mark.parametrize("rates", [{"not": "a list"}, [{"metric": {"name": "m"}, "tag_rates": {"tag_key": "k"}}],
                                   [{"metric": {"name": "m"}, "cost_type": "Infrastructure",
                                     "tag_rates": {"tag_key": "k", "tag_values": [{"value": "abc"}]}}]])
def test_malformed_rates_name_the_rate(rates):
    with pytest.raises(InvalidArgument, match="test"):
        _tag_params(rates, "test")


def test_amortisation_and_rate_choice():
    assert days_in_month(dt.date(2028, 2, 10)) == 29
    assert amortized_monthly_rate(29.0, dt.date(2028, 2, 1)) == Decimal(1)
    assert amortized_monthly_rate(None, dt.date(2028, 2, 1)) is None
    model = CostModelInputs("u", infrastructure_rates={"m": 0.0}, supplementary_rates={"m": 2.0})
    assert model.monthly_rate("m") == ("Supplementary", 2.0)  # a zero infrastructure rate is no rate
    assert CostModelInputs("u").distribution == "cpu"
    with pytest.raises(InvalidArgument, match="distribution_type"):
        _ = CostModelInputs("u", distribution_info={"distribution_type": "gpu"}).distribution
