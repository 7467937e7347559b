"""OCP on AWS's project daily summary rows (step 3, spec ocp-on-cloud.md §4.3) and the tag keys step 3 keeps.

Pure functions over one day's frames; numbers stay float64 (what Trino hands to PostgreSQL). The back-populated
OCP rows of every provider are cloud/outputs.py's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from poc_tasks.cloud.attribution import CloudProfile
from poc_tasks.cloud.jsontext import TagJsonError, filter_text, parse_map, trino_text
from poc_tasks.errors import InputFileError
from poc_tasks.ocp.frames import sql_group

__all__ = ["project_tag_keys", "project_rows", "PROJECT_KEYS", "json_value_text"]

VM_NAME_KEY = "vm_kubevirt_io_name"
PROJECT_KEYS = ["usage_start", "cluster_id", "data_source", "namespace", "node", "persistentvolumeclaim",
                "persistentvolume", "storageclass", "resource_id", "product_code", "product_family", "instance_type",
                "usage_account_id", "availability_zone", "region", "unit", "data_transfer_direction",
                "currency_code", "enabled_tags", "category_json", "cost_category_id"]


def project_tag_keys(enabled_keys: Iterable[str]) -> frozenset[str]:
    """Step 3's key list: ['vm_kubevirt_io_name'] || the keys enabled for the cloud or OCP. With no enabled key at
    all the aggregate is NULL, NULL || array is NULL, and no key survives (not even the VM name)."""
    keys = frozenset(enabled_keys)
    return keys | {VM_NAME_KEY} if keys else frozenset()


def json_value_text(text: str | None) -> str | None:
    """json_parse(text) as a grouping key: canonical JSON text ('' and NULL are NULL; documented deviation: Trino's
    json_parse('') fails)."""
    if text is None or text == "":
        return None
    mapping = parse_map(text)
    return None if mapping is None else _canonical(mapping)


def _canonical(mapping: dict) -> str:
    return trino_text(mapping)


def _mapped(values: pd.Series, fn) -> list:
    uniques = pd.unique(values.to_numpy(dtype=object))
    lookup = {v: fn(v) for v in uniques}
    return [lookup[v] for v in values.to_numpy(dtype=object)]


def project_rows(final: pd.DataFrame, tag_keys: frozenset[str], profile: CloudProfile) -> pd.DataFrame:
    """Step 3: the final rows grouped as Koku's INSERT into the project table groups them.

    Output columns: the PROJECT_KEYS (``enabled_tags`` becomes pod_labels and tags, ``category_json`` the
    cloud's category column), cluster_alias and account_alias_id (max), sums of usage_amount, the data in / out
    (usage of IN / OUT lines, 0 otherwise) and every cost and markup column.
    """
    sums = ["usage_amount", "infrastructure_data_in_gigabytes", "infrastructure_data_out_gigabytes",
            *profile.costs, *profile.markups.values()]
    if final.empty:
        return pd.DataFrame(columns=[*PROJECT_KEYS, "cluster_alias", "account_alias_id", *sums])
    plain = [k for k in PROJECT_KEYS if k not in ("enabled_tags", "category_json")]
    # only the columns step 3 reads: the final rows of a 50,000-pod day are ~100 k rows of ~40 columns
    f = final[[*plain, "cluster_alias", "account_alias_id", "tags", "usage_amount", *profile.costs,
               *profile.markups.values(), *([profile.category] if profile.category else [])]].copy()
    f["enabled_tags"] = _mapped(f["tags"], lambda t: filter_text(t, tag_keys))
    if profile.category:
        try:
            f["category_json"] = _mapped(f[profile.category], json_value_text)
        except TagJsonError as exc:
            raise InputFileError("aws_line_items_daily", f"unusable cost category JSON: {exc}",
                                 "costcategory") from exc
    else:
        f["category_json"] = None
    direction = f["data_transfer_direction"].astype(object).str.upper()
    usage = f["usage_amount"].to_numpy(dtype=float)
    f["infrastructure_data_in_gigabytes"] = np.where((direction == "IN").to_numpy(dtype=bool), usage, 0.0)
    f["infrastructure_data_out_gigabytes"] = np.where((direction == "OUT").to_numpy(dtype=bool), usage, 0.0)
    for c in ("cost_category_id", "account_alias_id"):
        f[c] = pd.to_numeric(f[c], errors="coerce").astype("float64")
    aggs = {"cluster_alias": "max", "account_alias_id": "max", **{c: "sum" for c in sums}}
    for c in sums:
        if f[c].dtype != np.float64:  # astype copies even a float64 column
            f[c] = f[c].astype("float64")
    f["usage_start"] = f["usage_start"].astype(str)
    # text keys as codes: the same groups, first seen in the same row, sums in row order as before; Arrow hashing
    # 19 text columns (labels ~100 bytes) and making Python strings of the groups again was most of this step
    out = sql_group(f, PROJECT_KEYS, aggs, text_codes=True)
    out["usage_start"] = pd.to_datetime(out["usage_start"]).dt.date
    return out
