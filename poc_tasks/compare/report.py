"""The readable report of a shadow comparison: a JSON document and an HTML page (no dependencies, no scripts)."""

from __future__ import annotations

import html
import json
from typing import Any

from poc_tasks.io.fs import filesystem, strip_scheme

__all__ = ["render_html", "write_report", "report_paths"]


def report_paths(path: str) -> tuple[str, str]:
    """(json, html) paths for a report path: PATH.json or PATH.html names one and the other goes beside it
    (cmp.html -> cmp.json + cmp.html); any other PATH gets both suffixes."""
    for suffix in (".json", ".html"):
        if path.endswith(suffix):
            stem = path[: -len(suffix)]
            return stem + ".json", stem + ".html"
    return path + ".json", path + ".html"


def write_report(report: dict[str, Any], path: str, storage_options: dict[str, Any] | None = None) -> dict[str, str]:
    """Write the JSON and the HTML page (a local path or s3://...); returns both paths."""
    json_path, html_path = report_paths(path)
    fs = filesystem(path, storage_options)
    parent = strip_scheme(json_path).rsplit("/", 1)[0]
    if parent and not path.startswith(("s3://", "s3a://")):
        fs.makedirs(parent, exist_ok=True)
    with fs.open(strip_scheme(json_path), "w") as fh:
        json.dump(report, fh, indent=2, default=str)
    with fs.open(strip_scheme(html_path), "w") as fh:
        fh.write(render_html(report))
    return {"json": json_path, "html": html_path}


def _e(value: Any) -> str:
    if value is None:
        return "<i>NULL</i>"
    if isinstance(value, float):
        return html.escape(f"{value:.12g}")
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], empty: str = "none") -> str:
    if not rows:
        return f"<p class='ok'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _example_rows(examples: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for ex in examples:
        key = ex.get("key", {})
        where = ", ".join(f"{k}={v}" for k, v in key.items()
                          if k in ("data_source", "namespace", "node", "persistentvolumeclaim") and v is not None)
        if ex["kind"] == "changed":
            what = "; ".join(f"{c}: live {v['live']} / poc {v['poc']}" for c, v in ex.get("columns", {}).items())
        else:
            values = ex.get("values", {})
            what = "; ".join(f"{c}={v}" for c, v in list(values.items())[:6])
        out.append([ex["kind"], key.get("usage_start"), where, what])
    return out


def render_html(report: dict[str, Any]) -> str:
    """One self-contained page: verdict, row counts, differing days and namespaces, totals, example rows."""
    rows = report.get("rows", {})
    verdict = "equal" if report.get("equal") else "DIFFERENT"
    totals = report.get("differing_totals", {})
    title = (f"poc_tasks shadow comparison {report.get('schema_name')} {report.get('provider_type')} "
             f"{report.get('start_date')}..{report.get('end_date')}: {verdict}")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}"
        ".ok{color:#176a17}.bad{color:#b00020}</style></head><body>",
        f"<h1 class='{'ok' if report.get('equal') else 'bad'}'>{html.escape(title)}</h1>",
        _table(["what", "value"], [
            ["tenant schema", report.get("schema_name")], ["source", report.get("source_uuid")],
            ["report period", report.get("report_period_id")], ["tracing id", report.get("tracing_id")],
            ["compared at", report.get("created_at")], ["tolerance", json.dumps(report.get("tolerance"))],
        ]),
        "<h2>Rows</h2>",
        _table(["live (Trino)", "poc_tasks", "equal", "changed", "missing in poc_tasks", "extra in poc_tasks"],
               [[rows.get("live"), rows.get("poc"), rows.get("equal"), rows.get("changed"),
                 rows.get("missing_in_poc"), rows.get("extra_in_poc")]]),
        "<h2>Differing days</h2>",
        _table(["day", "differing rows"], [[d["day"], d["rows"]] for d in report.get("differing_days", [])],
               "no day differs"),
        "<h2>Differing namespaces</h2>",
        _table(["namespace", "differing rows"],
               [[d["namespace"], d["rows"]] for d in report.get("differing_namespaces", [])], "no namespace differs"),
        "<h2>Columns that differ</h2>",
        _table(["column", "rows"], [[c, n] for c, n in report.get("changed_columns", {}).items()], "none"),
    ]
    for dim, title_dim in (("usage_start", "day"), ("namespace", "namespace"), ("node", "node")):
        parts.append(f"<h2>Totals per {title_dim} that differ</h2>")
        parts.append(_table([title_dim, "metric", "live (Trino)", "poc_tasks", "relative difference"],
                            [[t["group"], t["metric"], t["live"], t["poc"], t["rel_diff"]]
                             for t in totals.get(dim, [])], "all totals agree"))
    parts.append("<h2>Example rows</h2>")
    parts.append(_table(["kind", "day", "where", "values"], _example_rows(report.get("examples", [])), "none"))
    parts.append("</body></html>")
    return "\n".join(parts)
