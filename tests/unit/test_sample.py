"""poc_tasks.sample: Koku's layout, names and types, daily files as Koku's per-chunk aggregation, planted cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.sample import REPORT_TYPES, SampleConfig, write_sample

# small, but rows_per_file=500 cuts each pod file (~700 rows) into two chunks
CONFIG = SampleConfig(days=3, nodes=6, pods=60, rows_per_file=500)
UUID = CONFIG.source_uuid

TS = pa.timestamp("ms")
F64 = pa.float64()
STR = pa.string()
PERIOD = {"report_period_start": TS, "report_period_end": TS}
TIMES = {**PERIOD, "interval_start": TS, "interval_end": TS}
POD_NUMBERS = {c: F64 for c in (
    "pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds", "pod_limit_cpu_core_seconds",
    "pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds", "pod_limit_memory_byte_seconds",
    "node_capacity_cpu_cores", "node_capacity_cpu_core_seconds", "node_capacity_memory_bytes",
    "node_capacity_memory_byte_seconds", "pod_effective_usage_cpu_core_seconds",
    "pod_effective_usage_memory_byte_seconds")}
STORAGE_NUMBERS = {c: F64 for c in (
    "persistentvolumeclaim_capacity_bytes", "persistentvolumeclaim_capacity_byte_seconds",
    "volume_request_storage_byte_seconds", "persistentvolumeclaim_usage_byte_seconds")}
STORAGE_STRINGS = {c: STR for c in (
    "namespace", "pod", "node", "persistentvolumeclaim", "persistentvolume", "storageclass", "csi_driver",
    "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels")}
# spec ocp.md §1.5: the columns of each table and their Parquet (Arrow) types
EXPECTED = {
    ("pod_usage", False): {**TIMES, **POD_NUMBERS, "pod": STR, "namespace": STR, "node": STR, "resource_id": STR,
                           "pod_labels": STR, "node_role": STR},
    ("pod_usage", True): {**PERIOD, "interval_start": TS, **POD_NUMBERS, "pod": STR, "namespace": STR, "node": STR,
                          "resource_id": STR, "pod_labels": STR, "node_role": STR},
    ("storage_usage", False): {**TIMES, **STORAGE_STRINGS, **STORAGE_NUMBERS},
    ("storage_usage", True): {**PERIOD, "interval_start": TS, **STORAGE_STRINGS, **STORAGE_NUMBERS},
    ("node_labels", False): {**TIMES, "node": STR, "node_labels": STR},
    ("node_labels", True): {**PERIOD, "interval_start": TS, "node": STR, "node_labels": STR},
    ("namespace_labels", False): {**TIMES, "namespace": STR, "namespace_labels": STR},
    ("namespace_labels", True): {**PERIOD, "interval_start": TS, "namespace": STR, "namespace_labels": STR},
}
LABEL_COLUMNS = ("pod_labels", "persistentvolume_labels", "persistentvolumeclaim_labels", "node_labels",
                 "namespace_labels")
NAME_RE = re.compile(r"(?P<rt>[a-z_]+)\.(?P<date>\d{4}-\d{2}-\d{2})\.(?P<manifest>\d+)\.(?P<counter>\d+)"
                     r"_(?P<daily>daily_)?(?P<chunk>\d+)\.parquet")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sample")
    return root, write_sample(str(root), CONFIG)


@pytest.fixture(scope="module")
def root(sample) -> Path:
    return sample[0]


@pytest.fixture(scope="module")
def scenario(sample) -> dict:
    return sample[1]


def folder(root: Path, rt: str, daily: bool, account: str = "org1234567") -> Path:
    base = root / "data" / "parquet" / ("daily" if daily else "") / account / "OCP" / rt
    return base / f"source={UUID}" / "year=2026" / "month=01"


def files(root: Path, rt: str, daily: bool) -> list[Path]:
    return sorted(folder(root, rt, daily).glob("*.parquet"))


def read(root: Path, rt: str, daily: bool) -> pd.DataFrame:
    frames = []
    for f in files(root, rt, daily):
        df = pq.read_table(f).to_pandas()
        df["file"] = f.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------- determinism


def test_same_config_gives_the_same_bytes(root, scenario, tmp_path):
    again = write_sample(str(tmp_path), CONFIG)
    assert again == scenario
    names = all_files(root)
    assert names == all_files(tmp_path)
    for name in names:
        assert (root / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_gives_other_data(root, tmp_path):
    write_sample(str(tmp_path), SampleConfig(days=1, nodes=6, pods=60, rows_per_file=500, seed=7))
    name = "pod_usage.2026-01-01.1.0_0.parquet"
    ours = pq.read_table(folder(root, "pod_usage", False) / name)
    theirs = pq.read_table(folder(tmp_path, "pod_usage", False) / name)
    assert not ours.equals(theirs)


# ---------------------------------------------------------------- layout and names


def test_every_file_is_in_koku_layout_with_koku_names(root):
    names = all_files(root)
    assert "scenario.json" in names
    pattern = re.compile(
        rf"data/parquet/(?P<daily>daily/)?org1234567/OCP/(?P<rt>[a-z_]+)/source={UUID}/year=2026/month=01/(?P<f>.+)")
    for name in names:
        if name == "scenario.json":
            continue
        m = pattern.fullmatch(name)
        assert m, name
        f = NAME_RE.fullmatch(m["f"])
        assert f, name
        assert f["rt"] == m["rt"] and f["rt"] in REPORT_TYPES
        assert bool(f["daily"]) == bool(m["daily"]), name
        # manifest d carries day d of the month
        assert int(f["manifest"]) == int(f["date"][-2:])


def test_each_raw_chunk_has_its_daily_file_and_files_are_split(root, scenario):
    stems = set()
    for rt in REPORT_TYPES:
        raw = {p.name.replace(".parquet", "") for p in files(root, rt, False)}
        daily = {p.name.replace("_daily_", "_").replace(".parquet", "") for p in files(root, rt, True)}
        assert raw == daily and raw
        for p in files(root, rt, False):
            assert pq.ParquetFile(p).metadata.num_rows <= CONFIG.rows_per_file
        parsed = [NAME_RE.fullmatch(p.name) for p in files(root, rt, False)]
        # two operator files (counters 0 and 1) per day and type
        assert {(m["date"], m["counter"]) for m in parsed} == {
            (f"2026-01-0{d}", c) for d in (1, 2, 3) for c in ("0", "1")}
        stems |= {p.name.rsplit("_", 1)[0] for p in files(root, rt, False)}
    pod_chunks = {NAME_RE.fullmatch(p.name)["chunk"] for p in files(root, "pod_usage", False)}
    assert pod_chunks == {"0", "1"}  # ~700 rows per pod file, 500 per chunk
    assert {f["base"] for f in scenario["files"]} == stems
    assert len(scenario["files"]) == 4 * 3 * 2


# ---------------------------------------------------------------- columns and types


@pytest.mark.parametrize(("rt", "daily"), sorted(EXPECTED))
def test_columns_and_types_are_kokus(root, rt, daily):
    expected = EXPECTED[(rt, daily)]
    for f in files(root, rt, daily):
        schema = pq.read_schema(f)
        assert {n: schema.field(n).type for n in schema.names} == expected, f.name
        table = pq.read_table(f)
        for name in schema.names:
            # strings use '' for "no value", never NULL; numbers and times are always set
            assert table[name].null_count == 0, (f.name, name)
        if daily:
            starts = table["interval_start"].to_pandas()
            assert (starts == starts.dt.normalize()).all()
            assert starts.dt.date.nunique() == 1
        for name in set(schema.names) & set(LABEL_COLUMNS):
            for text in set(table[name].to_pylist()):
                assert text == json.dumps(json.loads(text)), text  # json.dumps defaults, '{}' when empty


def test_raw_pod_rows_are_hourly_with_capacity_and_effective_usage(root):
    raw = read(root, "pod_usage", False)
    assert ((raw["interval_end"] - raw["interval_start"]) == pd.Timedelta(seconds=3599)).all()
    assert (raw["interval_start"] == raw["interval_start"].dt.floor("h")).all()
    assert (raw["report_period_start"] == pd.Timestamp("2026-01-01")).all()
    assert (raw["report_period_end"] == pd.Timestamp("2026-02-01")).all()
    assert (raw["node_capacity_cpu_core_seconds"] == raw["node_capacity_cpu_cores"] * 3600).all()
    assert (raw["node_capacity_memory_byte_seconds"] == raw["node_capacity_memory_bytes"] * 3600).all()
    assert (raw["pod_effective_usage_cpu_core_seconds"]
            == raw[["pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds"]].max(axis=1)).all()
    assert (raw["pod_effective_usage_memory_byte_seconds"]
            == raw[["pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds"]].max(axis=1)).all()
    # effective usage differs from both usage and request somewhere: some pods use more than they request
    assert (raw["pod_usage_cpu_core_seconds"] > raw["pod_request_cpu_core_seconds"]).any()
    assert (raw["pod_usage_cpu_core_seconds"] < raw["pod_request_cpu_core_seconds"]).any()
    # a node has one capacity per hour, whatever pod reports it
    per_hour = raw[raw["node"] != ""].groupby(["node", "interval_start"])["node_capacity_cpu_cores"].nunique()
    assert (per_hour == 1).all()
    assert len(raw) == raw[["namespace", "pod", "interval_start"]].drop_duplicates().shape[0]


# ---------------------------------------------------------------- daily = Koku's per-chunk aggregation

SUMS = {
    "pod_usage": [c for c in POD_NUMBERS if c not in ("node_capacity_cpu_cores", "node_capacity_memory_bytes")],
    "storage_usage": [c for c in STORAGE_NUMBERS if c != "persistentvolumeclaim_capacity_bytes"],
}
MAXES = {
    "pod_usage": ["node_capacity_cpu_cores", "node_capacity_memory_bytes", "resource_id", "node_role",
                  "report_period_start", "report_period_end"],
    "storage_usage": ["persistentvolumeclaim_capacity_bytes", "report_period_start", "report_period_end"],
    "node_labels": ["report_period_start", "report_period_end"],
    "namespace_labels": ["report_period_start", "report_period_end"],
}
KEYS = {
    "pod_usage": ["namespace", "node", "pod", "pod_labels"],
    "storage_usage": list(STORAGE_STRINGS),
    "node_labels": ["node", "node_labels"],
    "namespace_labels": ["namespace", "namespace_labels"],
}


@pytest.mark.parametrize("rt", REPORT_TYPES)
def test_each_daily_file_aggregates_its_raw_chunk(root, rt):
    for raw_file in files(root, rt, False):
        raw = pq.read_table(raw_file).to_pandas()
        daily = pq.read_table(folder(root, rt, True) / _daily_name(raw_file.name)).to_pandas()
        raw["day"] = raw["interval_start"].dt.normalize()
        daily["day"] = daily["interval_start"]
        keys = [*KEYS[rt], "day"]
        assert not daily.duplicated(keys).any()  # unique within one file ...
        expect = raw.groupby(keys).agg({**dict.fromkeys(SUMS.get(rt, []), "sum"),
                                        **dict.fromkeys(MAXES[rt], "max")}).sort_index()
        got = daily.set_index(keys)[list(expect.columns)].sort_index()
        pd.testing.assert_frame_equal(got, expect, check_exact=False, rtol=1e-12)


def _daily_name(raw_name: str) -> str:
    stem, chunk = raw_name.removesuffix(".parquet").rsplit("_", 1)
    return f"{stem}_daily_{chunk}.parquet"


@pytest.mark.parametrize("rt", ["pod_usage", "storage_usage"])
def test_daily_tables_sum_back_to_raw_but_are_not_unique(root, rt):
    raw, daily = read(root, rt, False), read(root, rt, True)
    raw["day"] = raw["interval_start"].dt.normalize()
    daily["day"] = daily["interval_start"]
    keys = [*KEYS[rt], "day"]
    expect = raw.groupby(keys)[SUMS[rt]].sum().sort_index()
    got = daily.groupby(keys)[SUMS[rt]].sum().sort_index()
    pd.testing.assert_frame_equal(got, expect, check_exact=False, rtol=1e-12)
    # ... but not across files: a key-day is split over operator files and chunks, as in Koku
    assert daily.duplicated(keys).any()


# ---------------------------------------------------------------- planted cases


def test_pending_pods_have_no_node_and_keep_their_volume(root, scenario):
    pods = read(root, "pod_usage", False)
    pending = {(p["namespace"], p["pod"]) for p in scenario["features"]["pending_pods"]}
    rows = pods[pods["node"] == ""]
    assert set(zip(rows["namespace"], rows["pod"], strict=True)) == pending
    assert (rows["resource_id"] == "").all() and (rows["node_role"] == "").all()
    assert (rows["node_capacity_cpu_cores"] == 0).all() and (rows["pod_usage_cpu_core_seconds"] == 0).all()
    assert (rows["pod_request_cpu_core_seconds"] > 0).any()
    storage = read(root, "storage_usage", False)
    claim = storage[storage["persistentvolumeclaim"] == scenario["features"]["pending_pod_pvc"]]
    assert len(claim) == 3 * 24 and (claim["node"] == "").all()
    assert set(claim["pod"]) == {p for _, p in pending}


def test_one_volume_is_shared_by_pods_on_two_nodes(root, scenario):
    shared = scenario["features"]["shared_pvc"]
    storage = read(root, "storage_usage", True)
    rows = storage[storage["persistentvolumeclaim"] == shared["persistentvolumeclaim"]]
    assert set(rows["pod"]) == set(shared["pods"])
    assert rows["persistentvolume"].nunique() == 1
    pods = read(root, "pod_usage", True)
    for day, group in pods[pods["pod"].isin(shared["pods"])].groupby("interval_start"):
        assert set(group["node"]) == set(shared["nodes"]) and len(set(shared["nodes"])) == 2, day


def test_some_volumes_belong_to_pods_without_usage_rows(root, scenario):
    orphans = scenario["features"]["pvcs_without_pod_usage"]
    assert orphans
    pods = read(root, "pod_usage", False)
    storage = read(root, "storage_usage", False)
    for o in orphans:
        assert not ((pods["namespace"] == o["namespace"]) & (pods["pod"] == o["pod"])).any()
        rows = storage[storage["persistentvolumeclaim"] == o["persistentvolumeclaim"]]
        assert len(rows) == 3 * 24 and set(rows["pod"]) == {o["pod"]}


def _variants_by_day(frame: pd.DataFrame, key: str, value: str, label_col: str) -> dict[str, int]:
    rows = frame[frame[key] == value]
    return {str(d.date()): n for d, n in rows.groupby("interval_start")[label_col].nunique().items()}


def test_labels_change_at_noon_of_the_change_day(root, scenario):
    feats = scenario["features"]
    assert feats["label_change_date"] == "2026-01-02"
    two_then_one = {"2026-01-01": 1, "2026-01-02": 2, "2026-01-03": 1}
    node = feats["node_label_change"]
    nodes = read(root, "node_labels", True)
    assert _variants_by_day(nodes, "node", node["node"], "node_labels") == two_then_one
    ns = feats["namespace_label_change"]
    namespaces = read(root, "namespace_labels", True)
    assert _variants_by_day(namespaces, "namespace", ns["namespace"], "namespace_labels") == two_then_one
    pod = feats["pod_label_change"]
    pods = read(root, "pod_usage", False)
    rows = pods[(pods["namespace"] == pod["namespace"]) & (pods["pod"] == pod["pod"])]
    morning = rows["interval_start"] < pd.Timestamp("2026-01-02 12:00")
    assert set(rows.loc[morning, "pod_labels"]) == {pod["before"]}
    assert set(rows.loc[~morning, "pod_labels"]) == {pod["after"]}
    assert _variants_by_day(read(root, "pod_usage", True), "pod", pod["pod"], "pod_labels") == two_then_one
    # every other node and namespace has one label variant per day
    assert (nodes.groupby(["node", "interval_start"])["node_labels"].nunique().drop(node["node"]) == 1).all()


def test_without_label_changes_every_entity_has_one_variant_a_day(tmp_path):
    scenario = write_sample(str(tmp_path), SampleConfig(days=2, label_changes=False))
    assert "label_change_date" not in scenario["features"]
    for rt, keys in (("node_labels", ["node"]), ("namespace_labels", ["namespace"]),
                     ("pod_usage", ["namespace", "pod"])):
        daily = read(tmp_path, rt, True)
        label = KEYS[rt][-1]
        assert (daily.groupby([*keys, "interval_start"])[label].nunique() == 1).all(), rt


def test_a_node_misses_hours_and_some_pods_live_part_of_a_day(root, scenario):
    missing = scenario["features"]["missing_hours"]
    pods = read(root, "pod_usage", False)
    day1 = pods[pods["interval_start"] < pd.Timestamp("2026-01-02")]
    hours = day1.groupby("node")["interval_start"].apply(lambda s: sorted(set(s.dt.hour)))
    assert hours[missing["node"]] == list(range(6, 24))
    assert all(h == list(range(24)) for n, h in hours.items() if n != missing["node"])
    labels = read(root, "node_labels", False)
    assert sorted(set(labels.loc[(labels["node"] == missing["node"])
                                 & (labels["interval_start"] < pd.Timestamp("2026-01-02")),
                                 "interval_start"].dt.hour)) == list(range(6, 24))
    # pods on a node that reported all day, yet present only some hours
    running = pods[(pods["node"] != "") & (pods["node"] != missing["node"])]
    per_pod_day = running.groupby(["namespace", "pod", running["interval_start"].dt.date]).size()
    assert (per_pod_day < 24).any()
    assert pods.groupby(pods["interval_start"].dt.date).size().sum() < 60 * 24 * 3


def test_node_roles_and_role_hints(root, scenario):
    roles = scenario["features"]["node_roles"]
    assert set(roles.values()) == {"master", "infra", "worker"}
    pods = read(root, "pod_usage", False)
    on_node = pods[pods["node"] != ""]
    assert dict(on_node.groupby("node")["node_role"].max()) == roles
    masters = {n for n, r in roles.items() if r == "master"}
    assert set(on_node.loc[on_node["namespace"] == "openshift-kube-apiserver", "node"]) == masters
    labels = read(root, "node_labels", False)
    infra = {n for n, r in roles.items() if r == "infra"}
    hinted = {n for n, text in zip(labels["node"], labels["node_labels"], strict=True)
              if '"node_role_kubernetes_io": "infra"' in text}
    assert hinted == infra
    assert any(n.startswith(("openshift-", "kube-")) for n in pods["namespace"])


def test_without_node_role_the_raw_column_is_absent_and_daily_is_null(tmp_path):
    write_sample(str(tmp_path), SampleConfig(days=1, with_node_role=False))
    raw = pq.read_table(files(tmp_path, "pod_usage", False)[0])
    assert "node_role" not in raw.column_names
    for f in files(tmp_path, "pod_usage", True):
        daily = pq.read_table(f)
        # Koku adds the missing column to the daily frame as an empty pyarrow string column
        assert pa.types.is_large_string(daily.schema.field("node_role").type)
        assert daily["node_role"].null_count == daily.num_rows


def test_some_label_keys_are_enabled_and_some_are_not(root, scenario):
    keys: set[str] = set()
    for rt, col in (("pod_usage", "pod_labels"), ("node_labels", "node_labels"),
                    ("namespace_labels", "namespace_labels"), ("storage_usage", "persistentvolumeclaim_labels"),
                    ("storage_usage", "persistentvolume_labels")):
        for text in read(root, rt, True)[col].unique():
            keys |= set(json.loads(text))
    enabled = set(scenario["enabled_tag_keys"])
    assert enabled < keys
    assert "{}" in set(read(root, "pod_usage", True)["pod_labels"])


# ---------------------------------------------------------------- scenario.json


def test_scenario_json_has_the_oracle_fields(root, scenario):
    on_disk = json.loads((root / "scenario.json").read_text())
    assert on_disk == scenario
    assert {k: scenario[k] for k in ("schema", "account", "source_uuid", "cluster_id", "cluster_alias", "year",
                                     "month", "start_date", "end_date")} == {
        "schema": "org1234567", "account": "org1234567", "source_uuid": UUID, "cluster_id": "my-ocp-cluster-1",
        "cluster_alias": "My OCP Cluster", "year": "2026", "month": "01", "start_date": "2026-01-01",
        "end_date": "2026-01-03"}
    assert scenario["enabled_tag_keys"] == list(CONFIG.enabled_tag_keys)
    assert scenario["node_roles"] == {"master-0": "master", "infra-0": "infra", "worker-0": "worker",
                                      "worker-1": "worker", "worker-2": "worker", "worker-3": "worker"}
    assert scenario["extra_cost_category_namespaces"] == {"analytics%": "Engineering"}
    assert {"base": "pod_usage.2026-01-01.1.0", "reportnumhours": 24} in scenario["files"]
    assert all(set(f) == {"base", "reportnumhours"} for f in scenario["files"])


def test_acct_schema_drops_the_prefix_in_paths(tmp_path):
    scenario = write_sample(str(tmp_path), SampleConfig(schema="acct12345", days=1, month=2, year=2025))
    assert (scenario["account"], scenario["year"], scenario["month"]) == ("12345", "2025", "02")
    assert (scenario["start_date"], scenario["end_date"]) == ("2025-02-01", "2025-02-01")
    found = {p.parent.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")}
    assert Path(f"data/parquet/12345/OCP/pod_usage/source={UUID}/year=2025/month=02") in found
    assert Path(f"data/parquet/daily/12345/OCP/pod_usage/source={UUID}/year=2025/month=02") in found


@pytest.mark.parametrize("bad", [
    {"days": 32}, {"days": 0}, {"month": 2, "days": 29}, {"nodes": 3}, {"pods": 20}, {"schema": "public"},
    {"source_uuid": "not-a-uuid"}, {"rows_per_file": 0},
])
def test_invalid_configs_are_refused(tmp_path, bad):
    with pytest.raises(InvalidArgument):
        write_sample(str(tmp_path), SampleConfig(**bad))
    assert not any(tmp_path.iterdir())
