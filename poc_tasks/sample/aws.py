"""A matched AWS bill (Koku-shaped AWS Parquet) for the synthetic cluster of `poc-tasks sample`.

What Koku's AWS ingestion leaves in S3 for one AWS source and bill month (spec ocp-on-cloud.md §2.1-2.2), and what
OCP on AWS reads:

    ROOT/data/parquet/{account}/AWS/source={uuid}/year={YYYY}/month={MM}/
        {date}_manifestid-{m}_basefile-{base}_batch-{i}_0.parquet          aws_line_items (hourly)
    ROOT/data/parquet/daily/{account}/AWS/raw/source={uuid}/year={YYYY}/month={MM}/
        {date}_manifestid-{m}_basefile-{base}_batch-{i}_daily_0.parquet    aws_line_items_daily

Koku's downloader cuts the month's CUR into batches of PARQUET_PROCESSING_BATCH_SIZE rows and writes one CSV per
(batch i, day); each of those becomes one raw Parquet file and one daily file (its own group-by, so a day that
spans two batches has two partial daily rows for one key, as in Koku). Types are those pandas gives Koku's
converters: timestamps are tz-aware UTC (ciso8601), stored as timestamp[ms, tz=UTC]; the ten cost/usage/rate
columns float64; everything else text, '' for "no value"; `resourcetags` / `costcategory` JSON text written by
json.dumps with default separators, keys in sorted column order, empty values left out.

The bill (per day, 24 hourly lines per resource, a pure function of the config and the day):
- EC2 compute for every node (resource id = the node's resource_id, so Koku's suffix match finds it), some
  workers covered by a savings plan (SavingsPlanCoveredUsage + SavingsPlanNegation, and the plan's recurring
  fee, which no cluster owns);
- EBS for every PV with an EBS CSI handle (disk size = PVC capacity, one disk larger than its claim so part of it
  is "Storage unattributed", one with an extra IOPS line on the same resource id), a released volume whose PV
  lost its claim (the OCP storage report then carries a claimless PV: `claimless_pv_frame`), and an in-tree
  volume matched by its PV name;
- EC2 data transfer of the nodes: in, out, and regional (inter-zone) in/out;
- lines matched only by tags: openshift_project / openshift_node / openshift_cluster (by id and by alias), an
  enabled key whose key and value OCP labels also have, one with the key's case changed (a Koku quirk), an RDS
  database, an S3 bucket and a Marketplace subscription among them;
- unmatched lines: an instance and a volume of another team, an untagged S3 bucket and RDS database, a NAT
  gateway, DNS.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import account_of, join, provider_prefix
from poc_tasks.sample.cloud_files import (
    batch_slices,
    daily_split_stem,
    uuid_factory,
    write_koku_parquet,
)
from poc_tasks.sample.cluster import GIB, WORKER, Cluster, build_cluster
from poc_tasks.sample.ocp_frames import released_pv_frame
from poc_tasks.validate import validate_uuid

__all__ = [
    "AWS_DATE_COLUMNS", "AWS_FLOAT_COLUMNS", "AWS_RAW_COLUMNS", "AWS_DAILY_KEYS", "AWS_DAILY_AGGREGATIONS",
    "AWS_DAILY_COLUMNS", "AwsSampleSpec", "tags_json", "koku_aws_daily", "uuid_factory", "aws_file_base",
    "claimless_pv_frame", "aws_day_frame", "build_aws_spec", "write_aws_sample", "DEFAULT_AWS_SOURCE_UUID",
]

# ---------------------------------------------------------------------------------------------------------------
# Koku's AWS Parquet shape (aws_post_processor.py, aws_report_parquet_processor.py, reporting/provider/aws/models.py)
# ---------------------------------------------------------------------------------------------------------------
# Hive 'timestamp' columns (ciso8601 -> tz-aware UTC in pandas) and Hive 'double' columns (safe_float).
AWS_DATE_COLUMNS = ("bill_billingperiodstartdate", "bill_billingperiodenddate", "lineitem_usagestartdate",
                    "lineitem_usageenddate")
AWS_FLOAT_COLUMNS = ("lineitem_usageamount", "lineitem_normalizationfactor", "lineitem_normalizedusageamount",
                     "lineitem_unblendedrate", "lineitem_unblendedcost", "lineitem_blendedrate",
                     "lineitem_blendedcost", "pricing_publicondemandcost", "pricing_publicondemandrate",
                     "savingsplan_savingsplaneffectivecost")
# The columns of a raw file when the CUR has every column Koku's downloader keeps (its "recommended" and
# "optional" sets), in CUR order, plus the two folded JSON columns. A nise CUR converted by
# benchmarks/nise_aws_to_koku_parquet.py has exactly these.
AWS_RAW_COLUMNS = (
    "bill_invoiceid", "bill_billingentity", "bill_billtype", "bill_payeraccountid", "bill_billingperiodstartdate",
    "bill_billingperiodenddate", "identity_timeinterval", "lineitem_usageaccountid", "lineitem_lineitemtype",
    "lineitem_usagestartdate", "lineitem_usageenddate", "lineitem_productcode", "lineitem_usagetype",
    "lineitem_operation", "lineitem_availabilityzone", "lineitem_resourceid", "lineitem_usageamount",
    "lineitem_normalizationfactor", "lineitem_normalizedusageamount", "lineitem_currencycode",
    "lineitem_unblendedrate", "lineitem_unblendedcost", "lineitem_blendedrate", "lineitem_blendedcost",
    "lineitem_lineitemdescription", "lineitem_taxtype", "lineitem_legalentity", "product_productname",
    "product_instancetype", "product_memory", "product_operatingsystem", "product_physicalcores",
    "product_productfamily", "product_region", "product_servicecode", "product_sku", "product_vcpu",
    "pricing_publicondemandcost", "pricing_publicondemandrate", "pricing_term", "pricing_unit",
    "reservation_amortizedupfrontcostforusage", "reservation_amortizedupfrontfeeforbillingperiod",
    "reservation_endtime", "reservation_numberofreservations", "reservation_recurringfeeforusage",
    "reservation_starttime", "reservation_unitsperreservation", "reservation_unusedquantity",
    "reservation_unusedrecurringfee", "savingsplan_savingsplaneffectivecost", "resourcetags", "costcategory",
)
# AWSPostProcessor._generate_daily_data: group keys (the day of lineitem_usagestartdate is the second key) ...
AWS_DAILY_KEYS = (
    "lineitem_resourceid", "lineitem_usagestartdate", "bill_payeraccountid", "lineitem_usageaccountid",
    "lineitem_legalentity", "lineitem_lineitemdescription", "bill_billingentity", "lineitem_productcode",
    "lineitem_availabilityzone", "lineitem_lineitemtype", "lineitem_usagetype", "lineitem_operation",
    "product_productfamily", "product_operatingsystem", "product_instancetype", "product_region", "pricing_unit",
    "resourcetags", "costcategory",
)
# ... and aggregations, in Koku's order; then a row_uuid per daily row.
AWS_DAILY_AGGREGATIONS = {
    "lineitem_usageamount": "sum", "lineitem_normalizationfactor": "max", "lineitem_normalizedusageamount": "sum",
    "lineitem_currencycode": "max", "lineitem_unblendedrate": "max", "lineitem_unblendedcost": "sum",
    "lineitem_blendedrate": "max", "lineitem_blendedcost": "sum", "pricing_publicondemandcost": "sum",
    "pricing_publicondemandrate": "max", "savingsplan_savingsplaneffectivecost": "sum", "bill_invoiceid": "max",
    "product_productname": "max", "product_vcpu": "max", "product_memory": "max",
}
AWS_DAILY_COLUMNS = (*AWS_DAILY_KEYS, *AWS_DAILY_AGGREGATIONS, "row_uuid")


def tags_json(tags: Mapping[str, str]) -> str:
    """resourcetags / costcategory text as Koku folds `resourceTags/user:*` columns: keys in the sorted order of
    their column names (= sorted keys), empty values dropped, json.dumps defaults ('{"a": "b"}', '{}')."""
    return json.dumps({k: tags[k] for k in sorted(tags) if tags[k]})


def koku_aws_daily(raw: pd.DataFrame, new_uuid: Callable[[], str]) -> pd.DataFrame:
    """The daily frame of one raw chunk, as AWSPostProcessor builds it: group by the keys with the usage start
    floored to the UTC day (NaN keys kept, groups sorted), sum/max per column, then a row_uuid per daily row."""
    keys: list[Any] = list(AWS_DAILY_KEYS)
    keys[1] = pd.Grouper(key="lineitem_usagestartdate", freq="D")
    daily = raw.groupby(keys, dropna=False).agg(
        **{col: (col, how) for col, how in AWS_DAILY_AGGREGATIONS.items()}).reset_index()
    daily["row_uuid"] = [new_uuid() for _ in range(len(daily))]
    return daily


# Name stem of Koku's daily CUR CSV (and so of its Parquet files): the downloader's day split.
aws_file_base = daily_split_stem


# ---------------------------------------------------------------------------------------------------------------
# The synthetic bill
# ---------------------------------------------------------------------------------------------------------------
DEFAULT_AWS_SOURCE_UUID = "0b7f3c52-8d2e-4a61-9c4f-2e6d1a9b7c30"
PAYER_ACCOUNT = "999900000001"
OTHER_ACCOUNT = "999900000002"  # a member account of the organisation that runs no cluster resources
SOURCE_NAME = "Sample AWS account"
REPORT_NAME = "koku-sample-cur"
REGION = "us-east-1"
AWS_LEGAL_ENTITY = "Amazon Web Services, Inc."
# On-demand prices (USD): per vCPU-hour of an m6i / m6g instance, per GB-month of gp3 / gp2, per GB transferred.
M6I_PER_VCPU_HOUR = 0.048
M6G_PER_VCPU_HOUR = 0.0385
EBS_GB_MONTH = {"gp3": 0.08, "gp2": 0.10}
GP3_IOPS_MONTH = 0.005
TRANSFER_OUT_GB, TRANSFER_REGIONAL_GB = 0.09, 0.01
SAVINGS_PLAN_DISCOUNT = 0.28  # the plan's rate is 72 % of on-demand
RELEASED_PV_GIB = 50  # the claimless PV (released volume) the bill's EBS line pays for
LARGER_DISK_EXTRA_GIB = 20  # one EBS disk is this much larger than its PVC: the rest is "Storage unattributed"

# Every string column of a line (the rest of AWS_RAW_COLUMNS are numbers and timestamps set per hour).
_TEXT = ("bill_invoiceid", "bill_billingentity", "bill_billtype", "bill_payeraccountid", "lineitem_usageaccountid",
         "lineitem_lineitemtype", "lineitem_productcode", "lineitem_usagetype", "lineitem_operation",
         "lineitem_availabilityzone", "lineitem_resourceid", "lineitem_currencycode", "lineitem_lineitemdescription",
         "lineitem_taxtype", "lineitem_legalentity", "product_productname", "product_instancetype",
         "product_memory", "product_operatingsystem", "product_physicalcores", "product_productfamily",
         "product_region", "product_servicecode", "product_sku", "product_vcpu", "pricing_term", "pricing_unit",
         "reservation_amortizedupfrontcostforusage", "reservation_amortizedupfrontfeeforbillingperiod",
         "reservation_endtime", "reservation_numberofreservations", "reservation_recurringfeeforusage",
         "reservation_starttime", "reservation_unitsperreservation", "reservation_unusedquantity",
         "reservation_unusedrecurringfee", "resourcetags", "costcategory")
# Hourly amounts of a line: usage, unblended (= blended) cost and rate, savings-plan effective cost, public price.
_AMOUNTS = ("usage", "cost", "rate", "sp_cost", "public_cost", "public_rate", "normalization")


@dataclass(frozen=True)
class AwsSampleSpec:
    """The static part of the bill: one row per billed line (resource x line type), and what was planted."""

    lines: pd.DataFrame  # _TEXT columns (final values) + _AMOUNTS (per hour) + "noisy" (bool)
    released_pv: dict[str, Any]  # the claimless PV added to the OCP storage report
    features: dict[str, Any]


class _Lines:
    """Collects line rows with Koku's defaults for every text column ('')."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[dict[str, Any]] = []

    def sku(self) -> str:
        return "".join(np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))[self.rng.integers(0, 32, 12)])

    def hex(self, n: int) -> str:
        return "".join(f"{x:x}" for x in self.rng.integers(0, 16, n))

    def add(self, *, product: str, family: str, usage_type: str, resource: str, usage: float, rate: float,
            tags: Mapping[str, str] | None = None, categories: Mapping[str, str] | None = None,
            line_type: str = "Usage", operation: str = "", unit: str = "", zone: str = "",
            account: str = PAYER_ACCOUNT, noisy: bool = False, cost: float | None = None, sp_cost: float = 0.0,
            public_rate: float | None = None, description: str = "", **text: str) -> None:
        cost = usage * rate if cost is None else cost
        public_rate = rate if public_rate is None else public_rate
        row = dict.fromkeys(_TEXT, "")
        row.update({
            "bill_billingentity": "AWS", "bill_billtype": "Anniversary", "bill_payeraccountid": PAYER_ACCOUNT,
            "lineitem_usageaccountid": account, "lineitem_lineitemtype": line_type, "lineitem_productcode": product,
            "lineitem_usagetype": usage_type, "lineitem_operation": operation, "lineitem_availabilityzone": zone,
            "lineitem_resourceid": resource, "lineitem_currencycode": "USD", "lineitem_legalentity": AWS_LEGAL_ENTITY,
            "lineitem_lineitemdescription": description or f"{usage_type} {line_type}", "product_productfamily": family,
            "product_region": REGION, "product_servicecode": product, "product_sku": self.sku(),
            "pricing_term": "OnDemand" if line_type == "Usage" else "", "pricing_unit": unit,
            "resourcetags": tags_json(tags or {}), "costcategory": tags_json(categories or {}),
        })
        row.update(text)
        row.update({"usage": usage, "cost": cost, "rate": rate, "sp_cost": sp_cost,
                    "public_cost": usage * public_rate, "public_rate": public_rate, "normalization": 0.0,
                    "noisy": noisy})
        self.rows.append(row)


def _instance_type(node_labels: str) -> str:
    return json.loads(node_labels).get("node_kubernetes_io_instance_type", "m6i.2xlarge")


def _matched_app(c: Cluster) -> str:
    """An `app` label value that user pods carry (so a line tagged app=<it> is matched by an enabled key)."""
    values = sorted(json.loads(t).get("app", "") for i, t in enumerate(c.pod_labels)
                    if not c.ns_name[c.pod_ns[i]].startswith(("openshift-", "kube-")))
    values = [v for v in values if v]
    return max(set(values), key=lambda v: (values.count(v), v)) if values else "web"


def build_aws_spec(c: Cluster, config: Any) -> AwsSampleSpec:  # noqa: C901 - one flat list of planted lines
    """The bill's lines for a cluster (config: a SampleConfig); drawn from their own seeded stream, so the OCP
    data of the same config is unchanged."""
    rng = np.random.default_rng([config.seed, 0xA75])
    add = _Lines(rng)
    hours_in_month = calendar.monthrange(config.year, config.month)[1] * 24
    features: dict[str, Any] = {}
    zones = [json.loads(t).get("topology_kubernetes_io_zone", REGION + "a") for t in c.node_labels]
    workers = [i for i, r in enumerate(c.node_role) if r == WORKER]
    covered = set(workers[::3])  # every third worker runs under the savings plan

    # ---- EC2 compute and data transfer of every node (matched by resource id)
    sp_used = 0.0
    for n, node in enumerate(c.node_name):
        itype = _instance_type(c.node_labels[n])
        cores = int(c.node_cpu_cores[n])
        price = cores * (M6G_PER_VCPU_HOUR if itype.startswith("m6g") else M6I_PER_VCPU_HOUR)
        rid = str(c.node_resource_id[n])
        ec2 = {"product": "AmazonEC2", "family": "Compute Instance", "usage_type": f"BoxUsage:{itype}",
               "operation": "RunInstances", "resource": rid, "unit": "Hrs", "zone": zones[n],
               "tags": {"Name": str(node), "openshift_cluster": config.cluster_id, "openshift_node": str(node)},
               "categories": {"env": "prod", "team": "platform" if c.node_role[n] != WORKER else "apps"},
               "product_instancetype": itype, "product_vcpu": str(cores),
               "product_memory": f"{int(c.node_mem_bytes[n] // GIB)} GiB", "product_operatingsystem": "Linux",
               "product_productname": "Amazon Elastic Compute Cloud", "product_physicalcores": ""}
        if n in covered:
            sp_cost = price * (1 - SAVINGS_PLAN_DISCOUNT)
            sp_used += sp_cost
            add.add(**ec2, usage=1.0, rate=price, sp_cost=sp_cost, line_type="SavingsPlanCoveredUsage",
                    description=f"SavingsPlanCoveredUsage {itype}")
            # the negation repeats the covered usage and cancels its on-demand cost (Koku's OCP-on-AWS SQL zeroes
            # the covered line's unblended cost and keeps this one, so the node's unblended cost nets negative)
            add.add(**ec2, usage=1.0, rate=price, cost=-price, line_type="SavingsPlanNegation",
                    description=f"SavingsPlanNegation used by AccountId : {PAYER_ACCOUNT}")
        else:
            add.add(**ec2, usage=1.0, rate=price, description=f"${price:.3f} per On Demand Linux {itype} Instance Hour")
        add.rows[-1]["normalization"] = cores * 2.0  # AWS' size factor: 2 per vCPU (xlarge = 8)
        dt_base = {"product": "AmazonEC2", "family": "Data Transfer", "resource": rid, "unit": "GB",
                   "zone": zones[n], "tags": ec2["tags"], "noisy": True,
                   "product_productname": "Amazon Elastic Compute Cloud"}
        gb = float(rng.uniform(0.5, 4.0))
        add.add(**dt_base, usage_type="USE1-DataTransfer-In-Bytes", operation="RunInstances", usage=gb, rate=0.0)
        add.add(**dt_base, usage_type="USE1-DataTransfer-Out-Bytes", operation="RunInstances", usage=gb / 3,
                rate=TRANSFER_OUT_GB)
        add.add(**dt_base, usage_type="USE1-DataTransfer-Regional-Bytes", operation="InterZone-In", usage=gb / 2,
                rate=TRANSFER_REGIONAL_GB)
        add.add(**dt_base, usage_type="USE1-DataTransfer-Regional-Bytes", operation="InterZone-Out", usage=gb / 2,
                rate=TRANSFER_REGIONAL_GB)
    features["ec2_nodes"] = {str(c.node_name[n]): str(c.node_resource_id[n]) for n in range(len(c.node_name))}
    features["savings_plan_nodes"] = sorted(str(c.node_name[n]) for n in covered)
    commitment = round(sp_used * 1.05, 6)  # 5 % of the commitment goes unused
    add.add(product="ComputeSavingsPlans", family="", usage_type="ComputeSP:1yrNoUpfront", unit="Hrs",
            resource=f"arn:aws:savingsplans::{PAYER_ACCOUNT}:savingsplan/{add.hex(8)}-{add.hex(4)}",
            usage=1.0, rate=commitment, sp_cost=commitment - sp_used, line_type="SavingsPlanRecurringFee",
            product_productname="Savings Plans for AWS Compute usage")

    # ---- EBS: PVs with an EBS CSI handle (matched by handle), one in-tree PV (matched by PV name)
    ebs_volumes: dict[str, str] = {}
    larger = iops = ""
    tree_done = False
    for v in range(len(c.pvc_name)):
        driver, handle = str(c.pvc_csi_driver[v]), str(c.pvc_csi_handle[v])
        sc = str(c.pvc_storageclass[v])
        size = float(c.pvc_capacity[v]) / GIB
        if driver == "ebs.csi.aws.com":
            resource = handle
        elif not driver and not tree_done:
            resource, tree_done = str(c.pv_name[v]), True  # Koku matches it by suffix = PV name
            features["ebs_matched_by_pv_name"] = resource
        else:
            continue  # CephFS (ODF) volumes: no EBS line of their own
        if not larger and driver and c.mount_pod[list(c.mount_pvc).index(v)] >= 0 and size < 100:
            larger, size = resource, size + LARGER_DISK_EXTRA_GIB
        kind = "gp3" if "gp3" in sc else "gp2"
        rate = EBS_GB_MONTH[kind]
        volume = {"product": "AmazonEC2", "family": "Storage", "resource": resource, "zone": REGION + "a",
                  "operation": f"CreateVolume-{kind.capitalize()}", "product_productname":
                  "Amazon Elastic Compute Cloud", "tags": {"kubernetes.io/created-for/pvc/namespace":
                                                           str(c.ns_name[c.pvc_ns[v]])}}
        add.add(**volume, usage_type=f"EBS:VolumeUsage.{kind}", unit="GB-Mo", usage=size / hours_in_month,
                rate=rate)
        ebs_volumes[str(c.pv_name[v])] = resource
        if not iops and kind == "gp3" and size >= 100:
            iops = resource  # gp3 IOPS above the free 3000 are billed on the same resource id
            add.add(**volume, usage_type="EBS:VolumeP-IOPS.gp3", unit="IOPS-Mo", usage=1000 / hours_in_month,
                    rate=GP3_IOPS_MONTH)
    pv_name = "pvc-" + str(uuid.UUID(bytes=rng.bytes(16), version=4))
    released = {"persistentvolume": pv_name, "csi_volume_handle": "vol-0" + add.hex(16), "storageclass": "gp3-csi",
                "csi_driver": "ebs.csi.aws.com", "capacity_gib": RELEASED_PV_GIB}
    add.add(product="AmazonEC2", family="Storage", resource=released["csi_volume_handle"], zone=REGION + "b",
            operation="CreateVolume-Gp3", usage_type="EBS:VolumeUsage.gp3", unit="GB-Mo",
            usage=RELEASED_PV_GIB / hours_in_month, rate=EBS_GB_MONTH["gp3"],
            product_productname="Amazon Elastic Compute Cloud")
    features.update(ebs_volumes=ebs_volumes, ebs_disk_larger_than_pvc=larger, ebs_with_iops_line=iops,
                    released_pv=released)

    # ---- lines matched only by tags
    user_ns = [str(n) for n in c.ns_name if not str(n).startswith(("openshift-", "kube-"))]
    app = _matched_app(c)
    tagged = {
        "s3_openshift_project": dict(
            product="AmazonS3", family="Storage", usage_type="TimedStorage-ByteHrs", operation="StandardStorage",
            resource=f"{config.cluster_id}-{user_ns[0]}-data", unit="GB-Mo", usage=120 / hours_in_month,
            rate=0.023, tags={"openshift_project": user_ns[0]}, categories={"team": "apps"}, noisy=True,
            product_productname="Amazon Simple Storage Service"),
        "rds_openshift_project": dict(
            product="AmazonRDS", family="Database Instance", usage_type="InstanceUsage:db.m6g.large",
            operation="CreateDBInstance:0014", zone=REGION + "a", unit="Hrs", usage=1.0, rate=0.152,
            resource=f"arn:aws:rds:{REGION}:{PAYER_ACCOUNT}:db:{user_ns[1 % len(user_ns)]}-postgres",
            tags={"openshift_project": user_ns[1 % len(user_ns)], "app": "db"}, categories={"team": "apps"},
            product_productname="Amazon Relational Database Service", product_instancetype="db.m6g.large"),
        "nlb_openshift_cluster_id": dict(
            product="AWSELB", family="Load Balancer-Network", usage_type="USE1-LCUUsage", operation="LoadBalancing:Net",
            resource=f"arn:aws:elasticloadbalancing:{REGION}:{PAYER_ACCOUNT}:loadbalancer/net/ingress/{add.hex(16)}",
            unit="LCU-Hrs", usage=2.5, rate=0.006, noisy=True, tags={"openshift_cluster": config.cluster_id},
            product_productname="Elastic Load Balancing"),
        "nat_openshift_cluster_alias": dict(
            product="AmazonEC2", family="NAT Gateway", usage_type="USE1-NatGateway-Hours", operation="NatGateway",
            resource=f"arn:aws:ec2:{REGION}:{PAYER_ACCOUNT}:natgateway/nat-0{add.hex(16)}", unit="Hrs", usage=1.0,
            rate=0.045, tags={"openshift_cluster": config.cluster_alias},
            product_productname="Amazon Elastic Compute Cloud"),
        "eip_openshift_node": dict(
            product="AmazonVPC", family="IP Address", usage_type="USE1-PublicIPv4:InUseAddress",
            operation="AssociateAddressVPC", resource=f"eipalloc-0{add.hex(16)}", unit="Hrs", usage=1.0, rate=0.005,
            tags={"openshift_node": str(c.node_name[workers[0]])}, product_productname="Amazon Virtual Private Cloud"),
        "elasticache_enabled_key": dict(
            product="AmazonElastiCache", family="Cache Instance", usage_type="NodeUsage:cache.t4g.medium",
            operation="CreateCacheCluster:0002", resource=f"arn:aws:elasticache:{REGION}:{PAYER_ACCOUNT}:cluster:{app}",
            unit="Hrs", usage=1.0, rate=0.065, tags={"app": app}, categories={"team": "apps"},
            product_productname="Amazon ElastiCache"),
        # Koku finds the candidate '"App": "<app>"' case-insensitively (the line must also hold a key enabled for
        # both AWS and OCP, here environment, for its fallback query to look at it), matches the line with it,
        # then compares it with the pod labels case-sensitively: no project gets the cost
        "s3_enabled_key_case_mismatch": dict(
            product="AmazonS3", family="Storage", usage_type="TimedStorage-ByteHrs", operation="StandardStorage",
            resource=f"{config.cluster_id}-assets", unit="GB-Mo", usage=40 / hours_in_month, rate=0.023,
            tags={"App": app, "environment": "cold-storage"}, product_productname="Amazon Simple Storage Service"),
        "marketplace_openshift_cluster_id": dict(
            product="8d2" + add.hex(23), family="", usage_type="SoftwareUsage:m6i.2xlarge", operation="",
            resource="", unit="Hrs", usage=1.0, rate=0.171, bill_billingentity="AWS Marketplace",
            lineitem_legalentity="Red Hat, Inc.", tags={"openshift_cluster": config.cluster_id},
            product_productname="Red Hat OpenShift Container Platform"),
    }
    for line in tagged.values():
        add.add(**line)
    features["tag_matched"] = {k: {"resource_id": v["resource"], "tags": dict(v["tags"])} for k, v in tagged.items()}

    # ---- unmatched lines
    untagged = {
        "ec2_other_team": dict(product="AmazonEC2", family="Compute Instance", usage_type="BoxUsage:t3.medium",
                               operation="RunInstances", resource="i-0" + add.hex(16), unit="Hrs", usage=1.0,
                               rate=0.0416, account=OTHER_ACCOUNT, tags={"team": "data"},
                               product_instancetype="t3.medium", product_vcpu="2", product_memory="4 GiB"),
        "ebs_other_team": dict(product="AmazonEC2", family="Storage", usage_type="EBS:VolumeUsage.gp3",
                               operation="CreateVolume-Gp3", resource="vol-0" + add.hex(16), unit="GB-Mo",
                               usage=200 / hours_in_month, rate=0.08, account=OTHER_ACCOUNT),
        "s3_untagged": dict(product="AmazonS3", family="Storage", usage_type="TimedStorage-ByteHrs",
                            operation="StandardStorage", resource="company-backups", unit="GB-Mo",
                            usage=900 / hours_in_month, rate=0.023, noisy=True),
        "rds_untagged": dict(product="AmazonRDS", family="Database Instance", usage_type="InstanceUsage:db.t4g.micro",
                             operation="CreateDBInstance:0014", unit="Hrs", usage=1.0, rate=0.016,
                             resource=f"arn:aws:rds:{REGION}:{OTHER_ACCOUNT}:db:wiki", account=OTHER_ACCOUNT),
        "project_tag_of_no_namespace": dict(product="AmazonS3", family="Storage", usage_type="Requests-Tier1",
                                            operation="PutObject", resource="old-project-uploads", unit="Requests",
                                            usage=1500.0, rate=0.000005, noisy=True,
                                            tags={"openshift_project": "decommissioned-project"}),
        "route53_zone": dict(product="AmazonRoute53", family="DNS Zone", usage_type="HostedZone",
                             operation="", resource=f"arn:aws:route53:::hostedzone/Z0{add.hex(12).upper()}",
                             unit="HostedZone", usage=1 / hours_in_month, rate=0.5),
    }
    for line in untagged.values():
        add.add(**line)
    features["unmatched"] = {k: v["resource"] for k, v in untagged.items()}

    lines = pd.DataFrame(add.rows)
    return AwsSampleSpec(lines=lines, released_pv=released, features=features)


def claimless_pv_frame(spec: AwsSampleSpec, storage: pd.DataFrame) -> pd.DataFrame:
    """The day's OCP storage rows plus those of the released PV (its claim was deleted, the EBS volume is still
    billed): every hour of the day, no namespace, pod, node or claim, as the operator reports such a PV."""
    return released_pv_frame(spec.released_pv, storage)


def aws_day_frame(spec: AwsSampleSpec, day: dt.date, day_index: int, seed: int) -> pd.DataFrame:
    """Raw (hourly) CUR rows of one day as Koku's AWS post-processor leaves them: hour-major, 24 rows per line."""
    lines = spec.lines
    n_lines, hours = len(lines), 24
    rng = np.random.default_rng([seed, day_index, 0xA75])
    idx = np.tile(np.arange(n_lines), hours)
    hour = np.repeat(np.arange(hours), n_lines)
    noise = np.where(lines["noisy"].to_numpy()[idx], rng.lognormal(0.0, 0.3, len(idx)), 1.0)
    start = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(hour, unit="h")
    month_start = pd.Timestamp(day.replace(day=1), tz="UTC")
    next_month = (month_start + pd.Timedelta(days=32)).replace(day=1)
    out: dict[str, Any] = {col: lines[col].to_numpy()[idx] for col in _TEXT}
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    starts = pd.DatetimeIndex(start)
    out["identity_timeinterval"] = (starts.strftime(fmt) + "/" + (starts + pd.Timedelta(hours=1)).strftime(fmt))
    out["identity_timeinterval"] = out["identity_timeinterval"].to_numpy(dtype=object)
    out["bill_billingperiodstartdate"] = np.repeat(month_start, len(idx))
    out["bill_billingperiodenddate"] = np.repeat(next_month, len(idx))
    out["lineitem_usagestartdate"] = starts
    out["lineitem_usageenddate"] = starts + pd.Timedelta(hours=1)
    amount = {a: lines[a].to_numpy(dtype=float)[idx] for a in _AMOUNTS}
    out["lineitem_usageamount"] = amount["usage"] * noise
    out["lineitem_normalizationfactor"] = amount["normalization"]
    out["lineitem_normalizedusageamount"] = amount["usage"] * noise * amount["normalization"]
    out["lineitem_unblendedrate"] = amount["rate"]
    out["lineitem_unblendedcost"] = amount["cost"] * noise
    out["lineitem_blendedrate"] = amount["rate"]
    out["lineitem_blendedcost"] = amount["cost"] * noise
    out["pricing_publicondemandcost"] = amount["public_cost"] * noise
    out["pricing_publicondemandrate"] = amount["public_rate"]
    out["savingsplan_savingsplaneffectivecost"] = amount["sp_cost"] * noise
    frame = pd.DataFrame(out)
    for col in AWS_DATE_COLUMNS:
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ns, UTC]")
    return frame[list(AWS_RAW_COLUMNS)]


def write_aws_sample(root: str, config: Any, storage_options: dict | None = None,
                     cluster: Cluster | None = None) -> dict[str, Any]:
    """Write the bill of `config`'s cluster (a SampleConfig; days 1..days of its month) under `root` and return the
    scenario.json "aws" block. The claimless PV its EBS line pays for must be in the OCP storage report:
    `write_sample` adds it when `config.with_aws` (called alone, this writes the AWS side only)."""
    source_uuid = getattr(config, "aws_source_uuid", DEFAULT_AWS_SOURCE_UUID)
    validate_uuid(source_uuid)
    cluster = cluster or build_cluster(config.nodes, config.pods, config.seed, config.label_changes)
    spec = build_aws_spec(cluster, config)
    fs = filesystem(root, storage_options)
    local = not root.startswith(("s3://", "s3a://"))
    account = account_of(config.schema)
    year, month = f"{config.year:04d}", f"{config.month:02d}"
    raw_dir = provider_prefix(root, account, "AWS", source_uuid, year, month, daily=False)
    daily_dir = provider_prefix(root, account, "AWS", source_uuid, year, month, daily=True)
    if local:
        fs.makedirs(strip_scheme(raw_dir), exist_ok=True)
        fs.makedirs(strip_scheme(daily_dir), exist_ok=True)
    manifest_id = config.days + 1  # after the OCP sample's one manifest per day
    base_name = f"{REPORT_NAME}-00001"
    batch_size = config.rows_per_file
    offset = 0  # row number in the month's CUR: Koku's downloader batches are cut over the whole file
    files: list[dict[str, Any]] = []
    for day_index in range(config.days):
        day = config.start_date + dt.timedelta(days=day_index)
        frame = aws_day_frame(spec, day, day_index, config.seed)
        new_uuid = uuid_factory([config.seed, day_index, 0xDA1])
        for batch, lo, hi in batch_slices(offset, len(frame), batch_size):
            raw = frame.iloc[lo:hi].reset_index(drop=True)
            daily = koku_aws_daily(raw, new_uuid)
            stem = aws_file_base(day.isoformat(), manifest_id, base_name, batch)
            write_koku_parquet(fs, join(raw_dir, f"{stem}_0.parquet"), raw)
            write_koku_parquet(fs, join(daily_dir, f"{stem}_daily_0.parquet"), daily)
            files.append({"base": stem, "date": day.isoformat(), "rows": len(raw), "daily_rows": len(daily)})
        offset += len(frame)
    tag_keys = sorted({k for t in spec.lines["resourcetags"].unique() for k in json.loads(t)})
    category_keys = sorted({k for t in spec.lines["costcategory"].unique() for k in json.loads(t)})
    return {
        "source_uuid": source_uuid,
        "source_name": SOURCE_NAME,
        "payer_account": PAYER_ACCOUNT,
        "usage_accounts": sorted(set(spec.lines["lineitem_usageaccountid"])),
        "enabled_tag_keys": tag_keys,  # Koku enables every AWS tag key it sees (up to 200)
        "category_keys": category_keys,
        "year": year,
        "month": month,
        "start_date": config.start_date.isoformat(),
        "end_date": config.end_date.isoformat(),
        "manifest_id": manifest_id,
        "batch_size": batch_size,
        "lines_per_hour": len(spec.lines),
        "files": files,
        "features": spec.features,
    }
