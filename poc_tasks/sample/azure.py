"""A matched Azure cost export (Koku-shaped Azure Parquet) for the synthetic cluster of `poc-tasks sample`.

What Koku's Azure ingestion leaves in S3 for one Azure source and bill month (spec ocp-on-cloud.md §2.1, §2.3), and
what OCP on Azure reads:

    ROOT/data/parquet/{account}/Azure/source={uuid}/year={YYYY}/month={MM}/
        {date}_manifestid-{m}_basefile-{export}_batch-{i}_0.parquet        azure_line_items (one row per line and day)

There is no daily table: Azure rows are already daily. Koku's downloader reads the month's export in batches of
PARQUET_PROCESSING_BATCH_SIZE rows, sorts each batch by Date (pandas' sort_index, whose quicksort does not keep the
export order of a day's rows; reproduced here) and writes one CSV per (batch i, day); each becomes one Parquet file.
Types are those Koku's converters give: Date and BillingPeriod{Start,End}Date timestamp[ms] **without** time zone
(ciso8601 on "YYYY-MM-DD" text), the six price/quantity columns float64, ``tags`` / ``additionalinfo`` json.dumps
text (export key order), everything else text with '' for "no value"; the columns are those of a converted nise
export (benchmarks/nise_azure_to_koku_parquet.py), ``row_uuid`` last.

The export (per day, one row per line, a pure function of the config and the day):
- a VM for every node (resource id .../providers/Microsoft.Compute/virtualMachines/<node>: its 9th segment is the
  node name), unit "1 Hour"; masters in the legacy "100 Hours" unit (Koku does not multiply that one for Virtual
  Machines); one worker's VM covered by a reservation (cost 0: a zero-cost matched row);
- an OS disk "<node>_OSDisk" for every node (attributed with its VM by pod ratio; kept out of the capacity lookup);
- a managed disk named after every cloud PV (Premium "P" tiers for gp3-csi, Standard SSD "E" for gp2-csi,
  Standard HDD "S" for in-tree gp2; the tier is the smallest whose size covers the claim, so the rest is "Storage
  unattributed"), one billed at a tier *below* its claim (negative unattributed storage), one with a meter the
  disk-capacity lookup does not know ("Ultra LRS Provisioned Capacity": matched directly, not sized), and the disk
  of a released PV whose claim was deleted (added to the OCP storage report: `released_pv_frame`);
- data transfer of some workers: "Virtual Network" lines with AdditionalInfo DataTransferDirection DataTrIn /
  DataTrOut (Network unattributed), and a "Bandwidth" line without a direction (split by pod ratio);
- lines matched only by tags: openshift_project (a PostgreSQL server, a blob container in the "100 GB/Month"
  unit), openshift_node (a public IP), openshift_cluster by id (a load balancer in "10 Hours") and by alias (a free
  public IP: a zero-cost tag-matched row), an enabled key whose key and value pod labels also have (a Redis cache),
  the same with the key's case changed (no project gets it);
- unmatched lines: a CI VM with its OS disk and data transfer, a Key Vault ("10K Operations"), Log Analytics, an
  untagged storage account, one tagged with a project that no namespace has.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import account_of, join, provider_prefix
from poc_tasks.sample.cloud_files import batch_slices, daily_split_stem, uuid_factory, write_koku_parquet
from poc_tasks.sample.cluster import GIB, MASTER, WORKER, Cluster, build_cluster
from poc_tasks.validate import validate_uuid

__all__ = [
    "AZURE_RAW_COLUMNS", "AZURE_DATE_COLUMNS", "AZURE_FLOAT_COLUMNS", "AZURE_REQUIRED_DEFAULTS", "AzureSampleSpec",
    "build_azure_spec", "azure_day_frame", "koku_batch_order", "write_azure_sample", "DEFAULT_AZURE_SOURCE_UUID",
]

# ---------------------------------------------------------------------------------------------------------------
# Koku's Azure Parquet shape (azure_post_processor.py, reporting/provider/azure/models.py)
# ---------------------------------------------------------------------------------------------------------------
# reporting/provider/azure/models.py TRINO_REQUIRED_COLUMNS: appended with these defaults when an export lacks them.
AZURE_REQUIRED_DEFAULTS: dict[str, object] = {
    **dict.fromkeys((
        "accountname", "accountownerid", "additionalinfo", "availabilityzone", "billingaccountid",
        "billingaccountname", "billingcurrencycode", "billingcurrency", "billingprofileid", "billingprofilename",
        "chargetype", "consumedservice", "costcenter", "frequency", "invoicesectionid", "invoicesectionname",
        "isazurecrediteligible", "metercategory", "meterid", "metername", "meterregion", "metersubcategory", "offerid",
        "partnumber", "planname", "pricingmodel", "productname", "productorderid", "productordername",
        "publishername", "publishertype", "reservationid", "reservationname", "resourcegroup", "resourceid",
        "resourcelocation", "resourcename", "resourcetype", "servicefamily", "serviceinfo1", "serviceinfo2",
        "servicename", "servicetier", "subscriptionguid", "subscriptionid", "subscriptionname", "tags", "term",
        "unitofmeasure"), ""),
    **dict.fromkeys(("costinbillingcurrency", "effectiveprice", "paygprice", "quantity", "resourcerate",
                     "unitprice"), 0.0),
    **dict.fromkeys(("billingperiodstartdate", "billingperiodenddate", "date"), pd.NaT),
}
# The columns of an export with the 68 columns of a current cost export (what nise writes), normalised, then the
# required columns it lacks (sorted), then row_uuid: what nise_azure_to_koku_parquet.py gives.
AZURE_RAW_COLUMNS = (
    "invoicesectionname", "accountname", "accountownerid", "subscriptionid", "subscriptionname", "resourcegroup",
    "resourcelocation", "date", "productname", "metercategory", "metersubcategory", "meterid", "metername",
    "meterregion", "unitofmeasure", "quantity", "effectiveprice", "costinbillingcurrency", "costcenter",
    "consumedservice", "resourceid", "tags", "offerid", "additionalinfo", "serviceinfo1", "serviceinfo2",
    "resourcename", "reservationid", "reservationname", "unitprice", "productorderid", "productordername", "term",
    "publishertype", "publishername", "chargetype", "frequency", "pricingmodel", "availabilityzone",
    "billingaccountid", "billingcurrency", "billingaccountname", "billingperiodstartdate", "billingperiodenddate",
    "billingprofileid", "billingprofilename", "invoicesectionid", "isazurecrediteligible", "partnumber", "paygprice",
    "planname", "servicefamily", "invoiceid", "previousinvoiceid", "resellername", "resellermpnid",
    "serviceperiodenddate", "serviceperiodstartdate", "productid", "publisherid", "location", "pricingcurrency",
    "costinpricingcurrency", "costinusd", "paygcostinbillingcurrency", "paygcostinusd", "exchangeratepricingtobilling",
    "exchangeratedate", "billingcurrencycode", "resourcerate", "resourcetype", "servicename", "servicetier",
    "subscriptionguid", "row_uuid",
)
AZURE_DATE_COLUMNS = ("date", "billingperiodstartdate", "billingperiodenddate")
AZURE_FLOAT_COLUMNS = ("quantity", "effectiveprice", "costinbillingcurrency", "unitprice", "paygprice",
                       "resourcerate")
_TEXT = tuple(c for c in AZURE_RAW_COLUMNS if c not in (*AZURE_DATE_COLUMNS, *AZURE_FLOAT_COLUMNS, "row_uuid"))

# ---------------------------------------------------------------------------------------------------------------
# The synthetic export
# ---------------------------------------------------------------------------------------------------------------
DEFAULT_AZURE_SOURCE_UUID = "3c1d8e57-2a4b-4f6e-8d9c-5b7a1e2f4c61"
SOURCE_NAME = "Sample Azure subscription"
EXPORT_NAME = "part_0_0001"  # a cost export's file name; Koku's daily files carry it up to its first dot
LOCATION, METER_REGION = "eastus", "US East"
VCPU_HOUR = 0.048  # USD per vCPU-hour of a Dsv5 VM
# USD per GiB-month of a disk tier, by tier letter; tiers (name suffix, GiB) as Koku's capacity seed lists them
DISK_GIB_MONTH = {"P": 0.14, "E": 0.075, "S": 0.045}
DISK_TIERS = {"P": ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024)),
              "E": ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024)),
              "S": ((4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024))}
DISK_KIND = {"gp3-csi": ("P", "Premium SSD Managed Disks"), "gp2-csi": ("E", "Standard SSD Managed Disks"),
             "gp2": ("S", "Standard HDD Managed Disks")}
ULTRA_GIB_HOUR = 0.000164
RELEASED_PV_GIB = 64
OS_DISK = ("P10 LRS Disk", 128)


def disk_meter(kind: str, size_gib: float) -> tuple[str, int]:
    """(meter name, tier GiB) of the smallest tier of `kind` ('P', 'E', 'S') that holds `size_gib`."""
    for number, gib in DISK_TIERS[kind]:
        if gib >= size_gib:
            return f"{kind}{number} LRS Disk", gib
    number, gib = DISK_TIERS[kind][-1]
    return f"{kind}{number} LRS Disk", gib


@dataclass(frozen=True)
class AzureSampleSpec:
    """The static part of the export: one row per billed line, and what was planted."""

    lines: pd.DataFrame  # _TEXT columns (final values) + quantity/rate per day + "noisy" (bool)
    released_pv: dict[str, Any]  # the claimless PV added to the OCP storage report
    features: dict[str, Any]


class _Lines:
    """Collects export lines with the values every line of the subscription shares."""

    def __init__(self, rng: np.random.Generator, subscription: str, month_days: int) -> None:
        self.rng = rng
        self.subscription = subscription
        self.month_days = month_days
        self.rows: list[dict[str, Any]] = []

    def meter_id(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def resource(self, group: str, provider: str, kind: str, name: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers/{provider}/{kind}/{name}"

    def add(self, *, resource_id: str, category: str, subcategory: str, meter: str, unit: str, quantity: float,
            rate: float, family: str, consumed: str, tags: Mapping[str, Any] | None = None,
            info: Mapping[str, Any] | None = None, cost: float | None = None, noisy: bool = False,
            **text: str) -> None:
        row = dict.fromkeys(_TEXT, "")
        group = resource_id.split("/")[4] if resource_id.count("/") >= 4 else ""
        row.update({
            "invoicesectionname": "Platform engineering", "accountname": "Koku Sample",
            "accountownerid": "finops@example.com", "subscriptionid": self.subscription,
            "subscriptionname": "Koku sample subscription", "resourcegroup": group, "resourcelocation": LOCATION,
            "productname": f"{category} {subcategory} - {meter} - {METER_REGION}", "metercategory": category,
            "metersubcategory": subcategory, "meterid": self.meter_id(), "metername": meter,
            "meterregion": METER_REGION, "unitofmeasure": unit, "consumedservice": consumed,
            "resourceid": resource_id, "tags": json.dumps(dict(tags or {})), "offerid": "MS-AZR-0017P",
            "additionalinfo": json.dumps(dict(info or {})), "resourcename": resource_id.rsplit("/", 1)[-1],
            "publishertype": "Microsoft", "publishername": "Microsoft", "chargetype": "Usage",
            "frequency": "UsageBased", "pricingmodel": "OnDemand", "billingaccountid": "80000001",
            "billingcurrency": "USD", "billingaccountname": "Koku Sample", "billingprofileid": "BP-0001",
            "billingprofilename": "Koku Sample", "invoicesectionid": "IS-0001", "isazurecrediteligible": "True",
            "servicefamily": family, "location": METER_REGION, "pricingcurrency": "USD",
            "exchangeratepricingtobilling": "1",
        })
        row.update(text)
        row.update({"quantity": quantity, "rate": rate, "cost": quantity * rate if cost is None else cost,
                    "noisy": noisy})
        self.rows.append(row)


def _vm_size(cores: float) -> str:
    return f"Standard_D{int(cores)}s_v5" if cores <= 96 else f"Standard_M{int(cores)}s"


def _matched_app(c: Cluster) -> str:
    """The `app` value most user pods carry (a tag app=<it> is then matched through an enabled key)."""
    values = sorted(json.loads(t).get("app", "") for i, t in enumerate(c.pod_labels)
                    if not c.ns_name[c.pod_ns[i]].startswith(("openshift-", "kube-")))
    values = [v for v in values if v]
    return max(set(values), key=lambda v: (values.count(v), v)) if values else "web"


def build_azure_spec(c: Cluster, config: Any) -> AzureSampleSpec:  # noqa: C901, PLR0915 - one flat list of lines
    """The export's lines for `config`'s cluster (a SampleConfig); deterministic for the config's seed."""
    rng = np.random.default_rng([config.seed, 0xA2E])
    subscription = str(uuid.UUID(bytes=rng.bytes(16), version=4))
    month_days = calendar.monthrange(config.year, config.month)[1]
    add = _Lines(rng, subscription, month_days)
    infra_id = f"{config.cluster_id}-{''.join(rng.choice(list('bcdfghjklmnpqrstvwxz'), 5))}"
    group = f"{infra_id}-rg"
    cluster_tag = {f"kubernetes.io_cluster.{infra_id}": "owned"}
    features: dict[str, Any] = {"subscription": subscription, "resource_group": group}

    # ---- a VM and an OS disk for every node
    workers = [n for n in range(len(c.node_name)) if c.node_role[n] == WORKER]
    reserved = workers[1 % len(workers)]
    vms: dict[str, str] = {}
    os_disks: dict[str, str] = {}
    for n, node in enumerate(map(str, c.node_name)):
        cores = float(c.node_cpu_cores[n])
        size = _vm_size(cores)
        vm = add.resource(group, "Microsoft.Compute", "virtualMachines", node)
        info = {"UsageType": "ComputeHR", "ImageType": "RHCOS", "ServiceType": size, "VMName": None,
                "VCPUs": int(cores)}
        legacy = c.node_role[n] == MASTER  # the legacy "100 Hours" unit, quantity in hundreds of hours
        line = dict(resource_id=vm, category="Virtual Machines", subcategory="Dsv5 Series",
                    meter=size.removeprefix("Standard_").replace("_", " "), unit="100 Hours" if legacy else "1 Hour",
                    quantity=0.24 if legacy else 24.0, rate=cores * VCPU_HOUR * (100 if legacy else 1),
                    family="Compute", consumed="Microsoft.Compute", tags=cluster_tag, info=info)
        if n == reserved:  # usage covered by a reservation: billed at 0
            line.update(cost=0.0, pricingmodel="Reservation", reservationname="sample-reservation",
                        reservationid=str(uuid.UUID(bytes=rng.bytes(16), version=4)))
        add.add(**line)
        vms[node] = vm
        disk = add.resource(group, "Microsoft.Compute", "disks", f"{node}_OSDisk")
        add.add(resource_id=disk, category="Storage", subcategory="Premium SSD Managed Disks", meter=OS_DISK[0],
                unit="1/Month", quantity=1 / month_days, rate=OS_DISK[1] * DISK_GIB_MONTH["P"], family="Storage",
                consumed="Microsoft.Compute", tags=cluster_tag)
        os_disks[node] = disk
    features.update(vms=vms, os_disks=os_disks, legacy_unit_vms=[str(n) for n, r in zip(c.node_name, c.node_role,
                                                                                          strict=True) if r == MASTER],
                    zero_cost_vm=str(c.node_name[reserved]))

    # ---- a managed disk named after every cloud PV (not the CephFS one)
    disks: dict[str, dict[str, Any]] = {}
    candidates = [v for v in range(len(c.pv_name)) if str(c.pvc_storageclass[v]) in DISK_KIND]
    below = candidates[0]  # the first monitoring volume (100 GiB): billed as a 64 GiB tier
    ultra = next((v for v in candidates[1:] if not str(c.ns_name[c.pvc_ns[v]]).startswith("openshift-")),
                 candidates[-1])
    for v in candidates:
        pv, claim_gib = str(c.pv_name[v]), float(c.pvc_capacity[v]) / GIB
        kind, subcategory = DISK_KIND[str(c.pvc_storageclass[v])]
        resource = add.resource(group, "Microsoft.Compute", "disks", pv)
        tags = {**cluster_tag, "kubernetes.io-created-for-pv-name": pv,
                "kubernetes.io-created-for-pvc-name": str(c.pvc_name[v]),
                "kubernetes.io-created-for-pvc-namespace": str(c.ns_name[c.pvc_ns[v]])}
        if v == ultra:
            size = claim_gib
            add.add(resource_id=resource, category="Storage", subcategory="Ultra Disks",
                    meter="Ultra LRS Provisioned Capacity", unit="1 GiB/Hour", quantity=size * 24,
                    rate=ULTRA_GIB_HOUR, family="Storage", consumed="Microsoft.Compute", tags=tags)
            disks[pv] = {"resource_id": resource, "meter": "Ultra LRS Provisioned Capacity", "tier_gib": None,
                         "claim_gib": claim_gib}
            continue
        meter, tier = disk_meter(kind, claim_gib)
        if v == below:
            meter, tier = disk_meter(kind, claim_gib / 2)
        add.add(resource_id=resource, category="Storage", subcategory=subcategory, meter=meter, unit="1/Month",
                quantity=1 / month_days, rate=tier * DISK_GIB_MONTH[kind], family="Storage",
                consumed="Microsoft.Compute", tags=tags)
        disks[pv] = {"resource_id": resource, "meter": meter, "tier_gib": tier, "claim_gib": claim_gib}
    pv_name = "pvc-" + str(uuid.UUID(bytes=rng.bytes(16), version=4))
    released_id = add.resource(group, "Microsoft.Compute", "disks", pv_name)
    released = {"persistentvolume": pv_name, "csi_volume_handle": released_id, "storageclass": "managed-csi",
                "csi_driver": "disk.csi.azure.com", "capacity_gib": RELEASED_PV_GIB}
    meter, tier = disk_meter("P", RELEASED_PV_GIB)
    add.add(resource_id=released_id, category="Storage", subcategory="Premium SSD Managed Disks", meter=meter,
            unit="1/Month", quantity=1 / month_days, rate=tier * DISK_GIB_MONTH["P"], family="Storage",
            consumed="Microsoft.Compute", tags={**cluster_tag, "kubernetes.io-created-for-pv-name": pv_name})
    features.update(pv_disks=disks, disk_billed_below_claim=str(c.pv_name[below]),
                    disk_meter_unknown=str(c.pv_name[ultra]), released_pv=released)

    # ---- data transfer of the first workers
    transfer: dict[str, list[str]] = {}
    for n in workers[:2]:
        node = str(c.node_name[n])
        for direction, meter, rate in (("DataTrIn", "Inter-Region Ingress", 0.01),
                                       ("DataTrOut", "Inter-Region Egress", 0.02)):
            add.add(resource_id=vms[node], category="Virtual Network", subcategory="Peering", meter=meter,
                    unit="1 GB", quantity=float(rng.uniform(5, 50)), rate=rate, family="Networking",
                    consumed="Microsoft.Compute", tags=cluster_tag, info={"DataTransferDirection": direction},
                    noisy=True)
        transfer[node] = ["DataTrIn", "DataTrOut"]
    bandwidth_node = str(c.node_name[workers[0]])
    add.add(resource_id=vms[bandwidth_node], category="Bandwidth", subcategory="Rtn Preference: MGN",
            meter="Standard Data Transfer Out", unit="1 GB", quantity=float(rng.uniform(10, 80)), rate=0.087,
            family="Networking", consumed="Microsoft.Compute", tags=cluster_tag, noisy=True)
    features.update(data_transfer=transfer, bandwidth_without_direction=bandwidth_node)

    # ---- lines matched only by tags
    user_ns = [str(n) for n in c.ns_name if not str(n).startswith(("openshift-", "kube-"))]
    app = _matched_app(c)
    worker0 = str(c.node_name[workers[0]])
    tagged = {
        "postgres_openshift_project": dict(
            resource_id=add.resource("data-rg", "Microsoft.DBforPostgreSQL", "flexibleServers", f"{user_ns[0]}-db"),
            category="Azure Database for PostgreSQL", subcategory="Flexible Server General Purpose Dsv3 Series",
            meter="vCore", unit="1 Hour", quantity=48.0, rate=0.0886, family="Databases",
            consumed="Microsoft.DBforPostgreSQL", tags={"openshift_project": user_ns[0]}),
        "blob_openshift_project": dict(
            resource_id=add.resource("data-rg", "Microsoft.Storage", "storageAccounts", "kokusampleassets"),
            category="Storage", subcategory="Tiered Block Blob", meter="Hot LRS Data Stored", unit="100 GB/Month",
            quantity=1.5 / month_days, rate=2.08, family="Storage", consumed="Microsoft.Storage",
            tags={"openshift_project": user_ns[1 % len(user_ns)]}, noisy=True),
        "public_ip_openshift_node": dict(
            resource_id=add.resource(group, "Microsoft.Network", "publicIPAddresses", f"{infra_id}-egress-ip"),
            category="Virtual Network", subcategory="IP Addresses", meter="Standard IPv4 Static Public IP",
            unit="1 Hour", quantity=24.0, rate=0.005, family="Networking", consumed="Microsoft.Network",
            tags={"openshift_node": worker0}),
        "load_balancer_openshift_cluster_id": dict(
            resource_id=add.resource(group, "Microsoft.Network", "loadBalancers", infra_id),
            category="Load Balancer", subcategory="Standard", meter="Standard Included LB Rules and Outbound Rules",
            unit="10 Hours", quantity=2.4, rate=0.25, family="Networking", consumed="Microsoft.Network",
            tags={"openshift_cluster": config.cluster_id}),
        "free_ip_openshift_cluster_alias": dict(
            resource_id=add.resource(group, "Microsoft.Network", "publicIPAddresses", f"{infra_id}-api-ip"),
            category="Virtual Network", subcategory="IP Addresses", meter="Dynamic Public IP - Free", unit="1 Hour",
            quantity=24.0, rate=0.0, family="Networking", consumed="Microsoft.Network",
            tags={"openshift_cluster": config.cluster_alias}),
        "redis_enabled_key": dict(
            resource_id=add.resource("data-rg", "Microsoft.Cache", "Redis", f"{app}-cache"),
            category="Redis Cache", subcategory="Standard", meter="C1 Cache Instance", unit="1 Hour", quantity=24.0,
            rate=0.1, family="Databases", consumed="Microsoft.Cache", tags={"app": app}),
        # the candidate '"App": "<app>"' comes from this line's own tags, but the pod labels hold "app":
        # compared case-sensitively, no project gets the cost
        "files_enabled_key_case_mismatch": dict(
            resource_id=add.resource("data-rg", "Microsoft.Storage", "storageAccounts", "kokusamplefiles"),
            category="Storage", subcategory="Files", meter="LRS Data Stored", unit="1 GB/Month",
            quantity=50 / month_days, rate=0.06, family="Storage", consumed="Microsoft.Storage",
            tags={"App": app, "environment": "archive"}),
    }
    for line in tagged.values():
        add.add(**line)
    features["tag_matched"] = {k: {"resource_id": v["resource_id"], "tags": dict(v["tags"])}
                               for k, v in tagged.items()}
    features["zero_cost_tag_matched"] = "free_ip_openshift_cluster_alias"

    # ---- unmatched lines
    ci_vm = add.resource("ci-rg", "Microsoft.Compute", "virtualMachines", "jenkins-vm")
    untagged = {
        "ci_vm": dict(resource_id=ci_vm, category="Virtual Machines", subcategory="Bsv2 Series", meter="B2s v2",
                      unit="1 Hour", quantity=24.0, rate=0.0832, family="Compute", consumed="Microsoft.Compute",
                      tags={"team": "ci"}, info={"ServiceType": "Standard_B2s_v2", "VCPUs": 2}),
        "ci_os_disk": dict(resource_id=add.resource("ci-rg", "Microsoft.Compute", "disks",
                                                    f"jenkins-vm_OsDisk_1_{add.meter_id().replace('-', '')}"),
                           category="Storage", subcategory="Standard SSD Managed Disks", meter="E4 LRS Disk",
                           unit="1/Month", quantity=1 / month_days, rate=2.4, family="Storage",
                           consumed="Microsoft.Compute"),
        "ci_data_transfer": dict(resource_id=ci_vm, category="Virtual Network", subcategory="Peering",
                                 meter="Inter-Region Egress", unit="1 GB", quantity=3.0, rate=0.02,
                                 family="Networking", consumed="Microsoft.Compute",
                                 info={"DataTransferDirection": "DataTrOut"}, noisy=True),
        "key_vault": dict(resource_id=add.resource("ci-rg", "Microsoft.KeyVault", "vaults", "ci-secrets"),
                          category="Key Vault", subcategory="", meter="Operations", unit="10K Operations",
                          quantity=4.2, rate=0.03, family="Security", consumed="Microsoft.KeyVault", noisy=True),
        "log_analytics": dict(resource_id=add.resource("ops-rg", "Microsoft.OperationalInsights", "workspaces",
                                                       "ops-logs"),
                              category="Log Analytics", subcategory="", meter="Analytics Logs Data Ingestion",
                              unit="1 GB", quantity=12.0, rate=2.3, family="Management and Governance",
                              consumed="Microsoft.OperationalInsights", noisy=True),
        "storage_untagged": dict(resource_id=add.resource("ops-rg", "Microsoft.Storage", "storageAccounts",
                                                          "companybackups"),
                                 category="Storage", subcategory="Tiered Block Blob", meter="Cool LRS Data Stored",
                                 unit="1 GB/Month", quantity=900 / month_days, rate=0.01, family="Storage",
                                 consumed="Microsoft.Storage"),
        "project_tag_of_no_namespace": dict(
            resource_id=add.resource("ops-rg", "Microsoft.Storage", "storageAccounts", "olduploads"),
            category="Storage", subcategory="Tiered Block Blob", meter="Hot LRS Write Operations",
            unit="10K", quantity=15.0, rate=0.05, family="Storage", consumed="Microsoft.Storage",
            tags={"openshift_project": "decommissioned-project"}, noisy=True),
    }
    for line in untagged.values():
        add.add(**line)
    features["unmatched"] = {k: v["resource_id"] for k, v in untagged.items()}

    lines = pd.DataFrame(add.rows)
    features["units"] = sorted(set(lines["unitofmeasure"]))
    return AzureSampleSpec(lines=lines, released_pv=released, features=features)


def azure_day_frame(spec: AzureSampleSpec, day: dt.date, day_index: int, seed: int) -> pd.DataFrame:
    """The export's rows of one day (one per line, in line order) with Koku's column types; row_uuid left ''."""
    lines = spec.lines
    rng = np.random.default_rng([seed, day_index, 0xA2D])
    noise = np.where(lines["noisy"].to_numpy(), rng.lognormal(0.0, 0.3, len(lines)), 1.0)
    out: dict[str, Any] = {col: lines[col].to_numpy() for col in _TEXT}
    quantity = lines["quantity"].to_numpy(dtype=float) * noise
    rate = lines["rate"].to_numpy(dtype=float)
    out["quantity"] = quantity
    out["effectiveprice"] = np.where(lines["cost"].to_numpy(dtype=float) == 0.0, 0.0, rate)
    out["costinbillingcurrency"] = lines["cost"].to_numpy(dtype=float) * noise
    out["unitprice"] = rate
    out["paygprice"] = rate
    out["resourcerate"] = np.zeros(len(lines))  # a current export has no ResourceRate column: Koku's default
    month_start = day.replace(day=1)
    month_end = month_start.replace(day=calendar.monthrange(day.year, day.month)[1])
    out["date"] = np.full(len(lines), np.datetime64(day, "ns"))
    out["billingperiodstartdate"] = np.full(len(lines), np.datetime64(month_start, "ns"))
    out["billingperiodenddate"] = np.full(len(lines), np.datetime64(month_end, "ns"))
    out["row_uuid"] = np.full(len(lines), "", dtype=object)
    frame = pd.DataFrame(out)
    for col in _TEXT:
        frame[col] = frame[col].astype(object)
    return frame[list(AZURE_RAW_COLUMNS)]


def koku_batch_order(dates: np.ndarray) -> np.ndarray:
    """Positions of a downloader batch's rows after Koku's set_index(Date).sort_index(): pandas' default quicksort,
    so rows of one day do not keep their export order once the batch holds enough of them."""
    return pd.DataFrame({"pos": np.arange(len(dates))}, index=pd.DatetimeIndex(dates)).sort_index()["pos"].to_numpy()


def write_azure_sample(root: str, config: Any, storage_options: dict | None = None,
                       cluster: Cluster | None = None, spec: AzureSampleSpec | None = None) -> dict[str, Any]:
    """Write the export of `config`'s cluster (a SampleConfig; days 1..days of its month) under `root` and return
    the scenario.json "azure" block. The released PV its disk line pays for must be in the OCP storage report:
    `write_sample` adds it when `config.with_azure` (called alone, this writes the Azure side only)."""
    source_uuid = getattr(config, "azure_source_uuid", DEFAULT_AZURE_SOURCE_UUID)
    validate_uuid(source_uuid)
    cluster = cluster or build_cluster(config.nodes, config.pods, config.seed, config.label_changes)
    spec = spec or build_azure_spec(cluster, config)
    fs = filesystem(root, storage_options)
    account = account_of(config.schema)
    year, month = f"{config.year:04d}", f"{config.month:02d}"
    raw_dir = provider_prefix(root, account, "Azure", source_uuid, year, month, daily=False)
    if not root.startswith(("s3://", "s3a://")):
        fs.makedirs(strip_scheme(raw_dir), exist_ok=True)
    manifest_id = config.days + 1  # after the OCP sample's one manifest per day
    batch_size = config.rows_per_file
    per_day = len(spec.lines)
    # the export lists the days in order, so row r of the month's export is on day r // per_day
    files: list[dict[str, Any]] = []
    for day_index in range(config.days):
        day = config.start_date + dt.timedelta(days=day_index)
        frame = azure_day_frame(spec, day, day_index, config.seed)
        new_uuid = uuid_factory([config.seed, day_index, 0xA2B])
        for batch, lo, hi in batch_slices(day_index * per_day, per_day, batch_size):
            first = batch * batch_size
            stop = min(first + batch_size, config.days * per_day)
            dates = (np.datetime64(config.start_date, "D") + np.arange(first, stop) // per_day).astype("M8[ns]")
            order = koku_batch_order(dates) + first - day_index * per_day
            rows = order[(order >= lo) & (order < hi)]
            raw = frame.iloc[rows].reset_index(drop=True)
            raw["row_uuid"] = [new_uuid() for _ in range(len(raw))]
            stem = daily_split_stem(day.isoformat(), manifest_id, EXPORT_NAME, batch)
            write_koku_parquet(fs, join(raw_dir, f"{stem}_0.parquet"), raw)
            files.append({"base": stem, "date": day.isoformat(), "rows": len(raw)})
    tag_keys = sorted({k for t in spec.lines["tags"].unique() for k in json.loads(t)})
    return {
        "source_uuid": source_uuid,
        "source_name": SOURCE_NAME,
        "enabled_tag_keys": tag_keys,  # Koku enables every Azure tag key it sees (up to 200)
        "subscription_guids": [spec.features["subscription"]],
        "year": year,
        "month": month,
        "start_date": config.start_date.isoformat(),
        "end_date": config.end_date.isoformat(),
        "manifest_id": manifest_id,
        "batch_size": batch_size,
        "lines_per_day": per_day,
        "files": files,
        "features": spec.features,
    }
