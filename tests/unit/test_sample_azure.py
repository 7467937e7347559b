"""poc_tasks.sample.azure: Koku's Azure Parquet shape, and an export that matches the sample cluster the way Koku
matches (VM-name segment, OS disks, disks sized through the capacity lookup, tags); and the nise Azure converter."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.sample.azure import (
    AZURE_DATE_COLUMNS,
    AZURE_FLOAT_COLUMNS,
    AZURE_RAW_COLUMNS,
    disk_meter,
    koku_batch_order,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import nise_azure_to_koku_parquet as conv  # noqa: E402

CONFIG = SampleConfig(days=3, nodes=6, pods=60, rows_per_file=50, with_azure=True)
AZ_UUID = CONFIG.azure_source_uuid
NAME_RE = re.compile(r"(?P<date>2026-01-0\d)_manifestid-4_basefile-part_0_0001_batch-(?P<batch>\d+)_0\.parquet")
# Koku's disk-capacity seed (reporting_common migration 0041), written out here: product substring -> GiB
SEED = {**{f"P{n}": g for n, g in ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512),
                                   (30, 1024), (40, 2048), (50, 4096), (60, 8192), (70, 16384), (80, 32767))},
        **{f"E{n}": g for n, g in ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512),
                                   (30, 1024), (40, 2048), (50, 4096), (60, 8192), (70, 16384), (80, 32767))},
        **{f"S{n}": g for n, g in ((4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024), (40, 2048),
                                   (50, 4096), (60, 8192), (70, 16384), (80, 32767))}}


def koku_capacity(meter: str) -> int | None:
    """Koku's lookup: the largest capacity whose substring, followed by a space, occurs in the meter name."""
    found = [g for s, g in SEED.items() if f"{s} " in meter]
    return max(found) if found else None


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sample_azure")
    return root, write_sample(str(root), CONFIG)


def azure_files(root: Path) -> list[Path]:
    folder = root / "data/parquet/org1234567/Azure" / f"source={AZ_UUID}" / "year=2026" / "month=01"
    return sorted(folder.glob("*.parquet"))


def read(files: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def ocp_daily(root: Path, report_type: str) -> pd.DataFrame:
    folder = (root / "data/parquet/daily/org1234567/OCP" / report_type / f"source={CONFIG.source_uuid}"
              / "year=2026" / "month=01")
    return read(sorted(folder.glob("*.parquet")))


def segment9(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[8] if len(parts) > 8 else ""


# ---------------------------------------------------------------------------------------------------------------
# Koku's shape
# ---------------------------------------------------------------------------------------------------------------
def test_disk_meter_is_the_smallest_tier_that_holds_the_size():
    assert disk_meter("P", 100) == ("P10 LRS Disk", 128)
    assert disk_meter("P", 128) == ("P10 LRS Disk", 128)
    assert disk_meter("E", 5) == ("E2 LRS Disk", 8)
    assert disk_meter("S", 1) == ("S4 LRS Disk", 32)  # HDD tiers start at 32 GiB
    assert koku_capacity("P10 LRS Disk") == 128 and koku_capacity("P1 LRS Disk") == 4  # 'P1 ' not in 'P10 LRS'


def test_koku_batch_order_sorts_a_batch_by_date():
    d1, d2 = np.datetime64("2026-01-01", "ns"), np.datetime64("2026-01-02", "ns")
    assert list(koku_batch_order(np.array([d2, d1, d2, d1]))) == [1, 3, 0, 2]  # small: insertion sort, stable


def test_layout_names_and_batches(sample):
    root, scenario = sample
    files = azure_files(root)
    assert all(NAME_RE.fullmatch(f.name) for f in files), [f.name for f in files]
    az = scenario["azure"]
    per_day = az["lines_per_day"]
    # the month's export is cut into batches of 50 rows: day d holds rows [d*per_day, (d+1)*per_day)
    expected = []
    for d in range(3):
        first, end = d * per_day, (d + 1) * per_day
        for batch in range(first // 50, (end - 1) // 50 + 1):
            expected.append((f"2026-01-0{d + 1}", batch, min(end, (batch + 1) * 50) - max(first, batch * 50)))
    assert [(f["date"], int(f["base"].rsplit("-", 1)[1]), f["rows"]) for f in az["files"]] == expected
    assert not (root / "data/parquet/daily/org1234567/Azure").exists()  # Koku writes no daily Azure table
    for f in files:
        m = NAME_RE.fullmatch(f.name)
        assert set(pd.read_parquet(f, columns=["date"])["date"].dt.date.astype(str)) == {m["date"]}


def test_types_are_kokus(sample):
    root, _ = sample
    schema = pq.read_schema(azure_files(root)[0])
    want = {c: (pa.timestamp("ms") if c in AZURE_DATE_COLUMNS else pa.float64() if c in AZURE_FLOAT_COLUMNS
                else pa.string()) for c in AZURE_RAW_COLUMNS}
    assert schema.names == list(AZURE_RAW_COLUMNS)
    assert {f.name: f.type for f in schema} == want
    raw = read(azure_files(root))
    text = [c for c in AZURE_RAW_COLUMNS if c not in AZURE_DATE_COLUMNS and c not in AZURE_FLOAT_COLUMNS]
    assert not raw[text].isna().any().any()  # '' for "no value", never NULL
    assert raw["row_uuid"].is_unique and raw["row_uuid"].str.fullmatch(r"[0-9a-f-]{36}").all()
    assert set(raw["billingperiodstartdate"].astype(str)) == {"2026-01-01"}
    assert set(raw["billingperiodenddate"].astype(str)) == {"2026-01-31"}
    for text_col in ("tags", "additionalinfo"):  # json.dumps text
        assert all(json.dumps(json.loads(t)) == t for t in raw[text_col].unique())


def test_same_config_same_bytes_and_ocp_side_only_gains_the_released_pv(tmp_path, sample):
    root, scenario = sample
    write_sample(str(tmp_path / "again"), CONFIG)
    for a, b in zip(azure_files(root), azure_files(tmp_path / "again"), strict=True):
        assert a.read_bytes() == b.read_bytes()
    plain = tmp_path / "plain"
    write_sample(str(plain), SampleConfig(days=3, nodes=6, pods=60, rows_per_file=50))
    pods = [p.relative_to(plain) for p in sorted((plain / "data").rglob("*.parquet")) if "/pod_usage/" in str(p)]
    assert pods and all((plain / p).read_bytes() == (root / p).read_bytes() for p in pods)
    with_azure, without = ocp_daily(root, "storage_usage"), ocp_daily(plain, "storage_usage")
    extra = with_azure[~with_azure["persistentvolume"].isin(without["persistentvolume"])]
    pv = scenario["azure"]["features"]["released_pv"]
    assert set(extra["persistentvolume"]) == {pv["persistentvolume"]}
    assert (extra[["namespace", "pod", "node", "persistentvolumeclaim"]] == "").all().all()
    assert (extra["persistentvolumeclaim_capacity_bytes"] == 64 * 1024**3).all()


def test_invalid_azure_source_uuid_is_refused(tmp_path):
    with pytest.raises(InvalidArgument):
        write_sample(str(tmp_path), SampleConfig(with_azure=True, azure_source_uuid="nope"))


# ---------------------------------------------------------------------------------------------------------------
# What Koku's matching will find
# ---------------------------------------------------------------------------------------------------------------
def test_every_node_has_a_vm_named_by_its_resource_id_segment_and_an_os_disk(sample):
    root, scenario = sample
    raw = read(azure_files(root))
    nodes = set(ocp_daily(root, "pod_usage")["node"]) - {""}
    vms = raw[raw.metercategory == "Virtual Machines"]
    assert {segment9(r) for r in vms.resourceid} == nodes | {"jenkins-vm"}
    os_disks = raw[raw.resourceid.str.contains("Microsoft.Compute/disks/") & raw.resourceid.str.contains("_OSDisk")]
    names = {segment9(r) for r in os_disks.resourceid}
    assert {n.lower().replace("_osdisk", "") for n in names if n.lower().endswith("_osdisk")} == nodes
    # Koku matches node names as substrings of the resource id: only these lines (and the nodes' data transfer)
    # contain one
    holders = raw[raw.resourceid.map(lambda r: any(n in r for n in nodes))]
    assert set(holders.metercategory) == {"Virtual Machines", "Storage", "Virtual Network", "Bandwidth"}
    assert set(holders.resourceid) == set(scenario["azure"]["features"]["vms"].values()) | set(
        scenario["azure"]["features"]["os_disks"].values())


def test_units_and_zero_cost_rows(sample):
    root, scenario = sample
    raw = read(azure_files(root))
    features = scenario["azure"]["features"]
    vms = raw[raw.metercategory == "Virtual Machines"].assign(node=lambda f: f.resourceid.map(segment9))
    masters = vms[vms.node.isin(features["legacy_unit_vms"])]
    assert set(masters.unitofmeasure) == {"100 Hours"} and set(masters.quantity) == {0.24}
    others = vms[~vms.node.isin(features["legacy_unit_vms"])]
    assert set(others.unitofmeasure) == {"1 Hour"} and set(others.quantity) == {24.0}
    reserved = vms[vms.node == features["zero_cost_vm"]]
    assert (reserved.costinbillingcurrency == 0).all() and set(reserved.pricingmodel) == {"Reservation"}
    free = raw[raw.resourceid == features["tag_matched"]["free_ip_openshift_cluster_alias"]["resource_id"]]
    assert len(free) == 3 and (free.costinbillingcurrency == 0).all()
    assert {"1 Hour", "100 Hours", "10 Hours", "100 GB/Month", "1/Month", "1 GB", "1 GiB/Hour",
            "10K Operations"} <= set(features["units"])
    # the costs: quantity x unit price on every line that is not free
    priced = raw[raw.costinbillingcurrency != 0]
    assert priced.costinbillingcurrency.to_numpy() == pytest.approx(
        (priced.quantity * priced.unitprice).to_numpy())


def test_disks_and_kokus_capacity_lookup(sample):
    root, scenario = sample
    raw = read(azure_files(root))
    features = scenario["azure"]["features"]
    storage = ocp_daily(root, "storage_usage")
    claims = storage.groupby("persistentvolume")["persistentvolumeclaim_capacity_bytes"].max() / 1024**3
    cloud_pvs = set(storage.loc[storage.storageclass != "ocs-storagecluster-cephfs", "persistentvolume"])
    disks = raw[raw.resourceid.str.contains("/Microsoft.Compute/disks/pvc-")]
    assert {segment9(r) for r in disks.resourceid} == cloud_pvs  # every cloud PV, and only those
    for pv, d in features["pv_disks"].items():
        meter = set(disks.loc[disks.resourceid == d["resource_id"], "metername"])
        assert meter == {d["meter"]}
        capacity = koku_capacity(d["meter"])
        if pv == features["disk_meter_unknown"]:
            assert capacity is None and d["meter"] == "Ultra LRS Provisioned Capacity"
        elif pv == features["disk_billed_below_claim"]:
            assert capacity == 64 and claims[pv] == 100  # negative "Storage unattributed" in Koku
        else:
            assert capacity >= claims[pv] and capacity == d["tier_gib"], pv
            assert capacity / 2 < claims[pv] or capacity in (4, 32)  # else the smallest tier (P/E: 4, S: 32)
    released = features["released_pv"]
    assert released["csi_volume_handle"] in set(disks.resourceid)
    assert koku_capacity(meter=next(iter(disks.loc[disks.resourceid == released["csi_volume_handle"],
                                                   "metername"]))) == 64
    # OS disks are 'Storage' disks too, but their names end with _OSDisk: Koku keeps them out of the lookup
    os_disk = raw[raw.resourceid.isin(features["os_disks"].values())]
    assert set(os_disk.metercategory) == {"Storage"} and koku_capacity(os_disk.metername.iloc[0]) == 128


def test_data_transfer_lines(sample):
    root, scenario = sample
    raw = read(azure_files(root))
    features = scenario["azure"]["features"]
    info = raw.additionalinfo.map(lambda t: json.loads(t).get("DataTransferDirection"))
    transfer = raw[info.notna()]
    on_nodes = transfer[transfer.resourceid.map(segment9).isin(features["data_transfer"])]
    assert set(on_nodes.metercategory) == {"Virtual Network"}
    assert set(on_nodes.consumedservice.str.lower()) == {"microsoft.compute"}
    assert sorted(info[on_nodes.index].unique()) == ["DataTrIn", "DataTrOut"]
    assert len(on_nodes) == 2 * 2 * 3  # two workers, in and out, three days
    bandwidth = raw[raw.metercategory == "Bandwidth"]
    assert set(bandwidth.resourceid.map(segment9)) == {features["bandwidth_without_direction"]}
    assert info[bandwidth.index].isna().all()


def test_tag_only_lines_carry_the_special_keys_and_an_enabled_key(sample):
    root, scenario = sample
    raw = read(azure_files(root))
    features = scenario["azure"]["features"]
    pods = ocp_daily(root, "pod_usage")
    nodes, namespaces = set(pods.node) - {""}, set(pods.namespace)
    tags = {k: v["tags"] for k, v in features["tag_matched"].items()}
    for name, line in features["tag_matched"].items():
        rows = raw[raw.resourceid == line["resource_id"]]
        assert len(rows) == 3 and set(rows.tags) == {json.dumps(line["tags"])}, name
        assert not any(n in line["resource_id"] for n in nodes)  # matched by tags only
    assert tags["postgres_openshift_project"]["openshift_project"] in namespaces
    assert tags["blob_openshift_project"]["openshift_project"] in namespaces
    assert tags["public_ip_openshift_node"]["openshift_node"] in nodes
    assert tags["load_balancer_openshift_cluster_id"] == {"openshift_cluster": CONFIG.cluster_id}
    assert tags["free_ip_openshift_cluster_alias"] == {"openshift_cluster": CONFIG.cluster_alias}
    app = tags["redis_enabled_key"]["app"]
    assert "app" in CONFIG.enabled_tag_keys and pods.pod_labels.str.contains(f'"app": "{app}"', regex=False).any()
    assert tags["files_enabled_key_case_mismatch"] == {"App": app, "environment": "archive"}
    for resource in features["unmatched"].values():
        line_tags = [json.loads(t) for t in raw.loc[raw.resourceid == resource, "tags"]]
        assert all(t.get("openshift_project") not in namespaces and "openshift_cluster" not in t for t in line_tags)
        assert not any(n in resource for n in nodes)


def test_scenario_azure_block(sample):
    root, scenario = sample
    az = scenario["azure"]
    assert json.loads((root / "scenario.json").read_text())["azure"] == az
    raw = read(azure_files(root))
    assert az["source_uuid"] == AZ_UUID
    assert az["enabled_tag_keys"] == sorted({k for t in raw.tags.unique() for k in json.loads(t)})
    assert az["subscription_guids"] == sorted(set(raw.subscriptionid))
    assert (az["year"], az["month"], az["start_date"], az["end_date"]) == ("2026", "01", "2026-01-01", "2026-01-03")
    assert sum(f["rows"] for f in az["files"]) == len(raw) == 3 * az["lines_per_day"]


# ---------------------------------------------------------------------------------------------------------------
# benchmarks/nise_azure_to_koku_parquet.py on a hand-made export
# ---------------------------------------------------------------------------------------------------------------
def test_azure_json_rewrites_tags_like_koku():
    assert conv.azure_json('{"b": "1", "a": 7}') == '{"b": "1", "a": 7}'  # export order and value types kept
    assert conv.azure_json('"k": "v","k2": "v2"') == '{"k": "v", "k2": "v2"}'  # the legacy form
    assert conv.azure_json('"k": "v","broken"') == '{"k": "v"}'  # read up to the first bad pair
    assert conv.azure_json("") == "{}" and conv.azure_json('""') == "{}" and conv.azure_json("{bad") == "{}"


def test_azure_date_accepts_iso_and_us_dates():
    assert str(conv.azure_date("2025-11-10")) == "2025-11-10 00:00:00"
    assert str(conv.azure_date("11/09/2025")) == "2025-11-09 00:00:00"
    assert str(conv.azure_date("2025-11-10T00:00:00Z")) == "2025-11-10 00:00:00+00:00"
    assert conv.azure_date("") is pd.NaT


EXPORT_HEADER = ["Date", "BillingPeriodStartDate", "ResourceGroupName", "InstanceName", "MeterCategory",
                 "Quantity", "CostInBillingCurrency", "Tags", "AdditionalInfo", "UnitOfMeasure", "SubscriptionId"]


def export_row(date: str, vm: str, cost: str, tags: str = "{}") -> list[str]:
    resource = f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{vm}"
    return [date, "11/01/2025", "rg", resource, "Virtual Machines", "24", cost, tags, "", "1 Hour", "s"]


def test_convert_splits_batches_by_day_and_shapes_columns(tmp_path):
    csv_dir = tmp_path / "nise" / "export" / "20251101-20251130"
    csv_dir.mkdir(parents=True)
    rows = [export_row("2025-11-11", "a", "1"), export_row("2025-11-10", "b", "2", '"k": "v"'),
            export_row("2025-11-11", "c", "x"),  # unparseable cost -> 0.0
            export_row("2025-11-10", "d", "4"), export_row("2025-11-12", "e", "5")]
    frame = pd.DataFrame(rows, columns=EXPORT_HEADER)
    frame.to_csv(csv_dir / "costreport_1.csv", index=False)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "scenario.json").write_text(json.dumps({"schema": "org1", "account": "org1", "year": "2025",
                                                       "month": "11"}))
    az = conv.convert(tmp_path / "nise", dataset, "11111111-2222-4333-8444-555555555555", "az", 3, 5, 0,
                      conv.dt.date(2026, 1, 1), overwrite=False)
    # batches of 3 rows: [a 11, b 10, c 11] -> days 10, 11; [d 10, e 12] -> days 10, 12
    assert [(f["base"], f["rows"]) for f in az["files"]] == [
        ("2025-11-10_manifestid-5_basefile-costreport_1_batch-0", 1),
        ("2025-11-11_manifestid-5_basefile-costreport_1_batch-0", 2),
        ("2025-11-10_manifestid-5_basefile-costreport_1_batch-1", 1),
        ("2025-11-12_manifestid-5_basefile-costreport_1_batch-1", 1)]
    folder = dataset / "data/parquet/org1/Azure/source=11111111-2222-4333-8444-555555555555/year=2025/month=11"
    day11 = pq.read_table(folder / "2025-11-11_manifestid-5_basefile-costreport_1_batch-0_0.parquet")
    names = day11.column_names
    assert names[:11] == ["date", "billingperiodstartdate", "resourcegroup", "resourceid", "metercategory",
                          "quantity", "costinbillingcurrency", "tags", "additionalinfo", "unitofmeasure",
                          "subscriptionid"]  # renamed: ResourceGroupName -> resourcegroup, InstanceName -> resourceid
    appended = names[11:-1]
    assert appended == sorted(appended) and names[-1] == "row_uuid"
    assert set(appended) == set(conv.AZURE_REQUIRED_DEFAULTS) - set(names[:11])
    assert day11.schema.field("date").type == pa.timestamp("ms")
    assert day11.schema.field("billingperiodstartdate").type == pa.timestamp("ms")
    df = day11.to_pandas()
    assert list(df.costinbillingcurrency) == [1.0, 0.0] and list(df.additionalinfo) == ["{}", "{}"]
    assert set(df.billingperiodstartdate.astype(str)) == {"2025-11-01"}  # MM/DD/YYYY read
    assert df.paygprice.tolist() == [0.0, 0.0] and df.servicename.tolist() == ["", ""]  # defaults
    day10 = pd.read_parquet(folder / "2025-11-10_manifestid-5_basefile-costreport_1_batch-0_0.parquet")
    assert day10.tags.tolist() == ['{"k": "v"}']
    assert az["enabled_tag_keys"] == ["k"] and az["subscription_guids"] == ["s"]
    assert (az["start_date"], az["end_date"]) == ("2025-11-10", "2025-11-12")
    with pytest.raises(SystemExit):  # the source's folder exists
        conv.convert(tmp_path / "nise", dataset, "11111111-2222-4333-8444-555555555555", "az", 3, 5, 0,
                     conv.dt.date(2026, 1, 1), overwrite=False)
