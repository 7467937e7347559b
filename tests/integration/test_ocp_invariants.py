"""Spec ocp.md §6.2 invariants of the OCP daily summary, on generated data, against the real PostgreSQL.

Two runs, each made once for the module:
- "clean": one label variant per node and namespace per day (SampleConfig(label_changes=False)), node_role in
  the pod files. On such data Koku's pod usage is conserved and every daily pod row maps to one summary row, so
  the conservation, closure, label-precedence and storage-unit checks hold exactly.
- "messy": labels change at noon of day 2 (several variants per day, which fans rows out as in Koku) and the
  pod files carry no node_role (old operators: roles come from Koku's fallback rules). The invariants that hold
  on any data (capacity, effective >= max, label keys, shape, cluster info) are checked on both.

Expected values are computed here from the Parquet files, read with pyarrow, never through poc_tasks' reader.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.runspec import OcpRunSpec
from tests.integration.ocp_support import (
    GIB,
    UNALLOCATED,
    Dataset,
    fetch,
    fresh_tenant,
    make_dataset,
    report_period,
    summary_frame,
)

pytestmark = pytest.mark.integration

CONFIGS = {
    "clean": {"nodes": 5, "pods": 40, "days": 3, "label_changes": False},
    "messy": {"nodes": 5, "pods": 40, "days": 3, "label_changes": True, "with_node_role": False},
}
BOTH = pytest.mark.parametrize("name", list(CONFIGS))
ALWAYS_KEY = "vm_kubevirt_io_name"
POD_METRICS = [  # (summary column, daily Parquet column, factor after / 3600)
    ("pod_usage_cpu_core_hours", "pod_usage_cpu_core_seconds", 1.0),
    ("pod_request_cpu_core_hours", "pod_request_cpu_core_seconds", 1.0),
    ("pod_effective_usage_cpu_core_hours", "pod_effective_usage_cpu_core_seconds", 1.0),
    ("pod_limit_cpu_core_hours", "pod_limit_cpu_core_seconds", 1.0),
    ("pod_usage_memory_gigabyte_hours", "pod_usage_memory_byte_seconds", 1 / GIB),
    ("pod_request_memory_gigabyte_hours", "pod_request_memory_byte_seconds", 1 / GIB),
    ("pod_effective_usage_memory_gigabyte_hours", "pod_effective_usage_memory_byte_seconds", 1 / GIB),
    ("pod_limit_memory_gigabyte_hours", "pod_limit_memory_byte_seconds", 1 / GIB),
]
CLOSURE = [  # (metric, the capacity it closes against)
    ("pod_usage_cpu_core_hours", "node_capacity_cpu_core_hours"),
    ("pod_request_cpu_core_hours", "node_capacity_cpu_core_hours"),
    ("pod_effective_usage_cpu_core_hours", "node_capacity_cpu_core_hours"),
    ("pod_usage_memory_gigabyte_hours", "node_capacity_memory_gigabyte_hours"),
    ("pod_request_memory_gigabyte_hours", "node_capacity_memory_gigabyte_hours"),
    ("pod_effective_usage_memory_gigabyte_hours", "node_capacity_memory_gigabyte_hours"),
]
INFRASTRUCTURE_USAGE_COST = '{"cpu": 0.000000000, "memory": 0.000000000, "storage": 0.000000000}'


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


@dataclass
class Run:
    ds: Dataset
    out: dict[str, Any]
    summary: pd.DataFrame
    pg_url: str
    _frames: dict[tuple[str, bool], pd.DataFrame] = field(default_factory=dict)

    def parquet(self, report_type: str, daily: bool = True) -> pd.DataFrame:
        key = (report_type, daily)
        if key not in self._frames:
            self._frames[key] = self.ds.read(report_type, daily)
        return self._frames[key]

    @property
    def enabled(self) -> set[str]:
        return set(self.ds.scenario["enabled_tag_keys"]) | {ALWAYS_KEY}

    def filtered(self, text: str | None) -> dict[str, str]:
        return {k: v for k, v in json.loads(text or "{}").items() if k in self.enabled}

    @property
    def unallocated(self) -> pd.DataFrame:
        s = self.summary
        return s[(s["data_source"] == "Pod") & s["namespace"].isin(UNALLOCATED)]

    @property
    def pods(self) -> pd.DataFrame:
        s = self.summary
        return s[(s["data_source"] == "Pod") & ~s["namespace"].isin(UNALLOCATED)]

    @property
    def storage(self) -> pd.DataFrame:
        return self.summary[self.summary["data_source"] == "Storage"]

    def scheduled(self) -> pd.DataFrame:
        """Daily pod rows Koku's Pod rows come from: node != '' (NULL fails the comparison too)."""
        daily = self.parquet("pod_usage")
        return daily[daily["node"].notna() & (daily["node"] != "")]


@pytest.fixture(scope="module")
def runs(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Run]]:
    """runs(name): the named config's sample, summarised once into a tenant of its own (dropped at the end)."""
    made: dict[str, Run] = {}
    with ExitStack() as stack:

        def get(name: str) -> Run:
            if name not in made:
                schema = stack.enter_context(fresh_tenant(pg_url))
                root = str(tmp_path_factory.mktemp(f"ocp-{name}") / "bucket")
                ds = make_dataset(pg_url, schema, root, **CONFIGS[name])
                spec = OcpRunSpec.build(schema, ds.source, ds.config.cluster_id, ds.config.start_date,
                                        ds.config.end_date, ds.config.cluster_alias)
                out = run_ocp(spec, ds.settings(pg_url))
                made[name] = Run(ds, out, summary_frame(pg_url, schema), pg_url)
            return made[name]

        yield get


# --- 1. conservation of pod usage ------------------------------------------------------------------------


def test_pod_usage_is_conserved_day_by_day_against_the_daily_parquet(runs):
    run = runs("clean")
    sched = run.scheduled().copy()
    for eff, usage, request in (("pod_effective_usage_cpu_core_seconds", "pod_usage_cpu_core_seconds",
                                 "pod_request_cpu_core_seconds"),
                                ("pod_effective_usage_memory_byte_seconds", "pod_usage_memory_byte_seconds",
                                 "pod_request_memory_byte_seconds")):
        # Koku's coalesce(effective, greatest(usage, request)) for daily files without the effective column
        sched[eff] = sched[eff].fillna(sched[[usage, request]].max(axis=1))
    expected = {(day, out_col): sched.loc[sched["day"] == day, in_col].sum() / 3600 * factor
                for day in sorted(sched["day"].unique()) for out_col, in_col, factor in POD_METRICS}
    got = {(day, out_col): run.pods.loc[run.pods["usage_start"] == day, out_col].sum()
           for day in sorted(run.pods["usage_start"].unique()) for out_col, _in, _f in POD_METRICS}

    assert len(expected) == 3 * len(POD_METRICS)
    assert got == approx(expected)


# --- 2. node closure -------------------------------------------------------------------------------------


def test_unallocated_plus_the_nodes_pod_rows_close_to_node_capacity(runs):
    run = runs("clean")
    pods, unallocated = run.pods, run.unallocated
    node_days = set(zip(pods["usage_start"], pods["node"], strict=True))
    assert sorted(zip(unallocated["usage_start"], unallocated["node"], strict=True)) == sorted(node_days)
    nodes = {r[0] for r in fetch(run.pg_url, run.ds.schema, "reporting_ocp_nodes", "node")}
    assert {node for _day, node in node_days} == nodes  # every node has its reporting_ocp_nodes row

    sums = pods.groupby(["usage_start", "node"])[[m for m, _c in CLOSURE]].sum()
    got, want = {}, {}
    for row in unallocated.itertuples():
        for metric, capacity in CLOSURE:
            got[(row.usage_start, row.node, metric)] = getattr(row, metric) + sums.loc[(row.usage_start, row.node),
                                                                                       metric]
            want[(row.usage_start, row.node, metric)] = getattr(row, capacity)
    assert got == approx(want)


# --- 3. capacity consistency -------------------------------------------------------------------------------


def _raw_node_capacity(run: Run) -> pd.DataFrame:
    """Per (day, node): Σ over hours of the hour's max raw capacity, in hours (and GiB-hours); hours seen; cores."""
    raw = run.parquet("pod_usage", daily=False)
    hourly = raw.groupby(["day", "interval_start", "node"])[
        ["node_capacity_cpu_core_seconds", "node_capacity_memory_byte_seconds"]].max()
    per_node = hourly.groupby(["day", "node"]).sum()
    per_node["cpu_hours"] = per_node["node_capacity_cpu_core_seconds"] / 3600
    per_node["memory_gib_hours"] = per_node["node_capacity_memory_byte_seconds"] / 3600 / GIB
    per_node["hours"] = raw.groupby(["day", "node"])["interval_start"].nunique()
    per_node["cores"] = raw.groupby(["day", "node"])["node_capacity_cpu_cores"].max()
    return per_node


@BOTH
def test_node_and_cluster_capacity_are_consistent_and_come_from_the_raw_hours(runs, name):
    run = runs(name)
    pod_rows = run.summary[run.summary["data_source"] == "Pod"]  # unallocated rows carry them too
    raw = _raw_node_capacity(run)
    raw = raw[raw.index.get_level_values("node") != ""]  # pending pods' '' node never gets a Pod row
    cols = ["node_capacity_cpu_core_hours", "node_capacity_memory_gigabyte_hours"]

    per_node = pod_rows.groupby(["usage_start", "node"])[cols].nunique()
    assert (per_node == 1).all().all(), "node capacity differs between Pod rows of one node-day"
    got = pod_rows.groupby(["usage_start", "node"])[cols].first()
    assert got.index.tolist() == raw.index.tolist()
    assert got["node_capacity_cpu_core_hours"].tolist() == approx(raw["cpu_hours"].tolist())
    assert got["node_capacity_memory_gigabyte_hours"].tolist() == approx(raw["memory_gib_hours"].tolist())

    cluster = ["cluster_capacity_cpu_core_hours", "cluster_capacity_memory_gigabyte_hours"]
    assert (pod_rows.groupby("usage_start")[cluster].nunique() == 1).all().all()
    per_day = pod_rows.groupby("usage_start")[cluster].first()
    assert per_day["cluster_capacity_cpu_core_hours"].tolist() == approx(
        got.groupby(level=0)["node_capacity_cpu_core_hours"].sum().tolist())
    assert per_day["cluster_capacity_memory_gigabyte_hours"].tolist() == approx(
        got.groupby(level=0)["node_capacity_memory_gigabyte_hours"].sum().tolist())

    # a node that reports every hour has 24 x its cores; the worker missing 6 hours on day 1 has 18 x
    cores = pod_rows.groupby(["usage_start", "node"])["node_capacity_cpu_cores"].max()
    hours = raw["hours"].reindex(got.index)
    full = hours == 24
    assert full.sum() == len(got) - 1
    assert got.loc[full, "node_capacity_cpu_core_hours"].tolist() == approx((24 * cores[full]).tolist())
    missing = run.ds.scenario["features"]["missing_hours"]
    key = (dt.date.fromisoformat(missing["date"]), missing["node"])
    assert hours[key] == 24 - len(missing["hours"]) == 18
    assert got.loc[key, "node_capacity_cpu_core_hours"] == approx(18 * cores[key])


# --- 4. effective >= max(usage, request) ------------------------------------------------------------------


@BOTH
def test_effective_usage_is_at_least_usage_and_request_on_every_pod_row(runs, name):
    pods = runs(name).pods
    assert len(pods) > 0
    for eff, usage, request in (("pod_effective_usage_cpu_core_hours", "pod_usage_cpu_core_hours",
                                 "pod_request_cpu_core_hours"),
                                ("pod_effective_usage_memory_gigabyte_hours", "pod_usage_memory_gigabyte_hours",
                                 "pod_request_memory_gigabyte_hours")):
        floor = pods[[usage, request]].max(axis=1)
        short = pods[pods[eff] < floor - 1e-12]
        assert short.empty, short[["usage_start", "namespace", "node", usage, request, eff]]
    # and the bound is not trivially loose: somewhere usage exceeds request, elsewhere request exceeds usage
    assert (pods["pod_usage_cpu_core_hours"] > pods["pod_request_cpu_core_hours"]).any()
    assert (pods["pod_request_cpu_core_hours"] > pods["pod_usage_cpu_core_hours"]).any()


# --- 5. storage units ---------------------------------------------------------------------------------------


def _byte_seconds(gigabyte_months: pd.Series, day: pd.Series) -> np.ndarray:
    dim = np.array([calendar.monthrange(d.year, d.month)[1] for d in day], dtype=float)
    return gigabyte_months.to_numpy(dtype=float) * 86400 * dim * GIB


def test_storage_gigabyte_months_convert_back_to_the_daily_byte_seconds(runs):
    run = runs("clean")
    daily = run.parquet("storage_usage")
    stor = run.storage.copy()
    keys = ["day", "namespace", "persistentvolumeclaim", "persistentvolume"]
    stor["day"] = stor["usage_start"]
    for col in ("capacity", "request", "usage"):
        src = {"capacity": "persistentvolumeclaim_capacity_gigabyte_months",
               "request": "volume_request_storage_gigabyte_months",
               "usage": "persistentvolumeclaim_usage_gigabyte_months"}[col]
        stor[col] = _byte_seconds(stor[src], stor["day"])
    rows = stor.groupby(keys).agg(n=("node", "size"), capacity=("capacity", "sum"), request=("request", "sum"),
                                  usage=("usage", "sum"),
                                  capacity_gb=("persistentvolumeclaim_capacity_gigabyte", "max"))
    want = daily.groupby(keys).agg(capacity=("persistentvolumeclaim_capacity_byte_seconds", "sum"),
                                   request=("volume_request_storage_byte_seconds", "sum"),
                                   usage=("persistentvolumeclaim_usage_byte_seconds", "sum"),
                                   capacity_bytes=("persistentvolumeclaim_capacity_bytes", "max"))
    assert rows.index.tolist() == want.index.tolist()

    # capacity is never divided: the volume's rows add up to every byte-second of its daily rows
    assert rows["capacity"].tolist() == approx(want["capacity"].tolist())
    assert (rows["capacity_gb"] * GIB).tolist() == approx(want["capacity_bytes"].tolist())
    # a volume on one node: request and usage convert back too
    single = rows["n"] == 1
    assert single.sum() > 0
    assert rows.loc[single, "request"].tolist() == approx(want.loc[single, "request"].tolist())
    assert rows.loc[single, "usage"].tolist() == approx(want.loc[single, "usage"].tolist())

    # the ReadWriteMany volume mounted on two nodes: one row per node, request and usage split evenly
    shared = run.ds.scenario["features"]["shared_pvc"]
    for day in sorted(stor["day"].unique()):
        key = (day, shared["namespace"], shared["persistentvolumeclaim"], shared["persistentvolume"])
        on = stor[(stor["day"] == day) & (stor["persistentvolumeclaim"] == shared["persistentvolumeclaim"])]
        assert sorted(on["node"]) == sorted(shared["nodes"])
        n = len(shared["nodes"])
        assert rows.loc[key, "request"] == approx(want.loc[key, "request"] / n)
        assert rows.loc[key, "usage"] == approx(want.loc[key, "usage"] / n)
        assert on["volume_request_storage_gigabyte_months"].nunique() <= n


# --- 6. labels -------------------------------------------------------------------------------------------------


@BOTH
def test_label_keys_are_enabled_keys_and_all_labels_follows_the_row_kind(runs, name):
    run = runs(name)
    s = run.summary
    for labels in [*run.pods["pod_labels"], *run.storage["volume_labels"]]:
        assert isinstance(labels, dict)
        assert set(labels) <= run.enabled, labels
    # keys of the cluster outside the enabled set (tier, kubernetes_io_*, ...) really were dropped
    raw_keys = {k for text in run.parquet("pod_usage")["pod_labels"] for k in json.loads(text or "{}")}
    assert raw_keys - run.enabled

    pod_rows = s[(s["data_source"] == "Pod") & ~s["namespace"].isin(UNALLOCATED)]
    assert (pod_rows["all_labels"] == pod_rows["pod_labels"]).all()
    assert (run.storage["all_labels"] == run.storage["volume_labels"]).all()
    assert run.unallocated["all_labels"].map(lambda v: v == {}).all()
    assert len(run.unallocated) > 0 and len(run.storage) > 0


def test_pod_labels_merge_node_then_namespace_then_pod(runs):
    run = runs("clean")
    node_labels = {(r.day, r.node): run.filtered(r.node_labels) for r in run.parquet("node_labels").itertuples()}
    ns_labels = {(r.day, r.namespace): run.filtered(r.namespace_labels)
                 for r in run.parquet("namespace_labels").itertuples()}
    expected, overridden = set(), 0
    for r in run.scheduled().itertuples():
        node, ns, pod = node_labels.get((r.day, r.node), {}), ns_labels.get((r.day, r.namespace), {}), \
            run.filtered(r.pod_labels)
        merged = {**node, **ns, **pod}  # later wins: pod > namespace > node
        overridden += any(k in node and merged[k] != node[k] for k in merged)
        expected.add((r.day, r.namespace, r.node, json.dumps(merged, sort_keys=True)))
    got = {(r.usage_start, r.namespace, r.node, json.dumps(r.pod_labels, sort_keys=True))
           for r in run.pods.itertuples()}

    assert overridden > 0, "the data has no node label that a namespace or pod label overrides"
    assert got == expected
    assert len(run.pods) == len(got)  # clean data: one Pod row per (day, namespace, node, label set)


def test_volume_labels_merge_node_then_namespace_then_pv_then_pvc(runs):
    run = runs("clean")
    node_labels = {(r.day, r.node): run.filtered(r.node_labels) for r in run.parquet("node_labels").itertuples()}
    ns_labels = {(r.day, r.namespace): run.filtered(r.namespace_labels)
                 for r in run.parquet("namespace_labels").itertuples()}
    daily_pods = run.parquet("pod_usage")
    pod_nodes: dict[tuple, set] = {}
    for r in daily_pods.itertuples():
        pod_nodes.setdefault((r.day, r.namespace, r.pod), set()).add(r.node)
    expected = set()
    for r in run.parquet("storage_usage").itertuples():
        for node in pod_nodes.get((r.day, r.namespace, r.pod), {None}):  # no pod row: no node, no node labels
            merged = {**node_labels.get((r.day, node), {}), **ns_labels.get((r.day, r.namespace), {}),
                      **run.filtered(r.persistentvolume_labels), **run.filtered(r.persistentvolumeclaim_labels)}
            expected.add((r.day, r.namespace, r.persistentvolumeclaim, node, json.dumps(merged, sort_keys=True)))
    got = {(r.usage_start, r.namespace, r.persistentvolumeclaim, r.node, json.dumps(r.volume_labels, sort_keys=True))
           for r in run.storage.itertuples()}
    assert got == expected


# --- 7. shape ----------------------------------------------------------------------------------------------------


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE as a regular expression (% any run, _ one character)."""
    return re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.S)


@BOTH
def test_rows_have_koku_shape_constants_and_cost_categories(runs, name):
    run = runs(name)
    s, ds = run.summary, run.ds
    rp = report_period(run.pg_url, ds.schema)
    assert (s["usage_end"] == s["usage_start"]).all()
    assert set(s["usage_start"]) == {dt.date(2026, 1, d) for d in (1, 2, 3)}
    assert set(s["data_source"]) == {"Pod", "Storage"}
    assert s["source_uuid"].astype(str).eq(ds.source).all()
    assert s["report_period_id"].eq(rp["id"]).all()
    assert s["cluster_id"].eq(ds.config.cluster_id).all() and s["cluster_alias"].eq(ds.config.cluster_alias).all()

    un = run.unallocated
    for col in ("pod_labels", "pod_limit_cpu_core_hours", "pod_limit_memory_gigabyte_hours",
                "infrastructure_usage_cost"):
        assert un[col].isna().all(), col
    assert run.pods["pod_labels"].notna().all()  # so a NULL pod_labels on a Pod row means "unallocated"
    # Pod and Storage rows carry Koku's literal, scale included (jsonb keeps 0.000000000)
    literal = fetch(run.pg_url, ds.schema, "reporting_ocpusagelineitem_daily_summary",
                    "DISTINCT infrastructure_usage_cost::text", "infrastructure_usage_cost IS NOT NULL")
    assert literal == [(INFRASTRUCTURE_USAGE_COST,)]
    assert s["infrastructure_usage_cost"].notna().sum() == len(s) - len(un)
    # the node's role names its unallocated row
    want = {"master": "Platform unallocated", "infra": "Platform unallocated", "worker": "Worker unallocated"}
    roles = ds.scenario["node_roles"]
    assert {(r.node, r.namespace) for r in un.itertuples()} == {(n, want[roles[n]]) for n in set(un["node"])}

    # cost category: the highest id among the LIKE patterns the namespace matches, NULL if none
    patterns = [(_like(p), cid) for p, cid in fetch(run.pg_url, ds.schema, "reporting_ocp_cost_category_namespace",
                                                     "namespace, cost_category_id")]
    expected = [max((cid for rx, cid in patterns if rx.fullmatch(ns)), default=None) for ns in s["namespace"]]
    got = [None if pd.isna(v) else int(v) for v in s["cost_category_id"]]
    assert got == expected
    categories = dict(fetch(run.pg_url, ds.schema, "reporting_ocp_cost_category", "name, id"))
    assert {v for v in got if v is not None} == {categories["Platform"], categories["Engineering"]}


# --- the tables around the summary ---------------------------------------------------------------------------


@BOTH
def test_report_period_is_stamped_and_cluster_tables_are_filled(runs, name):
    run = runs(name)
    ds = run.ds
    rp = report_period(run.pg_url, ds.schema)
    assert rp["id"] == run.out["report_period_id"]
    assert str(rp["provider_id"]) == ds.source and rp["cluster_id"] == ds.config.cluster_id
    assert rp["report_period_start"] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert rp["report_period_end"] == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert rp["summary_data_creation_datetime"] is not None
    assert rp["summary_data_updated_datetime"] >= rp["summary_data_creation_datetime"]

    clusters = fetch(run.pg_url, ds.schema, "reporting_ocp_clusters", "uuid::text, cluster_id, cluster_alias, "
                     "provider_id::text")
    assert [c[1:] for c in clusters] == [(ds.config.cluster_id, ds.config.cluster_alias, ds.source)]
    cluster_uuid = clusters[0][0]

    daily = run.parquet("pod_usage")
    scheduled = run.scheduled()
    nodes = fetch(run.pg_url, ds.schema, "reporting_ocp_nodes",
                  "node, resource_id, node_capacity_cpu_cores::float8, node_role, architecture, cluster_id::text")
    # architecture: lower(kubernetes_io_arch) of the node's largest label text in the window
    label_texts = run.parquet("node_labels").groupby("node")["node_labels"].max()
    arch = {node: json.loads(text)["kubernetes_io_arch"].lower() for node, text in label_texts.items()}
    want_nodes = sorted(
        (node, g["resource_id"].max(), round(g["node_capacity_cpu_cores"].max(), 2), ds.scenario["node_roles"][node],
         arch[node], cluster_uuid)
        for node, g in scheduled.groupby("node"))
    assert sorted(nodes) == want_nodes
    assert set(arch.values()) == {"amd64", "arm64"}
    assert {r[3] for r in nodes} == {"master", "infra", "worker"}

    pvcs = fetch(run.pg_url, ds.schema, "reporting_ocp_pvcs", "persistent_volume, persistent_volume_claim")
    storage = run.parquet("storage_usage")
    assert sorted(pvcs) == sorted(set(zip(storage["persistentvolume"], storage["persistentvolumeclaim"],
                                          strict=True)))
    projects = fetch(run.pg_url, ds.schema, "reporting_ocp_projects", "project")
    assert sorted(p[0] for p in projects) == sorted(set(daily["namespace"]))


def test_without_node_role_the_roles_come_from_kokus_fallback_rules(runs):
    run = runs("messy")
    daily = run.parquet("pod_usage")
    assert daily["node_role"].isna().all()  # the files really carry no role
    roles = dict(fetch(run.pg_url, run.ds.schema, "reporting_ocp_nodes", "node, node_role"))
    apiserver = set(daily.loc[daily["namespace"] == "openshift-kube-apiserver", "node"])
    infra_label = {r.node for r in run.parquet("node_labels").itertuples()
                   if json.loads(r.node_labels).get("node_role_kubernetes_io") == "infra"}
    # master: ran an openshift-kube-apiserver pod; infra: carries the infra role label; else worker
    assert roles == {n: "master" if n in apiserver else "infra" if n in infra_label else "worker" for n in roles}
    assert roles == run.ds.scenario["node_roles"]
