#!/usr/bin/env bash
# Datasets for benchmarks/cloud_parity.py that nobody tuned poc_tasks to: nise (koku-nise, run as an external
# generator) from Koku's own static yamls dev/scripts/nise_ymls/ocp_on_{aws,azure,gcp}/, read from the Koku git
# directory at run time, with the cluster ids Koku's dev/scripts/load_test_customer_data.sh gives them, converted with
# benchmarks/nise_*_to_koku_parquet.py; then Koku's answers (the oracle's aws_reference.py / cloud_reference.py) for
# markup 0 / cpu and markup 10 / memory distribution. A development tool, never run by CI.
#
#   benchmarks/cloud_datasets.sh OUT_DIR [aws azure gcp]   # needs `nise` on PATH (pip install koku-nise==5.4.4),
#                                                           # KOKU_GIT_DIR, ORACLE_DIR, ORACLE_PYTHON, ORACLE_DSN
#
# OUT_DIR/ocp_on_<cloud>: the dataset (October 2026); OUT_DIR/ocp_on_<cloud>/<cloud>_ref and <cloud>_ref_m10_memory:
# the oracle's tables. nise writes its CSV into the current directory, so each run has its own.
set -euo pipefail
OUT="${1:?usage: cloud_datasets.sh OUT_DIR [aws azure gcp]}"
shift
CLOUDS=("${@:-aws azure gcp}")
KOKU="${KOKU_GIT_DIR:-/work/.mirror/project-koku+koku/repo}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${POC_PYTHON:-$HERE/.venv/bin/python}"
ORACLE="${ORACLE_DIR:-$HERE/../shared/oracle}"
ORACLE_PY="${ORACLE_PYTHON:-python3}"
DSN="${ORACLE_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=postgres}"
START=2026-10-01 END=2026-10-31
declare -A CLUSTER=([aws]=my-ocp-cluster-1 [azure]=my-ocp-cluster-2 [gcp]=test-ocp-gcp-cluster)
declare -A OCP_SOURCE=([aws]=5c2f0f8a-0001-4d7b-9e3a-0c1d2e3f4a61 [azure]=5c2f0f8a-0002-4d7b-9e3a-0c1d2e3f4a62
                       [gcp]=5c2f0f8a-0003-4d7b-9e3a-0c1d2e3f4a63)
declare -A CLOUD_SOURCE=([aws]=6c2f0f8a-0001-4d7b-9e3a-0c1d2e3f4a71 [azure]=6c2f0f8a-0002-4d7b-9e3a-0c1d2e3f4a72
                         [gcp]=6c2f0f8a-0003-4d7b-9e3a-0c1d2e3f4a73)
render() {  # the yaml at HEAD with Koku's template fields filled
  git --git-dir="$KOKU" show "HEAD:dev/scripts/nise_ymls/$1" \
    | sed -E "s/\{\{ ?start_date ?\}\}/$START/g; s/\{\{ ?end_date ?\}\}/$END/g; s/\{\{ ?account_id ?\}\}/9999999999999/g"
}
for cloud in ${CLOUDS[*]}; do
  ds="$OUT/ocp_on_$cloud"; work="$OUT/work_$cloud"
  rm -rf "$ds" "$work" && mkdir -p "$ds" "$work/ocp" "$work/upload" "$work/cloud" "$work/csv"
  render "ocp_on_$cloud/ocp_static_data.yml" > "$work/ocp/static.yml"
  render "ocp_on_$cloud/${cloud}_static_data.yml" > "$work/cloud/static.yml"
  (cd "$work/ocp" && nise report ocp -s $START -e $END --static-report-file static.yml \
     --ocp-cluster-id "${CLUSTER[$cloud]}" --insights-upload "$work/upload" > nise.log 2>&1)
  "$PY" "$HERE/benchmarks/nise_to_koku_parquet.py" --csv-dir "$work/upload" --out "$ds" --schema org1234567 \
    --source-uuid "${OCP_SOURCE[$cloud]}" --cluster-id "${CLUSTER[$cloud]}" \
    --enabled-keys environment,app,version > /dev/null
  case $cloud in
    aws) (cd "$work/cloud" && nise report aws -s $START -e $END --static-report-file static.yml \
            --aws-s3-bucket-name "$work/csv" --aws-s3-report-name cur > nise.log 2>&1)
         "$PY" "$HERE/benchmarks/nise_aws_to_koku_parquet.py" --csv-dir "$work/csv" --dataset "$ds" \
           --source-uuid "${CLOUD_SOURCE[$cloud]}" > /dev/null ;;
    azure) (cd "$work/cloud" && nise report azure -s $START -e $END --static-report-file static.yml \
              --azure-container-name "$work/csv" --azure-report-name azure-report > nise.log 2>&1)
           "$PY" "$HERE/benchmarks/nise_azure_to_koku_parquet.py" --csv-dir "$work/csv" --dataset "$ds" \
             --source-uuid "${CLOUD_SOURCE[$cloud]}" --today 2026-11-01 > /dev/null ;;
    gcp) (cd "$work/cloud" && nise report gcp -s $START -e $END --static-report-file static.yml \
            --gcp-bucket-name "$work/csv" -r > nise.log 2>&1)
         "$PY" "$HERE/benchmarks/nise_gcp_to_koku_parquet.py" --csv-dir "$work/csv" --dataset "$ds" \
           --source-uuid "${CLOUD_SOURCE[$cloud]}" --enabled-keys environment,app,version > /dev/null ;;
  esac
  if [ "$cloud" = aws ]; then ref=("$ORACLE/aws_reference.py"); else ref=("$ORACLE/cloud_reference.py" --provider "$cloud"); fi
  "$ORACLE_PY" "${ref[@]}" --root "$ds" --out "$ds/${cloud}_ref" --schema "ref_h_$cloud" --dsn "$DSN" > "$work/ref.log" 2>&1 \
    || echo "$cloud: the oracle exited non-zero (its conservation check; Koku's rows are written): $work/ref.log"
  "$ORACLE_PY" "${ref[@]}" --root "$ds" --out "$ds/${cloud}_ref_m10_memory" --schema "ref_h_${cloud}_m" --dsn "$DSN" \
    --markup 10 --distribution memory > "$work/ref_m10_memory.log" 2>&1 || echo "$cloud: see $work/ref_m10_memory.log"
  echo "$ds"
done
