#!/usr/bin/env bash
# The same rows in two files, compared with Koku's SQL (docs/reliability.md §5): for each cloud, a `poc-tasks sample`
# (4 nodes, 22 pods, 2 days) with a matched bill; every Parquet file of the cloud (raw and daily) copied to a second
# name in the same partition; Koku's answers for that input (the oracle's aws_reference.py / cloud_reference.py,
# which run Koku's Trino SQL on DuckDB); then benchmarks/cloud_parity.py (poc_tasks' OCP summary and OCP-on-cloud
# flow, every table compared). With --clean the datasets are also compared before the copies are made. A
# development tool, never run by CI (it needs the Koku git directory and the oracle's venv).
#
#   benchmarks/duplicate_files_parity.sh OUT_DIR [--clean] [aws azure gcp]
#
# Needs: KOKU_GIT_DIR (default the mirror), ORACLE_DIR, ORACLE_PYTHON (a venv with the oracle's packages),
# ORACLE_DSN / POC_PARITY_DSN / POC_DATABASE_URL (one database; the oracle's and the runs' schemas are dropped and
# recreated there). Exit 0 only when every compared table is equal.
set -euo pipefail
OUT="${1:?usage: duplicate_files_parity.sh OUT_DIR [--clean] [aws azure gcp]}"
shift
CLEAN=0
if [ "${1:-}" = --clean ]; then CLEAN=1; shift; fi
CLOUDS=("${@:-aws azure gcp}")
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${POC_PYTHON:-$HERE/.venv/bin/python}"
export KOKU_GIT_DIR="${KOKU_GIT_DIR:-/work/.mirror/project-koku+koku/repo}"
ORACLE="${ORACLE_DIR:-/work/shared/oracle}"
export ORACLE_PYTHON="${ORACLE_PYTHON:-python3}"
DSN="${ORACLE_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=postgres}"
export POC_PARITY_DSN="${POC_PARITY_DSN:-$DSN}"
declare -A FOLDER=([aws]=AWS [azure]=Azure [gcp]=GCP)
status=0
reference() {  # cloud dataset out-dir schema
  if [ "$1" = aws ]; then ref=("$ORACLE/aws_reference.py"); else ref=("$ORACLE/cloud_reference.py" --provider "$1"); fi
  # the oracle exits 3 when a day's cost is not conserved: with copies it is not (Koku keeps one copy of a line in
  # most of step 2), and Koku's rows are written all the same
  "$ORACLE_PYTHON" "${ref[@]}" --root "$2" --out "$3" --schema "$4" --dsn "$DSN" > "$3.log" 2>&1 || [ $? -eq 3 ]
}
for cloud in ${CLOUDS[*]}; do
  ds="$OUT/dup_$cloud"
  rm -rf "$ds"
  "$PY" -m poc_tasks.cli sample --data-root "$ds" --schema org7770001 --nodes 4 --pods 22 --days 2 --clean \
    "--with-$cloud" > /dev/null
  if [ $CLEAN = 1 ]; then
    reference "$cloud" "$ds" "$ds/ref_clean" "ref_dup_clean_$cloud"
    echo "== $cloud, every file once"
    "$PY" "$HERE/benchmarks/cloud_parity.py" "$ds" --ref "$ds/ref_clean" --schema "orgdupclean$cloud" \
      | grep -v '^rows ' || status=1
  fi
  find "$ds/data" -path "*/${FOLDER[$cloud]}/*" -name '*.parquet' | while read -r f; do
    cp "$f" "${f%.parquet}_copy.parquet"
  done
  reference "$cloud" "$ds" "$ds/ref_twice" "ref_dup_twice_$cloud"
  echo "== $cloud, every ${FOLDER[$cloud]} file twice"
  "$PY" "$HERE/benchmarks/cloud_parity.py" "$ds" --ref "$ds/ref_twice" --schema "orgduptwice$cloud" \
    | grep -v '^rows ' || status=1
done
exit $status
