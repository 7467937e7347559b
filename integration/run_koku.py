#!/usr/bin/env python3
"""poc_tasks inside real Koku, end to end, on demand (not in CI: CI has no Koku checkout).

Given a Koku git checkout (tested: 768be8253), in a work directory:
  1. venv    Koku's locked dependencies (Pipfile.lock -> pip, Python 3.11) + this poc_tasks (no deps) into WORK/venv
  2. patch   git apply integration/koku/*.patch to the checkout (skipped when already applied); import check
  3. migrate createdb (default koku_i13) on the PostgreSQL server; Koku's `manage.py migrate_schemas`
  4. tenant  a customer + tenant the way Koku's middleware / provider builder make them (template clone)
  5. ddl     Koku's tenant DDL vs init-db's (a scratch schema in the same database) and vs the snapshot
             integration/koku_ddl_snapshot.json; --refresh-snapshot rewrites it from Koku's tenant
  6. data    a sample dataset (OCP + AWS + Azure + GCP; `poc-tasks sample`, plus GPUs and VMs) and Koku's answers
             on it (the oracle: /work/shared/oracle, Koku's SQL on DuckDB / PostgreSQL), markup 10 % and memory
             distribution; Koku's cost-model SQL (benchmarks/cost_model_parity.py) and daily-summary SQL
             (benchmarks/daily_parity*.py), each in a database of its own
  7. sources providers via Koku's ProviderSerializer, cost models via CostModelManager (markup 10 % on each
             cloud source; on the OCP source distribution "memory", GPU distribution and the sample's GPU, VM and
             project rates), report period and bills via Koku's
             report processors' create_bill, tag keys as the oracle seeds them
  8. worker  a real poc_tasks Celery worker on a private redis-server (Koku's broker = Koku's REDIS_URL)
  9. run     Koku's update_summary_tables for OCP, Koku's update_cost_model_costs for it (patch 0009: the
             cost model's Trino statements and look-ups to poc_tasks), then update_summary_tables for AWS, Azure
             and GCP (ocp_on_cloud=True: the daily summaries of patch 0007, the infrastructure map of 0008,
             trigger_ocp_on_cloud_summary, update_openshift_on_cloud); after each, the rows read back through
             Koku's ORM and report API and compared with Koku's answer (the oracle; benchmarks/cost_model_parity.py
             and daily_parity*.py for Koku's cost-model and daily-summary SQL on the same data)
 10. paths   the fallback path (a second tenant whose Parquet is missing: poc_tasks fails, Koku's Trino SQL runs)
             and the shadow path (USE_POC_AGGREGATOR off, POC_SHADOW_COMPARE on: Koku's path, then
             poc_tasks.shadow_compare stores its verdict), for OCP and, through patch 0010, for each cloud daily
             summary (AWS daily and EC2 compute, Azure, GCP: FakeTrino's INSERT writes Koku's Trino SQL's rows)
 11. costmodel_rtu  Koku's update_cost_model_costs again with its RTU flag on (use_rtu=True, passed by patch 0009 to
             every step with an _rtu variant): poc_tasks' rates_to_usage rows against Koku's _rtu statements

Trino and Unleash cannot run here: Unleash is Koku's own MockUnleashClient, Trino a recorder
(integration/koku_driver.py FakeTrino) that answers the few questions asked before a summary from the dataset.

    integration/run_koku.py --koku /path/to/koku [--work /work/koku-run] [--database koku_i13] [--skip-install]
        [--steps venv,patch,migrate,tenant,ddl,data,sources,worker,run,paths,costmodel_rtu] [--refresh-snapshot]

Prints a table per provider (rows, totals, equal or not) and exits 0 only when every comparison is equal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ORACLE = Path(os.environ.get("ORACLE_DIR", "/work/shared/oracle"))
# costmodel_rtu last: Koku's RTU pipeline rebuilds the tenant's cost-model rows from rates_to_usage
ALL_STEPS = ["venv", "patch", "migrate", "tenant", "ddl", "data", "sources", "worker", "run", "paths", "costmodel_rtu"]
EXTRA_STEPS = ["costmodel"]  # part of "run" (after the OCP summary, as Koku chains it); alone for a re-run
ORG, ACCOUNT = "1234567", "10001"
SCHEMA = f"org{ORG}"
ORG2 = "7654321"
SCHEMA2 = f"org{ORG2}"
MARKUP, DISTRIBUTION = "10", "memory"
CLOUDS = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
# every step poc_tasks takes over inside Koku: the summaries (0002-0005), Trino off (0007 daily summaries, 0008 the
# infrastructure map; 0009's cost-model steps and look-ups are routed as OCP)
ROUTED = ["OCP", "OCP-on-AWS", "OCP-on-Azure", "OCP-on-GCP", "AWS-daily", "AWS-EC2-compute", "Azure-daily",
          "GCP-daily", "OCP-infra-map"]
# the cloud daily summary tables poc_tasks writes through patch 0007: (flow, table, parity script flow name)
DAILY = {"aws": [("AWS-daily", "reporting_awscostentrylineitem_daily_summary", "aws"),
                 ("AWS-EC2-compute", "reporting_awscostentrylineitem_summary_by_ec2_compute_p", "aws_ec2")],
         "azure": [("Azure-daily", "reporting_azurecostentrylineitem_daily_summary", "azure")],
         "gcp": [("GCP-daily", "reporting_gcpcostentrylineitem_daily_summary", "gcp")]}
# Koku's ids of rows it owns differ between Koku's tenant and a reference database by construction
DAILY_IGNORED = "cost_entry_bill_id,account_alias_id,organizational_unit_id,uuid"
# the OCP Trino tables of the dataset, answered by FakeTrino's existence checks in the cost-model run
OCP_TRINO_TABLES = ["openshift_pod_usage_line_items", "openshift_pod_usage_line_items_daily",
                    "openshift_storage_usage_line_items", "openshift_storage_usage_line_items_daily",
                    "openshift_node_labels_line_items", "openshift_node_labels_line_items_daily",
                    "openshift_namespace_labels_line_items", "openshift_namespace_labels_line_items_daily",
                    "openshift_gpu_usage_line_items", "openshift_gpu_usage_line_items_daily",
                    "openshift_vm_usage_line_items", "openshift_vm_usage_line_items_daily"]
POC = str(Path(sys.executable).parent / "poc-tasks")


def sh(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


class Run:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.koku = Path(a.koku).resolve()
        self.work = Path(a.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.venv = self.work / "venv"
        self.py = self.venv / "bin" / "python"
        self.data = self.work / "data"
        self.ref = self.work / "ref"
        self.db_url = f"postgresql://{a.pg_user}@{a.pg_host}:{a.pg_port}/{a.database}"
        self.dsn = f"host={a.pg_host} port={a.pg_port} user={a.pg_user} dbname={a.database}"
        self.state_file = self.work / "state.json"
        self.state: dict[str, Any] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.ok = True
        self.results: list[tuple[str, str, str, str]] = []

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))

    # --- environment ---------------------------------------------------------------------------------------------
    def redis_port(self) -> int:
        port = self.state.get("redis_port")
        if port and self._answers(port):
            return port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no"], stdout=open(self.work / "redis.log", "w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(50):
            if self._answers(port):
                break
            time.sleep(0.1)
        self.state.update(redis_port=port, redis_pid=proc.pid)
        self.save()
        return port

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def koku_env(self, **extra: str) -> dict[str, str]:
        port = self.redis_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_", "DJANGO_"))}
        env.update(
            DATABASE_SERVICE_NAME="POSTGRES_SQL", DATABASE_ENGINE="postgresql", DATABASE_NAME=self.a.database,
            DATABASE_USER=self.a.pg_user, DATABASE_PASSWORD=os.environ.get("PGPASSWORD", "postgres"),
            POSTGRES_SQL_SERVICE_HOST=self.a.pg_host, POSTGRES_SQL_SERVICE_PORT=str(self.a.pg_port),
            REDIS_HOST="127.0.0.1", REDIS_PORT=str(port), DEVELOPMENT="False", ONPREM="False",
            KOKU_LOG_LEVEL="INFO", DJANGO_LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="koku.settings",
            PROMETHEUS_MULTIPROC_DIR=str(self.work / "prometheus"), TRINO_DATE_STEP="5",
            # poc_tasks routing, read by poc_tasks.koku inside Koku's process
            USE_POC_AGGREGATOR="true", POC_AGGREGATOR_PROVIDERS=",".join(ROUTED),
            # the look-ups answered in Koku's own process (GCP invoice dates/topology, the pod Parquet's time range,
            # GPU data of a month) read the Parquet there
            POC_DATA_ROOT=str(self.data),
            POC_AGGREGATOR_TIMEOUT="900", ENHANCED_ORG_ADMIN="True",  # org admins skip RBAC (no RBAC service)
            API_PATH_PREFIX="/api/cost-management",
        )
        (self.work / "prometheus").mkdir(exist_ok=True)
        env.update(extra)
        return env

    def driver(self, command: str, args: dict[str, Any], **env: str) -> dict[str, Any]:
        log = self.work / f"driver-{command}.log"
        with open(log, "a") as err:
            r = subprocess.run([str(self.py), "-W", "ignore", str(HERE / "koku_driver.py"), command, json.dumps(args)],
                               cwd=self.koku / "koku", env=self.koku_env(**env), stdout=subprocess.PIPE,
                               stderr=err, text=True)
        if r.returncode:
            raise SystemExit(f"koku_driver {command} failed (exit {r.returncode}); see {log}:\n"
                             + log.read_text()[-4000:])
        return json.loads(r.stdout.strip().splitlines()[-1])

    # --- steps ---------------------------------------------------------------------------------------------------
    def step_venv(self) -> None:
        if self.a.skip_install and self.py.exists():
            return
        if not self.py.exists():
            sh([self.a.python, "-m", "venv", str(self.venv)])
        req = self.work / "koku-requirements.txt"
        with open(req, "w") as f:
            sh([sys.executable, str(HERE / "pipfile_lock_to_requirements.py"), str(self.koku / "Pipfile.lock")],
               stdout=f)
        sh([str(self.py), "-m", "pip", "install", "-q", "--upgrade", "pip", "wheel"])
        sh([str(self.py), "-m", "pip", "install", "-q", "-r", str(req)])
        sh([str(self.py), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)])

    def step_patch(self) -> None:
        for patch in sorted((HERE / "koku").glob("*.patch")):
            applied = subprocess.run(["git", "-C", str(self.koku), "apply", "--reverse", "--check", str(patch)],
                                     capture_output=True).returncode == 0
            if applied:
                print(f"  {patch.name}: already applied")
                continue
            sh(["git", "-C", str(self.koku), "apply", "--check", str(patch)])
            sh(["git", "-C", str(self.koku), "apply", str(patch)])
        code = ("import django; django.setup(); import masu.processor.tasks, masu.celery.tasks, "
                "masu.database.aws_report_db_accessor, masu.database.azure_report_db_accessor, "
                "masu.database.gcp_report_db_accessor, masu.database.ocp_report_db_accessor, "
                "masu.processor.ocp.ocp_cloud_parquet_summary_updater, masu.processor.ocp.ocp_cost_model_cost_updater, "
                "masu.processor.aws.aws_report_parquet_summary_updater, "  # 0010's three updaters
                "masu.processor.azure.azure_report_parquet_summary_updater, "
                "masu.processor.gcp.gcp_report_parquet_summary_updater, "
                "poc_tasks.koku, poc_tasks.koku.cost_model; print('imports ok')")
        sh([str(self.py), "-W", "ignore", "-c", code], cwd=self.koku / "koku", env=self.koku_env())

    def step_migrate(self) -> None:
        exists = subprocess.run(["psql", "-h", self.a.pg_host, "-p", str(self.a.pg_port), "-U", self.a.pg_user,
                                 "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{self.a.database}'"],  # noqa: S608
                                capture_output=True, text=True).stdout.strip() == "1"
        if not exists:
            sh(["createdb", "-h", self.a.pg_host, "-p", str(self.a.pg_port), "-U", self.a.pg_user, self.a.database])
        with open(self.work / "migrate.log", "w") as log:
            sh([str(self.py), "-W", "ignore", "manage.py", "migrate_schemas"], cwd=self.koku / "koku",
               env=self.koku_env(), stdout=log, stderr=subprocess.STDOUT)

    def step_tenant(self) -> None:
        for org in (ORG, ORG2):
            print("  tenant", self.driver("tenant", {"org_id": org, "account": ACCOUNT if org == ORG else None}))

    def step_ddl(self) -> None:
        env = dict(os.environ, POC_DATABASE_URL=self.db_url)
        snapshot = HERE / "koku_ddl_snapshot.json"
        koku_now = self.work / "koku_ddl.json"
        poc = [sys.executable, "-m", "poc_tasks.db.ddl_snapshot"]
        sh([*poc, "describe", "--database-url", self.db_url, "--schema", SCHEMA, "--out", str(koku_now)], env=env)
        if self.a.refresh_snapshot:
            shutil.copy(koku_now, snapshot)
            print(f"  snapshot refreshed: {snapshot}")
        scratch = "org_i13_initdb"
        subprocess.run(["psql", self.dsn, "-qc", f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE'], check=True,
                       capture_output=True)
        sh([POC, "init-db", "--database-url", self.db_url, "--schema", scratch], env=env)
        for label, reference in (("Koku's tenant", koku_now), ("the snapshot", snapshot)):
            r = subprocess.run([*poc, "diff", "--database-url", self.db_url, "--schema", scratch, "--snapshot",
                                str(reference)], env=env, capture_output=True, text=True)
            print(f"  init-db vs {label}:\n    " + "\n    ".join(r.stdout.strip().splitlines()))
            self.results.append(("DDL", f"init-db vs {label}", r.stdout.strip().splitlines()[-1],
                                 "equal" if r.returncode == 0 else "DIFFERENT"))
            self.ok &= r.returncode == 0
        subprocess.run(["psql", self.dsn, "-qc", f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE'], check=True,
                       capture_output=True)

    def step_data(self) -> None:
        if not (self.data / "scenario.json").exists():
            # last month: Koku's report API accepts only dates of the last few months
            last_month = dt.date.today().replace(day=1) - dt.timedelta(days=1)
            sh([POC, "sample", "--data-root", str(self.data), "--schema", SCHEMA, "--nodes", "4", "--pods", "24",
                "--days", "3", "--year", str(last_month.year), "--month", str(last_month.month),
                "--with-aws", "--with-azure", "--with-gcp"])
            # The oracle's OCP-on-cloud references (aws_reference.py, cloud_reference.py) do not seed a scenario's
            # extra cost categories while its OCP reference does: without them every reference is the same tenant.
            scenario = json.loads((self.data / "scenario.json").read_text())
            scenario.pop("extra_cost_category_namespaces", None)
            (self.data / "scenario.json").write_text(json.dumps(scenario, indent=1))
            # GPUs and VMs (the cost-model steps of patch 0009 read them), before any reference is made
            from poc_tasks.cost_model.sample_data import add_gpus_and_vms

            add_gpus_and_vms(str(self.data), self.scenario())
        oracle_py = os.environ.get("ORACLE_PYTHON", "/work/i13-oracle-venv/bin/python")
        oracle_dsn = os.environ.get("ORACLE_DSN")
        if not oracle_dsn:
            # a database of its own: the oracle drops and re-creates public.reporting_common_diskcapacity, which
            # raced with anything else using the server's `postgres` database (a test suite's init-db) and failed
            # with a duplicate key
            database = f"{self.a.database}_oracle"
            server = ["-h", self.a.pg_host, "-p", str(self.a.pg_port), "-U", self.a.pg_user]
            subprocess.run(["dropdb", "--if-exists", *server, database], check=True)
            sh(["createdb", *server, database])
            oracle_dsn = f"host={self.a.pg_host} port={self.a.pg_port} user={self.a.pg_user} dbname={database}"
        env = dict(os.environ, KOKU_GIT_DIR=str(self.koku / ".git"), ORACLE_DSN=oracle_dsn)
        self.ref.mkdir(exist_ok=True)
        jobs = [("ocp_ref.parquet", [oracle_py, str(ORACLE / "koku_reference.py"), "--root", str(self.data), "--out",
                                     str(self.ref / "ocp_ref.parquet"), "--schema", f"ref_{self.a.database}_ocp"]),
                ("aws_ref", [oracle_py, str(ORACLE / "aws_reference.py"), "--root", str(self.data), "--out",
                             str(self.ref / "aws_ref"), "--schema", f"ref_{self.a.database}_aws", "--markup", MARKUP,
                             "--distribution", DISTRIBUTION])]
        for c in ("azure", "gcp"):
            jobs.append((f"{c}_ref", [oracle_py, str(ORACLE / "cloud_reference.py"), "--provider", c, "--root",
                                      str(self.data), "--out", str(self.ref / f"{c}_ref"), "--schema",
                                      f"ref_{self.a.database}_{c}", "--markup", MARKUP, "--distribution",
                                      DISTRIBUTION]))
        for out, cmd in jobs:
            if not (self.ref / out).exists():
                log_path = self.work / f"oracle-{out}.log"
                with open(log_path, "w") as log:
                    print("+", " ".join(cmd), flush=True)
                    code = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
                # aws_reference.py exits 3 when its own per-day cost-conservation self-check flags a day; it has
                # written the reference tables by then, and they are what Koku's SQL computed
                if code and not (code == 3 and (self.ref / out).exists()):
                    raise SystemExit(f"oracle {out} failed (exit {code}); see {log_path}")
                if code:
                    print(f"  {out}: the oracle's conservation self-check flagged a day (see {log_path})")
        self.cost_model_reference(env)
        self.daily_references(oracle_py)

    def ref_db_url(self, name: str) -> str:
        return f"postgresql://{self.a.pg_user}@{self.a.pg_host}:{self.a.pg_port}/{name}"

    def cost_model_reference(self, env: dict[str, str]) -> None:
        """Koku's cost-model statements (its PostgreSQL port, rendered from the Koku checkout) on the same dataset
        and the same rates: benchmarks/cost_model_parity.py in its own database; its koku.parquet (the rows of the
        statements patch 0009 hands to poc_tasks) and dist_koku.parquet (gpu_distributed) are Koku's answer."""
        out = self.ref / "cost_model"
        if (out / "koku.parquet").exists():
            return
        database = f"{self.a.database}_cmref"
        subprocess.run(["dropdb", "--if-exists", "-h", self.a.pg_host, "-p", str(self.a.pg_port), "-U",
                        self.a.pg_user, database], check=True)
        sh(["createdb", "-h", self.a.pg_host, "-p", str(self.a.pg_port), "-U", self.a.pg_user, database])
        tmp = self.work / "cmref-tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        log_path = self.work / "oracle-cost-model.log"
        with open(log_path, "w") as log:
            cmd = [sys.executable, str(REPO / "benchmarks" / "cost_model_parity.py"), "--root", str(self.data),
                   "--dsn", f"{self.dsn.rsplit('dbname=', 1)[0]}dbname={database}", "--koku-git-dir",
                   env["KOKU_GIT_DIR"], "--keep", "--distribution", DISTRIBUTION]  # the OCP cost model's: routes
            # the metric_type of Koku's OCP_VM_CORE _rtu rows
            print("+", " ".join(cmd), flush=True)
            code = subprocess.run(cmd, env=dict(env, TMPDIR=str(tmp), POC_ORACLE_DIR=str(ORACLE)), stdout=log,
                                  stderr=subprocess.STDOUT).returncode
        work = next(tmp.glob("cmparity-*"), None)
        if work is None or not (work / "koku.parquet").exists():
            raise SystemExit(f"cost-model reference failed (exit {code}); see {log_path}")
        if code:  # Koku's rows are written before the parity verdict; a poc_tasks difference there shows up later
            print(f"  cost_model_parity.py exit {code} (its own poc-vs-Koku verdict; see {log_path})")
        out.mkdir(parents=True, exist_ok=True)
        for name in ("koku.parquet", "dist_koku.parquet"):
            shutil.copy(work / name, out / name)

    def daily_references(self, oracle_py: str) -> None:
        """Koku's Trino SQL of the cloud daily summaries on DuckDB (benchmarks/daily_parity*.py, kept databases
        <database>_daily_<flow>_ref): Koku's answer for the tables patch 0007 hands to poc_tasks."""
        sc = self.scenario()
        prefix = f"{self.a.database}_daily"
        env = dict(os.environ, KOKU_GIT_DIR=str(self.koku / ".git"), ORACLE_DIR=str(ORACLE),
                   POC_PARITY_URL=self.ref_db_url(""))
        jobs = [("aws", [oracle_py, str(REPO / "benchmarks" / "daily_parity.py"), str(self.data), "--flows",
                         "aws,aws-ec2", "--no-org-units", "--keep", "--prefix", prefix, "--markup", MARKUP])]
        for c in ("azure", "gcp"):
            jobs.append((c, [oracle_py, str(REPO / "benchmarks" / "daily_parity_azure_gcp.py"), str(self.data),
                             "--provider", c, "--keep", "--prefix", prefix, "--markup", MARKUP, "--start",
                             sc["start_date"], "--end", sc["end_date"]]))
        done = self.state.setdefault("daily_refs", [])
        for name, cmd in jobs:
            if name in done:
                continue
            log_path = self.work / f"oracle-daily-{name}.log"
            with open(log_path, "w") as log:
                print("+", " ".join(cmd), flush=True)
                code = subprocess.run(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode
            if code:
                print(f"  daily parity {name}: exit {code} (poc_tasks vs Koku's SQL outside Koku; see {log_path})")
            done.append(name)
            self.save()

    def scenario(self) -> dict[str, Any]:
        return json.loads((self.data / "scenario.json").read_text())

    def step_sources(self) -> None:
        sys.path.insert(0, str(REPO))
        from benchmarks.cloud_parity import cloud_keys, label_keys

        sc = self.scenario()
        enabled = set(sc.get("enabled_tag_keys") or [])
        tag_keys = [(k, k in enabled, "OCP") for k in sorted(label_keys(self.data, sc) | enabled)]
        for prov, ptype in CLOUDS.items():
            tag_keys += [(k, on, ptype) for k, on in cloud_keys(prov, sc[prov])]
        aws = sc["aws"]
        providers = [{"uuid": sc["source_uuid"], "name": sc["cluster_alias"], "type": "OCP",
                      "credentials": {"cluster_id": sc["cluster_id"]}},
                     {"uuid": aws["source_uuid"], "name": aws["source_name"], "type": "AWS",
                      "credentials": {"role_arn": "arn:aws:iam::999900000001:role/i13"},
                      "data_source": {"bucket": "i13-bucket"}},
                     {"uuid": sc["azure"]["source_uuid"], "name": sc["azure"]["source_name"], "type": "Azure",
                      "credentials": {"client_id": "i13-client", "tenant_id": "i13-tenant", "client_secret": "x",
                                      "subscription_id": sc["azure"]["features"]["subscription"]},
                      "data_source": {"resource_group": "i13-rg", "storage_account": "i13sa"}},
                     {"uuid": sc["gcp"]["source_uuid"], "name": sc["gcp"]["source_name"], "type": "GCP",
                      "credentials": {"project_id": sc["gcp"]["features"]["project"]},
                      "data_source": {"dataset": "i13_dataset", "table_id": "i13_table"}}]
        cost_models = [{"name": "i13 cloud markup", "description": "markup on each cloud source",
                        "source_type": ptype, "markup": {"value": MARKUP, "unit": "percent"}, "rates": [],
                        "provider_uuids": [sc[prov]["source_uuid"]]} for prov, ptype in CLOUDS.items()]
        for i, cm in enumerate(cost_models):
            cm["name"] = f"{cm['name']} {i}"
        # the OCP source's cost model: the memory distribution the OCP-on-cloud runs read, and the sample's GPU, VM
        # and project rates (poc_tasks.cost_model.sample_data), which Koku's cost-model run prices through the
        # statements patch 0009 hands to poc_tasks; markup 0 (the OCP-on-cloud references assume no OCP markup)
        from poc_tasks.cost_model.sample_data import cost_model_rows

        day = dt.date.fromisoformat(sc["start_date"])
        rates = cost_model_rows(sc["source_uuid"], day, dt.date.fromisoformat(sc["end_date"]))["cost_model"][0]["rates"]
        cost_models.append({"name": "i13 OCP distribution", "description": "memory distribution, sample rates",
                            "source_type": "OCP", "rates": json.loads(json.dumps(rates)),
                            "markup": {"value": "0", "unit": "percent"},
                            "distribution_info": {"distribution_type": DISTRIBUTION, "platform_cost": True,
                                                  "worker_cost": True, "gpu_unallocated": True},
                            "provider_uuids": [sc["source_uuid"]]})
        aliases = [(a, f"alias-{a}") for a in sorted(set(aws.get("usage_accounts", [])) | {aws["payer_account"]})]
        print("  ", self.driver("providers", {
            "schema": SCHEMA, "providers": providers, "cost_models": cost_models, "start": sc["start_date"],
            "payer": aws["payer_account"], "tag_keys": tag_keys, "category_keys": aws.get("category_keys", []),
            "account_aliases": aliases, "cost_categories": sc.get("extra_cost_category_namespaces", {})}))
        # the second tenant: an OCP source whose Parquet does not exist (the fallback path)
        self.state["ocp2"] = self.state.get("ocp2") or str(uuid.uuid4())
        self.save()
        print("  ", self.driver("providers", {
            "schema": SCHEMA2, "providers": [{"uuid": self.state["ocp2"], "name": "fallback cluster", "type": "OCP",
                                              "credentials": {"cluster_id": "fallback-cluster"}}],
            "cost_models": [], "start": sc["start_date"], "tag_keys": []}))

    def worker_env(self) -> dict[str, str]:
        port = self.redis_port()
        broker = f"redis://127.0.0.1:{port}/1"  # Koku's REDIS_URL (REDIS_DB = 1)
        return dict(os.environ, CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=broker, POC_DATABASE_URL=self.db_url,
                    POC_DATA_ROOT=str(self.data), MALLOC_ARENA_MAX="1")

    def step_worker(self) -> None:
        pid = self.state.get("worker_pid")
        if pid and Path(f"/proc/{pid}").exists():
            return
        celery = Path(sys.executable).parent / "celery"
        proc = subprocess.Popen([str(celery), "-A", "poc_tasks", "worker", "-Q", "poc_aggregation,poc_aggregation_xl",
                                 "-E", "--concurrency", "2", "--loglevel", "INFO", "-n", "i13@%h"],
                                env=self.worker_env(), stdout=open(self.work / "worker.log", "a"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.state["worker_pid"] = proc.pid
        self.save()
        time.sleep(8)

    def summarize(self, schema: str, ptype: str, source: str, infra: list[str] | None, reference: str | None = None,
                  daily_reference: dict[str, Any] | None = None, ocp_on_cloud: bool = True,
                  **env: str) -> dict[str, Any]:
        sc = self.scenario()
        tracing = f"i13-{ptype.lower()}-{uuid.uuid4().hex[:8]}"
        return self.driver("summarize", {
            "schema": schema, "provider_type": ptype, "provider_uuid": source, "start": sc["start_date"],
            "end": sc["end_date"], "tracing_id": tracing, "ocp_on_cloud": ocp_on_cloud,
            "trino": {"payer": sc["aws"]["payer_account"], "start": sc["start_date"], "end": sc["end_date"],
                      "infra": infra, "ocp_reference": reference, "daily_reference": daily_reference,
                      "schema": schema}}, **env) | {"tracing_id": tracing}

    def compare_ocp(self) -> None:
        """Koku's OCP daily summary rows (those without infrastructure cost: the OCP-on-cloud runs add the others)
        against Koku's SQL on the same Parquet (the oracle's koku_reference.py)."""
        import pandas as pd
        import psycopg2

        oracle_py = os.environ.get("ORACLE_PYTHON", "/work/i13-oracle-venv/bin/python")
        table = "reporting_ocpusagelineitem_daily_summary"
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s"
                        " AND table_name = %s ORDER BY ordinal_position", (SCHEMA, table))
            cols = ", ".join(f'"{n}"::text AS "{n}"' if t in ("jsonb", "uuid") else f'"{n}"'
                             for n, t in cur.fetchall())
            cur.execute(f'SELECT {cols} FROM "{SCHEMA}".{table} WHERE infrastructure_raw_cost IS NULL')  # noqa: S608
            frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        frame.to_parquet(self.work / "koku_ocp_summary.parquet")
        r = subprocess.run([oracle_py, str(ORACLE / "compare.py"), "--ignore-columns", "report_period_id",
                            str(self.ref / "ocp_ref.parquet"), str(self.work / "koku_ocp_summary.parquet")],
                           capture_output=True, text=True)
        (self.work / "compare-ocp.log").write_text(r.stdout + r.stderr)
        last = (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]
        self.results.append(("OCP", f"{table} vs Koku's SQL", last, "equal" if r.returncode == 0 else "DIFFERENT"))
        self.ok &= r.returncode == 0

    def compare_cloud(self, prov: str) -> None:
        """benchmarks/cloud_parity.py --no-run on Koku's tenant: every table poc_tasks wrote for the provider against
        Koku's SQL (the oracle's reference, made with the same markup and distribution)."""
        oracle_py = os.environ.get("ORACLE_PYTHON", "/work/i13-oracle-venv/bin/python")
        env = dict(os.environ, POC_PARITY_DSN=self.dsn, POC_DATABASE_URL=self.db_url, ORACLE_PYTHON=oracle_py,
                   ORACLE_COMPARE=str(ORACLE / "compare.py"), POC_PARITY_WORK=str(self.work / "parity"))
        r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cloud_parity.py"), str(self.data),
                            "--provider", prov, "--ref", str(self.ref / f"{prov}_ref"), "--schema", SCHEMA,
                            "--no-run"], env=env, capture_output=True, text=True)
        (self.work / f"parity-{prov}.log").write_text(r.stdout + r.stderr)
        label, all_equal = f"OCP-on-{CLOUDS[prov]}", True
        for line in r.stdout.splitlines():
            if "oracle:" not in line:
                continue
            table, measured = line.split("oracle:", 1)
            table, measured = table.strip(), "oracle:" + measured.strip()
            equal = "rows match" in measured.split("(")[0] and "differ" not in measured.split("(")[0]
            if not equal and table.startswith("back-populated"):
                # Koku's OCPCloudParquetReportSummaryUpdater runs OCPCostModelCostUpdater._update_markup_cost after
                # the OCP-on-cloud summary (PostgreSQL, the same on Koku's Trino path): with the OCP cost model's
                # markup 0 it sets infrastructure(_project)_markup_cost to 0.0 where the oracle, which stops at the
                # summary, leaves NULL. Everything else must match.
                out = next((self.work / "parity").glob(f"*_{prov}_out"))
                again = subprocess.run([oracle_py, str(ORACLE / "compare.py"), "--abs-tol", "5e-8", "--ignore-columns",
                                        "report_period_id,infrastructure_markup_cost,infrastructure_project_markup_cost",
                                        str(out / "backpop_ref.parquet"), str(out / "backpop.parquet")],
                                       capture_output=True, text=True)
                last = (again.stdout.strip().splitlines() or ["?"])[-1]
                equal = again.returncode == 0
                measured = f"{last} (without the markup columns Koku's _update_markup_cost sets to 0.0 afterwards)"
            all_equal &= equal
            self.results.append((label, table, measured[:150], "equal" if equal else "DIFFERENT"))
        if "oracle:" not in r.stdout:
            all_equal = False
            self.results.append((label, "cloud_parity.py", f"exit {r.returncode}: {r.stderr.strip()[-150:]}",
                                 "FAILED"))
        self.ok &= all_equal

    def readback(self, label: str) -> dict[str, Any]:
        sc = self.scenario()
        out = self.driver("readback", {"schema": SCHEMA, "ocp_uuid": sc["source_uuid"]})
        print(f"  Koku ORM after {label}: {json.dumps(out)}")
        return out

    def step_run(self) -> None:
        sc = self.scenario()
        ocp = sc["source_uuid"]
        res = self.summarize(SCHEMA, "OCP", ocp, None)
        self.log_summary("OCP", res)
        self.readback("OCP")
        self.compare_ocp()
        api = self.driver("report_api", {"org_id": ORG, "account": ACCOUNT, "paths": {
            "openshift compute": "/api/cost-management/v1/reports/openshift/compute/?filter[resolution]=monthly"
                                 f"&start_date={sc['start_date']}&end_date={sc['end_date']}",
        }})
        print("  report API:", api)
        # the report's usage is the projects' (Koku's "unallocated" rows carry the unused capacity)
        orm = self.readback("the report API")["OCP"]["projects_pod_usage_cpu_core_hours"]
        usage = (api["openshift compute"].get("total") or {}).get("usage", {}).get("value")
        same = usage is not None and abs(float(usage) - orm) <= 1e-6 * max(1.0, abs(orm))
        self.results.append(("OCP", "report API compute total usage vs ORM sum", f"{usage} vs {orm:.6f}",
                             "equal" if same else "DIFFERENT"))
        self.ok &= same
        # Koku chains update_cost_model_costs after the OCP summary (here: called, the chain is not consumed)
        self.step_costmodel()
        for prov, ptype in CLOUDS.items():
            res = self.summarize(SCHEMA, ptype, sc[prov]["source_uuid"], [ocp, sc[prov]["source_uuid"], ptype])
            self.log_summary(f"OCP-on-{ptype}", res)
            if self.hook_ran(f"OCP-on-{ptype}", res, "OCP-infra-map", "infrastructure map (0008)"):
                found, expected = res.get("ocp_infrastructure"), [sc[prov]["source_uuid"], ptype]
                self.results.append((f"OCP-on-{ptype}", "infrastructure map (0008): Koku's provider row after it",
                                     f"{found} (the dataset's match: {expected})",
                                     "equal" if found == expected else "DIFFERENT"))
                self.ok &= found == expected
            self.readback(f"OCP-on-{ptype}")
            self.compare_cloud(prov)
            self.compare_daily(prov, res)

    def hook_ran(self, label: str, res: dict[str, Any], kind: str, what: str) -> bool:
        """Did Koku's run (this call's log) reach the hook and did poc_tasks answer it ("run done"), and with
        Koku's tracing id? (Koku asks for the infrastructure map outside the updater call 0006 traces.)"""
        ran = [x for x in res["poc_log"] if f"poc_tasks {kind} run done" in x]
        traced = [x for x in ran if res["tracing_id"] in x]
        fell = [x for x in res["poc_log"] if f"poc_tasks {kind} run failed" in x]
        self.results.append((label, f"{what}: hook path", f"{len(ran)} poc_tasks {kind} run(s) done "
                             f"({len(traced)} with the tracing id), {len(fell)} fallback(s)",
                             "poc" if ran and not fell else "NOT poc"))
        self.ok &= bool(ran) and not fell
        return bool(ran)

    def export(self, url: str, schema: str, table: str, out: Path, where: str = "TRUE") -> int:
        """A table's rows as Parquet for compare.py: jsonb/uuid as text, arrays as their sorted elements, numerics
        as floats. `where` is this script's own filter text."""
        import pandas as pd
        import psycopg2
        from psycopg2 import sql

        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s"
                        " AND table_name = %s ORDER BY ordinal_position", (schema, table))
            cols = [(n, t) for n, t in cur.fetchall() if n != "uuid"]
            array = "(SELECT string_agg(coalesce(x, '<NULL>'), '|' ORDER BY x) FROM unnest({0}) AS x) AS {0}"
            sel = [sql.SQL(array).format(sql.Identifier(n)) if t == "ARRAY" else
                   sql.SQL("{0}::text AS {0}").format(sql.Identifier(n)) if t in ("jsonb", "uuid") else
                   sql.Identifier(n) for n, t in cols]
            cur.execute(sql.SQL("SELECT {} FROM {}.{} WHERE {}").format(
                sql.SQL(", ").join(sel), sql.Identifier(schema), sql.Identifier(table), sql.SQL(where)))
            frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        for c in frame.columns:
            if frame[c].map(lambda v: type(v).__name__ == "Decimal").any():
                frame[c] = frame[c].astype(float)
        frame.to_parquet(out, index=False)
        return len(frame)

    def oracle_compare(self, label: str, what: str, expected: Path, actual: Path, *options: str) -> bool:
        oracle_py = os.environ.get("ORACLE_PYTHON", "/work/i13-oracle-venv/bin/python")
        r = subprocess.run([oracle_py, str(ORACLE / "compare.py"), *options, str(expected), str(actual)],
                           capture_output=True, text=True)
        log = self.work / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"compare-{label}-{' '.join(what.split()[:3])}.log")
        log.write_text(r.stdout + r.stderr)
        last = (r.stdout.strip().splitlines() or [r.stderr.strip()[-150:]])[-1]
        self.results.append((label, f"{what} vs Koku's SQL", last, "equal" if r.returncode == 0 else "DIFFERENT"))
        self.ok &= r.returncode == 0
        return r.returncode == 0

    def compare_daily(self, prov: str, res: dict[str, Any]) -> None:
        """Trino off (patch 0007): the cloud daily summary tables poc_tasks wrote inside Koku against Koku's Trino SQL
        on the same Parquet (run on DuckDB into <database>_daily_<flow>_ref)."""
        sc = self.scenario()
        label = CLOUDS[prov]
        for kind, table, flow in DAILY[prov]:
            if not self.hook_ran(label, res, kind, f"{table} (0007)"):
                continue
            ours, ref = self.work / f"daily_{flow}_koku.parquet", self.work / f"daily_{flow}_ref.parquet"
            source = f"source_uuid = '{sc[prov]['source_uuid']}'"  # our own uuid
            n = self.export(self.db_url, SCHEMA, table, ours, source)
            m = self.export(self.ref_db_url(f"{self.a.database}_daily_{flow}_ref"), SCHEMA, table, ref)
            key = {"aws": "usage_start,usage_account_id,product_code,product_family,availability_zone,region,"
                          "instance_type,unit,tags,cost_category,resource_ids",
                   "aws_ec2": "resource_id,instance_type,tags,cost_category,memory,vcpu"}.get(flow, "usage_start")
            self.oracle_compare(label, f"{table} ({n} rows; Koku's SQL {m})", ref, ours, "--key", key,
                                "--ignore-columns", DAILY_IGNORED, "--abs-tol", "1.01e-9")

    def step_costmodel_rtu(self) -> None:
        """Koku's update_cost_model_costs with its RTU flag on (Koku's use_rtu=True, patch 0009 passes it to every
        step with an _rtu variant): poc_tasks' steps then write rates_to_usage rows, compared with Koku's _rtu
        statements on the same data and rates (cost_model_parity.py's rtu_koku.parquet / rtudist_koku.parquet).
        FakeTrino writes nothing, so every such row in rates_to_usage is poc_tasks' (and only with use_rtu=True)."""
        import psycopg2

        sys.path.insert(0, str(REPO))
        from benchmarks.cost_model_parity import RTU_KEY, export_rtu

        sc = self.scenario()
        tracing = f"i13-costmodel-rtu-{uuid.uuid4().hex[:8]}"
        res = self.driver("cost_model", {
            "schema": SCHEMA, "provider_uuid": sc["source_uuid"], "start": sc["start_date"], "end": sc["end_date"],
            "tracing_id": tracing, "use_rtu": True,
            "trino": {"payer": sc["aws"]["payer_account"], "start": sc["start_date"], "end": sc["end_date"],
                      "schema": SCHEMA, "tables": OCP_TRINO_TABLES}}) | {"tracing_id": tracing}
        print(f"  OCP cost model (RTU): tracing_id {tracing}; {res['trino_statements']} Trino statement(s) recorded; "
              f"Trino INSERTs: {res['trino_inserts']}")
        done = [x for x in res["poc_log"] if "poc_tasks OCP run done" in x and tracing in x]
        fell = [x for x in res["poc_log"] if "falling back to Trino" in x]
        ok = bool(done) and not fell and not res["trino_inserts"]
        self.results.append(("OCP cost model (RTU)", "hook path (0009, use_rtu=True)",
                             f"{len(done)} poc_tasks answer(s) with the tracing id, {len(fell)} fallback(s), "
                             f"{len(res['trino_inserts'])} Trino INSERT(s)", "poc" if ok else "NOT poc"))
        self.ok &= ok
        ours = [line for line in (self.work / "worker.log").read_text().splitlines() if tracing in line]
        steps = sorted({m for line in ours if "steps=" in line
                        for m in re.findall(r"'([a-z_]+)'", line.split("steps=", 1)[1])})
        self.results.append(("OCP cost model (RTU)", "what the worker ran", f"steps {', '.join(steps)}", "poc"))
        reference = next((self.work / "cmref-tmp").glob("cmparity-*"))
        ignored = "report_period_id,cost_model_id,rate_id"
        with psycopg2.connect(self.dsn) as conn:
            # the keys cost_model_parity.py compares these tables by
            for name, kind, what, key in (
                    ("rtu", None, "rates_to_usage rows of the _rtu statements", RTU_KEY),
                    ("rtudist", "gpu_distributed", "rates_to_usage gpu_distributed rows",
                     "usage_start,namespace,node,custom_name,metric_type")):
                ours = self.work / f"cost_model_{name}_koku.parquet"
                n = export_rtu(conn, SCHEMA, sc["source_uuid"], ours, kind)
                if kind is None:  # only the rates of the steps (Koku's PostgreSQL rtu statements write others)
                    import pandas as pd

                    names = set(pd.read_parquet(reference / "rtu_koku.parquet")["custom_name"].dropna())
                    frame = pd.read_parquet(ours)
                    frame = frame[frame["custom_name"].isin(names)]
                    frame.to_parquet(ours, index=False)
                    n = len(frame)
                self.oracle_compare("OCP cost model (RTU)", f"{what} ({n})", reference / f"{name}_koku.parquet", ours,
                                    "--key", key, "--ignore-columns", ignored)

    def step_costmodel(self) -> None:
        """Koku's update_cost_model_costs for the OCP source (patch 0009's hooks: each Trino statement of the cost
        model handed to poc_tasks' apply_ocp_cost_model), then its rows against Koku's statements on the same
        data (cost_model_parity.py's reference)."""
        sc = self.scenario()
        tracing = f"i13-costmodel-{uuid.uuid4().hex[:8]}"
        res = self.driver("cost_model", {
            "schema": SCHEMA, "provider_uuid": sc["source_uuid"], "start": sc["start_date"], "end": sc["end_date"],
            "tracing_id": tracing,
            "trino": {"payer": sc["aws"]["payer_account"], "start": sc["start_date"], "end": sc["end_date"],
                      "schema": SCHEMA, "tables": OCP_TRINO_TABLES}}) | {"tracing_id": tracing}
        print(f"  OCP cost model: tracing_id {tracing}; {res['trino_statements']} Trino statement(s) recorded; "
              f"Trino INSERTs: {res['trino_inserts']}")
        for line in res["poc_log"]:
            print("    " + line[:200])
        done = [x for x in res["poc_log"] if "poc_tasks OCP run done" in x and tracing in x]
        fell = [x for x in res["poc_log"] if "falling back to Trino" in x]
        self.results.append(("OCP cost model", "hook path (0009: steps and look-ups)",
                             f"{len(done)} poc_tasks answer(s) with the tracing id, {len(fell)} fallback(s), "
                             f"{len(res['trino_inserts'])} Trino INSERT(s)",
                             "poc" if done and not fell and not res["trino_inserts"] else "NOT poc"))
        self.ok &= bool(done) and not fell and not res["trino_inserts"]
        ours = [line for line in (self.work / "worker.log").read_text().splitlines() if tracing in line]
        steps = sorted({m for line in ours if "steps=" in line
                        for m in re.findall(r"'([a-z_]+)'", line.split("steps=", 1)[1])})
        lookups = sorted({line.split("] lookup ", 1)[1].split()[0] for line in ours if "] lookup " in line})
        self.results.append(("OCP cost model", "what the worker ran for Koku's cost-model run",
                             f"steps {', '.join(steps)}; look-ups {', '.join(lookups) or '-'}", "poc"))
        source = f"source_uuid = '{sc['source_uuid']}'"  # our own uuid
        steps = (f"{source} AND (monthly_cost_type IN ('Tag', 'OCP_VM_CORE') OR (monthly_cost_type IS NULL"
                 " AND cost_model_rate_type IN ('Infrastructure', 'Supplementary') AND data_source = 'Pod'"
                 " AND cost_model_memory_cost IS NULL AND cost_model_volume_cost IS NULL"
                 " AND pod_labels ? 'vm_kubevirt_io_name'))")
        table = "reporting_ocpusagelineitem_daily_summary"
        ignored = "report_period_id,cost_model_id,rate_id,infrastructure_markup_cost,infrastructure_project_markup_cost"
        ours = self.work / "cost_model_koku.parquet"
        n = self.export(self.db_url, SCHEMA, table, ours, steps)
        self.oracle_compare("OCP cost model", f"GPU/VM/project cost rows ({n})", self.ref / "cost_model" /
                            "koku.parquet", ours, "--ignore-columns", ignored)
        ours = self.work / "cost_model_dist_koku.parquet"
        n = self.export(self.db_url, SCHEMA, table, ours, f"{source} AND cost_model_rate_type = 'gpu_distributed'")
        self.oracle_compare("OCP cost model", f"gpu_distributed rows ({n})", self.ref / "cost_model" /
                            "dist_koku.parquet", ours, "--ignore-columns", ignored)

    def log_summary(self, label: str, res: dict[str, Any]) -> None:
        lines = res["poc_log"]
        print(f"  {label}: tracing_id {res['tracing_id']}; {res['trino_statements']} Trino statement(s) recorded")
        for line in lines:
            print("    " + line[:200])
        ran = [x for x in lines if "run done" in x and res["tracing_id"] in x]
        self.results.append((label, "hook path", f"{len(ran)} poc_tasks run(s) done with the tracing id",
                             "poc" if ran else "NOT poc"))
        self.ok &= bool(ran)

    def step_paths(self) -> None:
        sc = self.scenario()
        # fallback: poc_tasks fails (no Parquet for this source), Koku's own SQL (recorded) runs for the chunk
        res = self.summarize(SCHEMA2, "OCP", self.state["ocp2"], None)
        fell = [x for x in res["poc_log"] if "falling back to Trino" in x]
        koku_sql = res["ocp_summary_sql_sent"]
        print(f"  fallback: {len(fell)} fallback(s) logged; Koku's summary SQL sent to Trino: {bool(koku_sql)}")
        self.results.append(("fallback", "poc fails -> Koku's SQL", f"{len(fell)} fallback(s), Trino SQL "
                             f"{'sent' if koku_sql else 'not sent'}", "ok" if fell and koku_sql else "FAILED"))
        self.ok &= bool(fell and koku_sql)
        # shadow: Koku's path runs (FakeTrino writes the rows Koku's SQL computes: the oracle's reference), then
        # poc_tasks.shadow_compare computes its own rows, compares them with the live ones and stores its verdict
        res = self.summarize(SCHEMA, "OCP", sc["source_uuid"], None, USE_POC_AGGREGATOR="false",
                             POC_SHADOW_COMPARE="true", reference=str(self.ref / "ocp_ref.parquet"))
        deadline = time.time() + 300
        verdict = None
        while time.time() < deadline and verdict is None:
            query = ("SELECT equal, live_rows, poc_rows, changed_rows, missing_rows, extra_rows FROM "  # noqa: S608
                     f"{SCHEMA}.poc_shadow_comparison WHERE tracing_id = '{res['tracing_id']}'")  # our own ids
            out = subprocess.run(["psql", self.dsn, "-Atc", query], capture_output=True, text=True).stdout.strip()
            verdict = out or None
            if verdict is None:
                time.sleep(3)
        print(f"  shadow: verdict row {verdict!r}")
        equal = bool(verdict) and verdict.startswith("t|")
        self.results.append(("shadow", "Koku's path + poc_tasks.shadow_compare",
                             f"equal|live|poc|changed|missing|extra = {verdict}", "equal" if equal else "DIFFERENT"))
        self.ok &= equal
        for prov in CLOUDS:
            self.shadow_daily(prov)

    def shadow_daily(self, prov: str) -> None:
        """Patch 0010, phase 1 of the cloud daily summaries: USE_POC_AGGREGATOR off, POC_SHADOW_COMPARE on. Koku's
        update_summary_tables runs its Trino path (FakeTrino's INSERT writes the rows Koku's Trino SQL computes on
        the same Parquet: the daily_parity reference), then its summary updater sends poc_tasks.shadow_compare
        per daily type; each verdict poc_tasks stores for the tracing id must be equal."""
        sc = self.scenario()
        ptype = CLOUDS[prov]
        refs = {flow: {"dsn": self.ref_db_url(f"{self.a.database}_daily_{flow}_ref"), "schema": SCHEMA,
                       "table": table} for _kind, table, flow in DAILY[prov]}
        # ocp_on_cloud off: this run is about the cloud summary; the OCP-on-cloud step was proven by `run`
        res = self.summarize(SCHEMA, ptype, sc[prov]["source_uuid"], None, daily_reference=refs, ocp_on_cloud=False,
                             USE_POC_AGGREGATOR="false", POC_SHADOW_COMPARE="true")
        written = res.get("daily_reference_written", [])
        sent = [x for x in res["poc_log"] if "sending poc_tasks.shadow_compare" in x and res["tracing_id"] in x]
        print(f"  shadow {ptype} daily: Koku's Trino path wrote {written}; {len(sent)} comparison(s) sent")
        kinds = [kind for kind, _table, _flow in DAILY[prov]]
        deadline, verdicts = time.time() + 300, {}
        while time.time() < deadline and len(verdicts) < len(kinds):
            query = ("SELECT provider_type, equal, live_rows, poc_rows, changed_rows, missing_rows, "  # noqa: S608
                     f"extra_rows FROM {SCHEMA}.poc_shadow_comparison WHERE tracing_id = '{res['tracing_id']}'")
            out = subprocess.run(["psql", self.dsn, "-Atc", query], capture_output=True, text=True).stdout.strip()
            verdicts = {line.split("|", 1)[0]: line.split("|", 1)[1] for line in out.splitlines() if line}
            if len(verdicts) < len(kinds):
                time.sleep(3)
        for kind in kinds:
            verdict = verdicts.get(kind)
            equal = bool(verdict) and verdict.startswith("t|") and bool(written) and verdict.split("|")[1] != "0"
            self.results.append(("shadow", f"{kind} (0010): Koku's Trino path + poc_tasks.shadow_compare",
                                 f"equal|live|poc|changed|missing|extra = {verdict}",
                                 "equal" if equal else "DIFFERENT"))
            self.ok &= equal

    def stop(self) -> None:
        for key in ("worker_pid", "redis_pid"):
            pid = self.state.pop(key, None)
            if pid:
                try:
                    os.killpg(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        self.save()

    def table(self) -> None:
        print("\n| provider | what | measured | result |\n|---|---|---|---|")
        for row in self.results:
            print("| " + " | ".join(row) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--koku", required=True, help="a Koku git checkout (patched in place)")
    ap.add_argument("--work", default="/work/koku-run")
    ap.add_argument("--database", default="koku_i13")
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument("--python", default="python3.11")
    ap.add_argument("--skip-install", action="store_true", help="keep WORK/venv as it is when it exists")
    ap.add_argument("--steps", default=",".join(ALL_STEPS))
    ap.add_argument("--refresh-snapshot", action="store_true")
    ap.add_argument("--keep-running", action="store_true", help="leave the worker and redis-server running")
    a = ap.parse_args()
    run = Run(a)
    try:
        for step in [s for s in a.steps.split(",") if s]:
            if step not in ALL_STEPS + EXTRA_STEPS:
                ap.error(f"unknown step {step!r}")
            print(f"== {step}", flush=True)
            getattr(run, f"step_{step}")()
    finally:
        if not a.keep_running:
            run.stop()
        run.table()
    return 0 if run.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
