"""What a run owns, and the checks that refuse a run whose arguments would touch rows it does not own.

Koku scopes the OCP summary's replace by report period: ``delete_all_except_infrastructure_raw_cost_from_daily_summary``
deletes ``usage_start`` in the range AND ``report_period_id`` = the source's period of the month (its first, as
``report_periods_for_provider_uuid(provider, start)`` returns it) AND no OCP-on-cloud cost. The period is one per
(source, month) because Koku takes the cluster id from the source (one cluster per source; a second source with
the same credentials is refused). A run here gets the cluster id and the period from its caller instead, so a typo
could make a second period (a second copy of the source's rows: its costs doubled) or replace another source's
rows. These checks run before anything is written and refuse, with an error that says which argument and what
the tenant already holds:

- OCP (``run ocp``, ``summarize_ocp``, ``compare ocp``): the cluster id must be the one of the source's existing
  period of the month; no other source may hold a period of the month for that cluster; an explicit
  report_period_id must be the source's own period of the month, for that cluster.
- OCP on cloud: the cluster id and any explicit report_period_id must be those of the OCP source's period; the
  OCP source must be an OCP provider and the cloud source one of the run's cloud type.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from psycopg2 import sql

from poc_tasks.db.connection import qualified
from poc_tasks.errors import OwnershipConflict
from poc_tasks.validate import validate_uuid

__all__ = ["ReportPeriod", "check_ocp_run", "check_cloud_run"]


class ReportPeriod(NamedTuple):
    id: int
    provider: str
    cluster_id: str
    cluster_alias: str | None
    month: dt.date


def _month(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def _periods(conn: Any, schema: str, month: dt.date, report_period_id: int | None) -> list[ReportPeriod]:
    """The tenant's report periods of the month, and the one with `report_period_id` (any month), by id."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT id, provider_id::text, cluster_id, cluster_alias, report_period_start FROM {}"
                    " WHERE report_period_start = %s OR id = %s ORDER BY id").format(
                qualified(schema, "reporting_ocpusagereportperiod")),
            (_month(month), report_period_id),
        )
        return [ReportPeriod(int(i), str(p), c, a, s.date()) for i, p, c, a, s in cur.fetchall()]


def _provider_type(conn: Any, schema: str, provider_uuid: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT type FROM {} WHERE uuid = %s").format(
            qualified(schema, "reporting_tenant_api_provider")), (provider_uuid,))
        row = cur.fetchone()
    return None if row is None else str(row[0])


def _is_type(found: str | None, expected: str) -> bool:
    """Koku's provider types, with its '-local' variants ('AWS-local' is an AWS source)."""
    return found is None or found.split("-", 1)[0].lower() == expected.lower()


def _describe(rp: ReportPeriod) -> str:
    return f"report period {rp.id} ({rp.month:%Y-%m}, source {rp.provider}, cluster_id {rp.cluster_id!r})"


def check_ocp_run(conn: Any, schema: str, source_uuid: str, cluster_id: str, start: dt.date,
                  report_period_id: int | None = None) -> ReportPeriod | None:
    """Refuse (OwnershipConflict) an OCP run whose cluster id or report period contradicts the tenant's periods;
    return the source's period of the month (None when the run is the month's first)."""
    source = validate_uuid(source_uuid)
    month = start.replace(day=1)
    kind = _provider_type(conn, schema, source)
    if not _is_type(kind, "OCP"):
        raise OwnershipConflict(f"source_uuid {source} is a {kind} source in {schema}, not an OCP source")
    periods = _periods(conn, schema, month, report_period_id)
    in_month = [p for p in periods if p.month == month]
    mine = [p for p in in_month if p.provider == source]
    if report_period_id is not None:
        named = next((p for p in periods if p.id == report_period_id), None)
        if named is None:
            raise OwnershipConflict(f"report_period_id {report_period_id} does not exist in {schema}; leave it out "
                                    "and the run finds or creates the source's period of the month")
        if named.provider != source or named.month != month:
            raise OwnershipConflict(
                f"report_period_id {report_period_id} is {_describe(named)}, not source {source}'s period of "
                f"{month:%Y-%m}: the run would replace rows it does not own. Leave --report-period-id out")
    if mine and mine[0].cluster_id != cluster_id:
        raise OwnershipConflict(
            f"cluster_id {cluster_id!r} contradicts source {source}'s {_describe(mine[0])}: a second period would "
            f"hold a second copy of the source's rows (its costs doubled). A source has one cluster (Koku reads it "
            f"from the source); use --cluster-id {mine[0].cluster_id!r}")
    if report_period_id is not None and mine and report_period_id != mine[0].id:
        raise OwnershipConflict(
            f"report_period_id {report_period_id} is not the period Koku summarises for source {source} in "
            f"{month:%Y-%m} ({mine[0].id}, its first); leave --report-period-id out")
    others = [p for p in in_month if p.provider != source and p.cluster_id == cluster_id]
    if others:
        raise OwnershipConflict(
            f"cluster_id {cluster_id!r} belongs to another source: {_describe(others[0])}. Two sources of one "
            f"cluster would mix their rows in OCP on cloud (Koku refuses a second source for a cluster); check "
            f"--source-uuid and --cluster-id")
    return mine[0] if mine else None


def check_cloud_run(conn: Any, schema: str, ocp_source: str, cloud_source: str, cloud_type: str, cluster_id: str,
                    report_period: tuple[int, str, str], report_period_id: int | None = None) -> None:
    """Refuse an OCP-on-cloud run whose cluster id or report period is not the OCP source's period of the month
    (`report_period` = its (id, cluster_id, alias)), or whose sources are of the wrong type."""
    ocp_kind = _provider_type(conn, schema, ocp_source)
    if not _is_type(ocp_kind, "OCP"):
        raise OwnershipConflict(f"openshift_provider_uuid {ocp_source} is a {ocp_kind} source in {schema}, "
                                "not an OCP source")
    cloud_kind = _provider_type(conn, schema, cloud_source)
    if not _is_type(cloud_kind, cloud_type):
        raise OwnershipConflict(f"{cloud_type.lower()}_provider_uuid {cloud_source} is a {cloud_kind} source in "
                                f"{schema}, not a {cloud_type} source")
    rp_id, rp_cluster, _alias = report_period
    if cluster_id != rp_cluster:
        raise OwnershipConflict(
            f"cluster_id {cluster_id!r} contradicts OCP source {ocp_source}'s report period {rp_id} (cluster_id "
            f"{rp_cluster!r}): the run would replace OCP-on-{cloud_type} rows of a cluster it does not own and "
            f"leave the real ones in place; use --cluster-id {rp_cluster!r}")
    if report_period_id is not None and report_period_id != rp_id:
        raise OwnershipConflict(
            f"report_period_id {report_period_id} is not OCP source {ocp_source}'s report period of the month "
            f"({rp_id}): the run would replace rows it does not own; leave --report-period-id out")
