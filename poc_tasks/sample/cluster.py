"""The synthetic OpenShift cluster behind `poc-tasks sample`, built once from a seed.

Only the static picture lives here (nodes, namespaces, pods, volumes, label variants and which entity carries which
edge case); the hourly rows of each day are drawn from it in `poc_tasks.sample.ocp_frames`. Everything is drawn from
one numpy Generator in a fixed order, so a (nodes, pods, seed) triple always gives the same cluster.

Edge cases it plants (their names end up in scenario.json "features"):
- masters run `openshift-kube-apiserver` pods (Koku's fallback role when node_role is absent), the infra node
  carries the label "node_role_kubernetes_io": "infra";
- pending pods (node '' and resource_id ''), one of them with a PVC;
- one ReadWriteMany PVC mounted by two pods on two different workers;
- PVCs whose pod never has a pod-usage row (a finished backup job);
- a node, a namespace and a pod whose labels change at noon of the "label change day" (unless disabled);
- a worker absent for the first hours of the first day.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from poc_tasks.errors import InvalidArgument

GIB = 1024**3
MIB = 1024**2

MASTER, INFRA, WORKER = "master", "infra", "worker"

# (size suffix, cores, memory GiB): the smallest size whose capacity covers 1.25 x the pods' requests wins.
_SIZES = (("2xlarge", 8, 32), ("4xlarge", 16, 64), ("8xlarge", 32, 128), ("12xlarge", 48, 192),
          ("16xlarge", 64, 256), ("24xlarge", 96, 384), ("32xlarge", 128, 512))
_CPU_REQUESTS = np.array([0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0])
_CPU_P = np.array([0.15, 0.2, 0.15, 0.15, 0.15, 0.15, 0.05])
_MEM_REQUESTS_MIB = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=float)
_MEM_P = np.array([0.1, 0.2, 0.2, 0.2, 0.15, 0.1, 0.05])
_PVC_GIB = np.array([1, 5, 10, 20, 50, 100], dtype=float)

_NS_BASE = ("analytics", "payments", "web-shop", "mobile-api", "data-science", "ci-runners", "search", "billing",
            "identity", "media", "reporting", "inventory")
_APP_BASE = ("web", "api", "worker", "cache", "db", "auth", "search", "gateway", "scheduler", "ingest")
_ENVS = ("production", "staging", "development")
_TIERS = {"web": "frontend", "api": "backend", "worker": "backend", "cache": "data", "db": "data"}
# name-safe characters Kubernetes uses for generated suffixes
_ALPHABET = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
# (storageclass, csi_driver) of ordinary volumes; the in-tree class has no CSI driver, so '' in both CSI columns
_STORAGE_CLASSES = (("gp3-csi", "ebs.csi.aws.com"), ("gp2-csi", "ebs.csi.aws.com"), ("gp2", ""))
_CEPHFS = ("ocs-storagecluster-cephfs", "openshift-storage.cephfs.csi.ceph.com")

PLATFORM_ROUTERS = 2
PLATFORM_MONITORING = ("prometheus-k8s-0", "prometheus-k8s-1", "alertmanager-main-0")
MIN_USER_PODS = 10
MISSING_HOURS = 6  # the first hours of the first day in which one worker reports nothing
ORPHAN_PVCS = 2


def labels_json(labels: dict[str, str]) -> str:
    """Label JSON exactly as Koku's CSV converter writes it: json.dumps defaults ('{"a": "b"}', '{}' if empty).
    Keys are sorted because the operator emits Prometheus labels in sorted order."""
    return json.dumps(dict(sorted(labels.items())))


def node_counts(nodes: int) -> tuple[int, int, int]:
    """(masters, infra, workers): a small cluster has one of each control-plane kind, a large one three masters."""
    if nodes < 4:
        raise InvalidArgument(f"nodes={nodes}: the sample cluster needs at least 4 nodes (master, infra, 2 workers)")
    masters = 3 if nodes >= 10 else 1
    infra = max(1, nodes // 20)
    return masters, infra, nodes - masters - infra


def platform_pod_count(nodes: int) -> int:
    masters, _, _ = node_counts(nodes)
    # per master: apiserver, etcd, konnectivity agent; per node: dns; plus routers and monitoring
    return 3 * masters + nodes + PLATFORM_ROUTERS + len(PLATFORM_MONITORING)


def min_pods(nodes: int) -> int:
    return platform_pod_count(nodes) + MIN_USER_PODS


@dataclass
class Cluster:
    """Column-oriented cluster state; pods, nodes, namespaces and PVCs are addressed by array index."""

    node_name: np.ndarray
    node_role: np.ndarray
    node_resource_id: np.ndarray
    node_cpu_cores: np.ndarray
    node_mem_bytes: np.ndarray
    node_labels: np.ndarray  # JSON text, the variant in force after the label change
    ns_name: np.ndarray
    ns_labels: np.ndarray
    pod_name: np.ndarray
    pod_ns: np.ndarray  # int index into ns_name
    pod_node: np.ndarray  # int index into node_name, -1 = pending
    pod_cpu_request: np.ndarray  # cores (0 for BestEffort pods)
    pod_cpu_limit: np.ndarray
    pod_mem_request: np.ndarray  # bytes
    pod_mem_limit: np.ndarray
    pod_cpu_level: np.ndarray  # typical usage, cores
    pod_mem_level: np.ndarray  # typical usage, bytes
    pod_labels: np.ndarray
    pod_stable: np.ndarray  # bool: never drawn as a short-lived pod (features and the platform)
    pvc_name: np.ndarray
    pvc_ns: np.ndarray
    pv_name: np.ndarray
    pvc_storageclass: np.ndarray
    pvc_csi_driver: np.ndarray
    pvc_csi_handle: np.ndarray
    pvc_capacity: np.ndarray  # bytes
    pvc_request: np.ndarray  # bytes
    pvc_used_fraction: np.ndarray
    pv_labels: np.ndarray
    pvc_labels: np.ndarray
    mount_pvc: np.ndarray  # int index into pvc_*
    mount_pod: np.ndarray  # int index into pod_*, -1 = a pod that never has usage rows
    mount_pod_name: np.ndarray
    # label variants in force before noon of the change day: index -> JSON text
    node_labels_before: dict[int, str] = field(default_factory=dict)
    ns_labels_before: dict[int, str] = field(default_factory=dict)
    pod_labels_before: dict[int, str] = field(default_factory=dict)
    missing_node: int = -1  # the worker absent during the first MISSING_HOURS hours of day 0
    features: dict[str, Any] = field(default_factory=dict)


class _Draw:
    """Seeded helpers for names and ids (all randomness goes through one Generator)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def token(self, n: int) -> str:
        return "".join(_ALPHABET[self.rng.integers(0, len(_ALPHABET), n)])

    def hex(self, n: int) -> str:
        return "".join(f"{x:x}" for x in self.rng.integers(0, 16, n))

    def uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def unique(self, make) -> str:
        """A name from make() not given before (draws again on the rare collision, still deterministic)."""
        while True:
            name = make()
            if name not in self.seen:
                self.seen.add(name)
                return name


def _pick_size(cores_needed: float, mem_needed: float) -> tuple[str, int, int]:
    for size in _SIZES:
        if size[1] >= cores_needed and size[2] * GIB >= mem_needed:
            return size
    return _SIZES[-1]


def build_cluster(nodes: int, pods: int, seed: int, label_changes: bool = True) -> Cluster:  # noqa: C901
    masters, infras, workers = node_counts(nodes)
    n_platform = platform_pod_count(nodes)
    if pods < n_platform + MIN_USER_PODS:
        raise InvalidArgument(f"pods={pods}: {nodes} nodes need at least {n_platform + MIN_USER_PODS} pods "
                              f"({n_platform} platform pods plus {MIN_USER_PODS} user pods)")
    d = _Draw(seed)
    rng = d.rng

    # ---- nodes
    role = [MASTER] * masters + [INFRA] * infras + [WORKER] * workers
    counters = {MASTER: 0, INFRA: 0, WORKER: 0}
    node_name: list[str] = []
    for r in role:
        node_name.append(f"{r}-{counters[r]}")
        counters[r] += 1
    resource_id = [d.unique(lambda: "i-0" + d.hex(16)) for _ in role]
    worker_idx = list(range(masters + infras, nodes))
    infra_idx = list(range(masters, masters + infras))
    arm_node = worker_idx[-1] if workers >= 3 else -1

    # ---- namespaces: platform first, then user namespaces
    platform_ns = ["openshift-kube-apiserver", "openshift-etcd", "kube-system", "openshift-dns", "openshift-ingress",
                   "openshift-monitoring"]
    n_user = pods - n_platform
    n_user_ns = max(3, round(n_user / 40))
    user_ns = [_NS_BASE[i % len(_NS_BASE)] + ("" if i < len(_NS_BASE) else f"-{i // len(_NS_BASE)}")
               for i in range(n_user_ns)]
    ns_name = platform_ns + user_ns
    ns_index = {n: i for i, n in enumerate(ns_name)}
    ns_env = {n: _ENVS[i % len(_ENVS)] for i, n in enumerate(user_ns)}

    # ---- platform pods: (namespace, name, node, labels)
    pod_rows: list[tuple[str, str, int, dict[str, str]]] = []
    for m in range(masters):
        pod_rows.append(("openshift-kube-apiserver", f"kube-apiserver-{node_name[m]}", m,
                         {"apiserver": "true", "app": "openshift-kube-apiserver"}))
        pod_rows.append(("openshift-etcd", f"etcd-{node_name[m]}", m, {"app": "etcd", "etcd": "true"}))
        pod_rows.append(("kube-system", d.unique(lambda: f"konnectivity-agent-{d.token(5)}"), m,
                         {"app": "konnectivity-agent"}))
    for n in range(nodes):
        pod_rows.append(("openshift-dns", d.unique(lambda: f"dns-default-{d.token(5)}"), n,
                         {"dns_operator_openshift_io_daemonset_dns": "default"}))
    router_hash = d.token(10)
    for i in range(PLATFORM_ROUTERS):
        pod_rows.append(("openshift-ingress", d.unique(lambda: f"router-default-{router_hash}-{d.token(5)}"),
                         infra_idx[i % infras], {"app": "router", "ingresscontroller_operator_openshift_io_"
                                                 "deployment_ingresscontroller": "default"}))
    for i, name in enumerate(PLATFORM_MONITORING):
        pod_rows.append(("openshift-monitoring", name, infra_idx[i % infras],
                         {"app_kubernetes_io_name": name.rsplit("-", 1)[0].replace("-k8s", "").replace("-main", ""),
                          "app_kubernetes_io_part_of": "openshift-monitoring"}))

    # ---- user pods: namespace, deployment (app), node
    user_ns_of = rng.integers(0, n_user_ns, n_user)
    user_ns_of[:n_user_ns] = np.arange(n_user_ns)  # every namespace has a pod,
    user_ns_of[n_user_ns] = 0  # and the first one two (they share a volume)
    user_ns_of = np.sort(user_ns_of, kind="stable")
    user_node_of = np.array(worker_idx)[rng.integers(0, workers, n_user)]
    # deployments: ~5 pods each, named web, api, ..., web-1, ...; one template hash per (namespace, deployment)
    user_app_no = np.zeros(n_user, dtype=np.int64)
    for k in range(n_user_ns):
        members = np.flatnonzero(user_ns_of == k)
        user_app_no[members] = rng.integers(0, max(1, math.ceil(len(members) / 5)), len(members))
    user_apps = [_app_name(int(a)) for a in user_app_no]
    app_hash = {key: d.token(10) for key in sorted({(int(k), int(a)) for k, a in zip(user_ns_of, user_app_no,
                                                                                       strict=True)})}
    first_user = len(pod_rows)

    # feature pods among the user pods (user pods are sorted by namespace, so index 0 and 1 are in user_ns[0])
    shared_pods = [0, 1]
    user_node_of[0] = worker_idx[0]
    user_node_of[1] = worker_idx[1]
    changer_pod = int(np.flatnonzero(user_ns_of == 1)[0])
    n_pending = max(1, n_user // 1000)
    pending = list(range(n_user - n_pending, n_user))
    for p in pending:
        user_node_of[p] = -1

    env_draw = rng.integers(0, 100, n_user)
    version_draw = rng.integers(0, 3, n_user)
    for i in range(n_user):
        ns = user_ns[user_ns_of[i]]
        app = user_apps[i]
        tmpl = app_hash[(int(user_ns_of[i]), int(user_app_no[i]))]
        name = d.unique(lambda ns=ns, app=app, tmpl=tmpl: f"{ns}/{app}-{tmpl}-{d.token(5)}").split("/", 1)[1]
        labels: dict[str, str] = {"app": app, "pod_template_hash": tmpl}
        if env_draw[i] >= 5:  # a few pods carry no environment label (the namespace's value then applies)
            labels["environment"] = ns_env[ns]
        if app.split("-")[0] in _TIERS:
            labels["tier"] = _TIERS[app.split("-")[0]]
        labels["version"] = f"v{1 + version_draw[i]}"
        if env_draw[i] >= 97 and i != changer_pod:  # and a few carry no labels at all: '{}'
            labels = {}
        pod_rows.append((ns, name, int(user_node_of[i]), labels))

    n_pods = len(pod_rows)
    pod_ns = np.array([ns_index[r[0]] for r in pod_rows], dtype=np.int32)
    pod_node = np.array([r[2] for r in pod_rows], dtype=np.int32)
    pod_name = np.array([r[1] for r in pod_rows], dtype=object)

    # ---- requests, limits and typical usage
    cpu_nominal = rng.choice(_CPU_REQUESTS, n_pods, p=_CPU_P)
    mem_nominal = rng.choice(_MEM_REQUESTS_MIB, n_pods, p=_MEM_P) * MIB
    best_effort = rng.random(n_pods) < 0.03
    best_effort[:first_user] = False
    has_limit = rng.random(n_pods) < 0.7
    cpu_request = np.where(best_effort, 0.0, cpu_nominal)
    mem_request = np.where(best_effort, 0.0, mem_nominal)
    cpu_limit = np.where(has_limit & ~best_effort, 2 * cpu_nominal, 0.0)
    mem_limit = np.where(has_limit & ~best_effort, 2 * mem_nominal, 0.0)
    cpu_level = cpu_nominal * rng.uniform(0.05, 1.4, n_pods)  # some pods use more than they request
    mem_level = mem_nominal * rng.uniform(0.3, 1.15, n_pods)

    # ---- node sizes from the load placed on them
    node_cores = np.zeros(nodes)
    node_mem = np.zeros(nodes)
    node_labels: list[str] = []
    for n in range(nodes):
        on = pod_node == n
        _, cores, mem_gib = _pick_size(1.25 * cpu_nominal[on].sum(), 1.25 * mem_nominal[on].sum())
        node_cores[n], node_mem[n] = cores, mem_gib * GIB
    for n in range(nodes):
        size = next(s for s in _SIZES if s[1] == node_cores[n])[0]
        arm = n == arm_node
        labels = {"kubernetes_io_arch": "arm64" if arm else "amd64", "kubernetes_io_hostname": node_name[n],
                  "kubernetes_io_os": "linux",
                  "node_kubernetes_io_instance_type": ("m6g." if arm else "m6i.") + size,
                  "topology_kubernetes_io_zone": "us-east-1" + "abc"[n % 3]}
        if role[n] == MASTER:
            labels["node_role_kubernetes_io_control_plane"] = ""
            labels["node_role_kubernetes_io_master"] = ""
        elif role[n] == INFRA:
            labels["node_role_kubernetes_io"] = "infra"  # what Koku's fallback role query looks for
        else:
            labels["node_role_kubernetes_io_worker"] = ""
            labels["node_pool"] = "general"
            labels["environment"] = "shared"
        node_labels.append(labels_json(labels))

    # ---- namespace labels
    ns_labels: list[str] = []
    for i, n in enumerate(ns_name):
        labels = {"kubernetes_io_metadata_name": n}
        if n.startswith("openshift-"):
            labels["openshift_io_cluster_monitoring"] = "true"
        elif n in ns_env:
            labels["cost_center"] = f"cc-{1000 + i * 10}"
            labels["environment"] = ns_env[n]
        ns_labels.append(labels_json(labels))

    # ---- volumes
    vols: list[dict[str, Any]] = []
    mounts: list[tuple[int, int, str]] = []

    def add_pvc(ns: str, claim: str, storage: tuple[str, str], cap_gib: float, request_gib: float,
                pv_labels: dict[str, str], pvc_labels: dict[str, str]) -> int:
        sc, driver = storage
        if driver == "ebs.csi.aws.com":
            handle = "vol-0" + d.hex(16)
        elif driver:
            handle = "0001-0011-openshift-storage-0000000000000001-" + d.uuid()
        else:
            handle = ""
        vols.append({"ns": ns_index[ns], "claim": claim, "pv": "pvc-" + d.uuid(), "sc": sc, "driver": driver,
                     "handle": handle, "cap": cap_gib * GIB, "req": request_gib * GIB,
                     "used": float(rng.uniform(0.05, 0.9)), "pv_labels": labels_json(pv_labels),
                     "pvc_labels": labels_json(pvc_labels)})
        return len(vols) - 1

    for i, name in enumerate(PLATFORM_MONITORING[:2]):
        v = add_pvc("openshift-monitoring", f"prometheus-k8s-db-{name}", _STORAGE_CLASSES[0], 100, 100, {},
                    {"app_kubernetes_io_name": "prometheus"})
        mounts.append((v, first_user - len(PLATFORM_MONITORING) + i, name))
    shared_ns = user_ns[0]
    v_shared = add_pvc(shared_ns, "shared-data", _CEPHFS, 200, 200, {},
                       {"app": "shared-data", "environment": ns_env[shared_ns]})
    for p in shared_pods:
        mounts.append((v_shared, first_user + p, pod_name[first_user + p]))
    claim_draw = rng.random(n_user)
    for i in range(n_user):
        if i in shared_pods or (i not in pending[:1] and (i in pending or claim_draw[i] >= 0.1)):
            continue
        ns = user_ns[user_ns_of[i]]
        sc = _STORAGE_CLASSES[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
        cap = float(rng.choice(_PVC_GIB))
        req = cap if rng.random() < 0.8 else cap / 2
        pv_l: dict[str, str] = {}
        if sc[1] == "":
            pv_l = {"failure_domain_beta_kubernetes_io_region": "us-east-1",
                    "failure_domain_beta_kubernetes_io_zone": "us-east-1a"}
        elif rng.random() < 0.1:
            pv_l = {"app": "legacy-volume", "environment": "archive"}  # PVC labels win over these
        pvc_l = {"app": user_apps[i]} if rng.random() < 0.7 else {}
        v = add_pvc(ns, d.unique(lambda ns=ns, i=i: f"{ns}/data-{user_apps[i]}-{d.token(5)}").split("/", 1)[1],
                    sc, cap, req, pv_l, pvc_l)
        mounts.append((v, first_user + i, pod_name[first_user + i]))
    orphans: list[dict[str, str]] = []
    for k in range(ORPHAN_PVCS):
        ns = user_ns[k]
        pod = d.unique(lambda ns=ns: f"{ns}/db-backup-{d.token(5)}").split("/", 1)[1]
        v = add_pvc(ns, f"backup-{k}", _STORAGE_CLASSES[0], 50, 50, {}, {"app": "db-backup"})
        mounts.append((v, -1, pod))
        orphans.append({"namespace": ns, "pod": pod, "persistentvolumeclaim": f"backup-{k}"})

    # ---- label variants before the change (noon of the change day)
    change_node = worker_idx[2 % workers]
    change_ns = ns_index[user_ns[2]]
    changer = first_user + changer_pod
    node_before = node_labels[change_node].replace('"node_pool": "general"', '"node_pool": "batch"')
    ns_before = ns_labels[change_ns].replace('"cost_center": "cc-', '"cost_center": "old-cc-')
    pod_before = pod_rows[changer][3]
    pod_after = {**pod_before, "version": "v9"}  # a rollout at noon

    pod_stable = np.zeros(n_pods, dtype=bool)
    pod_stable[:first_user] = True
    for p in [*shared_pods, changer_pod, *pending]:
        pod_stable[first_user + p] = True
    pod_labels = np.array([labels_json(r[3]) for r in pod_rows], dtype=object)
    pod_labels[changer] = labels_json(pod_after)

    shared_nodes = [node_name[pod_node[first_user + p]] for p in shared_pods]
    c = Cluster(
        node_name=np.array(node_name, dtype=object), node_role=np.array(role, dtype=object),
        node_resource_id=np.array(resource_id, dtype=object), node_cpu_cores=node_cores, node_mem_bytes=node_mem,
        node_labels=np.array(node_labels, dtype=object), ns_name=np.array(ns_name, dtype=object),
        ns_labels=np.array(ns_labels, dtype=object), pod_name=pod_name, pod_ns=pod_ns, pod_node=pod_node,
        pod_cpu_request=cpu_request, pod_cpu_limit=cpu_limit, pod_mem_request=mem_request, pod_mem_limit=mem_limit,
        pod_cpu_level=cpu_level, pod_mem_level=mem_level, pod_labels=pod_labels, pod_stable=pod_stable,
        pvc_name=np.array([v["claim"] for v in vols], dtype=object),
        pvc_ns=np.array([v["ns"] for v in vols], dtype=np.int32),
        pv_name=np.array([v["pv"] for v in vols], dtype=object),
        pvc_storageclass=np.array([v["sc"] for v in vols], dtype=object),
        pvc_csi_driver=np.array([v["driver"] for v in vols], dtype=object),
        pvc_csi_handle=np.array([v["handle"] for v in vols], dtype=object),
        pvc_capacity=np.array([v["cap"] for v in vols]), pvc_request=np.array([v["req"] for v in vols]),
        pvc_used_fraction=np.array([v["used"] for v in vols]),
        pv_labels=np.array([v["pv_labels"] for v in vols], dtype=object),
        pvc_labels=np.array([v["pvc_labels"] for v in vols], dtype=object),
        mount_pvc=np.array([m[0] for m in mounts], dtype=np.int32),
        mount_pod=np.array([m[1] for m in mounts], dtype=np.int32),
        mount_pod_name=np.array([m[2] for m in mounts], dtype=object),
        node_labels_before={change_node: node_before}, ns_labels_before={change_ns: ns_before},
        pod_labels_before={changer: labels_json(pod_before)},
        missing_node=worker_idx[-1],
    )
    if not label_changes:  # drawn all the same, so the rest of the cluster is identical either way
        c.node_labels_before, c.ns_labels_before, c.pod_labels_before = {}, {}, {}
        c.pod_labels[changer] = labels_json(pod_before)
    c.features = {
        "node_roles": dict(zip(node_name, role, strict=True)),
        "pending_pods": [{"namespace": user_ns[user_ns_of[p]], "pod": pod_name[first_user + p]} for p in pending],
        "pending_pod_pvc": vols[next(m[0] for m in mounts if m[1] == first_user + pending[0])]["claim"],
        "shared_pvc": {"namespace": shared_ns, "persistentvolumeclaim": "shared-data",
                       "persistentvolume": vols[v_shared]["pv"],
                       "pods": [pod_name[first_user + p] for p in shared_pods], "nodes": shared_nodes},
        "pvcs_without_pod_usage": orphans,
        "missing_hours": {"node": node_name[worker_idx[-1]], "hours": list(range(MISSING_HOURS))},
    }
    if label_changes:
        c.features["node_label_change"] = {"node": node_name[change_node], "before": node_before,
                                           "after": node_labels[change_node]}
        c.features["namespace_label_change"] = {"namespace": ns_name[change_ns], "before": ns_before,
                                                "after": ns_labels[change_ns]}
        c.features["pod_label_change"] = {"namespace": ns_name[pod_ns[changer]], "pod": pod_name[changer],
                                          "before": labels_json(pod_before), "after": labels_json(pod_after)}
    return c


def _app_name(number: int) -> str:
    """Deployment names: web, api, ..., ingest, web-1, api-1, ..."""
    base, round_ = number % len(_APP_BASE), number // len(_APP_BASE)
    return _APP_BASE[base] + (f"-{round_}" if round_ else "")
