"""Koku's S3 path layout for Parquet (masu.util.common.get_path_prefix), in one place.

    data/parquet/{account}/OCP/{report_type}/source={uuid}/year={YYYY}/month={MM}/          raw (hourly)
    data/parquet/daily/{account}/OCP/{report_type}/source={uuid}/year={YYYY}/month={MM}/    daily

{account} is the tenant schema without a leading "acct"; the month is zero-padded.
"""

from __future__ import annotations

OCP_REPORT_TYPES = ("pod_usage", "storage_usage", "node_labels", "namespace_labels", "vm_usage", "gpu_usage")


def account_of(schema_name: str) -> str:
    return schema_name.removeprefix("acct")


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts if p)])


def ocp_prefix(root: str, account: str, report_type: str, source_uuid: str, year: str, month: str,
               daily: bool) -> str:
    """Folder of one OCP report type for one source-month, raw or daily."""
    if report_type not in OCP_REPORT_TYPES:
        raise ValueError(f"unknown OCP report type {report_type!r}")
    base = ("data/parquet/daily" if daily else "data/parquet") + f"/{account}/OCP/{report_type}"
    return join(root, base, f"source={source_uuid}", f"year={year}", f"month={month}")


def provider_prefix(root: str, account: str, provider: str, source_uuid: str, year: str, month: str,
                    daily: bool) -> str:
    """Folder of a cloud provider's line items (AWS, Azure, GCP) for one source-month.

    Raw: data/parquet/{account}/{AWS|Azure|GCP}/source=.../year=/month=/
    Daily: data/parquet/daily/{account}/{AWS|Azure|GCP}/raw/source=.../year=/month=/
    """
    if daily:
        base = f"data/parquet/daily/{account}/{provider}/raw"
    else:
        base = f"data/parquet/{account}/{provider}"
    return join(root, base, f"source={source_uuid}", f"year={year}", f"month={month}")
