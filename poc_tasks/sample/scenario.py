"""Tenant settings a dataset's scenario.json describes (enabled OCP label keys, extra cost categories).

In production these rows are the tenant's own (Koku's API writes them). For the sample data, the demo and the
parity tests they come from scenario.json, seeded the way the oracle harness seeds Koku's tables, so that
category ids agree.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from poc_tasks.db.connection import qualified
from poc_tasks.io.fs import filesystem, strip_scheme
from poc_tasks.io.layout import join
from poc_tasks.validate import validate_schema


def read_scenario(root: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    fs = filesystem(root, storage_options)
    with fs.open(strip_scheme(join(root, "scenario.json")), "r") as fh:
        return json.load(fh)


def seed_tenant(conn: Connection, schema: str, scenario: dict[str, Any]) -> None:
    """Enable the scenario's OCP keys and add its extra cost-category patterns (idempotent)."""
    validate_schema(schema)
    keys = qualified(schema, "reporting_enabledtagkeys")
    category = qualified(schema, "reporting_ocp_cost_category")
    namespaces = qualified(schema, "reporting_ocp_cost_category_namespace")
    with conn.cursor() as cur:
        for key in sorted(scenario.get("enabled_tag_keys") or []):
            cur.execute(
                sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, true, 'OCP') "
                        "ON CONFLICT (key, provider_type) DO UPDATE SET enabled = true").format(keys),
                (str(uuid.uuid4()), key),
            )
        for pattern, name in (scenario.get("extra_cost_category_namespaces") or {}).items():
            cur.execute(sql.SQL("SELECT id FROM {} WHERE name = %s").format(category), (name,))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    sql.SQL("INSERT INTO {} (name, description, source_type, system_default, label) "
                            "VALUES (%s, %s, 'OCP', false, '{{}}') RETURNING id").format(category),
                    (name, name),
                )
                row = cur.fetchone()
            cur.execute(
                sql.SQL("INSERT INTO {} (namespace, system_default, cost_category_id) VALUES (%s, false, %s) "
                        "ON CONFLICT (namespace) DO NOTHING").format(namespaces),
                (pattern, row[0]),
            )


CLOUD_PROVIDER_TYPES = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}


def seed_cloud_tenant(conn: Connection, schema: str, scenario: dict[str, Any], cloud: str) -> None:
    """Enabled keys of a cloud provider as Koku's ingestion leaves them (idempotent).

    Koku enables every AWS and Azure tag key it sees (under its limit) and every AWS cost-category key; GCP
    keys are recorded disabled until a user enables them (the scenario's enabled_tag_keys).
    """
    validate_schema(schema)
    provider_type = CLOUD_PROVIDER_TYPES[cloud]
    section = scenario[cloud]
    on = set(section.get("enabled_tag_keys") or [])
    keys = sorted(on | set(section.get("tag_keys_seen") or []))
    table = qualified(schema, "reporting_enabledtagkeys")
    with conn.cursor() as cur:
        for key in keys:
            cur.execute(
                sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (key, provider_type) DO UPDATE SET enabled = EXCLUDED.enabled").format(table),
                (str(uuid.uuid4()), key, key in on, provider_type),
            )
        if cloud == "aws":
            categories = qualified(schema, "reporting_awsenabledcategorykeys")
            for key in section.get("category_keys") or []:
                cur.execute(sql.SQL("INSERT INTO {} (uuid, key, enabled) VALUES (%s, %s, true) "
                                    "ON CONFLICT (key) DO UPDATE SET enabled = true").format(categories),
                            (str(uuid.uuid4()), key))
