"""Validated run specifications: who (tenant, source), what (provider), when (date range in one month).

Every field is checked by poc_tasks.validate before it can reach SQL or a path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from poc_tasks.validate import check_text, date_range, optional_int, validate_schema, validate_uuid


def days_in_range(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def date_range_pair(start: dt.date, end: dt.date, step: int = 5) -> list[tuple[dt.date, dt.date]]:
    """Koku's masu.util.common.date_range_pair: (start, start+step), (start+step+1, start+2*step), ... (.., end).

    The first chunk has step+1 days. Chunks matter for OCP on cloud (the matched-tag candidates, the matchable
    resource ids and a disk's total PV capacity are computed over a chunk) and are the compute chunks of the
    cloud daily summaries.
    """
    if step < 1:
        raise ValueError("step must be >= 1")
    out: list[tuple[dt.date, dt.date]] = []
    first = start
    mark = start + dt.timedelta(days=step)
    while mark < end:
        out.append((first, mark))
        first = mark + dt.timedelta(days=1)
        mark += dt.timedelta(days=step)
    out.append((first, end))
    return out


class TenantMonthPaths:
    """The S3 path parts every run spec derives from its schema and first day (Koku's get_path_prefix): shared by
    the OCP, OCP-on-cloud and cloud daily specs, which each carry ``schema_name`` and ``start_date``."""

    schema_name: str
    start_date: dt.date

    @property
    def account(self) -> str:
        """The S3 path's account folder: the schema without a leading 'acct' (Koku's get_path_prefix)."""
        return self.schema_name.removeprefix("acct")

    @property
    def year(self) -> str:
        return f"{self.start_date.year:04d}"

    @property
    def month(self) -> str:
        return f"{self.start_date.month:02d}"


@dataclass(frozen=True)
class OcpRunSpec(TenantMonthPaths):
    """One OCP daily-summary run: a tenant, an OCP source, a cluster, an inclusive date range in one month."""

    schema_name: str
    source_uuid: str
    cluster_id: str
    cluster_alias: str
    start_date: dt.date
    end_date: dt.date
    report_period_id: int | None = None

    @classmethod
    def build(
        cls,
        schema_name: Any,
        source_uuid: Any,
        cluster_id: Any,
        start_date: Any,
        end_date: Any,
        cluster_alias: Any = None,
        report_period_id: Any = None,
    ) -> OcpRunSpec:
        schema = validate_schema(schema_name)
        source = validate_uuid(source_uuid)
        cid = check_text(cluster_id, "cluster_id", 50)
        alias = check_text(cluster_alias if cluster_alias else cid, "cluster_alias", 256)
        start, end = date_range(start_date, end_date)
        return cls(schema, source, cid, alias, start, end, optional_int(report_period_id, "report_period_id"))

    @property
    def days(self) -> list[dt.date]:
        return days_in_range(self.start_date, self.end_date)

    def to_kwargs(self) -> dict[str, Any]:
        """JSON-safe task keyword arguments, named as Koku's accessor methods name them."""
        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        d["end_date"] = self.end_date.isoformat()
        return d
