"""What Koku puts in reporting_ocp_nodes / _pvcs / _projects before the summary (get_nodes_query_sql & co.).

Node roles decide the unallocated rows' namespace, so this runs first, over the whole summary window:
- a node's role is max(node_role) of its pod rows, else 'master' if it ran an openshift-kube-apiserver pod,
  else 'infra' if one of its node-label texts contains "node_role_kubernetes_io": "infra", else 'worker';
- only nodes that have node-label rows in the window get a row (Koku's join filters in WHERE: an inner join);
- architecture is lower(kubernetes_io_arch) of the largest node-label text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.ocp.arrow_agg import combine, combine_distinct, distinct, group
from poc_tasks.ocp.cost_category import like_regex
from poc_tasks.ocp.inputs import OcpSources
from poc_tasks.ocp.labels import LabelParser

APISERVER_NAMESPACE = "openshift-kube-apiserver"
INFRA_LABEL_LIKE = '%"node_role_kubernetes_io": "infra"%'


@dataclass
class ClusterInfo:
    nodes: pd.DataFrame  # node, resource_id, node_capacity_cpu_cores, node_role, architecture
    pvcs: pd.DataFrame  # persistentvolume, persistentvolumeclaim, csi_volume_handle
    projects: list[str]


def first_usage_day(sources: OcpSources, start: dt.date, end: dt.date) -> dt.date | None:
    """Koku's _check_parquet_date_range: the first day with pod usage in the window (None when there is none)."""
    lo = dt.datetime(start.year, start.month, start.day)
    first = sources.pod_daily.min_time(lo, lo + dt.timedelta(days=(end - start).days + 1))
    return None if first is None else first.date()


def scan(sources: OcpSources, start: dt.date, end: dt.date) -> ClusterInfo:
    """Read the window [start, end] once with narrow projections and reduce it to the cluster info."""
    lo = dt.datetime(start.year, start.month, start.day)
    hi = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)

    node_keys = ["node", "resource_id"]
    node_aggs = {"node_capacity_cpu_cores": "max", "node_role": "max", "has_apiserver": "max"}
    node_parts, project_parts = [], []
    for _path, tbl in sources.pod_daily.read_range(lo, hi, ["node", "resource_id", "namespace",
                                                           "node_capacity_cpu_cores", "node_role"]):
        flag = pc.fill_null(pc.equal(tbl.column("namespace"), APISERVER_NAMESPACE), False).cast(pa.int8())
        tbl = tbl.append_column("has_apiserver", flag)
        node_parts.append(group(tbl, node_keys, node_aggs))
        project_parts.append(distinct(tbl, ["namespace"]))
    node_schema = pa.schema([("node", pa.string()), ("resource_id", pa.string()),
                             ("node_capacity_cpu_cores", pa.float64()), ("node_role", pa.string()),
                             ("has_apiserver", pa.int8())])
    pod_nodes = combine(node_parts, node_keys, node_aggs, node_schema).to_pandas()
    projects = combine_distinct(project_parts, ["namespace"], pa.schema([("namespace", pa.string())]))

    # _arch parses the label texts below: a bad one must be reported with its file and column here
    checker = LabelParser(())
    label_parts = []
    for path, tbl in sources.node_labels_daily.read_range(lo, hi, ["node", "node_labels"]):
        checker.validate(pc.unique(tbl.column("node_labels")).to_pylist(), path, "node_labels")
        label_parts.append(distinct(tbl, ["node", "node_labels"]))
    labels = combine_distinct(label_parts, ["node", "node_labels"],
                              pa.schema([("node", pa.string()), ("node_labels", pa.string())])).to_pandas()

    pvc_cols = ["persistentvolume", "persistentvolumeclaim", "csi_volume_handle"]
    pvc_parts = [distinct(tbl, pvc_cols) for _p, tbl in sources.storage_daily.read_range(lo, hi, pvc_cols)]
    pvcs = combine_distinct(pvc_parts, pvc_cols, pa.schema([(c, pa.string()) for c in pvc_cols])).to_pandas()

    return ClusterInfo(nodes=nodes_from(pod_nodes, labels), pvcs=pvcs,
                       projects=[p for p in projects.column("namespace").to_pylist()])


def _arch(label_text: str | None) -> str | None:
    if not label_text:
        return None
    value = json.loads(label_text).get("kubernetes_io_arch")
    if value is None:
        return None
    return (value if isinstance(value, str) else json.dumps(value)).lower()


def nodes_from(pod_nodes: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Koku's node query from the reduced pod rows (per node, resource_id) and the window's node-label texts."""
    cols = ["node", "resource_id", "node_capacity_cpu_cores", "node_role", "architecture"]
    if pod_nodes.empty or labels.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    infra = like_regex(INFRA_LABEL_LIKE)
    per_node = {}
    for node, texts in labels.dropna(subset=["node"]).groupby("node", sort=False)["node_labels"]:
        present = [t for t in texts if t is not None]
        per_node[node] = (any(infra.fullmatch(t) for t in present), max(present) if present else None)
    rows = []
    for r in pod_nodes.itertuples(index=False):
        if r.node not in per_node:
            continue  # no node-label rows in the window: Koku's WHERE-clause join drops the node
        has_infra, max_label = per_node[r.node]
        role = r.node_role if isinstance(r.node_role, str) else (
            "master" if r.has_apiserver == 1 else "infra" if has_infra else "worker")
        rows.append((r.node, r.resource_id if isinstance(r.resource_id, str) else None,
                     None if pd.isna(r.node_capacity_cpu_cores) else float(r.node_capacity_cpu_cores),
                     role, _arch(max_label)))
    return pd.DataFrame(rows, columns=cols)
