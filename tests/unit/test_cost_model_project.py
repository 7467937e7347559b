"""Project tag cost (monthly_project_tag_based.sql) and PostgreSQL's numeric division, by hand."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pandas as pd

from poc_tasks.cost_model.pgnumeric import pg_div
from poc_tasks.cost_model.project import project_tag_rows
from poc_tasks.cost_model.rates import TagRateParams

D = dt.date(2026, 1, 2)
SRC = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"


def test_pg_div_keeps_postgresql_scales():
    # values checked with PostgreSQL 16: select 100.000000000000000::numeric(33,15)/31 etc.
    assert pg_div(Decimal("100.000000000000000"), Decimal(31)) == Decimal("3.2258064516129032")
    assert pg_div(Decimal("0.500000000000000"), Decimal(30)) == Decimal("0.01666666666666666667")
    assert pg_div(Decimal("0.000123000000000"), Decimal("3.000000000000000")) == Decimal("0.000041000000000000000000")


def _labels(**kv) -> str:
    return json.dumps(kv)


def test_project_rows_split_per_node_and_skip_platform_namespaces():
    ns = pd.DataFrame([
        (D, "payments", _labels(team="pay")),
        (D, "web", _labels(team="web")),
        (D, "batch", _labels(other="x")),  # no key: not selected (the default needs the key)
        (D, "openshift-dns", _labels(team="pay")),  # platform namespace
        (D, "lonely", _labels(team="pay")),  # no usage row: one row, no node, the whole amount
    ], columns=["usage_start", "namespace", "namespace_labels"])
    pairs = pd.DataFrame([(D, "payments", "n1", "c", "a"), (D, "payments", "n2", "c", "a"), (D, "web", "n1", "c", "a")],
                         columns=["usage_start", "namespace", "node", "cluster_id", "cluster_alias"])
    params = TagRateParams("Supplementary", "team", {"pay": 310.0}, 31.0)
    out = project_tag_rows(ns, pairs, params, 31, "c1", "alias", SRC)
    got = sorted((r.namespace, r.node, Decimal(r.cost_model_cpu_cost)) for r in out.itertuples())
    assert got == [("lonely", None, Decimal("10.000000000000000")),
                   ("payments", "n1", Decimal("5.000000000000000")), ("payments", "n2", Decimal("5.000000000000000")),
                   ("web", "n1", Decimal("1.000000000000000"))]
    assert set(out["monthly_cost_type"]) == {"Tag"} and set(out["cost_model_rate_type"]) == {"Supplementary"}
    assert set(out["cluster_id"]) == {"c1"}


def test_project_label_variants_each_count_every_node():
    ns = pd.DataFrame([(D, "payments", _labels(team="pay")), (D, "payments", _labels(team="pay", v="2"))],
                      columns=["usage_start", "namespace", "namespace_labels"])
    pairs = pd.DataFrame([(D, "payments", "n1", "c", "a")],
                         columns=["usage_start", "namespace", "node", "cluster_id", "cluster_alias"])
    out = project_tag_rows(ns, pairs, TagRateParams("Infrastructure", "team", {"pay": 62.0}, None), 31, "c", "a",
                           SRC)
    # two grouped rows for one node: count(node) = 2, so each variant's row carries half of 62/31
    assert sorted(out["cost_model_cpu_cost"]) == ["1.000000000000000", "1.000000000000000"]


def test_no_namespace_label_rows_give_no_rows():
    """A range without namespace-label rows (none in the Parquet, or only platform namespaces): Koku's statement
    selects nothing; so does the step (an empty mask once dropped every column here)."""
    cols = ["usage_start", "namespace", "namespace_labels"]
    pairs = pd.DataFrame(columns=["usage_start", "namespace", "node", "cluster_id", "cluster_alias"])
    params = TagRateParams("Supplementary", "team", {"pay": 310.0}, 31.0)
    assert project_tag_rows(pd.DataFrame(columns=cols), pairs, params, 31, "c", "a", SRC).empty
    platform_only = pd.DataFrame([(D, "openshift-dns", _labels(team="pay"))], columns=cols)
    assert project_tag_rows(platform_only, pairs, params, 31, "c", "a", SRC).empty
