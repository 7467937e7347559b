"""A validated OCP-on-cloud run: tenant, OCP source, cloud source, cluster, date range, cost-model inputs.

Arguments arrive from a broker, so everything that reaches SQL or a path is checked here (as run.OcpRunSpec does
for the OCP summary). Names follow Koku's ``populate_ocp_on_aws_cost_daily_summary_trino`` /
``update_aws_summary_tables``: ``openshift_provider_uuid``, ``aws_provider_uuid``, ``report_period_id``,
``bill_id``; ``markup`` is the cloud cost model's markup in percent, ``distribution`` the OCP cost model's
distribution type (Koku's default 'cpu'; any other value means memory).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from poc_tasks.errors import InvalidArgument
from poc_tasks.runspec import OcpRunSpec, TenantMonthPaths, date_range_pair
from poc_tasks.validate import optional_int, validate_uuid

__all__ = ["CloudRunSpec", "date_range_pair", "markup_fraction"]

DISTRIBUTIONS = ("cpu", "memory")


def markup_fraction(percent: Any) -> float:
    """Koku's markup parameter: Decimal(percent) / 100, cast to decimal(24,9) (half up) in the SQL, then used in
    double arithmetic."""
    try:
        value = decimal.Decimal(str(percent if percent not in (None, "") else 0))
    except decimal.InvalidOperation as exc:
        raise InvalidArgument(f"markup {percent!r} is not a number (percent)") from exc
    if not value.is_finite():
        raise InvalidArgument(f"markup {percent!r} is not a finite number")
    frac = (value / 100).quantize(decimal.Decimal("1e-9"), rounding=decimal.ROUND_HALF_UP)
    return float(frac)


@dataclass(frozen=True)
class CloudRunSpec(TenantMonthPaths):
    """One OCP-on-cloud run for one (OCP source, cloud source) pair over days of one month."""

    schema_name: str
    openshift_provider_uuid: str
    cloud_provider_uuid: str
    cluster_id: str
    cluster_alias: str
    start_date: dt.date
    end_date: dt.date
    markup: str = "0"
    distribution: str = "cpu"
    report_period_id: int | None = None
    bill_id: int | None = None
    cloud_type: str = "AWS"

    @classmethod
    def build(cls, schema_name: Any, openshift_provider_uuid: Any, cloud_provider_uuid: Any, cluster_id: Any,
              start_date: Any, end_date: Any, cluster_alias: Any = None, markup: Any = None,
              distribution: Any = None, report_period_id: Any = None, bill_id: Any = None,
              cloud_type: str = "AWS") -> CloudRunSpec:
        # named as the task's keyword (two sources here: "source_uuid" would not say which one is wrong)
        openshift_provider_uuid = validate_uuid(openshift_provider_uuid, "openshift_provider_uuid")
        base = OcpRunSpec.build(schema_name, openshift_provider_uuid, cluster_id, start_date, end_date,
                                cluster_alias, report_period_id)
        cloud = validate_uuid(cloud_provider_uuid, f"{cloud_type.lower()}_provider_uuid")
        markup_fraction(markup)  # validate
        dist = distribution or "cpu"
        if dist not in DISTRIBUTIONS:
            raise InvalidArgument(f"distribution {distribution!r} must be one of {', '.join(DISTRIBUTIONS)}")
        bill = optional_int(bill_id, "bill_id")
        return cls(base.schema_name, base.source_uuid, cloud, base.cluster_id, base.cluster_alias,
                   base.start_date, base.end_date, str(markup if markup not in (None, "") else "0"), dist,
                   base.report_period_id, bill, cloud_type)

    @property
    def markup_fraction(self) -> float:
        return markup_fraction(self.markup)

    def to_kwargs(self) -> dict[str, Any]:
        """JSON-safe keyword arguments of poc_tasks.summarize_ocp_on_aws."""
        return {
            "schema_name": self.schema_name,
            "openshift_provider_uuid": self.openshift_provider_uuid,
            f"{self.cloud_type.lower()}_provider_uuid": self.cloud_provider_uuid,
            "cluster_id": self.cluster_id,
            "cluster_alias": self.cluster_alias,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "markup": self.markup,
            "distribution": self.distribution,
            "report_period_id": self.report_period_id,
            "bill_id": self.bill_id,
        }

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], cloud_type: str = "AWS") -> CloudRunSpec:
        k = dict(kwargs)
        cloud = k.pop(f"{cloud_type.lower()}_provider_uuid")
        return cls.build(k.pop("schema_name"), k.pop("openshift_provider_uuid"), cloud, k.pop("cluster_id"),
                         k.pop("start_date"), k.pop("end_date"), cloud_type=cloud_type, **k)
