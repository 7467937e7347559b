"""The ``_rtu`` variants of the cost-model statements: the same costs, written as ``rates_to_usage`` rows.

With Koku's Unleash flag ``cost_breakdown_rates_to_usage`` on (``use_rtu=True``) the accessor picks
``<statement>_rtu.sql`` instead of ``<statement>.sql``. For every statement of this package the rtu file computes
the same rows from the same inputs and differs in what it writes (checked statement by statement against
self_hosted_sql/openshift/cost_model/, docs/cost-model.md):

- the target is ``rates_to_usage``; the cost column (``cost_model_cpu_cost`` or ``cost_model_gpu_cost``) becomes
  ``calculated_cost``; ``resource_id`` is not written;
- added: ``cost_model_id``, ``rate_id`` (the rate's uuid), ``custom_name`` (the rate's name; Koku's fallbacks: the
  metric name, ``OCP_VM_CORE`` for the monthly core rate), ``metric_type`` (the routing bucket the aggregation step
  uses: ``gpu`` for GPU metrics, ``cpu`` otherwise, and for the ``OCP_VM_CORE`` monthly cost ``cpu`` or ``memory``
  after the cost model's distribution), and ``label_hash``;
- ``label_hash`` = hex SHA-256 of ``pod_labels | volume_labels | all_labels``, each as PostgreSQL prints the jsonb
  (``jsonb_text``; '' for NULL), the text passed through ``decode(..., 'escape')`` (``escape_bytes``);
- the GPU statement's unallocated rows get 0 instead of NULL for a model that neither a value nor a default prices.

The unallocated-GPU distribution has its own rtu logic (distribution_rows): it reads the unallocated rows from
rates_to_usage per (rate name, metric type, rate type), sums the shares of a namespace over GPU models instead of
taking the largest, keeps non-zero sums, and takes the distributed total back per (day, cluster, node).
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from poc_tasks.errors import InvalidArgument

__all__ = ["jsonb_text", "escape_bytes", "label_hash", "to_rtu_rows", "distribution_rows", "RTU_COLUMNS",
           "DISTRIBUTED_RTU_COLUMNS", "metric_type_for"]

RTU_COLUMNS = ["cost_model_id", "source_uuid", "usage_start", "usage_end", "node", "namespace", "cluster_id",
               "cluster_alias", "data_source", "persistentvolumeclaim", "pod_labels", "volume_labels", "all_labels",
               "label_hash", "custom_name", "metric_type", "cost_model_rate_type", "monthly_cost_type",
               "calculated_cost", "cost_category_id", "rate_id"]
DISTRIBUTED_RTU_COLUMNS = ["report_period_id", "source_uuid", "usage_start", "usage_end", "cluster_id",
                           "cluster_alias", "namespace", "node", "custom_name", "metric_type", "cost_model_rate_type",
                           "monthly_cost_type", "distributed_cost", "cost_model_id"]


def metric_type_for(metric: str, distribution: str = "cpu", monthly_cost_type: str | None = None) -> str:
    """OCPReportDBAccessor._get_routing_metric_type for the statements here."""
    if monthly_cost_type == "OCP_VM_CORE":
        return "cpu" if distribution == "cpu" else "memory"
    return "gpu" if "gpu" in metric else "cpu"


def _json_string(text: str) -> str:
    """escape_json of PostgreSQL: ", \\, \\b \\f \\n \\r \\t, other control characters as \\u00XX, the rest as is."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jsonb_key(key: str) -> tuple[int, bytes]:
    encoded = key.encode("utf-8")
    return len(encoded), encoded  # jsonb keeps object keys shorter first, then bytewise


def jsonb_text(value: Any) -> str:
    """A JSON value as PostgreSQL prints a jsonb: keys by (byte length, bytes), ``", "`` and ``": "`` separators,
    numbers as numeric text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _jsonb_key(kv[0]))
        return "{" + ", ".join(f"{_json_string(k)}: {jsonb_text(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    raise TypeError(f"not a JSON value: {value!r}")


def _jsonb_of_text(text: Any) -> str:
    """The jsonb text of a JSON document (as text); '' for NULL (COALESCE(x::text, ''))."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return jsonb_text(json.loads(text, parse_float=Decimal))


_OCTAL = re.compile(r"\\([0-7]{3})|\\\\|\\")


def escape_bytes(text: str) -> bytes:
    """decode(text, 'escape'): ``\\\\`` is one backslash, ``\\nnn`` an octal byte, other bytes as they are (UTF-8);
    a lone backslash is an error there (PostgreSQL: invalid input syntax for type bytea), and here."""
    out = bytearray()
    pos = 0
    for m in _OCTAL.finditer(text):
        out += text[pos:m.start()].encode("utf-8")
        if m.group(1):
            out.append(int(m.group(1), 8) & 0xFF)
        elif m.group(0) == "\\\\":
            out.append(0x5C)
        else:
            raise InvalidArgument(f"label text {text[:80]!r}: a backslash PostgreSQL's decode(..., 'escape') refuses "
                                  "(Koku's label_hash fails on it too)")
        pos = m.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def label_hash(pod_labels: Any, volume_labels: Any, all_labels: Any) -> str:
    """encode(sha256(decode(pod || '|' || volume || '|' || all, 'escape')), 'hex') over the jsonb texts."""
    text = f"{_jsonb_of_text(pod_labels)}|{_jsonb_of_text(volume_labels)}|{_jsonb_of_text(all_labels)}"
    return hashlib.sha256(escape_bytes(text)).hexdigest()


def to_rtu_rows(rows: pd.DataFrame, cost_column: str, *, cost_model_id: str | None, rate_id: str | None,
                custom_name: str, metric_type: str, with_volume_columns: bool = False) -> pd.DataFrame:
    """The rates_to_usage rows of one rate's statement from the rows its summary variant writes (`rows`, as the
    statement functions of gpu.py / vm.py / project.py return them).

    `with_volume_columns`: the statement writes persistentvolumeclaim and volume_labels (NULL; GPU and project);
    the label hash is the same either way (NULL and absent both hash as '').
    """
    if not len(rows):
        return pd.DataFrame(columns=RTU_COLUMNS)
    pod = rows["pod_labels"] if "pod_labels" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    all_ = rows["all_labels"] if "all_labels" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    seen: dict[tuple, str] = {}  # label sets repeat over days and nodes: hash each once
    hashes = []
    for p, a in zip(pod, all_, strict=True):
        key = (p if isinstance(p, str) else None, a if isinstance(a, str) else None)
        if key not in seen:
            seen[key] = label_hash(*key[:1], None, key[1])
        hashes.append(seen[key])
    out = pd.DataFrame({
        "cost_model_id": cost_model_id, "source_uuid": rows["source_uuid"], "usage_start": rows["usage_start"],
        "usage_end": rows["usage_end"], "node": rows["node"], "namespace": rows["namespace"],
        "cluster_id": rows["cluster_id"], "cluster_alias": rows["cluster_alias"], "data_source": rows["data_source"],
        "persistentvolumeclaim": None, "pod_labels": pod, "volume_labels": None, "all_labels": all_,
        "label_hash": hashes, "custom_name": custom_name, "metric_type": metric_type,
        "cost_model_rate_type": rows["cost_model_rate_type"], "monthly_cost_type": rows["monthly_cost_type"],
        "calculated_cost": rows[cost_column], "rate_id": rate_id,
        "cost_category_id": pd.array(rows["cost_category_id"], dtype="Int64")
        if "cost_category_id" in rows.columns else pd.array([None] * len(rows), dtype="Int64"),
    }, index=rows.index).reset_index(drop=True)
    cols = RTU_COLUMNS if with_volume_columns else [c for c in RTU_COLUMNS
                                                     if c not in ("persistentvolumeclaim", "volume_labels")]
    return out[cols]


def _float8_numeric(x: float) -> Decimal:
    """float8 -> numeric(33,15) as PostgreSQL stores it (15 significant digits, then the column's scale)."""
    if x == 0:
        return Decimal(0)
    return Decimal(f"{x:.15g}").quantize(Decimal("1e-15"))


def distribution_rows(unallocated: pd.DataFrame, gpu: pd.DataFrame, source_uuid: str, cost_model_id: str | None,
                      rate_type: str = "gpu_distributed") -> pd.DataFrame:
    """distribute_unallocated_gpu_cost_rtu.sql: the distributed rows and the per-(day, cluster, node) take-back.

    `unallocated`: rates_to_usage rows of namespace "GPU unallocated" of the source and range that are not
    distribution rows (columns usage_start, cluster_id, cluster_alias, report_period_id, node, gpu_model =
    all_labels->>'gpu-model', custom_name, metric_type, cost_model_rate_type, calculated_cost as Decimal);
    `gpu`: the GPU daily rows of the range.
    """
    if not len(unallocated) or not len(gpu):
        return pd.DataFrame(columns=DISTRIBUTED_RTU_COLUMNS)
    keys = ["usage_start", "cluster_id", "cluster_alias", "report_period_id", "node", "gpu_model", "custom_name",
            "metric_type", "cost_model_rate_type"]
    u = unallocated.assign(calculated_cost=[Decimal(0) if c is None or (isinstance(c, float) and np.isnan(c))
                                            else Decimal(c) for c in unallocated["calculated_cost"]])
    gc = u.groupby(keys, dropna=False, sort=False)["calculated_cost"].agg(lambda s: sum(s, Decimal(0))).rename(
        "rate_cost").reset_index()
    g = gpu.assign(_w=pd.to_numeric(gpu["gpu_pod_uptime"], errors="coerce").astype(float)
                   * pd.to_numeric(gpu["mig_slice_count"], errors="coerce").fillna(1).astype(float))
    ns = g.groupby(["gpu_model_name", "node", "namespace", "usage_start"], dropna=False)["_w"].sum(
        min_count=1).rename("ns_hours").reset_index()
    total = ns.groupby(["node", "gpu_model_name", "usage_start"], dropna=False)["ns_hours"].sum(
        min_count=1).rename("total").reset_index()
    j = gc.rename(columns={"gpu_model": "gpu_model_name"}).merge(ns, on=["node", "gpu_model_name", "usage_start"])
    j = j.merge(total, on=["node", "gpu_model_name", "usage_start"])
    j = j.dropna(subset=["node", "gpu_model_name", "usage_start"])  # SQL equality never matches NULL
    if not len(j):
        return pd.DataFrame(columns=DISTRIBUTED_RTU_COLUMNS)
    # double / double * numeric: PostgreSQL computes it in double precision
    j = j.assign(share=j["ns_hours"] / j["total"].where(j["total"] != 0) * j["rate_cost"].astype(float),
                 custom_name=j["custom_name"].where(j["custom_name"].notna(), None))
    group = ["usage_start", "node", "namespace", "custom_name", "metric_type", "cost_model_rate_type"]
    out = j.groupby(group, dropna=False, sort=False).agg(
        report_period_id=("report_period_id", "max"), cluster_id=("cluster_id", "max"),
        cluster_alias=("cluster_alias", "max"),
        distributed_cost=("share", lambda s: s.sum(min_count=1))).reset_index()  # SUM skips NULL shares
    out = out[out["distributed_cost"].notna() & (out["distributed_cost"] != 0)].reset_index(drop=True)
    if not len(out):
        return pd.DataFrame(columns=DISTRIBUTED_RTU_COLUMNS)
    out["custom_name"] = [c if isinstance(c, str) else "" for c in out["custom_name"]]
    out["stored"] = [_float8_numeric(v) for v in out["distributed_cost"]]
    back = out.groupby(["usage_start", "cluster_id", "node"], dropna=False, sort=False).agg(
        report_period_id=("report_period_id", "max"), cluster_alias=("cluster_alias", "max"),
        stored=("stored", lambda s: sum(s, Decimal(0)))).reset_index()
    back = back[back["stored"] != 0]
    dist = out.assign(distributed_cost=[str(v) for v in out["stored"]])
    back = back.assign(namespace="GPU unallocated", custom_name="", metric_type="",
                       distributed_cost=[str(-v) for v in back["stored"]])
    rows = pd.concat([dist, back], ignore_index=True)
    rows["source_uuid"] = source_uuid
    rows["usage_end"] = rows["usage_start"]
    rows["cost_model_rate_type"] = rate_type
    rows["monthly_cost_type"] = rate_type
    rows["cost_model_id"] = cost_model_id
    rows["report_period_id"] = pd.array(rows["report_period_id"], dtype="Int64")
    return rows[DISTRIBUTED_RTU_COLUMNS]
