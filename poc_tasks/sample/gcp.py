"""A matched GCP billing export (Koku-shaped GCP Parquet) for the synthetic cluster of `poc-tasks sample`.

What Koku's GCP ingestion (the production BigQuery path) leaves in S3 for one GCP source (spec ocp-on-cloud.md §2.1,
§2.4), and what OCP on GCP reads:

    ROOT/data/parquet/{account}/GCP/source={uuid}/year={YYYY}/month={MM}/
        {invoice}_{partition date}_{partition date}_{i}_0.parquet                 gcp_line_items (hourly)
    ROOT/data/parquet/daily/{account}/GCP/raw/source={uuid}/year={YYYY}/month={MM}/
        {invoice}_{partition date}_{partition date}_{i}_daily_0.parquet           gcp_line_items_daily

YYYY/MM is the **invoice month**, not the usage month. Koku queries BigQuery one partition date at a time, writes
the rows in batches of PARQUET_PROCESSING_BATCH_SIZE (`{partition date}_{i}.csv`), cuts each batch by invoice month
and converts each piece into one raw file and one daily file (its own group-by, so a resource-day that spans two
partition dates or two invoice months has several daily rows). Types are those Koku's converters give to the
BigQuery CSV: usage_start_time, usage_end_time and export_time **timestamp[ms, tz=UTC]** (ciso8601 on
"YYYY-MM-DD HH:MM:SS+00:00"), cost, currency_conversion_rate, usage_amount, usage_amount_in_pricing_units float64,
labels / system_labels / project_labels one JSON object each (json.dumps of the {key, value} list, list order),
credits the JSON of its *first* element only ('{}' when none), everything else text ('' for none); the columns in
the order of Koku's BigQuery query (resource columns before partition_date). (nise files take Koku's local path
instead: naive timestamps, nise's column order, other file names; see benchmarks/nise_gcp_to_koku_parquet.py.)

The export (per day, 24 hourly rows per line, a pure function of the config and the day):
- a vCPU line and a RAM line for every node's instance (resource name = the node name, which Koku looks for as a
  substring: with 11 or more workers "worker-1" is also found in "worker-10"), system label machine_spec; workers
  get a sustained-use credit, one worker two credits (Koku keeps the first only);
- persistent disks for the cloud PVs in three shapes: global name ".../disk/<csi handle>" (the singular "/disk/"
  Koku's capacity step looks for; sized from the raw usage_amount: byte-seconds / 2^30 / 3600) for the monitoring
  volumes, every second user volume and the released PV whose claim was deleted (added to the OCP storage report:
  `released_pv_frame`), one of them smaller than its claim (Koku keeps its row uuid and full cost); the real
  ".../disks/<name>" shape with the PV name as resource name (matched directly by the PV name) for the others and
  the in-tree volumes; and one disk with both (attributed twice by Koku). PDs are at least 10 GiB, so small claims
  leave "Storage unattributed";
- data transfer of some workers: "... Data Transfer In ..." (IN), "... Data Transfer Out ..." (OUT) and an
  "Internet Egress" SKU that Koku does not see as network (split by pod ratio);
- lines matched only by labels: openshift_project (Cloud SQL, with a credit; a free-tier Cloud Storage line: a
  zero-cost row), openshift_cluster (a bucket, a Cloud NAT gateway of the "Networking" service), openshift_node (a
  forwarding rule), an enabled key whose key and value
  pod labels also have (Memorystore); a line whose label key pods have but the user did not enable for GCP;
- unmatched lines in another project: BigQuery, Cloud Logging, a CI instance and its disk, DNS, a label for a
  project that no namespace has;
- two invoice months: the first three hours of the month's first day are invoiced in the previous month (partition
  year/month of that month), and the last two hours of each day land in the next day's partition date (BigQuery's
  export lag).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import account_of, join, provider_prefix
from poc_tasks.sample.cloud_files import uuid_factory, write_koku_parquet
from poc_tasks.sample.cluster import GIB, MIB, WORKER, Cluster, build_cluster
from poc_tasks.validate import validate_uuid

__all__ = [
    "GCP_RAW_COLUMNS", "GCP_TIMESTAMP_COLUMNS", "GCP_FLOAT_COLUMNS", "GCP_LABEL_COLUMNS", "GCP_DAILY_KEYS",
    "GCP_DAILY_AGGREGATIONS", "GCP_DAILY_COLUMNS", "credit_amount", "koku_gcp_daily", "labels_json", "GcpSampleSpec",
    "build_gcp_spec", "gcp_day_frame", "write_gcp_sample", "DEFAULT_GCP_SOURCE_UUID",
]

# ---------------------------------------------------------------------------------------------------------------
# Koku's GCP Parquet shape (gcp_post_processor.py, gcp_report_downloader.py, masu/util/gcp/common.py)
# ---------------------------------------------------------------------------------------------------------------
# Koku's BigQuery query (masu/util/gcp/common.py GCP_COLUMN_LIST, then partition_date), names normalised.
GCP_RAW_COLUMNS = (
    "billing_account_id", "service_id", "service_description", "sku_id", "sku_description", "usage_start_time",
    "usage_end_time", "project_id", "project_name", "project_labels", "project_ancestry_numbers", "labels",
    "system_labels", "location_location", "location_country", "location_region", "location_zone", "export_time",
    "cost", "currency", "currency_conversion_rate", "usage_amount", "usage_unit", "usage_amount_in_pricing_units",
    "usage_pricing_unit", "credits", "invoice_month", "cost_type", "resource_name", "resource_global_name",
    "partition_date",
)
# Columns converted by GCPPostProcessor.get_column_converters (normalised names): ciso8601 timestamps, safe_float
# doubles, and the JSON rewrites ({key, value} lists -> one object; credits -> its first element).
GCP_TIMESTAMP_COLUMNS = ("usage_start_time", "usage_end_time", "export_time")
GCP_FLOAT_COLUMNS = ("cost", "currency_conversion_rate", "usage_amount", "usage_amount_in_pricing_units")
GCP_LABEL_COLUMNS = ("project_labels", "labels", "system_labels")
# GCPPostProcessor._generate_daily_data: group keys (the day of usage_start_time is the fourth key) ...
GCP_DAILY_KEYS = ("invoice_month", "billing_account_id", "project_id", "usage_start_time", "service_id", "sku_id",
                  "system_labels", "labels", "cost_type", "location_region", "resource_name")
# ... and aggregations, in Koku's order; then a row_uuid per daily row.
GCP_DAILY_AGGREGATIONS = {
    "project_name": "max", "service_description": "max", "sku_description": "max", "usage_pricing_unit": "max",
    "usage_amount_in_pricing_units": "sum", "currency": "max", "cost": "sum", "daily_credits": "sum",
    "resource_global_name": "max",
}
GCP_DAILY_COLUMNS = (*GCP_DAILY_KEYS, *GCP_DAILY_AGGREGATIONS, "row_uuid")


def credit_amount(credits_json: str) -> float:
    """daily_credits of one line: the `amount` of the (first) credit Koku kept, 0.0 when none or 0."""
    return json.loads(credits_json).get("amount") or 0.0


def koku_gcp_daily(raw: pd.DataFrame, new_uuid: Callable[[], str]) -> pd.DataFrame:
    """The daily frame of one raw chunk, as GCPPostProcessor builds it: daily_credits from the credits JSON, group by
    the keys with usage_start_time floored to the day (NaN keys kept, groups sorted), max/sum per column, then a
    row_uuid per daily row. An empty chunk gives the chunk itself, as in Koku."""
    if raw.empty:
        return raw
    daily = raw.copy()
    amounts: dict[str, Any] = {}
    daily["daily_credits"] = daily["credits"].map(
        lambda text: amounts[text] if text in amounts else amounts.setdefault(text, credit_amount(text)))
    if "resource_name" not in daily.columns:  # an export without resource columns
        daily["resource_name"] = ""
        daily["resource_global_name"] = ""
    keys: list[Any] = list(GCP_DAILY_KEYS)
    keys[3] = pd.Grouper(key="usage_start_time", freq="D")
    daily = daily.groupby(keys, dropna=False).agg({col: [how] for col, how in GCP_DAILY_AGGREGATIONS.items()})
    daily.columns = daily.columns.droplevel(1)
    daily = daily.reset_index()
    daily["row_uuid"] = [new_uuid() for _ in range(len(daily))]
    return daily


def labels_json(labels: Mapping[str, str]) -> str:
    """labels / system_labels / project_labels text as Koku writes them: the export's [{key, value}] list made one
    object by json.dumps (defaults, list order; '{}' when empty)."""
    return json.dumps(dict(labels))


# ---------------------------------------------------------------------------------------------------------------
# The synthetic export
# ---------------------------------------------------------------------------------------------------------------
DEFAULT_GCP_SOURCE_UUID = "9a4e2c71-5d3b-4e8f-a1c6-7b2d9f0e3a85"
SOURCE_NAME = "Sample GCP billing account"
BILLING_ACCOUNT = "01A2B3-C4D5E6-F7A8B9"
PROJECT, PROJECT_NAME = "koku-sample-ocp", "Koku sample OpenShift"
OTHER_PROJECT, OTHER_PROJECT_NAME = "koku-sample-data", "Koku sample data platform"
REGION, ZONE = "us-central1", "us-central1-a"
COMPUTE = ("6F81-5844-456A", "Compute Engine")
# label keys a user switched on for GCP (Koku adds every key it sees disabled); "version" stays off
ENABLED_KEYS = ("app", "team")
CORE_HOUR, RAM_GIB_HOUR = 0.031611, 0.004237
PD_GIB_MONTH = {"SSD backed PD Capacity": 0.17, "Balanced PD Capacity": 0.10, "Storage PD Capacity": 0.04}
PD_SKU = {"SSD backed PD Capacity": "B188-61DD-52E4", "Balanced PD Capacity": "9A1F-43C1-EE1F",
          "Storage PD Capacity": "D973-5D65-BAB2"}
PD_MIN_GIB = 10
SUSTAINED_USE = 0.2  # fraction of a worker instance's cost credited back
PREVIOUS_INVOICE_HOURS = 3  # hours 0..2 of the month's first day are invoiced in the previous month
LATE_HOURS = 2  # hours 22..23 of a day land in the next day's partition
RELEASED_PV_GIB = 20


@dataclass(frozen=True)
class GcpSampleSpec:
    """The static part of the export: one row per billed line (per hour amounts), and what was planted."""

    lines: pd.DataFrame
    released_pv: dict[str, Any]  # the claimless PV added to the OCP storage report
    features: dict[str, Any]


class _Lines:
    def __init__(self, rng: np.random.Generator, hours_in_month: int) -> None:
        self.rng = rng
        self.hours_in_month = hours_in_month
        self.rows: list[dict[str, Any]] = []

    def digits(self, n: int) -> str:
        return "".join(np.array(list(string.digits))[self.rng.integers(0, 10, n)])

    def add(self, *, service: tuple[str, str], sku: tuple[str, str], usage_unit: str, pricing_unit: str,
            usage: float, pricing: float, price: float, resource: str = "", global_name: str = "",
            labels: Mapping[str, str] | None = None, system_labels: Mapping[str, str] | None = None,
            credits: Sequence[tuple[str, str, float]] = (), project: str = PROJECT, noisy: bool = False,
            cost: float | None = None) -> None:
        """One line; `credits` are (name, type, fraction of the cost credited), in the export's order."""
        self.rows.append({
            "service_id": service[0], "service_description": service[1], "sku_id": sku[0],
            "sku_description": sku[1], "usage_unit": usage_unit, "usage_pricing_unit": pricing_unit,
            "usage": usage, "pricing": pricing, "cost": pricing * price if cost is None else cost,
            "resource_name": resource, "resource_global_name": global_name,
            "labels": labels_json(labels or {}), "system_labels": labels_json(system_labels or {}),
            "credits": list(credits), "project": project, "noisy": noisy,
        })


def _machine(cores: float, mem_bytes: float) -> dict[str, str]:
    return {"compute.googleapis.com/cores": str(int(cores)),
            "compute.googleapis.com/machine_spec": f"n2-standard-{int(cores)}",
            "compute.googleapis.com/memory": str(int(mem_bytes // MIB))}


def _matched_app(c: Cluster) -> str:
    values = sorted(json.loads(t).get("app", "") for i, t in enumerate(c.pod_labels)
                    if not c.ns_name[c.pod_ns[i]].startswith(("openshift-", "kube-")))
    values = [v for v in values if v]
    return max(set(values), key=lambda v: (values.count(v), v)) if values else "web"


def _disk(add: _Lines, sku: str, size_gib: float, **line: Any) -> None:
    """A persistent disk: usage in byte-seconds per hour (Koku's capacity = max usage / 2^30 / 3600), priced
    per GiB-month."""
    add.add(service=COMPUTE, sku=(PD_SKU[sku], sku), usage_unit="byte-seconds", pricing_unit="gibibyte month",
            usage=size_gib * GIB * 3600, pricing=size_gib / add.hours_in_month, price=PD_GIB_MONTH[sku], **line)


def build_gcp_spec(c: Cluster, config: Any) -> GcpSampleSpec:  # noqa: C901, PLR0915 - one flat list of lines
    """The export's lines for `config`'s cluster (a SampleConfig); deterministic for the config's seed."""
    rng = np.random.default_rng([config.seed, 0x6C9])
    hours_in_month = calendar.monthrange(config.year, config.month)[1] * 24
    add = _Lines(rng, hours_in_month)
    infra_id = f"{config.cluster_id}-{''.join(rng.choice(list('bcdfghjklmnpqrstvwxz'), 5))}"
    cluster_label = {f"kubernetes-io-cluster-{infra_id}": "owned"}
    features: dict[str, Any] = {"infra_id": infra_id, "project": PROJECT}

    def global_name(kind: str, name: str) -> str:
        return f"//compute.googleapis.com/projects/{PROJECT}/zones/{ZONE}/{kind}/{name}"

    # ---- a vCPU and a RAM line for every node's instance
    workers = [n for n in range(len(c.node_name)) if c.node_role[n] == WORKER]
    instances: dict[str, str] = {}
    for n, node in enumerate(map(str, c.node_name)):
        cores, mem = float(c.node_cpu_cores[n]), float(c.node_mem_bytes[n])
        gname = global_name("instances", add.digits(19))
        worker = c.node_role[n] == WORKER
        for sku, unit, pricing_unit, usage, pricing, price in (
                (("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"), "seconds", "hour", cores * 3600,
                 cores, CORE_HOUR),
                (("F449-33EC-A5EF", "N2 Instance Ram running in Americas"), "byte-seconds", "gibibyte hour",
                 mem * 3600, mem / GIB, RAM_GIB_HOUR)):
            credits: list[tuple[str, str, float]] = []
            if worker:
                credits.append(("Sustained Usage Discount", "SUSTAINED_USAGE_DISCOUNT", SUSTAINED_USE))
                if n == workers[0]:  # a second credit: Koku keeps only the first element of the list
                    credits.append(("Free Trial", "FREE_TRIAL", 0.5))
            add.add(service=COMPUTE, sku=sku, usage_unit=unit, pricing_unit=pricing_unit, usage=usage,
                    pricing=pricing, price=price, resource=node, global_name=gname, labels=cluster_label,
                    system_labels=_machine(cores, mem), credits=credits)
        instances[node] = gname
    nodes = [str(n) for n in c.node_name]
    collisions = {a: [b for b in nodes if b != a and a in b] for a in nodes}
    features.update(instances=instances, two_credits=str(c.node_name[workers[0]]),
                    credited_instances=[str(c.node_name[n]) for n in workers],
                    node_name_substrings={a: b for a, b in collisions.items() if b})

    # ---- persistent disks of the cloud PVs
    csi = [v for v in range(len(c.pv_name)) if str(c.pvc_csi_driver[v]) == "ebs.csi.aws.com"]
    in_tree = [v for v in range(len(c.pv_name)) if str(c.pvc_storageclass[v]) == "gp2" and not c.pvc_csi_handle[v]]
    monitoring = [v for v in csi if str(c.ns_name[c.pvc_ns[v]]).startswith("openshift-")]
    user = [v for v in csi if v not in monitoring]
    sized = set(monitoring) | set(user[1::2])
    twice = user[0] if user else -1
    smaller = monitoring[-1] if monitoring else -1
    disks: dict[str, dict[str, Any]] = {}
    for v in [*csi, *in_tree]:
        pv, handle, claim_gib = str(c.pv_name[v]), str(c.pvc_csi_handle[v]), float(c.pvc_capacity[v]) / GIB
        size = max(claim_gib, PD_MIN_GIB) if v != smaller else claim_gib / 2
        sku = {"gp3-csi": "SSD backed PD Capacity", "gp2-csi": "Balanced PD Capacity"}.get(
            str(c.pvc_storageclass[v]), "Storage PD Capacity")
        if v in sized or v == twice:  # nise's shape: ".../disk/<handle>", the handle as the disk's name
            shape = "disk_by_csi_handle"
            resource, gname = (pv if v == twice else handle), global_name("disk", handle)
            if v == twice:
                shape = "both"
        elif v in in_tree:  # the in-tree provisioner names disks <infra id>-dynamic-<pv>
            shape, resource = "disks_by_pv_name", f"{infra_id}-dynamic-{pv}"
            gname = global_name("disks", resource)
        else:  # the CSI driver's real shape: the disk is named after the PV
            shape, resource, gname = "disks_by_pv_name", pv, global_name("disks", pv)
        _disk(add, sku, size, resource=resource, global_name=gname, labels=cluster_label)
        disks[pv] = {"shape": shape, "resource_name": resource, "global_name": gname, "size_gib": size,
                     "claim_gib": claim_gib}
    # the released PV: a GCE PD CSI volume (handle projects/<p>/zones/<z>/disk/<pv>), found through its handle in the
    # disk's global name only (its resource name holds neither the PV name nor the handle)
    pv_name = "pvc-" + "-".join(("".join(f"{x:x}" for x in rng.integers(0, 16, k))) for k in (8, 4, 4, 4, 12))
    handle = f"projects/{PROJECT}/zones/{ZONE}/disk/{pv_name}"
    released = {"persistentvolume": pv_name, "csi_volume_handle": handle, "storageclass": "standard-csi",
                "csi_driver": "pd.csi.storage.gke.io", "capacity_gib": RELEASED_PV_GIB}
    _disk(add, "Balanced PD Capacity", RELEASED_PV_GIB, resource=f"{infra_id}-released-{add.digits(6)}",
          global_name=f"//compute.googleapis.com/{handle}", labels=cluster_label)
    # a disk matched by its PV name whose claim's pod has no usage row: the OCP storage row has no node resource id,
    # which Koku's direct match requires, so no project gets its cost
    orphans = {o["persistentvolumeclaim"] for o in c.features.get("pvcs_without_pod_usage", [])}
    features["direct_disk_without_node"] = sorted(
        pv for pv, d in disks.items() if d["shape"] == "disks_by_pv_name"
        and str(c.pvc_name[list(map(str, c.pv_name)).index(pv)]) in orphans)
    features.update(disks=disks, disk_smaller_than_claim=str(c.pv_name[smaller]) if smaller >= 0 else None,
                    disk_attributed_twice=str(c.pv_name[twice]) if twice >= 0 else None, released_pv=released)

    # ---- data transfer of the first workers
    transfer: dict[str, list[str]] = {}
    for n in workers[:2]:
        node = str(c.node_name[n])
        for sku, price in ((("9DE9-A1B2-C3D4", "Network Inter Region Data Transfer In from Americas to EMEA"), 0.0),
                           (("DE9E-AFBC-A15A", "Network Inter Zone Data Transfer Out"), 0.01)):
            gib = float(rng.uniform(0.5, 5))
            add.add(service=COMPUTE, sku=sku, usage_unit="bytes", pricing_unit="gibibyte", usage=gib * GIB,
                    pricing=gib, price=price, resource=node, global_name=instances[node], labels=cluster_label,
                    noisy=True, cost=gib * 0.002 if price == 0.0 else None)
        transfer[node] = ["IN", "OUT"]
    egress_node = str(c.node_name[workers[0]])
    gib = float(rng.uniform(1, 8))
    add.add(service=COMPUTE, sku=("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
            usage_unit="bytes", pricing_unit="gibibyte", usage=gib * GIB, pricing=gib, price=0.12,
            resource=egress_node, global_name=instances[egress_node], labels=cluster_label, noisy=True)
    features.update(data_transfer=transfer, egress_not_network=egress_node)

    # ---- lines matched only by labels
    user_ns = [str(n) for n in c.ns_name if not str(n).startswith(("openshift-", "kube-"))]
    app = _matched_app(c)
    worker0 = str(c.node_name[workers[0]])
    tagged = {
        "cloud_sql_openshift_project": dict(
            service=("9662-B51E-5089", "Cloud SQL"), sku=("D0C2-8E36-3C69", "Cloud SQL for PostgreSQL: Zonal - vCPU"),
            usage_unit="seconds", pricing_unit="hour", usage=2 * 3600, pricing=2.0, price=0.0413,
            resource=f"{user_ns[0]}-db", labels={"openshift_project": user_ns[0]},
            credits=[("Committed use discount", "COMMITTED_USAGE_DISCOUNT", 0.25)]),
        "storage_free_tier_openshift_project": dict(
            service=("95FF-2EF5-5EA1", "Cloud Storage"), sku=("A1E8-BE35-7EBC", "Standard Storage US Regional"),
            usage_unit="byte-seconds", pricing_unit="gibibyte month", usage=4 * GIB * 3600, pricing=4 / hours_in_month,
            price=0.02, cost=0.0, resource=f"{PROJECT}-{user_ns[1 % len(user_ns)]}-cache",
            labels={"openshift_project": user_ns[1 % len(user_ns)]}),
        "bucket_openshift_cluster": dict(
            service=("95FF-2EF5-5EA1", "Cloud Storage"), sku=("A1E8-BE35-7EBC", "Standard Storage US Regional"),
            usage_unit="byte-seconds", pricing_unit="gibibyte month", usage=300 * GIB * 3600,
            pricing=300 / hours_in_month, price=0.02, resource=f"{infra_id}-image-registry",
            labels={"openshift_cluster": config.cluster_id}, noisy=True),
        "nat_openshift_cluster": dict(
            service=("E505-1604-58F8", "Networking"), sku=("2E26-64F1-2F5F", "Cloud NAT Gateway uptime charge"),
            usage_unit="seconds", pricing_unit="hour", usage=3600.0, pricing=1.0, price=0.0014,
            resource=f"{infra_id}-nat", labels={"openshift_cluster": config.cluster_id}),
        "forwarding_rule_openshift_node": dict(
            service=COMPUTE, sku=("C7B9-4B9B-9A3B", "Network Load Balancing: Forwarding Rule Minimum Service Charge"),
            usage_unit="seconds", pricing_unit="hour", usage=3600.0, pricing=1.0, price=0.025,
            resource=f"{infra_id}-ingress", labels={"openshift_node": worker0}),
        "memorystore_enabled_key": dict(
            service=("5AF5-2C11-D467", "Cloud Memorystore for Redis"), sku=("0D5D-6E23-4250", "Redis Standard M1"),
            usage_unit="gibibyte hour", pricing_unit="gibibyte hour", usage=1.0, pricing=1.0, price=0.054,
            resource=f"{app}-cache", labels={"app": app}),
        # pods carry version=..., but the user enabled only ENABLED_KEYS for GCP: no candidate, not matched
        "filestore_key_not_enabled": dict(
            service=("D97E-AB26-5D95", "Cloud Filestore"), sku=("8A1F-3A1A-2B96", "Filestore Basic HDD"),
            usage_unit="byte-seconds", pricing_unit="gibibyte month", usage=1024 * GIB * 3600,
            pricing=1024 / hours_in_month, price=0.2, resource=f"{infra_id}-shared",
            labels={"version": "v1"}),
    }
    for line in tagged.values():
        add.add(**line)
    features["tag_matched"] = {k: {"resource_name": v["resource"], "labels": dict(v["labels"])}
                               for k, v in tagged.items()}
    features["zero_cost_tag_matched"] = "storage_free_tier_openshift_project"

    # ---- unmatched lines (another project)
    ci = "ci-runner-" + add.digits(4)
    untagged = {
        "bigquery": dict(service=("24E6-581D-38E5", "BigQuery"), sku=("3362-E469-6BEF", "Analysis"),
                         usage_unit="bytes", pricing_unit="tebibyte", usage=0.02 * 1024 * GIB, pricing=0.02,
                         price=6.25, project=OTHER_PROJECT, noisy=True),
        "logging": dict(service=("5490-F7B7-8DF6", "Cloud Logging"), sku=("143F-A1B0-E0BE", "Log Volume"),
                        usage_unit="bytes", pricing_unit="gibibyte", usage=0.3 * GIB, pricing=0.3, price=0.5,
                        project=OTHER_PROJECT, noisy=True),
        "ci_instance": dict(service=COMPUTE, sku=("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"),
                            usage_unit="seconds", pricing_unit="hour", usage=2 * 3600, pricing=2.0,
                            price=CORE_HOUR, resource=ci, global_name=global_name("instances", add.digits(19)),
                            labels={"team": "ci"}, system_labels=_machine(2, 8 * GIB), project=OTHER_PROJECT),
        "ci_disk": dict(service=COMPUTE, sku=(PD_SKU["Balanced PD Capacity"], "Balanced PD Capacity"),
                        usage_unit="byte-seconds", pricing_unit="gibibyte month", usage=100 * GIB * 3600,
                        pricing=100 / hours_in_month, price=0.10, resource=ci, global_name=global_name("disk", ci),
                        project=OTHER_PROJECT),
        "dns": dict(service=("FA26-5236-A7A4", "Cloud DNS"), sku=("A6AE-0A34-F36B", "ManagedZone"),
                    usage_unit="seconds", pricing_unit="month", usage=3600.0, pricing=1 / hours_in_month, price=0.2,
                    project=OTHER_PROJECT),
        "project_label_of_no_namespace": dict(
            service=("95FF-2EF5-5EA1", "Cloud Storage"), sku=("A1E8-BE35-7EBC", "Standard Storage US Regional"),
            usage_unit="byte-seconds", pricing_unit="gibibyte month", usage=50 * GIB * 3600,
            pricing=50 / hours_in_month, price=0.02, resource="old-uploads",
            labels={"openshift_project": "decommissioned-project"}, project=OTHER_PROJECT),
    }
    for line in untagged.values():
        add.add(**line)
    features["unmatched"] = {k: v.get("resource", "") for k, v in untagged.items()}
    lines = pd.DataFrame(add.rows)
    return GcpSampleSpec(lines=lines, released_pv=released, features=features)


def _credits_json(credits: list[tuple[str, str, float]], cost: float, credit_id: str) -> tuple[str, float]:
    """(Koku's credits text: the first credit only, its amount) for one hourly row."""
    if not credits:
        return "{}", 0.0
    name, kind, fraction = credits[0]
    amount = -round(cost * fraction, 6)
    return json.dumps({"name": name, "amount": amount, "full_name": "", "id": credit_id, "type": kind}), amount


def gcp_day_frame(spec: GcpSampleSpec, day: dt.date, day_index: int, seed: int) -> pd.DataFrame:
    """Raw (hourly) rows of one usage day as Koku's GCP post-processor leaves them (hour-major, 24 rows per line),
    with the invoice month and partition date each row is exported under."""
    lines = spec.lines
    n_lines, hours = len(lines), 24
    rng = np.random.default_rng([seed, day_index, 0x6CD])
    idx = np.tile(np.arange(n_lines), hours)
    hour = np.repeat(np.arange(hours), n_lines)
    noise = np.where(lines["noisy"].to_numpy()[idx], rng.lognormal(0.0, 0.3, len(idx)), 1.0)
    start = pd.DatetimeIndex(pd.Timestamp(day, tz="UTC") + pd.to_timedelta(hour, unit="h"))
    month = f"{day.year:04d}{day.month:02d}"
    previous = day.replace(day=1) - dt.timedelta(days=1)
    invoice = np.where((day.day == 1) & (hour < PREVIOUS_INVOICE_HOURS), f"{previous.year:04d}{previous.month:02d}",
                       month)
    partition = np.where(hour >= hours - LATE_HOURS, (day + dt.timedelta(days=1)).isoformat(), day.isoformat())
    project = lines["project"].to_numpy()[idx]
    cost = lines["cost"].to_numpy(dtype=float)[idx] * noise
    credit_cache: dict[tuple[int, float], tuple[str, float]] = {}
    credit_list = lines["credits"].to_list()
    credits = []
    for i, c in zip(idx, cost, strict=True):
        key = (int(i), float(c))
        if key not in credit_cache:
            credit_cache[key] = _credits_json(credit_list[i], float(c), f"credit-{i}")
        credits.append(credit_cache[key][0])
    out: dict[str, Any] = {
        "billing_account_id": BILLING_ACCOUNT,
        "service_id": lines["service_id"].to_numpy()[idx],
        "service_description": lines["service_description"].to_numpy()[idx],
        "sku_id": lines["sku_id"].to_numpy()[idx], "sku_description": lines["sku_description"].to_numpy()[idx],
        "usage_start_time": start, "usage_end_time": start + pd.Timedelta(hours=1),
        "project_id": project,
        "project_name": np.where(project == PROJECT, PROJECT_NAME, OTHER_PROJECT_NAME),
        "project_labels": np.where(project == PROJECT, labels_json({"cost-center": "platform"}),
                                   labels_json({"cost-center": "data"})),
        "project_ancestry_numbers": np.where(project == PROJECT, "/572849301726/", "/572849301726/904817263540/"),
        "labels": lines["labels"].to_numpy()[idx], "system_labels": lines["system_labels"].to_numpy()[idx],
        "location_location": REGION, "location_country": "US", "location_region": REGION, "location_zone": ZONE,
        "export_time": start + pd.Timedelta(hours=1) + pd.to_timedelta(rng.integers(3600, 5 * 3600, len(idx)),
                                                                         unit="s"),
        "cost": cost, "currency": "USD", "currency_conversion_rate": 1.0,
        "usage_amount": lines["usage"].to_numpy(dtype=float)[idx] * noise,
        "usage_unit": lines["usage_unit"].to_numpy()[idx],
        "usage_amount_in_pricing_units": lines["pricing"].to_numpy(dtype=float)[idx] * noise,
        "usage_pricing_unit": lines["usage_pricing_unit"].to_numpy()[idx],
        "credits": np.array(credits, dtype=object), "invoice_month": invoice, "cost_type": "regular",
        "resource_name": lines["resource_name"].to_numpy()[idx],
        "resource_global_name": lines["resource_global_name"].to_numpy()[idx],
        "partition_date": partition,
    }
    frame = pd.DataFrame(out)
    for col in ("usage_start_time", "usage_end_time", "export_time"):
        frame[col] = frame[col].astype("datetime64[ns, UTC]")
    for col in GCP_RAW_COLUMNS:
        if col not in (*GCP_TIMESTAMP_COLUMNS, *GCP_FLOAT_COLUMNS):
            frame[col] = frame[col].astype(object)
    return frame[list(GCP_RAW_COLUMNS)]


def _partition_pieces(rows: pd.DataFrame, batch_size: int) -> Iterator[tuple[int, str, pd.DataFrame]]:
    """Koku's handling of one BigQuery partition date: batches of `batch_size` rows ({date}_{i}.csv), each cut by
    invoice month in order of appearance. (batch i, invoice month, rows)."""
    for i, start in enumerate(range(0, len(rows), batch_size)):
        batch = rows.iloc[start:start + batch_size]
        for invoice in pd.unique(batch["invoice_month"]):
            yield i, str(invoice), batch[batch["invoice_month"] == invoice]


def write_gcp_sample(root: str, config: Any, storage_options: dict | None = None,
                     cluster: Cluster | None = None, spec: GcpSampleSpec | None = None) -> dict[str, Any]:
    """Write the export of `config`'s cluster (a SampleConfig; usage days 1..days of its month) under `root` and
    return the scenario.json "gcp" block. The released PV its disk pays for must be in the OCP storage report:
    `write_sample` adds it when `config.with_gcp` (called alone, this writes the GCP side only)."""
    source_uuid = getattr(config, "gcp_source_uuid", DEFAULT_GCP_SOURCE_UUID)
    validate_uuid(source_uuid)
    cluster = cluster or build_cluster(config.nodes, config.pods, config.seed, config.label_changes)
    spec = spec or build_gcp_spec(cluster, config)
    fs = filesystem(root, storage_options)
    local = not root.startswith(("s3://", "s3a://"))
    account = account_of(config.schema)
    batch_size = config.rows_per_file
    files: list[dict[str, Any]] = []
    made: set[str] = set()

    def write_partition(partition_date: str, rows: pd.DataFrame, day_index: int) -> None:
        new_uuid = uuid_factory([config.seed, day_index, 0x6CB])
        for batch, invoice, piece in _partition_pieces(rows, batch_size):
            year, month = invoice[:4], invoice[4:]
            raw_dir = provider_prefix(root, account, "GCP", source_uuid, year, month, daily=False)
            daily_dir = provider_prefix(root, account, "GCP", source_uuid, year, month, daily=True)
            if local and raw_dir not in made:
                fs.makedirs(strip_scheme(raw_dir), exist_ok=True)
                fs.makedirs(strip_scheme(daily_dir), exist_ok=True)
                made.add(raw_dir)
            raw = piece.reset_index(drop=True)
            daily = koku_gcp_daily(raw, new_uuid)
            stem = f"{invoice}_{partition_date}_{partition_date}_{batch}"
            write_koku_parquet(fs, join(raw_dir, f"{stem}_0.parquet"), raw)
            write_koku_parquet(fs, join(daily_dir, f"{stem}_daily_0.parquet"), daily)
            files.append({"base": stem, "invoice_month": invoice, "partition_date": partition_date,
                          "rows": len(raw), "daily_rows": len(daily)})

    late = None  # the previous day's last hours: exported with the next partition date
    for day_index in range(config.days):
        day = config.start_date + dt.timedelta(days=day_index)
        frame = gcp_day_frame(spec, day, day_index, config.seed)
        today = frame["partition_date"] == day.isoformat()
        rows = frame[today] if late is None else pd.concat([late, frame[today]], ignore_index=True)
        write_partition(day.isoformat(), rows, day_index)
        late = frame[~today].reset_index(drop=True)
    if late is not None and len(late):
        write_partition(str(late["partition_date"].iloc[0]), late, config.days)
    label_keys = sorted({k for t in spec.lines["labels"].unique() for k in json.loads(t)})
    return {
        "source_uuid": source_uuid,
        "source_name": SOURCE_NAME,
        "enabled_tag_keys": sorted(k for k in ENABLED_KEYS if k in label_keys),  # switched on by a user
        "tag_keys_seen": label_keys,  # Koku adds every label key it sees, disabled
        "billing_account_ids": [BILLING_ACCOUNT],
        "project_ids": sorted({PROJECT, *spec.lines["project"]}),
        "invoice_months": sorted({f["invoice_month"] for f in files}),
        "year": f"{config.year:04d}",
        "month": f"{config.month:02d}",
        "start_date": config.start_date.isoformat(),
        "end_date": config.end_date.isoformat(),
        "batch_size": batch_size,
        "lines_per_hour": len(spec.lines),
        "files": files,
        "features": spec.features,
    }
