"""The DDL of a tenant's tables as PostgreSQL's catalog reports it, and the differences between two of them.

Used to prove that ``init-db`` creates Koku's tables exactly as Koku's migrations do: integration/run_koku.py
describes a tenant made by Koku (``snapshot``) and one made by ``init-db`` and lists every difference; the
snapshot is kept in the repository (integration/koku_ddl_snapshot.json) so a test can check ``init-db`` against
it without a Koku checkout.

A table's description: columns (type, NOT NULL, default), primary key / unique / check / foreign-key
constraints, indexes, triggers and the partition key, each as the catalog's own text (pg_get_constraintdef,
pg_get_indexdef, pg_get_triggerdef, pg_get_partkeydef, format_type, pg_get_expr) with the schema name replaced
by ``{schema}``. Partitions are not described (their names depend on the months written), only the parent.
Indexes and constraints are matched by definition; those that differ only by name (Django's hashed names,
which tables.py spells readably) are counted apart, not as differences.

    python -m poc_tasks.db.ddl_snapshot describe --database-url URL --schema SCHEMA [--out FILE]
    python -m poc_tasks.db.ddl_snapshot diff --database-url URL --schema SCHEMA --snapshot FILE
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg2.extensions

from poc_tasks.validate import validate_schema

__all__ = ["describe", "diff", "poc_table_names"]

Connection = psycopg2.extensions.connection


def poc_table_names() -> list[str]:
    """Every Koku table init-db creates, sorted: tenant tables by name, public ones as ``public.<name>``.
    poc_tasks' own table (the shadow comparisons) is not Koku's, so it is left out."""
    from poc_tasks.db.init import metadata  # the metadata with every declaration module loaded
    from poc_tasks.db.tables import SHADOW_TABLE

    return sorted(t.name if t.schema is None else f"{t.schema}.{t.name}" for t in metadata.sorted_tables
                  if t.name != SHADOW_TABLE)


def _strip(text: str | None, schema: str) -> str | None:
    if text is None:
        return None
    return text.replace(f'"{schema}".', "{schema}.").replace(f"{schema}.", "{schema}.")


def _describe_table(cur: Any, schema: str, table: str) -> dict[str, Any] | None:
    cur.execute("SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')", (schema, table))
    row = cur.fetchone()
    if row is None:
        return None
    oid, kind = row
    cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
                " pg_get_expr(d.adbin, d.adrelid), a.attidentity"
                " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
                " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attname", (oid,))
    columns = {name: {"default": _strip(default, schema), "identity": ident or None, "not_null": bool(nn),
                      "type": typ}  # keys in the order of the snapshot file (sorted)
               for name, typ, nn, default, ident in cur.fetchall()}
    cur.execute("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s"
                " AND contype IN ('p', 'u', 'f', 'c', 'x') ORDER BY conname", (oid,))
    constraints = {name: _strip(f"{ctype}: {definition}", schema) for name, ctype, definition in cur.fetchall()}
    cur.execute("SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i"
                " ON i.oid = x.indexrelid WHERE x.indrelid = %s ORDER BY i.relname", (oid,))
    indexes = {name: _strip(definition, schema) for name, definition in cur.fetchall()}
    cur.execute("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal"
                " ORDER BY tgname", (oid,))
    triggers = {name: _strip(definition, schema) for name, definition in cur.fetchall()}
    partition_key = None
    if kind == "p":
        cur.execute("SELECT pg_get_partkeydef(%s)", (oid,))
        partition_key = cur.fetchone()[0]
    return {"columns": columns, "constraints": constraints, "indexes": indexes, "triggers": triggers,
            "partition_key": partition_key}


def describe(conn: Connection, schema: str, tables: Iterable[str] | None = None) -> dict[str, Any]:
    """{table: description} of the named tables (default: every table init-db creates); a missing table maps
    to None."""
    validate_schema(schema)
    names = sorted(tables) if tables is not None else poc_table_names()
    with conn.cursor() as cur:
        return {name: _describe_table(cur, *(name.split(".", 1) if "." in name else (schema, name)))
                for name in names}


def _diff_maps(where: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            out.append(f"{where} {key}: missing (Koku: {expected[key]})")
        elif key not in expected:
            out.append(f"{where} {key}: not in Koku ({actual[key]})")
        elif expected[key] != actual[key]:
            out.append(f"{where} {key}: Koku {expected[key]} != {actual[key]}")
    return out


def _unnamed(kind: str, name: str, definition: str) -> str:
    """An index or constraint definition without its own name (CREATE INDEX <name> ON ...)."""
    return definition.replace(f"INDEX {name} ON", "INDEX ON", 1) if kind == "index" else definition


def _diff_named(where: str, kind: str, expected: dict[str, str], actual: dict[str, str],
                renamed: list[str]) -> list[str]:
    """Indexes or constraints matched by definition: one of another definition is a difference; one of the same
    definition under another name goes to `renamed` (Django's hashed names; see tables.py)."""
    exp = {_unnamed(kind, n, d): n for n, d in expected.items()}
    act = {_unnamed(kind, n, d): n for n, d in actual.items()}
    out = []
    for definition in sorted(set(exp) | set(act)):
        if definition not in act:
            out.append(f"{where} {kind} {exp[definition]}: missing (Koku: {definition})")
        elif definition not in exp:
            out.append(f"{where} {kind} {act[definition]}: not in Koku ({definition})")
        elif exp[definition] != act[definition]:
            renamed.append(f"{where} {kind} {act[definition]}: Koku names it {exp[definition]}")
    return out


# Koku objects init-db leaves out on purpose, by (table, kind, name). cost_model's audit trigger runs a function of
# Koku's tenant schema that copies every cost-model change into cost_model_audit: an audit trail of the cost-model
# API, which poc_tasks never writes through (it only reads cost models), so neither the trigger nor its function and
# table are made. diff() leaves these out of its list; `accepted` collects them when given.
ACCEPTED = frozenset({("cost_model", "trigger", "cost_model_audit")})


def diff(expected: dict[str, Any], actual: dict[str, Any], renamed: list[str] | None = None,
         accepted: list[str] | None = None) -> list[str]:
    """Every difference of `actual` (e.g. init-db's) from `expected` (Koku's), one line each, by table: columns
    (type, NOT NULL, default, identity), indexes and constraints (by definition), triggers, partition key.
    Indexes and constraints that differ only by name are appended to `renamed` when given."""
    names: list[str] = renamed if renamed is not None else []
    out: list[str] = []
    for table in sorted(set(expected) | set(actual)):
        exp, act = expected.get(table), actual.get(table)
        if exp is None and act is None:
            continue
        if exp is None:
            out.append(f"{table}: not in Koku's schema")
            continue
        if act is None:
            out.append(f"{table}: missing")
            continue
        out += _diff_maps(f"{table} column", exp["columns"], act["columns"])
        out += _diff_named(table, "index", exp["indexes"], act["indexes"], names)
        out += _diff_named(table, "constraint", exp["constraints"], act["constraints"], names)
        exp_triggers = dict(exp["triggers"])
        for kind_table, kind, name in ACCEPTED:
            if kind_table == table and kind == "trigger" and name in exp_triggers and name not in act["triggers"]:
                del exp_triggers[name]
                if accepted is not None:
                    accepted.append(f"{table} {kind} {name}")
        out += _diff_maps(f"{table} trigger", exp_triggers, act["triggers"])
        if exp["partition_key"] != act["partition_key"]:
            out.append(f"{table} partition key: Koku {exp['partition_key']} != {act['partition_key']}")
    return out


def main(argv: list[str] | None = None) -> int:
    from poc_tasks.db.connection import connect

    parser = argparse.ArgumentParser(prog="python -m poc_tasks.db.ddl_snapshot")
    parser.add_argument("command", choices=("describe", "diff"))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--out")
    parser.add_argument("--snapshot")
    args = parser.parse_args(argv)
    conn = connect(args.database_url)
    try:
        described = describe(conn, args.schema)
    finally:
        conn.close()
    if args.command == "describe":
        text = json.dumps(described, indent=1, sort_keys=True) + "\n"
        if args.out:
            Path(args.out).write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    if not args.snapshot:
        parser.error("diff needs --snapshot")
    renamed: list[str] = []
    accepted: list[str] = []
    differences = diff(json.loads(Path(args.snapshot).read_text()), described, renamed, accepted)
    for line in differences:
        print(line)
    print(f"ddl: {len(differences)} difference(s) from {args.snapshot}; {len(renamed)} index/constraint name(s)"
          f" differ only by name; left out on purpose: {', '.join(accepted) or 'nothing'}")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
