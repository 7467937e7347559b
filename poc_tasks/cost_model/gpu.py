"""GPU monthly cost by tag (Koku's self_hosted_sql/openshift/cost_model/monthly_cost_gpu.sql).

Koku prices GPUs with tag rates on the metric ``gpu_cost_per_month``: the tag key is the GPU *vendor*, the tag
values are GPU *model names*, the default value prices every other model of that vendor. One parameter set (rate
type, vendor, model rates, default) gives two groups of rows, both ``data_source = 'GPU'``,
``monthly_cost_type = 'Tag'`` in the OCP daily summary:

1. one row per GPU daily row (pod x GPU x MIG instance x day) of that vendor:
   ``rate / days_in_month * gpu_pod_uptime / 86400 * (mig_slice_count / gpu_max_slices when both are set and
   max > 0, else 1)``; a model without a rate and no default costs 0.
2. "GPU unallocated" per (node, model, day, node-label variant) of nodes labelled ``nvidia_com_gpu_present=True``:
   unused slice-hours ``hours * nvidia_com_gpu_count * max_slices - used slice-hours`` (MIG strategy mixed or
   absent), or ``hours * gpu_count - used slice-hours`` (strategy single), priced at
   ``rate / (days_in_month * 24 * max_slices)``; only rows with unused hours > 0.

Koku's results kept as they are (its SQL decides them, we reproduce them):
- a GPU node with no usage of that vendor that day joins no GPU row: its max_slices is NULL, so under the
  mixed/absent strategy the unused hours are NULL and the node gets no unallocated row; under "single" it gets a
  row whose cost is NULL;
- in the unallocated rows the model is ``regexp_replace(model, '[^a-zA-Z0-9]+', ' ')`` and the model rates are
  matched against that, while the pod rows match the raw model name;
- model rates without a default leave unmatched unallocated rows with a NULL cost (the CASE has no ELSE);
- a namespace matching several cost-category patterns gives one pod row per pattern (LEFT JOIN ... LIKE).

Arithmetic follows PostgreSQL's types: ``CAST(rate AS decimal(24,9)) / CAST(days AS decimal(24,9))`` is exact
decimal division, then double precision from the first multiplication by a float column on.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd

from poc_tasks.cost_model.rates import TagRateParams
from poc_tasks.errors import InvalidArgument
from poc_tasks.ocp.cost_category import matching_categories

__all__ = ["gpu_pod_rows", "gpu_unallocated_rows", "rate_per_day", "float8_text", "GPU_OUTPUT_COLUMNS"]

GPU_OUTPUT_COLUMNS = ["cluster_id", "cluster_alias", "data_source", "usage_start", "usage_end", "namespace", "node",
                      "resource_id", "all_labels", "source_uuid", "cost_model_rate_type", "cost_model_gpu_cost",
                      "monthly_cost_type", "cost_category_id"]
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]+")


def _dec9(value: float) -> Decimal:
    """CAST(value AS decimal(24,9)): rounded half away from zero to 9 places (numeric's rounding)."""
    return Decimal(repr(float(value))).quantize(Decimal("1e-9"), rounding="ROUND_HALF_UP")


def rate_per_day(rate: float, divisor: int) -> float:
    """CAST(rate AS decimal(24,9)) / CAST(divisor AS decimal(24,9)), as the double the next product sees."""
    with localcontext() as ctx:
        ctx.prec = 40
        return float(_dec9(rate) / Decimal(divisor))


def float8_text(value: object) -> str | None:
    """PostgreSQL's float8 -> varchar (shortest round-trip text; integers without a fraction)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = repr(v)
    if "e" in text:  # Python 1e-05 / 1.5e+16 -> PostgreSQL 1e-05 / 1.5e+16: same form
        return text
    return text


def _int_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(int(value))


def _nullable(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _slice_ratio(slices: pd.Series, max_slices: pd.Series) -> np.ndarray:
    s = pd.to_numeric(slices, errors="coerce").to_numpy(dtype=float)
    m = pd.to_numeric(max_slices, errors="coerce").to_numpy(dtype=float)
    ok = ~np.isnan(s) & ~np.isnan(m) & (m > 0)
    out = np.ones(len(s))
    with localcontext() as ctx:
        ctx.prec = 40
        out[ok] = [float(Decimal(int(a)) / Decimal(int(b))) for a, b in zip(s[ok], m[ok], strict=True)]
    return out


def _labels(row: pd.Series) -> str:
    profile = _nullable(row["mig_profile"])
    return json.dumps({
        "gpu-model": _nullable(row["gpu_model_name"]),
        "gpu-vendor": _nullable(row["gpu_vendor_name"]),
        "gpu-memory-mib": float8_text(_nullable(row["gpu_memory_capacity_mib"])),
        "mig-profile": profile,
        "mig-slice-count": _int_text(row["mig_slice_count"]),
        "gpu-max-slices": _int_text(row["gpu_max_slices"]),
        "mig-strategy": _nullable(row["mig_strategy"]),
        "mig-memory-mib": float8_text(_nullable(row["mig_memory_capacity_mib"])),
        "gpu-mode": "MIG" if profile not in (None, "") else "dedicated",
        "gpu-uuid": _nullable(row["gpu_uuid"]),
        "mig-instance-id": _nullable(row["mig_instance_id"]),
    })


def _model_rates(models: pd.Series, params: TagRateParams, days: int,
                 divisor_extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the price per day (per slice-hour with `divisor_extra`) of the row's model under `params`, and
    whether a WHEN or the default priced it (NaN and False otherwise)."""
    n = len(models)
    out = np.full(n, np.nan, dtype=float)
    names = models.to_numpy(dtype=object)
    extra = divisor_extra if divisor_extra is not None else np.ones(n)

    def priced(rate: float, idx: np.ndarray) -> None:
        for i in np.flatnonzero(idx):
            if not np.isnan(extra[i]):  # CAST(days * 24 * NULL ...) is NULL
                out[i] = rate_per_day(rate, int(days * extra[i]))

    matched = np.zeros(n, dtype=bool)
    for value, rate in (params.value_rates or {}).items():
        idx = ~matched & (names == value)
        priced(rate, idx)
        matched |= idx
    if params.default_rate is not None:
        priced(params.default_rate, ~matched)
        matched[:] = True
    return out, matched


def gpu_pod_rows(gpu: pd.DataFrame, params: TagRateParams, days: int, cluster_id: str, cluster_alias: str,
                 source_uuid: str, categories: list[tuple[str, int]]) -> pd.DataFrame:
    """The first INSERT of monthly_cost_gpu.sql for one tag parameter set; `gpu`: the GPU daily rows of the range."""
    rows = gpu[gpu["gpu_vendor_name"] == params.tag_key] if len(gpu) else gpu
    if not len(rows):
        return pd.DataFrame(columns=GPU_OUTPUT_COLUMNS)
    rows = rows.reset_index(drop=True)
    per_day, matched = _model_rates(rows["gpu_model_name"], params, days)
    uptime = pd.to_numeric(rows["gpu_pod_uptime"], errors="coerce").to_numpy(dtype=float)
    cost = per_day * (uptime / 86400.0) * _slice_ratio(rows["mig_slice_count"], rows["gpu_max_slices"])
    cost = np.where(matched, cost, 0.0)  # model rates without a default: the CASE's ELSE 0
    out = pd.DataFrame({
        "cluster_id": cluster_id, "cluster_alias": cluster_alias, "data_source": "GPU",
        "usage_start": rows["usage_start"], "usage_end": rows["usage_start"], "namespace": rows["namespace"],
        "node": rows["node"], "resource_id": rows["gpu_uuid"],
        "all_labels": [_labels(r) for _i, r in rows.iterrows()],
        "source_uuid": source_uuid, "cost_model_rate_type": params.rate_type, "cost_model_gpu_cost": cost,
        "monthly_cost_type": "Tag",
    })
    # LEFT JOIN reporting_ocp_cost_category_namespace ON namespace LIKE pattern: a row per matching pattern
    cats = [matching_categories(ns, categories) or [None] for ns in rows["namespace"].tolist()]
    reps = np.array([len(c) for c in cats])
    out = out.loc[out.index.repeat(reps)].reset_index(drop=True)
    out["cost_category_id"] = pd.array([c for cs in cats for c in cs], dtype="Int64")
    return out[GPU_OUTPUT_COLUMNS]


def _node_label(labels_text: str, key: str, node: str) -> str | None:
    try:
        labels = json.loads(labels_text)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"node {node!r}: node_labels is not JSON ({exc})") from exc
    value = labels.get(key) if isinstance(labels, dict) else None
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _gpu_count(text: str | None, node: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.strip(" "))
    except ArithmeticError as exc:
        raise InvalidArgument(f"node {node!r}: label nvidia_com_gpu_count {text!r} is not a number") from exc


def gpu_unallocated_rows(gpu: pd.DataFrame, node_hours: pd.DataFrame, params: TagRateParams, days: int,
                         cluster_id: str, cluster_alias: str, source_uuid: str,
                         unmatched_zero: bool = False) -> pd.DataFrame:
    """The second INSERT of monthly_cost_gpu.sql ("GPU unallocated") for one tag parameter set.

    `node_hours`: hours per (node, usage_start, node_labels) of GPU nodes (read_gpu_node_hours).
    `unmatched_zero`: monthly_cost_gpu_rtu.sql's CASE, whose ELSE 0 prices a model neither a value nor a default
    matches at 0 (the summary variant has no ELSE: NULL).
    """
    if not len(node_hours):
        return pd.DataFrame(columns=GPU_OUTPUT_COLUMNS)
    vendor = gpu[gpu["gpu_vendor_name"] == params.tag_key] if len(gpu) else gpu
    used: dict[tuple, list[tuple]] = {}
    if len(vendor):
        v = vendor.assign(
            _slice_up=pd.to_numeric(vendor["gpu_pod_uptime"], errors="coerce").astype(float)
            * pd.to_numeric(vendor["mig_slice_count"], errors="coerce").fillna(1).astype(float),
            _max=pd.to_numeric(vendor["gpu_max_slices"], errors="coerce").fillna(1),
        )
        agg = v.groupby(["node", "gpu_model_name", "usage_start"], dropna=False, sort=False).agg(
            slice_up=("_slice_up", lambda s: s.sum(min_count=1)), max_slices=("_max", "max"))
        for (node, model, day), r in agg.iterrows():
            used.setdefault((node, day), []).append((_nullable(model), r["slice_up"] / 3600, int(r["max_slices"])))
    records = []
    for node, day, labels_text, hours in node_hours.itertuples(index=False):
        strategy = _node_label(labels_text, "nvidia_com_mig_strategy", node)
        strategy = strategy.strip(" ").lower() if strategy is not None else None
        product = _node_label(labels_text, "nvidia_com_gpu_product", node)
        for model, slice_hours, max_slices in used.get((node, day), [(None, np.nan, None)]):
            taken = 0.0 if np.isnan(slice_hours) else slice_hours
            if strategy is None or strategy == "mixed":
                count = _gpu_count(_node_label(labels_text, "nvidia_com_gpu_count", node), node)
                unused = None if count is None or max_slices is None else float(hours * count * max_slices) - taken
            elif strategy == "single":
                count = _gpu_count(_node_label(labels_text, "nvidia_com_gpu_count", node), node)
                unused = None if count is None else float(hours * count) - taken
            else:
                unused = 0.0
            if unused is None or not unused > 0:
                continue
            shown = model if model is not None else product
            shown = _NON_ALNUM.sub(" ", shown) if shown is not None else None
            records.append((node, day, shown, max_slices, unused))
    if not records:
        return pd.DataFrame(columns=GPU_OUTPUT_COLUMNS)
    hrs = pd.DataFrame(records, columns=["node", "usage_start", "model", "max_slices", "unused"], dtype=object)
    extra = np.array([24.0 * m if m is not None else np.nan for m in hrs["max_slices"]])
    price, matched = _model_rates(hrs["model"], params, days, extra)  # no ELSE here: unmatched is NULL
    if unmatched_zero:
        price = np.where(matched, price, 0.0)
    return pd.DataFrame({
        "cluster_id": cluster_id, "cluster_alias": cluster_alias, "data_source": "GPU",
        "usage_start": hrs["usage_start"], "usage_end": hrs["usage_start"], "namespace": "GPU unallocated",
        "node": hrs["node"], "resource_id": None,
        "all_labels": [json.dumps({"gpu-model": m, "max-slices-per-gpu": None if s is None else str(int(s))})
                       for m, s in zip(hrs["model"], hrs["max_slices"], strict=True)],
        "source_uuid": source_uuid, "cost_model_rate_type": params.rate_type,
        "cost_model_gpu_cost": price * hrs["unused"].to_numpy(dtype=float),  # NULL price: NULL cost
        "monthly_cost_type": "Tag", "cost_category_id": pd.array([None] * len(hrs), dtype="Int64"),
    })[GPU_OUTPUT_COLUMNS]


# --- the GPU UI table without a cost model (ui_summary/reporting_ocp_gpu_summary_p_usage_only.sql) ----------------
UI_GROUP = ["namespace", "node", "gpu_vendor_name", "gpu_model_name", "mig_profile", "usage_start", "mig_instance_id",
            "gpu_uuid"]
MIB_TO_GB = 0.001048576


def gpu_ui_usage_only_rows(gpu_raw: pd.DataFrame, cluster_id: str, cluster_alias: str, source_uuid: str,
                           categories: list[tuple[str, int]]) -> pd.DataFrame:
    """reporting_ocp_gpu_summary_p rows from the raw (hourly) GPU report: one per (namespace, node, vendor, model,
    MIG profile, day, MIG instance, GPU); memory in GB (MiB x 0.001048576), the greatest cost category the
    namespace matches; no cost columns (the statement runs only when the cost model prices no GPU)."""
    if not len(gpu_raw):
        return pd.DataFrame()
    g = gpu_raw.assign(_profile=gpu_raw["mig_profile"].replace("", None),
                       _count_key=gpu_raw["mig_instance_id"].where(gpu_raw["mig_instance_id"].notna(),
                                                                   gpu_raw["gpu_uuid"]))
    for c in ("gpu_memory_capacity_mib", "mig_memory_capacity_mib", "mig_slice_count", "gpu_max_slices"):
        g[c] = pd.to_numeric(g[c], errors="coerce")
    out = g.groupby(UI_GROUP, dropna=False, sort=False).agg(
        memory=("gpu_memory_capacity_mib", "max"), gpu_count=("_count_key", "nunique"),
        profile=("_profile", lambda s: s.dropna().max() if s.notna().any() else None),
        mig_slice_count=("mig_slice_count", "max"), gpu_max_slices=("gpu_max_slices", "max"),
        mig_strategy=("mig_strategy", lambda s: s.dropna().max() if s.notna().any() else None),
        mig_memory=("mig_memory_capacity_mib", "max")).reset_index()
    cats = [max(matching_categories(ns, categories), default=None) for ns in out["namespace"].tolist()]
    return pd.DataFrame({
        "id": [str(uuid.uuid4()) for _ in range(len(out))],
        "cluster_id": cluster_id, "cluster_alias": cluster_alias, "usage_start": out["usage_start"],
        "usage_end": out["usage_start"], "namespace": out["namespace"], "node": out["node"],
        "vendor_name": out["gpu_vendor_name"], "model_name": out["gpu_model_name"],
        "memory_capacity_gb": out["memory"] * MIB_TO_GB, "gpu_count": out["gpu_count"].astype("Int64"),
        "mig_instance_id": out["mig_instance_id"], "gpu_uuid": out["gpu_uuid"],
        "gpu_mode": ["MIG" if p is not None else "dedicated" for p in out["profile"]],
        "mig_profile": out["profile"], "mig_slice_count": out["mig_slice_count"].astype("Int64"),
        "gpu_max_slices": out["gpu_max_slices"].astype("Int64"), "mig_strategy": out["mig_strategy"],
        "mig_memory_capacity_gb": out["mig_memory"] * MIB_TO_GB, "source_uuid": source_uuid,
        "cost_category_id": pd.array(cats, dtype="Int64"),
    })


# --- distribution of unallocated GPU cost (distribute_cost/distribute_unallocated_gpu_cost.sql) ------------------
DISTRIBUTED_COLUMNS = ["report_period_id", "cluster_id", "cluster_alias", "data_source", "usage_start", "usage_end",
                       "namespace", "node", "source_uuid", "cost_model_rate_type", "distributed_cost"]


def gpu_distribution_rows(unallocated: pd.DataFrame, gpu: pd.DataFrame, source_uuid: str,
                          rate_type: str = "gpu_distributed") -> pd.DataFrame:
    """Each "GPU unallocated" summary row's cost shared among the namespaces that used that node's GPUs of its model
    that day, by slice-hours (sum of gpu_pod_uptime x mig_slice_count, 1 without MIG), one row per (day, node,
    namespace) holding the largest share (Koku's max over models and unallocated rows); and, for each unallocated
    row whose (node, model, day) has GPU usage, a row taking its cost back (0 - cost).

    `unallocated`: summary rows of namespace "GPU unallocated" (columns report_period_id, cluster_id, cluster_alias,
    usage_start, node, data_source, gpu_model = all_labels->>'gpu-model', cost = cost_model_gpu_cost as float8).
    The model is matched as written: the unallocated rows carry the cleaned name ("Tesla T4"), usage the raw one
    ("Tesla-T4"), so models with other characters than letters and digits are not distributed (Koku's result).
    """
    if not len(unallocated) or not len(gpu):
        return pd.DataFrame(columns=DISTRIBUTED_COLUMNS)
    g = gpu.assign(_w=pd.to_numeric(gpu["gpu_pod_uptime"], errors="coerce").astype(float)
                   * pd.to_numeric(gpu["mig_slice_count"], errors="coerce").fillna(1).astype(float))
    ns = g.groupby(["gpu_model_name", "node", "namespace", "usage_start"], dropna=False)["_w"].sum(
        min_count=1).rename("ns_hours").reset_index()
    total = ns.groupby(["node", "gpu_model_name", "usage_start"], dropna=False)["ns_hours"].sum(
        min_count=1).rename("total").reset_index()
    j = ns.merge(total, on=["node", "gpu_model_name", "usage_start"]).merge(
        unallocated.rename(columns={"gpu_model": "gpu_model_name"}), on=["node", "gpu_model_name", "usage_start"])
    j = j.dropna(subset=["node", "gpu_model_name"])  # SQL equality never matches NULL
    parts = []
    if len(j):
        share = j["ns_hours"] / j["total"].where(j["total"] != 0) * j["cost"].astype(float)
        j = j.assign(distributed_cost=share)
        out = j.groupby(["usage_start", "node", "namespace"], dropna=False, sort=False).agg(
            report_period_id=("report_period_id", "max"), cluster_id=("cluster_id", "max"),
            cluster_alias=("cluster_alias", "max"), distributed_cost=("distributed_cost", "max")).reset_index()
        parts.append(out)
    used = set(zip(g["node"], g["gpu_model_name"], g["usage_start"], strict=True))
    back = unallocated[(unallocated["data_source"] == "GPU")]
    back = back[[(n, m, d) in used for n, m, d in zip(back["node"], back["gpu_model"], back["usage_start"],
                                                        strict=True)]]
    if len(back):
        parts.append(back.assign(namespace="GPU unallocated", distributed_cost=0 - back["cost"].astype(float)))
    if not parts:
        return pd.DataFrame(columns=DISTRIBUTED_COLUMNS)
    out = pd.concat([p[["report_period_id", "cluster_id", "cluster_alias", "usage_start", "node", "namespace",
                        "distributed_cost"]] for p in parts], ignore_index=True)
    out["data_source"] = "GPU"
    out["usage_end"] = out["usage_start"]
    out["source_uuid"] = source_uuid
    out["cost_model_rate_type"] = rate_type
    return out[DISTRIBUTED_COLUMNS]
