"""The Koku side of integration/run_koku.py: runs inside Koku's own venv, with Koku's Django settings.

Every step uses Koku's own code: the customer and tenant the way Koku's identity middleware and provider
builder make them, providers through Koku's ProviderSerializer, cost models through Koku's CostModelManager,
the summary through Koku's update_summary_tables task function, the read-back through Koku's ORM models.
Only Trino (and Unleash, through Koku's own env) is replaced: see FakeTrino.

    python koku_driver.py COMMAND JSON_ARGS        (cwd: <koku checkout>/koku; env: see run_koku.py)

Prints one JSON object on its last line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any
from unittest import mock

import django

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koku.settings")
django.setup()

from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

LOG = logging.getLogger("koku_driver")


def _koku_unleash_mock() -> None:
    """Unleash cannot run here: Koku's own MockUnleashClient (what Koku uses on-prem) answers every flag with
    Koku's fallback, in every module that bound UNLEASH_CLIENT at import."""
    import koku.feature_flags as flags

    client = flags.MockUnleashClient(app_name="Cost Management", environment="development", instance_id="i13")
    flags.UNLEASH_CLIENT = client
    for module in list(sys.modules.values()):
        if getattr(module, "UNLEASH_CLIENT", None) is not None and module is not flags:
            module.UNLEASH_CLIENT = client


class FakeTrino:
    """Trino cannot run here. Every statement Koku sends to Trino is recorded (which proves which path ran) and
    answered as an empty result, except the few answers Koku's code needs before the summary, which are taken
    from the dataset: the AWS bill's payer account, the Parquet date range, the GCP invoice month's dates, the
    OCP-on-cloud infrastructure map (the cloud source the dataset matches), the existence of the Trino tables."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.statements: list[str] = []
        self.full: list[str] = []

    # trino_db.connect(...) -> this object; .cursor() -> this object
    def __call__(self, *args: Any, **kwargs: Any) -> FakeTrino:
        return self

    def cursor(self) -> FakeTrino:
        return self

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeTrino:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def commit(self) -> None:
        pass

    description: list[Any] = []

    def execute(self, sql: str, params: Any = None, **kwargs: Any) -> None:
        self.full.append(str(sql))
        self.statements.append(" ".join(str(sql).split())[:300])
        self._rows = [(self.answers["payer"],)] if "bill_payeraccountid" in str(sql) else self._exists(str(sql))

    def _exists(self, sql: str) -> list[Any]:
        """Koku's Trino existence checks (SHOW SCHEMAS/TABLES LIKE, a source's partitions of a table), answered from
        the Trino tables the dataset has (answers["tables"]: given only for the cost-model run)."""
        tables = self.answers.get("tables") or []
        schema = re.search(r"SHOW SCHEMAS LIKE '([a-z0-9_]+)'", sql)
        if schema:
            return [(schema.group(1),)] if tables else []
        shown = re.search(r"SHOW TABLES LIKE '([a-z0-9_]+)'", sql)
        if shown:
            return [(shown.group(1),)] if shown.group(1) in tables else []
        partitions = re.search(r'"([a-z0-9_]+)\$partitions"', sql)
        if partitions and "count(" in sql.lower():
            return [(1 if partitions.group(1) in tables else 0,)]
        return []

    def fetchall(self) -> list[Any]:
        return list(getattr(self, "_rows", []))

    def fetchone(self) -> Any:
        rows = self.fetchall()
        return rows[0] if rows else None

    def executescript(self, conn: Any, sql: str, params: Any = None, preprocessor: Any = None) -> list[Any]:
        self.full.append(str(sql))
        self.statements.append(" ".join(str(sql).split())[:300])
        text = str(sql)
        if self.answers.get("ocp_reference") and "reporting_ocpusagelineitem_daily_summary" in text \
                and "INSERT" in text.upper() and params and "report_period_id" in params:
            self._write_reference(params)
        return []

    def _write_reference(self, params: dict[str, Any]) -> None:
        """Koku's OCP summary SQL, as Trino would have run it: the rows Koku's own SQL computes on the same Parquet
        (the oracle's reference, made from Koku's SQL by /work/shared/oracle/koku_reference.py) for the chunk's
        days, written with this tenant's report period and source, as Trino's INSERT into PostgreSQL would."""
        import pandas as pd

        frame = pd.read_parquet(self.answers["ocp_reference"])
        day = pd.to_datetime(frame["usage_start"]).dt.date
        frame = frame[(day >= _as_date(params["start_date"])) & (day <= _as_date(params["end_date"]))].copy()
        frame["report_period_id"] = int(params["report_period_id"])
        frame["source_uuid"] = str(params["source"])
        frame["uuid"] = [str(uuid.uuid4()) for _ in range(len(frame))]
        columns = list(frame.columns)
        rows = [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]
        with connection.cursor() as cur:
            cur.execute(f"SET search_path TO {self.answers['schema']}, public")
            placeholders = ", ".join(["%s"] * len(columns))
            names = ", ".join(f'"{c}"' for c in columns)
            cur.executemany(f"INSERT INTO reporting_ocpusagelineitem_daily_summary ({names})"  # noqa: S608
                            f" VALUES ({placeholders})", rows)
        self.statements.append(f"(reference rows written: {len(rows)})")

    def _daily_patches(self, trino_body: Any) -> list[Any]:
        """With answers["daily_reference"] (the shadow runs of patch 0010): Koku's Trino bodies of the cloud daily
        summaries write, as Trino's INSERT into PostgreSQL would, the rows Koku's own Trino SQL computes on the same
        Parquet (benchmarks/daily_parity*.py's reference databases) for the call's range and bill."""
        refs = self.answers.get("daily_reference")
        if not refs:
            return []
        from masu.database.aws_report_db_accessor import AWSReportDBAccessor
        from masu.database.azure_report_db_accessor import AzureReportDBAccessor
        from masu.database.gcp_report_db_accessor import GCPReportDBAccessor

        def daily(flow: str) -> Any:
            def body(_self: Any, start_date: Any, end_date: Any, source_uuid: Any, bill_id: Any, markup_value: Any,
                     invoice_month: Any = None) -> None:
                self._write_daily_reference(refs[flow], _as_date(start_date), _as_date(end_date), source_uuid,
                                            bill_id, markup_value, invoice_month)
            return body

        def ec2(_self: Any, source_uuid: Any, start_date: Any, bill_id: Any, markup_value: Any) -> None:
            # Koku's EC2 statement reads and inserts the whole month of start_date
            first = _as_date(start_date).replace(day=1)
            last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            self._write_daily_reference(refs["aws_ec2"], first, last, source_uuid, bill_id, markup_value, None)

        name = "populate_line_item_daily_summary_table_trino"
        out = [mock.patch.object(cls, trino_body(cls, name), daily(flow)) for cls, flow in
               ((AWSReportDBAccessor, "aws"), (AzureReportDBAccessor, "azure"), (GCPReportDBAccessor, "gcp"))
               if flow in refs]
        if "aws_ec2" in refs:
            out.append(mock.patch.object(AWSReportDBAccessor,
                                         trino_body(AWSReportDBAccessor, "populate_ec2_compute_summary_table_trino"),
                                         ec2))
        return out

    def _write_daily_reference(self, ref: dict[str, Any], start: dt.date, end: dt.date, source_uuid: Any,
                               bill_id: Any, markup_value: Any, invoice_month: Any) -> None:
        """Copy the reference rows of [start, end] (and the invoice month) into the tenant's table with the ids Koku's
        Trino SQL takes from this tenant: the bill and source it was called with, the account alias joined on
        usage_account_id (reporting_awsaccountalias, as Koku's SQL joins it); no organizational units (the
        reference is made without them, as this tenant has none)."""
        import psycopg2
        from psycopg2 import sql

        table = ref["table"]
        with connection.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                        " AND table_name = %s ORDER BY ordinal_position", (self.answers["schema"], table))
            columns = [r[0] for r in cur.fetchall()]
        where = "usage_start >= %s AND usage_start <= %s" + (" AND invoice_month = %s" if invoice_month else "")
        params = [start, end] + ([str(invoice_month)] if invoice_month else [])
        with psycopg2.connect(ref["dsn"]) as ref_conn, ref_conn.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                        " AND table_name = %s", (ref["schema"], table))
            have = {r[0] for r in cur.fetchall()}
            read = [c for c in columns if c in have and c != "uuid"]
            cur.execute(sql.SQL("SELECT {} FROM {}.{} WHERE " + where).format(  # noqa: S608 (our own filter)
                sql.SQL(", ").join(map(sql.Identifier, read)), sql.Identifier(ref["schema"]), sql.Identifier(table)),
                params)
            rows = [dict(zip(read, r, strict=True)) for r in cur.fetchall()]
        ref_conn.close()
        aliases: dict[str, int] = {}
        if "account_alias_id" in columns:
            with connection.cursor() as cur:
                schema = self.answers["schema"]
                cur.execute(f'SELECT account_id, id FROM "{schema}".reporting_awsaccountalias')  # noqa: S608
                aliases = dict(cur.fetchall())
        for row in rows:
            if "cost_entry_bill_id" in columns:
                row["cost_entry_bill_id"] = int(bill_id)
            row["source_uuid"] = str(source_uuid)
            if "account_alias_id" in columns:
                row["account_alias_id"] = aliases.get(row.get("usage_account_id"))
            if "organizational_unit_id" in columns:
                row["organizational_unit_id"] = None
            if "uuid" in columns:
                row["uuid"] = str(uuid.uuid4())
            for key, value in row.items():
                if isinstance(value, dict | list) and key not in ("resource_ids", "instance_ids"):
                    row[key] = json.dumps(value)
        names = list(rows[0]) if rows else []
        with connection.cursor() as cur:
            if rows:
                cur.executemany(f'INSERT INTO "{self.answers["schema"]}"."{table}" ('  # noqa: S608
                                + ", ".join(f'"{n}"' for n in names) + ") VALUES (" + ", ".join(["%s"] * len(names))
                                + ")", [tuple(r[n] for n in names) for r in rows])
        self.statements.append(f"(daily reference rows written: {table} {start}..{end} markup {markup_value}: "
                               f"{len(rows)})")

    def patches(self) -> list[Any]:
        import koku.trino_database as trino_db
        from masu.database.gcp_report_db_accessor import GCPReportDBAccessor
        from masu.database.ocp_report_db_accessor import OCPReportDBAccessor
        from masu.database.report_db_accessor_base import ReportDBAccessorBase

        start = dt.datetime.fromisoformat(self.answers["start"]).replace(tzinfo=dt.UTC)
        end = dt.datetime.fromisoformat(self.answers["end"]).replace(tzinfo=dt.UTC)
        infra = self.answers.get("infra")  # [ocp_uuid, cloud_uuid, cloud_type] or None

        def infra_map(_self: Any, start_date: Any, end_date: Any, **kwargs: Any) -> dict[str, Any]:
            self.statements.append(f"reporting_ocpinfrastructure_provider_map {sorted(kwargs.items())}")
            if not infra:
                return {}
            asked = {str(v) for v in kwargs.values() if v}
            return {infra[0]: (infra[1], infra[2])} if asked & {infra[0], infra[1]} else {}

        import trino.dbapi

        def trino_body(cls: Any, name: str) -> str:
            # Patches 0007/0008 keep Koku's Trino body under "_<name>" behind a poc_tasks hook: fake that body, so
            # the hook itself runs (and routes); on an unpatched Koku the public method is the Trino body.
            return f"_{name}" if hasattr(cls, f"_{name}") else name

        return self._daily_patches(trino_body) + [
            mock.patch.object(trino.dbapi, "connect", self),  # the Trino client itself: every Koku path to Trino
            mock.patch.object(trino_db, "connect", self),
            mock.patch.object(trino_db, "executescript", self.executescript),
            mock.patch.object(ReportDBAccessorBase, "table_exists_trino", lambda *_a, **_k: True),
            # patch 0009 routes the public method to poc_tasks (the Parquet) and keeps Trino's body under "_<name>"
            mock.patch.object(OCPReportDBAccessor,
                              trino_body(OCPReportDBAccessor, "get_max_min_timestamp_from_parquet"),
                              lambda *_a, **_k: (start, end)),
            mock.patch.object(OCPReportDBAccessor, trino_body(OCPReportDBAccessor, "get_ocp_infrastructure_map_trino"),
                              infra_map),
            mock.patch.object(GCPReportDBAccessor, trino_body(GCPReportDBAccessor, "fetch_invoice_month_dates"),
                              lambda *_a, **_k: [(start.date(), end.date())]),
        ]


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else \
        dt.date.fromisoformat(str(value)[:10])


def _out(obj: Any) -> None:
    print(json.dumps(obj, default=str))


# --- tenant ------------------------------------------------------------------------------------------------------

def cmd_tenant(args: dict[str, Any]) -> dict[str, Any]:
    """A customer and its tenant schema, as Koku's IdentityHeaderMiddleware and ProviderBuilder make them
    (the schema is a clone of Koku's template schema, made by migrations on first use)."""
    from api.iam.models import Customer, Tenant
    from koku.middleware import IdentityHeaderMiddleware

    org_id, account = args["org_id"], args.get("account")
    connection.set_schema_to_public()
    customer = Customer.objects.filter(org_id=org_id).first()
    if customer is None:
        customer = IdentityHeaderMiddleware.create_customer(account, org_id, "POST")
    tenant, _ = Tenant.objects.get_or_create(schema_name=customer.schema_name)
    tenant.create_schema(check_if_exists=True)
    return {"schema": customer.schema_name, "customer_id": customer.id}


def _demo_accounts(providers: list[dict[str, Any]]) -> None:
    """Koku's DEMO_ACCOUNTS setting, read by ProviderSerializer: sources whose credentials are listed there skip the
    cloud API check (cost_usage_source_ready), which would need AWS/Azure/GCP."""
    from django.conf import settings

    key = {"AWS": "role_arn", "Azure": "client_id", "GCP": "project_id"}
    settings.DEMO_ACCOUNTS = {"i13": {p["credentials"][key[p["type"]]]: {"source_type": p["type"]}
                                      for p in providers if p["type"] in key}}


def cmd_providers(args: dict[str, Any]) -> dict[str, Any]:
    """Sources through Koku's ProviderSerializer (public api_provider + the tenant's reporting_tenant_api_provider),
    cost models through Koku's CostModelManager, tag keys through Koku's models, and the report period / bills
    through Koku's own report processors' create_bill (what Koku's ingestion does before any summary)."""
    from api.iam.models import Customer, User
    from api.provider.models import Provider
    from api.provider.serializers import ProviderSerializer
    from cost_models.cost_model_manager import CostModelManager
    from cost_models.models import CostModel

    schema = args["schema"]
    customer = Customer.objects.get(schema_name=schema)
    user, _ = User.objects.get_or_create(username="i13", defaults={"email": "i13@example.com", "customer": customer})
    _demo_accounts(args["providers"])
    made = {}
    for p in args["providers"]:
        if Provider.objects.filter(uuid=p["uuid"]).exists():
            made[p["uuid"]] = "exists"
            continue
        data = {"uuid": p["uuid"], "name": p["name"], "type": p["type"].lower(),
                "authentication": {"credentials": p["credentials"]},
                "billing_source": {"data_source": p.get("data_source", {})}}
        serializer = ProviderSerializer(data=data, context={"user": user, "customer": customer})
        serializer.is_valid(raise_exception=True)
        made[p["uuid"]] = str(serializer.save().uuid)
    with schema_context(schema):
        for cm in args["cost_models"]:
            if CostModel.objects.filter(name=cm["name"]).exists():
                continue
            CostModelManager().create(**cm)
    _koku_rows(args)
    return {"providers": made}


def _koku_rows(args: dict[str, Any]) -> None:
    from masu.processor.aws.aws_report_parquet_processor import AWSReportParquetProcessor
    from masu.processor.azure.azure_report_parquet_processor import AzureReportParquetProcessor
    from masu.processor.gcp.gcp_report_parquet_processor import GCPReportParquetProcessor
    from masu.processor.ocp.ocp_report_parquet_processor import OCPReportParquetProcessor
    from reporting.provider.all.models import EnabledTagKeys
    from reporting.provider.aws.models import AWSAccountAlias, AWSEnabledCategoryKeys
    from reporting.provider.ocp.models import OpenshiftCostCategory, OpenshiftCostCategoryNamespace

    schema, start = args["schema"], args["start"]
    day = dt.date.fromisoformat(start)
    trino = FakeTrino({"payer": args.get("payer"), "start": start, "end": start})
    patches = trino.patches()
    for p in patches:
        p.start()
    try:
        for p in args["providers"]:
            path = f"data/parquet/{schema}/{p['type']}/source={p['uuid']}/year={start[:4]}/month={start[5:7]}"
            if p["type"] == "OCP":
                OCPReportParquetProcessor(1, schema, path, p["uuid"], "pod_usage", day).create_bill(start)
            else:
                cls = {"AWS": AWSReportParquetProcessor, "Azure": AzureReportParquetProcessor,
                       "GCP": GCPReportParquetProcessor}[p["type"]]
                cls(1, schema, path, p["uuid"], day).create_bill(start)
    finally:
        for p in patches:
            p.stop()
    with schema_context(schema):
        for key, enabled, ptype in args["tag_keys"]:
            EnabledTagKeys.objects.get_or_create(key=key, provider_type=ptype, defaults={"enabled": enabled})
        for key in args.get("category_keys", []):
            AWSEnabledCategoryKeys.objects.get_or_create(key=key, defaults={"enabled": True})
        for account, alias in args.get("account_aliases", []):
            AWSAccountAlias.objects.get_or_create(account_id=account, defaults={"account_alias": alias})
        for pattern, name in args.get("cost_categories", {}).items():
            category, _ = OpenshiftCostCategory.objects.get_or_create(
                name=name, defaults={"description": name, "source_type": "OCP", "system_default": False, "label": []})
            OpenshiftCostCategoryNamespace.objects.get_or_create(
                namespace=pattern, defaults={"system_default": False, "cost_category": category})


def _under_fake_trino(answers: dict[str, Any], call: Any) -> tuple[FakeTrino, list[str]]:
    """Run `call()` (a Koku task function) with Trino replaced by FakeTrino and Unleash by Koku's mock; return the
    recorder and poc_tasks' log lines (logger "poc_tasks") of the call."""
    _koku_unleash_mock()
    trino = FakeTrino(answers)
    patches = trino.patches()
    for p in patches:
        p.start()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.INFO)
    logging.getLogger("poc_tasks").addHandler(keep)
    try:
        call()
    finally:
        for p in patches:
            p.stop()
        logging.getLogger("poc_tasks").removeHandler(keep)
    return trino, [f"{r.levelname} {r.name}: {r.getMessage()}" for r in records]


def cmd_summarize(args: dict[str, Any]) -> dict[str, Any]:
    """Koku's own update_summary_tables (synchronous, ocp_on_cloud=True) for one source, Trino replaced by
    FakeTrino; the OCP-on-cloud step runs through Koku's trigger_ocp_on_cloud_summary and infrastructure map."""
    from api.provider.models import Provider
    from masu.processor.tasks import update_summary_tables

    ocp_uuid = (args["trino"].get("infra") or [None])[0]
    if ocp_uuid:
        # One dataset cluster runs on all three clouds here; in Koku an OCP source has one infrastructure, and
        # Koku's map (Trino's and poc_tasks') only matches clusters without one: let this cloud find it again.
        Provider.objects.filter(uuid=ocp_uuid).update(infrastructure=None)
    trino, log = _under_fake_trino(args["trino"], lambda: update_summary_tables(
        args["schema"], args["provider_type"], args["provider_uuid"], args["start"], end_date=args["end"],
        synchronous=True, tracing_id=args["tracing_id"], ocp_on_cloud=args.get("ocp_on_cloud", True)))
    statements = Counter(s[:90] for s in trino.statements)
    return {"trino_statements": len(trino.statements), "trino": dict(statements.most_common(12)),
            "daily_reference_written": [s for s in trino.statements if s.startswith("(daily reference rows")],
            "ocp_summary_sql_sent": any("reporting_ocpusagelineitem_daily_summary" in s and "INSERT" in s.upper()
                                        for s in trino.full),
            "ocp_infrastructure": _infrastructure(ocp_uuid), "poc_log": log}


def _infrastructure(ocp_uuid: str | None) -> list[str] | None:
    """(cloud source uuid, type) Koku stored for the OCP source after the run (from the infrastructure map)."""
    from api.provider.models import Provider

    provider = Provider.objects.filter(uuid=ocp_uuid).select_related("infrastructure").first() if ocp_uuid else None
    infra = provider.infrastructure if provider else None
    return [str(infra.infrastructure_provider_id), infra.infrastructure_type] if infra else None


def cmd_cost_model(args: dict[str, Any]) -> dict[str, Any]:
    """Koku's own update_cost_model_costs task function (synchronous) for the OCP source: what Koku chains after
    update_summary_tables (not consumed here: the chain goes to the private broker). Trino is FakeTrino; its
    existence checks answer from the dataset's Trino tables, so Koku's code reaches the cost-model statements."""
    from api.provider.models import Provider
    from masu.processor.tasks import update_cost_model_costs

    # Koku's ingestion marks a source set up when its first manifest is processed; Koku's CostModelCostUpdater
    # skips a source that is not (there is no ingestion here)
    Provider.objects.get(uuid=args["provider_uuid"]).set_setup_complete()

    def run() -> None:
        update_cost_model_costs(args["schema"], args["provider_uuid"], args["start"], args["end"], synchronous=True,
                                tracing_id=args["tracing_id"])

    def run_rtu() -> None:
        """Koku's RTU pipeline: its Unleash flag cost_breakdown_rates_to_usage on for this run (Koku's
        MockUnleashClient answers it with dev_fallback=False), read where Koku reads it, once per run."""
        import masu.processor.ocp.ocp_cost_model_cost_updater as updater

        original = updater.is_feature_flag_enabled_by_schema

        def flag(schema: str, name: str, *a: Any, **k: Any) -> bool:
            return True if name == updater.COST_BREAKDOWN_RTU_UNLEASH_FLAG else original(schema, name, *a, **k)

        with mock.patch.object(updater, "is_feature_flag_enabled_by_schema", flag):
            run()

    trino, log = _under_fake_trino(args["trino"], run_rtu if args.get("use_rtu") else run)
    statements = Counter(s[:90] for s in trino.statements)
    return {"trino_statements": len(trino.statements), "trino": dict(statements.most_common(20)),
            "trino_inserts": [" ".join(s.split())[:160] for s in trino.full if "INSERT" in s.upper()],
            "poc_log": log}


def cmd_readback(args: dict[str, Any]) -> dict[str, Any]:
    """Rows and totals through Koku's ORM, per table, for the summary's sources."""
    from django.db.models import Count, Sum
    from reporting.provider.aws.openshift.models import OCPAWSCostLineItemProjectDailySummaryP
    from reporting.provider.azure.openshift.models import OCPAzureCostLineItemProjectDailySummaryP
    from reporting.provider.gcp.openshift.models import OCPGCPCostLineItemProjectDailySummaryP
    from reporting.provider.ocp.models import OCPUsageLineItemDailySummary

    out: dict[str, Any] = {}
    with schema_context(args["schema"]):
        q = OCPUsageLineItemDailySummary.objects.filter(source_uuid=args["ocp_uuid"])
        out["OCP"] = {k: _num(v) for k, v in q.filter(infrastructure_raw_cost__isnull=True).aggregate(
            rows=Count("uuid"), pod_usage_cpu_core_hours=Sum("pod_usage_cpu_core_hours"),
            pod_request_memory_gigabyte_hours=Sum("pod_request_memory_gigabyte_hours"),
            persistentvolumeclaim_capacity_gigabyte_months=Sum("persistentvolumeclaim_capacity_gigabyte_months"),
        ).items()}
        projects = q.filter(infrastructure_raw_cost__isnull=True).exclude(namespace__endswith=" unallocated") \
            .exclude(namespace__endswith=" unattributed")
        out["OCP"]["projects_pod_usage_cpu_core_hours"] = _num(
            projects.aggregate(v=Sum("pod_usage_cpu_core_hours"))["v"])
        out["OCP infrastructure rows"] = {k: _num(v) for k, v in q.filter(
            infrastructure_raw_cost__isnull=False).aggregate(rows=Count("uuid"),
                                                              infrastructure_raw_cost=Sum("infrastructure_raw_cost"),
                                                              infrastructure_markup_cost=Sum(
                                                                  "infrastructure_markup_cost")).items()}
        for name, model, cost in (("OCP-on-AWS", OCPAWSCostLineItemProjectDailySummaryP, "unblended_cost"),
                                  ("OCP-on-Azure", OCPAzureCostLineItemProjectDailySummaryP, "pretax_cost"),
                                  ("OCP-on-GCP", OCPGCPCostLineItemProjectDailySummaryP, "unblended_cost")):
            out[name] = {k: _num(v) for k, v in model.objects.aggregate(
                rows=Count("uuid"), cost=Sum(cost), markup_cost=Sum("markup_cost"),
                pod_cost=Sum("pod_cost") if hasattr(model, "pod_cost") else Count("uuid")).items()}
    return out


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def cmd_report_api(args: dict[str, Any]) -> dict[str, Any]:
    """Totals of Koku's report API (GET /api/cost-management/v1/reports/openshift/...), as a user of the tenant."""
    import base64

    from django.test import Client

    identity = {"identity": {"account_number": args.get("account", "10001"), "org_id": args["org_id"],
                             "type": "User", "user": {"username": "i13", "email": "i13@example.com",
                                                      "is_org_admin": True, "access": {}}},
                "entitlements": {"cost_management": {"is_entitled": True}}}
    header = base64.b64encode(json.dumps(identity).encode()).decode()
    client = Client(HTTP_X_RH_IDENTITY=header)
    out = {}
    for name, path in args["paths"].items():
        response = client.get(path)
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        out[name] = {"status": response.status_code, "total": body.get("meta", {}).get("total"),
                     **({} if response.status_code == 200 else {"body": str(body)[:300]})}
    return out


COMMANDS = {"tenant": cmd_tenant, "providers": cmd_providers, "summarize": cmd_summarize, "cost_model": cmd_cost_model,
            "readback": cmd_readback, "report_api": cmd_report_api}

if __name__ == "__main__":
    command, raw = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "{}")
    _out(COMMANDS[command](json.loads(raw)))
