"""poc_tasks.sample.aws: Koku's AWS Parquet shape, and a bill that matches the sample cluster the way Koku matches."""

from __future__ import annotations

import calendar
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.errors import InvalidArgument
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.sample.aws import (
    AWS_DAILY_COLUMNS,
    AWS_DATE_COLUMNS,
    AWS_FLOAT_COLUMNS,
    AWS_RAW_COLUMNS,
    koku_aws_daily,
    tags_json,
    uuid_factory,
)

CONFIG = SampleConfig(days=3, nodes=6, pods=60, rows_per_file=500, with_aws=True)
AWS_UUID = CONFIG.aws_source_uuid
TS = pa.timestamp("ms", tz="UTC")
NAME_RE = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})_manifestid-4_basefile-koku-sample-cur-00001_batch-(?P<batch>\d+)"
                     r"_(?P<daily>daily_)?0\.parquet")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sample_aws")
    return root, write_sample(str(root), CONFIG)


def aws_files(root: Path, daily: bool) -> list[Path]:
    base = root / "data" / "parquet" / ("daily" if daily else "") / "org1234567" / "AWS" / ("raw" if daily else "")
    return sorted((base / f"source={AWS_UUID}" / "year=2026" / "month=01").glob("*.parquet"))


def read(files: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def ocp_daily(root: Path, report_type: str) -> pd.DataFrame:
    folder = (root / "data" / "parquet" / "daily" / "org1234567" / "OCP" / report_type
              / f"source={CONFIG.source_uuid}" / "year=2026" / "month=01")
    return read(sorted(folder.glob("*.parquet")))


def direction(row: pd.Series) -> str | None:
    """Koku's data_transfer_direction rule (spec ocp-on-cloud.md §4.1), written out for the test."""
    if row.lineitem_productcode != "AmazonEC2" or row.product_productfamily != "Data Transfer":
        return None
    usage, op = row.lineitem_usagetype.lower(), row.lineitem_operation.lower()
    if "in-bytes" in usage:
        return "IN"
    if "out-bytes" in usage:
        return "OUT"
    if "regional-bytes" in usage and "-in" in op:
        return "IN"
    if "regional-bytes" in usage and "-out" in op:
        return "OUT"
    return None


# ---------------------------------------------------------------------------------------------------------------
# Koku's shape
# ---------------------------------------------------------------------------------------------------------------
def test_tags_json_sorts_keys_drops_empty_values_and_uses_json_dumps_spacing():
    assert tags_json({"b": "2", "A": "x", "a": "1", "c": ""}) == '{"A": "x", "a": "1", "b": "2"}'
    assert tags_json({}) == "{}"
    assert tags_json({"k": ""}) == "{}"


def test_koku_aws_daily_groups_by_resource_and_utc_day_sums_and_maxes():
    def row(hour: int, resource: str, cost: float, rate: float, tags: str = "{}") -> dict:
        r = {c: "" for c in AWS_RAW_COLUMNS}
        r.update({c: 0.0 for c in AWS_FLOAT_COLUMNS})
        r.update({c: pd.Timestamp("2026-01-01", tz="UTC") for c in AWS_DATE_COLUMNS})
        r.update({"lineitem_resourceid": resource, "lineitem_unblendedcost": cost, "lineitem_unblendedrate": rate,
                  "lineitem_usageamount": 1.0, "product_vcpu": str(hour), "resourcetags": tags,
                  "lineitem_usagestartdate": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=hour)})
        return r

    raw = pd.DataFrame([row(0, "i-1", 1.0, 0.5), row(1, "i-1", 2.0, 0.25), row(23, "i-1", 4.0, 0.1),
                        row(24, "i-1", 8.0, 0.1),  # next UTC day
                        row(0, "i-1", 16.0, 0.1, '{"a": "b"}'),  # other tags: other group
                        row(0, "vol-1", 32.0, 0.08)])
    daily = koku_aws_daily(raw, uuid_factory(1))
    assert list(daily.columns) == list(AWS_DAILY_COLUMNS)
    got = {(r.lineitem_resourceid, str(r.lineitem_usagestartdate.date()), r.resourcetags):
           (r.lineitem_unblendedcost, r.lineitem_unblendedrate, r.lineitem_usageamount, r.product_vcpu)
           for r in daily.itertuples()}
    assert got == {
        ("i-1", "2026-01-01", "{}"): (7.0, 0.5, 3.0, "23"),  # 1+2+4; max rate; 3 hours; max of "0","1","23"
        ("i-1", "2026-01-02", "{}"): (8.0, 0.1, 1.0, "24"),
        ("i-1", "2026-01-01", '{"a": "b"}'): (16.0, 0.1, 1.0, "0"),
        ("vol-1", "2026-01-01", "{}"): (32.0, 0.08, 1.0, "0"),
    }
    assert str(daily["lineitem_usagestartdate"].dtype) == "datetime64[ns, UTC]"
    assert daily["row_uuid"].is_unique and all(len(u) == 36 and u[14] == "4" for u in daily["row_uuid"])


# ---------------------------------------------------------------------------------------------------------------
# The sample bill: layout, types, determinism
# ---------------------------------------------------------------------------------------------------------------
def test_layout_names_and_batches(sample):
    root, scenario = sample
    raw, daily = aws_files(root, False), aws_files(root, True)
    assert raw and len(raw) == len(daily)
    names = [NAME_RE.fullmatch(f.name) for f in raw + daily]
    assert all(names), [f.name for f, m in zip(raw + daily, names, strict=True) if not m]
    aws = scenario["aws"]
    lines = aws["lines_per_hour"]
    # the month's CUR is cut into batches of 500 rows over all days: day d holds rows [d*24*lines, (d+1)*24*lines)
    expected = []
    for d in range(3):
        first, end = d * 24 * lines, (d + 1) * 24 * lines
        for batch in range(first // 500, (end - 1) // 500 + 1):
            rows = min(end, (batch + 1) * 500) - max(first, batch * 500)
            expected.append((f"2026-01-0{d + 1}", batch, rows))
    assert [(f["date"], int(f["base"].rsplit("-", 1)[1]), f["rows"]) for f in aws["files"]] == expected
    for f in aws["files"]:
        assert pq.read_metadata(next(p for p in raw if p.name == f"{f['base']}_0.parquet")).num_rows == f["rows"]


def test_types_are_kokus(sample):
    root, _ = sample
    raw_schema = pq.read_schema(aws_files(root, False)[0])
    want_raw = {c: (TS if c in AWS_DATE_COLUMNS else pa.float64() if c in AWS_FLOAT_COLUMNS else pa.string())
                for c in AWS_RAW_COLUMNS}
    assert {f.name: f.type for f in raw_schema} == want_raw
    assert raw_schema.names == list(AWS_RAW_COLUMNS)
    daily_schema = pq.read_schema(aws_files(root, True)[0])
    assert daily_schema.names == list(AWS_DAILY_COLUMNS)
    assert daily_schema.field("lineitem_usagestartdate").type == TS
    assert daily_schema.field("row_uuid").type == pa.string()
    raw = read(aws_files(root, False))
    text = [c for c in AWS_RAW_COLUMNS if c not in AWS_DATE_COLUMNS and c not in AWS_FLOAT_COLUMNS]
    assert not raw[text].isna().any().any()  # Koku's text columns hold '' for "no value", never NULL


def test_daily_files_are_the_group_by_of_their_raw_file(sample):
    root, _ = sample
    for raw_file, daily_file in zip(aws_files(root, False), aws_files(root, True), strict=True):
        raw, daily = pd.read_parquet(raw_file), pd.read_parquet(daily_file)
        again = koku_aws_daily(raw, uuid_factory(0)).drop(columns="row_uuid")
        pd.testing.assert_frame_equal(daily.drop(columns="row_uuid"), again)


def test_same_config_same_bytes_and_ocp_side_only_gains_the_released_pv(tmp_path, sample):
    root, _ = sample
    write_sample(str(tmp_path / "again"), CONFIG)
    for a, b in zip(aws_files(root, True), aws_files(tmp_path / "again", True), strict=True):
        assert a.read_bytes() == b.read_bytes()
    plain = tmp_path / "plain"
    scenario = write_sample(str(plain), SampleConfig(days=3, nodes=6, pods=60, rows_per_file=500))
    assert "aws" not in scenario and not aws_files(plain, False)
    pods = [p.relative_to(plain) for p in sorted((plain / "data").rglob("*.parquet")) if "/pod_usage/" in str(p)]
    assert pods and all((plain / p).read_bytes() == (root / p).read_bytes() for p in pods)
    with_aws, without = ocp_daily(root, "storage_usage"), ocp_daily(plain, "storage_usage")
    extra = with_aws[~with_aws["persistentvolume"].isin(without["persistentvolume"])]
    pv = sample[1]["aws"]["features"]["released_pv"]
    assert set(extra["persistentvolume"]) == {pv["persistentvolume"]}
    assert (extra[["namespace", "pod", "node", "persistentvolumeclaim"]] == "").all().all()
    assert set(extra["csi_volume_handle"]) == {pv["csi_volume_handle"]}
    assert (extra["persistentvolumeclaim_capacity_bytes"] == 50 * 1024**3).all()
    assert list(extra.groupby(extra["interval_start"].dt.date).size()) == [1, 1, 1]  # one daily row per day


def test_invalid_aws_source_uuid_is_refused(tmp_path):
    with pytest.raises(InvalidArgument):
        write_sample(str(tmp_path), SampleConfig(with_aws=True, aws_source_uuid="not-a-uuid"))


# ---------------------------------------------------------------------------------------------------------------
# What Koku's matching will find
# ---------------------------------------------------------------------------------------------------------------
def test_every_node_has_ec2_compute_and_transfer_lines_ending_with_its_resource_id(sample):
    root, scenario = sample
    raw = read(aws_files(root, False))
    node_ids = set(ocp_daily(root, "pod_usage")["resource_id"]) - {""}
    assert node_ids == set(scenario["aws"]["features"]["ec2_nodes"].values())
    compute = raw[(raw.product_productfamily == "Compute Instance") & raw.lineitem_resourceid.isin(node_ids)]
    assert set(compute.lineitem_resourceid) == node_ids
    assert (compute.groupby(["lineitem_resourceid", "lineitem_lineitemtype"]).size() == 72).all()  # 3 days x 24 h
    transfer = raw[raw.product_productfamily == "Data Transfer"]
    assert set(transfer.lineitem_resourceid) == node_ids
    directions = transfer.apply(direction, axis=1)
    by_kind = transfer.assign(d=directions).groupby(["lineitem_usagetype", "lineitem_operation"])["d"].unique()
    assert {k: list(v) for k, v in by_kind.items()} == {
        ("USE1-DataTransfer-In-Bytes", "RunInstances"): ["IN"],
        ("USE1-DataTransfer-Out-Bytes", "RunInstances"): ["OUT"],
        ("USE1-DataTransfer-Regional-Bytes", "InterZone-In"): ["IN"],
        ("USE1-DataTransfer-Regional-Bytes", "InterZone-Out"): ["OUT"],
    }
    # matched by resource id, so Koku ignores their tags; nothing else in the bill ends with a node id
    others = raw[~raw.lineitem_resourceid.isin(node_ids)]
    assert not any(r.endswith(tuple(node_ids)) for r in others.lineitem_resourceid)


def test_savings_plan_covered_nodes(sample):
    root, scenario = sample
    raw = read(aws_files(root, False))
    covered = raw[raw.lineitem_lineitemtype == "SavingsPlanCoveredUsage"]
    negation = raw[raw.lineitem_lineitemtype == "SavingsPlanNegation"]
    ec2 = scenario["aws"]["features"]["ec2_nodes"]
    assert set(covered.lineitem_resourceid) == {ec2[n] for n in scenario["aws"]["features"]["savings_plan_nodes"]}
    assert set(negation.lineitem_resourceid) == set(covered.lineitem_resourceid)
    assert covered.savingsplan_savingsplaneffectivecost.to_numpy() == pytest.approx(
        0.72 * covered.lineitem_unblendedcost.to_numpy())
    assert negation.lineitem_unblendedcost.sum() == pytest.approx(-covered.lineitem_unblendedcost.sum())
    assert (negation.savingsplan_savingsplaneffectivecost == 0).all()
    fee = raw[raw.lineitem_lineitemtype == "SavingsPlanRecurringFee"]
    assert len(fee) == 72 and fee.lineitem_resourceid.str.startswith("arn:aws:savingsplans::").all()
    # 5 % of the hourly commitment is unused
    hour = fee.lineitem_usagestartdate.min()
    used = covered[covered.lineitem_usagestartdate == hour].savingsplan_savingsplaneffectivecost.sum()
    assert fee.iloc[0].lineitem_unblendedcost == pytest.approx(round(used * 1.05, 6))


def test_ebs_lines_give_kokus_disk_capacity(sample):
    """Koku's capacity = round(max hourly cost / (max rate / hours in month)) over the resource's raw day."""
    root, scenario = sample
    raw = read(aws_files(root, False))
    features = scenario["aws"]["features"]
    storage = ocp_daily(root, "storage_usage")
    handles = set(storage["csi_volume_handle"]) - {""}
    hours = calendar.monthrange(2026, 1)[1] * 24
    ebs = raw[raw.lineitem_usagetype.str.startswith("EBS:")]
    day = ebs[ebs.lineitem_usagestartdate.dt.day == 2]
    capacity = day.groupby("lineitem_resourceid").apply(
        lambda g: round(g.lineitem_unblendedcost.max() / (g.lineitem_unblendedrate.max() / hours)),
        include_groups=False)
    pvc_gib = storage.groupby("csi_volume_handle")["persistentvolumeclaim_capacity_bytes"].max() / 1024**3
    matched = [r for r in capacity.index if any(r.endswith(h) for h in handles)]
    released = features["released_pv"]["csi_volume_handle"]
    assert set(matched) == (handles & set(features["ebs_volumes"].values())) | {released}
    for resource in matched:
        extra = 20 if resource == features["ebs_disk_larger_than_pvc"] else 0
        assert capacity[resource] == pvc_gib[resource] + extra, resource
    assert features["ebs_disk_larger_than_pvc"] in matched
    assert (day.lineitem_resourceid == features["ebs_with_iops_line"]).sum() == 48  # storage + IOPS, 24 h each
    # volumes of another team and of nothing in the cluster stay unmatched
    assert features["unmatched"]["ebs_other_team"] in capacity.index
    assert features["unmatched"]["ebs_other_team"] not in matched


def test_tag_only_lines_carry_the_special_keys_and_an_enabled_key(sample):
    root, scenario = sample
    raw = read(aws_files(root, False))
    features = scenario["aws"]["features"]["tag_matched"]
    ns = set(ocp_daily(root, "pod_usage")["namespace"])
    nodes = set(ocp_daily(root, "pod_usage")["node"]) - {""}
    seen = {}
    for name, line in features.items():
        rows = raw[(raw.lineitem_resourceid == line["resource_id"]) & (raw.resourcetags == tags_json(line["tags"]))]
        assert len(rows) == 72, name
        seen[name] = json.loads(rows.iloc[0].resourcetags)
    assert seen["s3_openshift_project"]["openshift_project"] in ns
    assert seen["rds_openshift_project"]["openshift_project"] in ns
    assert seen["eip_openshift_node"]["openshift_node"] in nodes
    assert seen["nlb_openshift_cluster_id"]["openshift_cluster"] == CONFIG.cluster_id
    assert seen["nat_openshift_cluster_alias"]["openshift_cluster"] == CONFIG.cluster_alias
    app = seen["elasticache_enabled_key"]["app"]
    assert "app" in CONFIG.enabled_tag_keys
    assert ocp_daily(root, "pod_usage")["pod_labels"].str.contains(f'"app": "{app}"', regex=False).any()
    assert seen["s3_enabled_key_case_mismatch"] == {"App": app, "environment": "cold-storage"}
    market = raw[raw.bill_billingentity == "AWS Marketplace"]
    assert set(market.lineitem_resourceid) == {""} and set(market.product_productname) == {
        "Red Hat OpenShift Container Platform"}
    products = set(raw.lineitem_productcode)
    assert {"AmazonEC2", "AmazonRDS", "AmazonS3", "AWSELB", "AmazonVPC", "AmazonRoute53"} <= products
    # unmatched: no special tag of this cluster, no resource id of the cluster
    for resource in scenario["aws"]["features"]["unmatched"].values():
        tags = set(raw.loc[raw.lineitem_resourceid == resource, "resourcetags"])
        assert all(json.loads(t).get("openshift_project") not in ns for t in tags)
        assert all("openshift_cluster" not in json.loads(t) for t in tags)


def test_scenario_aws_block(sample):
    root, scenario = sample
    aws = scenario["aws"]
    assert json.loads((root / "scenario.json").read_text())["aws"] == aws
    assert aws["source_uuid"] == AWS_UUID and aws["payer_account"] == "999900000001"
    assert aws["usage_accounts"] == ["999900000001", "999900000002"]
    raw = read(aws_files(root, False))
    keys = sorted({k for t in raw.resourcetags.unique() for k in json.loads(t)})
    assert aws["enabled_tag_keys"] == keys
    assert {"openshift_cluster", "openshift_node", "openshift_project", "app", "App"} <= set(keys)
    assert aws["category_keys"] == sorted({k for t in raw.costcategory.unique() for k in json.loads(t)})
    assert (aws["year"], aws["month"], aws["start_date"], aws["end_date"]) == ("2026", "01", "2026-01-01",
                                                                               "2026-01-03")
    assert sum(f["rows"] for f in aws["files"]) == len(raw) == 3 * 24 * aws["lines_per_hour"]


def test_an_in_tree_volume_is_billed_under_its_pv_name_when_the_cluster_has_one():
    from poc_tasks.sample.aws import build_aws_spec
    from poc_tasks.sample.cluster import build_cluster

    config = SampleConfig(pods=150, with_aws=True)
    cluster = build_cluster(config.nodes, config.pods, config.seed)
    spec = build_aws_spec(cluster, config)
    pv = spec.features["ebs_matched_by_pv_name"]
    v = list(cluster.pv_name).index(pv)
    assert cluster.pvc_csi_driver[v] == "" and cluster.pvc_csi_handle[v] == ""  # in-tree: Koku can only use the name
    line = spec.lines[spec.lines.lineitem_resourceid == pv]
    assert list(line.lineitem_usagetype) == ["EBS:VolumeUsage.gp2"]
    # the default sample has no in-tree volume, so no such line
    small = build_aws_spec(build_cluster(6, 60, 42), SampleConfig(with_aws=True))
    assert "ebs_matched_by_pv_name" not in small.features
