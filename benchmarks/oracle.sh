#!/usr/bin/env bash
# Koku's own answer for a dataset's OCP daily summary, and a row-by-row comparison with a poc_tasks result.
#
# A development tool, never run by CI: it needs a git directory of github.com/project-koku/koku (the oracle
# harness reads Koku's SQL and models from it at run time) and the oracle harness scripts
# (koku_reference.py, compare.py, check_invariants.py, trino_duckdb.py), which are not part of this repository.
#
# Usage:
#   benchmarks/oracle.sh [--rebuild] [--trino] [--ref FILE] [--ignore-columns a,b] DATASET [TARGET]
#
#   DATASET  a dataset root: scenario.json + data/parquet/... in Koku's layout
#            (e.g. made by benchmarks/nise_to_koku_parquet.py)
#   TARGET   what to compare with the reference (optional; without it only the reference is built and checked):
#            a schema name (the table <schema>.reporting_ocpusagelineitem_daily_summary on $ORACLE_DSN),
#            "DSN|schema.table", or a Parquet file
#   --rebuild  recompute the reference even when DATASET/koku_ref.parquet is newer than scenario.json
#   --trino    also run Koku's Trino SQL on DuckDB (trino_duckdb.py ocp-summary) and compare it with the
#              PostgreSQL-port reference (they differ only where spec/ocp.md §2.7 says)
#   --ref FILE reference Parquet to use/write (default DATASET/koku_ref.parquet)
#   --ignore-columns a,b  columns compare.py skips (e.g. report_period_id when the target's report period
#              row got another id than the reference's 1)
#
# Environment:
#   KOKU_GIT_DIR  Koku git directory, bare or not (required)
#   ORACLE_DIR    folder of the harness scripts (default /work/shared/oracle)
#   ORACLE_VENV   virtualenv for the harness, created when missing (default ~/.cache/poc_tasks/oracle-venv)
#   ORACLE_DSN    libpq DSN of a scratch PostgreSQL (default host=127.0.0.1 port=5432 user=postgres dbname=postgres);
#                 the reference run drops and recreates the schema ref_<dataset name> there
#
# Exit status: 0 when the reference invariants hold and TARGET (if given) matches every row; non-zero otherwise.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }

rebuild=0 trino=0 ref="" ignore=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rebuild) rebuild=1; shift ;;
    --trino) trino=1; shift ;;
    --ref) ref="$2"; shift 2 ;;
    --ignore-columns) ignore="$2"; shift 2 ;;
    -h|--help) usage ;;
    --*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -ge 1 && $# -le 2 ]] || usage
dataset="$(cd "$1" && pwd)"
target="${2:-}"
[[ -f "$dataset/scenario.json" ]] || { echo "no scenario.json in $dataset" >&2; exit 2; }
: "${KOKU_GIT_DIR:?set KOKU_GIT_DIR to a git directory of project-koku/koku}"
ORACLE_DIR="${ORACLE_DIR:-/work/shared/oracle}"
ORACLE_VENV="${ORACLE_VENV:-$HOME/.cache/poc_tasks/oracle-venv}"
export ORACLE_DSN="${ORACLE_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=postgres}"
export KOKU_GIT_DIR
[[ -f "$ORACLE_DIR/koku_reference.py" ]] || { echo "no koku_reference.py in ORACLE_DIR=$ORACLE_DIR" >&2; exit 2; }
ref="${ref:-$dataset/koku_ref.parquet}"
name="$(basename "$dataset" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_\n' '_')"

# The harness's own pinned dependencies (see its README).
if [[ ! -x "$ORACLE_VENV/bin/python" ]]; then
  echo "creating $ORACLE_VENV" >&2
  python3 -m venv "$ORACLE_VENV"
  "$ORACLE_VENV/bin/pip" install -q pandas==2.3.3 pyarrow psycopg2-binary jinja2 sqlparse sqlglot==30.30.0 duckdb==2.0.1
fi
py="$ORACLE_VENV/bin/python"

# koku_reference.py loads every report type it finds. Its COPY of gpu_usage fails (it reads the nullable
# MIG integer columns back as floats, "1.0", which PostgreSQL refuses for an integer column), and the daily
# summary never reads GPU data, so the harness gets a view of the dataset without gpu_usage.
harness_root="$dataset"
view=""
cleanup() { [[ -n "$view" ]] && rm -rf "$view"; return 0; }
trap cleanup EXIT
if find "$dataset/data" -type d -name gpu_usage -print -quit 2>/dev/null | grep -q .; then
  view="$(mktemp -d)"
  ln -s "$dataset/scenario.json" "$view/scenario.json"
  while IFS= read -r -d '' ocpdir; do
    rel="${ocpdir#"$dataset"/}"
    mkdir -p "$view/$rel"
    for typedir in "$ocpdir"/*/; do
      typedir="${typedir%/}"
      [[ "$(basename "$typedir")" == gpu_usage ]] || ln -s "$typedir" "$view/$rel/"
    done
  done < <(find "$dataset/data/parquet" -type d -name OCP -print0)
  harness_root="$view"
fi

if [[ $rebuild == 1 || ! -f "$ref" || "$dataset/scenario.json" -nt "$ref" ]]; then
  "$py" "$ORACLE_DIR/koku_reference.py" --root "$harness_root" --out "$ref" --schema "ref_$name"
fi
status=0
"$py" "$ORACLE_DIR/check_invariants.py" --root "$harness_root" --summary "$ref" || status=$?

if [[ $trino == 1 ]]; then
  trino_ref="${ref%.parquet}_trino.parquet"
  "$py" "$ORACLE_DIR/trino_duckdb.py" ocp-summary --root "$harness_root" --out "$trino_ref" --schema "trino_$name"
  # trino_duckdb.py leaves its PostgreSQL schema (cluster info tables) behind; drop it
  "$py" -c 'import os, sys, psycopg2
c = psycopg2.connect(os.environ["ORACLE_DSN"]); c.autocommit = True
c.cursor().execute("DROP SCHEMA IF EXISTS \"%s\" CASCADE" % sys.argv[1])' "trino_$name"
  "$py" "$ORACLE_DIR/compare.py" "$ref" "$trino_ref" || echo "(Trino-on-DuckDB differs from the PostgreSQL port; see above)"
fi

if [[ -n "$target" ]]; then
  if [[ "$target" != *"|"* && "$target" != *.parquet ]]; then
    target="$ORACLE_DSN|$target.reporting_ocpusagelineitem_daily_summary"
  fi
  source_uuid="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["source_uuid"])' "$dataset/scenario.json")"
  "$py" "$ORACLE_DIR/compare.py" --source-uuid "$source_uuid" ${ignore:+--ignore-columns "$ignore"} \
    "$ref" "$target" || status=$?
fi
exit "$status"
