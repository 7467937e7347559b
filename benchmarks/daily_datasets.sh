#!/usr/bin/env bash
# Datasets for benchmarks/daily_parity.py that nobody tuned poc_tasks to: nise (koku-nise, run as an external
# generator) from Koku's own static yamls, read from the Koku git directory at run time, converted with
# benchmarks/nise_aws_to_koku_parquet.py. A development tool, never run by CI.
#
#   benchmarks/daily_datasets.sh OUT_DIR          # needs `nise` on PATH (pip install koku-nise==5.4.4) and KOKU_GIT_DIR
#
# OUT_DIR/ds_rep: koku/api/report/test/aws_static_data.yml; OUT_DIR/ds_dev: dev/scripts/nise_ymls/ocp_on_aws/
# aws_static_data.yml; both February 2026 (28 days). nise writes its CSV into the current directory under a fixed
# name, so each yaml runs in a directory of its own, one after the other.
set -euo pipefail
OUT="${1:?usage: daily_datasets.sh OUT_DIR}"
KOKU="${KOKU_GIT_DIR:-/work/.mirror/project-koku+koku/repo}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${POC_PYTHON:-$HERE/.venv/bin/python}"
mkdir -p "$OUT"
declare -A YAMLS=([rep]="koku/api/report/test/aws_static_data.yml"
                  [dev]="dev/scripts/nise_ymls/ocp_on_aws/aws_static_data.yml")
declare -A SOURCES=([rep]="6b2f0f8a-1c9e-4d7b-9e3a-0c1d2e3f4a52" [dev]="6b2f0f8a-1c9e-4d7b-9e3a-0c1d2e3f4a51")
for name in rep dev; do
  work="$OUT/work_$name"; csv="$OUT/nise_$name"; ds="$OUT/ds_$name"
  rm -rf "$work" "$csv" "$ds" && mkdir -p "$work" "$csv" "$ds"
  git --git-dir="$KOKU" show "HEAD:${YAMLS[$name]}" \
    | sed -E 's/\{\{ ?start_date ?\}\}/2026-02-01/g; s/\{\{ ?end_date ?\}\}/2026-02-28/g; s/\{\{ ?account_id ?\}\}/9999999999999/g' \
    > "$work/static.yml"
  (cd "$work" && nise report aws -s 2026-02-01 -e 2026-02-28 --static-report-file static.yml \
     --aws-s3-bucket-name "$csv" --aws-s3-report-name cur > nise.log 2>&1)
  echo '{"schema": "org1234567", "account": "org1234567", "year": "2026", "month": "02", "start_date": "2026-02-01", "end_date": "2026-02-28"}' > "$ds/scenario.json"
  "$PY" "$HERE/benchmarks/nise_aws_to_koku_parquet.py" --csv-dir "$csv" --dataset "$ds" --source-uuid "${SOURCES[$name]}" > /dev/null
  echo "$ds"
done
