"""poc_tasks.sample.gcp: Koku's GCP Parquet shape (invoice-month partitions, daily group-by, labels and credits
JSON), an export that matches the sample cluster the way Koku matches; and the nise GCP converter."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.sample.cloud_files import uuid_factory
from poc_tasks.sample.gcp import (
    GCP_DAILY_COLUMNS,
    GCP_FLOAT_COLUMNS,
    GCP_RAW_COLUMNS,
    GCP_TIMESTAMP_COLUMNS,
    credit_amount,
    koku_gcp_daily,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import nise_gcp_to_koku_parquet as conv  # noqa: E402

CONFIG = SampleConfig(days=3, nodes=6, pods=60, rows_per_file=500, with_gcp=True)
GCP_UUID = CONFIG.gcp_source_uuid
TS = pa.timestamp("ms", tz="UTC")
NAME_RE = re.compile(r"(?P<inv>\d{6})_(?P<p>\d{4}-\d\d-\d\d)_(?P=p)_(?P<batch>\d+)_(?P<daily>daily_)?0\.parquet")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sample_gcp")
    return root, write_sample(str(root), CONFIG)


def gcp_files(root: Path, daily: bool, invoice: str = "*") -> list[Path]:
    base = root / "data/parquet" / ("daily/org1234567/GCP/raw" if daily else "org1234567/GCP") / f"source={GCP_UUID}"
    year, month = ("*", "*") if invoice == "*" else (invoice[:4], invoice[4:])
    return sorted(base.glob(f"year={year}/month={month}/*.parquet"))


def read(files: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def ocp_daily(root: Path, report_type: str) -> pd.DataFrame:
    folder = (root / "data/parquet/daily/org1234567/OCP" / report_type / f"source={CONFIG.source_uuid}"
              / "year=2026" / "month=01")
    return read(sorted(folder.glob("*.parquet")))


# ---------------------------------------------------------------------------------------------------------------
# Koku's shape
# ---------------------------------------------------------------------------------------------------------------
def test_credit_amount_of_the_kept_credit():
    assert credit_amount('{"name": "x", "amount": -0.25}') == -0.25
    assert credit_amount("{}") == 0.0 and credit_amount('{"amount": 0}') == 0.0


def test_koku_gcp_daily_groups_by_invoice_month_and_day_and_sums_credits():
    def row(hour: int, resource: str, cost: float, invoice: str = "202601", credits: str = "{}",
            labels: str = "{}") -> dict:
        r = dict.fromkeys(GCP_RAW_COLUMNS, "")
        r.update({c: 0.0 for c in GCP_FLOAT_COLUMNS})
        start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=hour)
        r.update({"usage_start_time": start, "usage_end_time": start, "export_time": start, "cost": cost,
                  "usage_amount_in_pricing_units": 1.0, "resource_name": resource, "invoice_month": invoice,
                  "credits": credits, "labels": labels, "sku_description": f"sku-{hour}",
                  "resource_global_name": f"g-{hour}"})
        return r

    raw = pd.DataFrame([
        row(0, "vm", 1.0, credits='{"name": "a", "amount": -0.5}'), row(1, "vm", 2.0), row(23, "vm", 4.0),
        row(24, "vm", 8.0),  # next day
        row(2, "vm", 16.0, invoice="202512"),  # other invoice month: other group
        row(0, "vm", 32.0, labels='{"k": "v"}'),  # other labels: other group
        row(0, "disk", 64.0)])
    daily = koku_gcp_daily(raw, uuid_factory(1))
    assert list(daily.columns) == list(GCP_DAILY_COLUMNS)
    got = {(r.invoice_month, r.resource_name, str(r.usage_start_time.date()), r.labels):
           (r.cost, r.daily_credits, r.usage_amount_in_pricing_units, r.sku_description, r.resource_global_name)
           for r in daily.itertuples()}
    assert got == {
        ("202601", "vm", "2026-01-01", "{}"): (7.0, -0.5, 3.0, "sku-23", "g-23"),  # max of texts
        ("202601", "vm", "2026-01-02", "{}"): (8.0, 0.0, 1.0, "sku-24", "g-24"),
        ("202512", "vm", "2026-01-01", "{}"): (16.0, 0.0, 1.0, "sku-2", "g-2"),
        ("202601", "vm", "2026-01-01", '{"k": "v"}'): (32.0, 0.0, 1.0, "sku-0", "g-0"),
        ("202601", "disk", "2026-01-01", "{}"): (64.0, 0.0, 1.0, "sku-0", "g-0"),
    }
    assert daily["row_uuid"].is_unique
    assert koku_gcp_daily(raw.iloc[:0], uuid_factory(1)).empty


# ---------------------------------------------------------------------------------------------------------------
# The sample export: layout, invoice months, types
# ---------------------------------------------------------------------------------------------------------------
def test_layout_invoice_months_and_partition_dates(sample):
    root, scenario = sample
    gcp = scenario["gcp"]
    raw_files, daily_files = gcp_files(root, False), gcp_files(root, True)
    assert all(NAME_RE.fullmatch(f.name) for f in raw_files + daily_files)
    assert [f.name.replace("_0.parquet", "") for f in raw_files] == sorted(f["base"] for f in gcp["files"])
    assert gcp["invoice_months"] == ["202512", "202601"]
    per_hour = gcp["lines_per_hour"]
    previous = read(gcp_files(root, False, "202512"))  # year=2025/month=12: the first three hours of Jan 1st
    assert set(previous.usage_start_time.astype(str)) == {f"2026-01-01 0{h}:00:00+00:00" for h in range(3)}
    assert len(previous) == 3 * per_hour and set(previous.invoice_month) == {"202512"}
    current = read(gcp_files(root, False, "202601"))
    assert len(current) == (3 * 24 - 3) * per_hour and set(current.invoice_month) == {"202601"}
    # the last two hours of a day are exported under the next day's partition date
    late = current[current.partition_date != current.usage_start_time.dt.strftime("%Y-%m-%d")]
    assert set(late.usage_start_time.dt.hour) == {22, 23}
    assert (pd.to_datetime(late.partition_date) - late.usage_start_time.dt.tz_localize(None).dt.normalize()
            == pd.Timedelta(days=1)).all()
    # BigQuery batches of 500 rows per partition date, cut by invoice month
    jan1 = [f for f in gcp["files"] if f["partition_date"] == "2026-01-01"]
    assert [(f["invoice_month"], f["base"][-1], f["rows"]) for f in jan1] == [
        ("202512", "0", 3 * per_hour), ("202601", "0", 500 - 3 * per_hour), ("202601", "1", 22 * per_hour - 500)]
    jan4 = [f for f in gcp["files"] if f["partition_date"] == "2026-01-04"]  # only the late hours of Jan 3rd
    assert [f["rows"] for f in jan4] == [2 * per_hour]


def test_types_are_kokus(sample):
    root, _ = sample
    schema = pq.read_schema(gcp_files(root, False)[0])
    assert schema.names == list(GCP_RAW_COLUMNS)
    want = {c: (TS if c in GCP_TIMESTAMP_COLUMNS else pa.float64() if c in GCP_FLOAT_COLUMNS else pa.string())
            for c in GCP_RAW_COLUMNS}
    assert {f.name: f.type for f in schema} == want
    daily_schema = pq.read_schema(gcp_files(root, True)[0])
    assert daily_schema.names == list(GCP_DAILY_COLUMNS)
    assert daily_schema.field("usage_start_time").type == TS
    raw = read(gcp_files(root, False))
    text = [c for c in GCP_RAW_COLUMNS if c not in GCP_TIMESTAMP_COLUMNS and c not in GCP_FLOAT_COLUMNS]
    assert not raw[text].isna().any().any()
    for col in ("labels", "system_labels", "project_labels", "credits"):
        assert all(isinstance(json.loads(t), dict) and json.dumps(json.loads(t)) == t for t in raw[col].unique())


def test_daily_files_are_the_group_by_of_their_raw_file(sample):
    root, _ = sample
    for raw_file, daily_file in zip(gcp_files(root, False), gcp_files(root, True), strict=True):
        assert daily_file.name == raw_file.name.replace("_0.parquet", "_daily_0.parquet")
        raw, daily = pd.read_parquet(raw_file), pd.read_parquet(daily_file)
        again = koku_gcp_daily(raw, uuid_factory(0)).drop(columns="row_uuid")
        pd.testing.assert_frame_equal(daily.drop(columns="row_uuid"), again)


def test_same_config_same_bytes_and_ocp_side_only_gains_the_released_pv(tmp_path, sample):
    root, scenario = sample
    write_sample(str(tmp_path / "again"), CONFIG)
    for a, b in zip(gcp_files(root, True), gcp_files(tmp_path / "again", True), strict=True):
        assert a.read_bytes() == b.read_bytes()
    plain = tmp_path / "plain"
    write_sample(str(plain), SampleConfig(days=3, nodes=6, pods=60, rows_per_file=500))
    with_gcp, without = ocp_daily(root, "storage_usage"), ocp_daily(plain, "storage_usage")
    extra = with_gcp[~with_gcp["persistentvolume"].isin(without["persistentvolume"])]
    pv = scenario["gcp"]["features"]["released_pv"]
    assert set(extra["persistentvolume"]) == {pv["persistentvolume"]}
    assert set(extra["csi_volume_handle"]) == {pv["csi_volume_handle"]}
    assert (extra[["namespace", "pod", "node", "persistentvolumeclaim"]] == "").all().all()


def test_invalid_gcp_source_uuid_is_refused(tmp_path):
    with pytest.raises(InvalidArgument):
        write_sample(str(tmp_path), SampleConfig(with_gcp=True, gcp_source_uuid="nope"))


# ---------------------------------------------------------------------------------------------------------------
# What Koku's matching will find
# ---------------------------------------------------------------------------------------------------------------
def test_instances_are_named_by_their_node_and_carry_credits(sample):
    root, scenario = sample
    raw = read(gcp_files(root, False))
    features = scenario["gcp"]["features"]
    nodes = set(ocp_daily(root, "pod_usage")["node"]) - {""}
    instances = raw[raw.sku_description.str.startswith("N2 Instance") & raw.resource_name.isin(nodes)]
    assert set(instances.resource_name) == nodes
    assert (instances.groupby(["resource_name", "sku_id"]).size() == 72).all()  # 3 days x 24 h, vCPU and RAM
    spec = instances.system_labels.map(lambda t: json.loads(t)["compute.googleapis.com/machine_spec"])
    assert spec.str.fullmatch(r"n2-standard-\d+").all()
    amounts = instances.credits.map(credit_amount)
    credited = instances.resource_name.isin(features["credited_instances"])
    assert amounts[credited].to_numpy() == pytest.approx(-0.2 * instances.cost[credited].to_numpy(), abs=1e-6)
    assert (amounts[~credited] == 0).all()
    # two credits on one instance: only the first (sustained use) is in Koku's data
    two = instances[instances.resource_name == features["two_credits"]]
    assert {json.loads(t)["type"] for t in two.credits} == {"SUSTAINED_USAGE_DISCOUNT"}
    # besides the instances, only the nodes' data transfer lines carry a node name
    holders = raw[raw.resource_name.map(lambda r: any(n in r for n in nodes))]
    assert set(holders.resource_name) == nodes
    assert features["node_name_substrings"] == {}  # 6 nodes: no name inside another


def test_disks_and_kokus_capacity(sample):
    """Koku sizes a disk when its global name holds '/disk/' and an OCP csi handle, the SKU description ' pd ':
    capacity = max(raw usage_amount) / 2^30 / 3600 over the usage month's partition."""
    root, scenario = sample
    raw = read(gcp_files(root, False, "202601"))
    features = scenario["gcp"]["features"]
    storage = ocp_daily(root, "storage_usage")
    handles = set(storage.csi_volume_handle) - {""}
    claims = storage.groupby("persistentvolume")["persistentvolumeclaim_capacity_bytes"].max() / 1024**3
    sized = raw[raw.resource_global_name.str.contains("/disk/")
                & raw.resource_global_name.map(lambda g: any(h in g for h in handles))]
    assert all(" pd " in d.lower() for d in sized.sku_description)
    capacity = sized.groupby("resource_global_name")["usage_amount"].max() / 2**30 / 3600
    disks = features["disks"]
    by_global = {d["global_name"]: (pv, d) for pv, d in disks.items()}
    released = features["released_pv"]
    for global_name, cap in capacity.items():
        if released["csi_volume_handle"] in global_name:
            assert cap == 20 and released["persistentvolume"] not in set(sized.resource_name)
            continue
        pv, d = by_global[global_name]
        assert d["shape"] in ("disk_by_csi_handle", "both")
        if pv == features["disk_smaller_than_claim"]:
            assert cap == claims[pv] / 2  # Koku keeps the row uuid and the full cost
        else:
            assert cap == max(claims[pv], 10)  # persistent disks are at least 10 GiB
    assert {pv for pv, d in disks.items() if d["shape"] in ("disk_by_csi_handle", "both")} == {
        by_global[g][0] for g in capacity.index if g in by_global}
    # the direct shape: the PV name inside the resource name (real GCE PD CSI naming, '/disks/', not sized)
    for pv, d in disks.items():
        has_name = pv in d["resource_name"]
        assert has_name == (d["shape"] in ("disks_by_pv_name", "both")), pv
        assert ("/disk/" in d["global_name"]) == (d["shape"] != "disks_by_pv_name"), pv
    assert disks[features["disk_attributed_twice"]]["shape"] == "both"
    assert set(features["direct_disk_without_node"]) <= {pv for pv, d in disks.items()
                                                          if d["shape"] == "disks_by_pv_name"}


def test_network_lines(sample):
    root, scenario = sample
    raw = read(gcp_files(root, False))
    features = scenario["gcp"]["features"]

    def direction(sku: str) -> str | None:  # Koku's rule for resource-matched Compute Engine lines
        sku = sku.lower()
        return "IN" if "data transfer in" in sku else "OUT" if "data transfer" in sku else None

    network = raw[(raw.service_description == "Compute Engine") & raw.usage_pricing_unit.eq("gibibyte")]
    got = network.groupby("resource_name")["sku_description"].apply(lambda s: sorted({direction(x) or "-" for x in s}))
    assert {k: v for k, v in got.items()} == {
        n: (["-", "IN", "OUT"] if n == features["egress_not_network"] else ["IN", "OUT"])
        for n in features["data_transfer"]}


def test_label_only_lines_and_enabled_keys(sample):
    root, scenario = sample
    raw = read(gcp_files(root, False))
    gcp = scenario["gcp"]
    features = gcp["features"]
    pods = ocp_daily(root, "pod_usage")
    nodes, namespaces = set(pods.node) - {""}, set(pods.namespace)
    labels = {k: v["labels"] for k, v in features["tag_matched"].items()}
    for name, line in features["tag_matched"].items():
        rows = raw[raw.resource_name == line["resource_name"]]
        assert len(rows) == 72 and set(rows.labels) == {json.dumps(line["labels"])}, name
        assert not any(n in line["resource_name"] for n in nodes)
    assert labels["cloud_sql_openshift_project"]["openshift_project"] in namespaces
    assert labels["forwarding_rule_openshift_node"]["openshift_node"] in nodes
    assert labels["bucket_openshift_cluster"] == {"openshift_cluster": CONFIG.cluster_id}
    free = raw[raw.resource_name == features["tag_matched"]["storage_free_tier_openshift_project"]["resource_name"]]
    assert (free.cost == 0).all()
    app = labels["memorystore_enabled_key"]["app"]
    assert pods.pod_labels.str.contains(f'"app": "{app}"', regex=False).any()
    assert gcp["enabled_tag_keys"] == ["app", "team"]  # what a user switched on; Koku adds keys disabled
    assert gcp["tag_keys_seen"] == sorted({k for t in raw.labels.unique() for k in json.loads(t)})
    assert "version" in gcp["tag_keys_seen"] and labels["filestore_key_not_enabled"] == {"version": "v1"}
    assert pods.pod_labels.str.contains('"version": "v1"', regex=False).any()
    other = raw[raw.project_id == "koku-sample-data"]
    assert set(other.resource_name) == set(features["unmatched"].values())
    assert gcp["project_ids"] == ["koku-sample-data", "koku-sample-ocp"]


# ---------------------------------------------------------------------------------------------------------------
# benchmarks/nise_gcp_to_koku_parquet.py on a hand-made export
# ---------------------------------------------------------------------------------------------------------------
def test_label_and_credit_converters_like_koku():
    assert conv.gcp_labels('[{"key": "b", "value": "1"}, {"key": "a", "value": "2"}]') == '{"b": "1", "a": "2"}'
    assert conv.gcp_labels("") == "{}" and conv.gcp_labels("[]") == "{}" and conv.gcp_labels("not json") == "{}"
    assert conv.gcp_credits("[]") == "{}" and conv.gcp_credits("") == "{}"
    first = '[{"name": "a", "amount": -1.5}, {"name": "b", "amount": -2}]'
    assert conv.gcp_credits(first) == '{"name": "a", "amount": -1.5}'
    repr_list = "[{'name': 'FreeTrial', 'amount': -0.25, 'id': None}]"  # nise writes Python reprs
    assert conv.gcp_credits(repr_list) == '{"name": "FreeTrial", "amount": -0.25, "id": "None"}'


HEADER = ["billing_account_id", "service.id", "service.description", "sku.id", "sku.description",
          "usage_start_time", "usage_end_time", "project.id", "project.name", "project.labels", "labels",
          "system_labels", "location.region", "export_time", "cost", "currency", "usage.amount",
          "usage.amount_in_pricing_units", "usage.pricing_unit", "credits", "invoice.month", "cost_type",
          "partition_date", "resource.name", "resource.global_name"]


def nise_row(day: str, hour: int, invoice: str, cost: str, resource: str = "vm-1", credits: str = "[]") -> list:
    return ["acct", "svc", "Compute Engine", "sku", "Core", f"{day}T{hour:02d}:00:00", f"{day}T{hour + 1:02d}:00:00",
            "proj", "proj", "[]", '[{"key": "app", "value": "x"}]', "[]", "us", f"{day}T{hour + 2:02d}:00:00", cost,
            "USD", "3600", "1", "hour", credits, invoice, "regular", day, resource, f"//g/{resource}"]


def test_convert_splits_by_invoice_month_and_partition_date(tmp_path):
    csv_dir = tmp_path / "nise" / "etag"
    csv_dir.mkdir(parents=True)
    rows = [nise_row("2025-12-30", 0, "202512", "1"), nise_row("2025-12-31", 0, "202512", "2"),
            nise_row("2025-12-31", 1, "202601", "4", credits="[{'name': 'c', 'amount': -1.0}]"),
            nise_row("2025-12-31", 2, "202601", "8")]
    pd.DataFrame(rows, columns=HEADER).to_csv(csv_dir / "202512_etag_2025-12-30:2026-01-01.csv", index=False)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "scenario.json").write_text(json.dumps({"schema": "org1", "account": "org1", "year": "2025",
                                                       "month": "12"}))
    gcp = conv.convert(tmp_path / "nise", dataset, "11111111-2222-4333-8444-555555555555", "g", ["app"], 200, 1,
                       0, overwrite=False)
    assert [(f["base"], f["rows"], f["daily_rows"]) for f in gcp["files"]] == [
        ("202512_2025-12-30", 1, 1), ("202512_2025-12-31", 1, 1), ("202601_2025-12-31", 2, 1)]
    assert gcp["invoice_months"] == ["202512", "202601"] and gcp["tag_keys_seen"] == ["app"]
    assert (gcp["start_date"], gcp["end_date"]) == ("2025-12-30", "2025-12-31")
    base = dataset / "data/parquet"
    src = "source=11111111-2222-4333-8444-555555555555"
    jan = base / "org1/GCP" / src / "year=2026/month=01/202601_2025-12-31_0.parquet"
    jan_daily = base / "daily/org1/GCP/raw" / src / "year=2026/month=01/202601_2025-12-31_daily_0.parquet"
    raw = pq.read_table(jan)
    assert raw.schema.field("usage_start_time").type == pa.timestamp("ms")  # nise writes no offset: naive
    assert raw.column_names[-3:] == ["partition_date", "resource_name", "resource_global_name"]  # nise's order
    assert raw.column("credits").to_pylist() == ['{"name": "c", "amount": -1.0}', "{}"]
    assert raw.column("labels").to_pylist() == ['{"app": "x"}'] * 2
    daily = pd.read_parquet(jan_daily)
    assert list(daily.columns) == list(GCP_DAILY_COLUMNS)
    assert (daily.cost.tolist(), daily.daily_credits.tolist()) == ([12.0], [-1.0])
    assert str(daily.usage_start_time.iloc[0]) == "2025-12-31 00:00:00"
    with pytest.raises(SystemExit):  # a key the export does not have
        conv.convert(tmp_path / "nise", dataset, "11111111-2222-4333-8444-555555555555", "g", ["nope"], 200, 1, 0,
                     overwrite=True)
