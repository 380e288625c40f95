#!/usr/bin/env bash
# Run the pileprep Flex Template built by build.sh.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket \
#   IMAGE=us-central1-docker.pkg.dev/my-project/pileprep/pileprep:TAG \
#   TEMPLATE=gs://my-bucket/templates/pileprep-TAG.json \
#   MODEL_SIZE=590M deploy/dataflow/launch.sh
#
# The launcher VM runs deploy/dataflow/main.py, which checks the inputs and the output directory,
# submits the job and exits; follow the job in the console or with
#   gcloud dataflow jobs list --region "$REGION" --project "$PROJECT"
# and, when it has finished, check it: pileprep verify "$OUTPUT" (needs apache-beam[gcp] locally).
set -euo pipefail

PROJECT="${PROJECT:?set PROJECT}"
REGION="${REGION:-us-central1}"
BUCKET="${BUCKET:?set BUCKET (no gs:// prefix)}"
IMAGE="${IMAGE:?set IMAGE (printed by build.sh)}"
TEMPLATE="${TEMPLATE:?set TEMPLATE (printed by build.sh)}"

MODEL_SIZE="${MODEL_SIZE-590M}"                     # 111M 256M 590M 1.3B 2.7B 6.7B 13B, or "" for all
INPUT="${INPUT:-gs://${BUCKET}/pile/train/*.jsonl.zst}"   # comma-separated patterns allowed
OUTPUT="${OUTPUT:-gs://${BUCKET}/pileprep/${MODEL_SIZE:-all}-$(date -u +%Y%m%d-%H%M%S)}"
JOB_NAME="${JOB_NAME:-pileprep-$(echo "${MODEL_SIZE:-all}" | tr 'A-Z.' 'a-z-')-$(date -u +%Y%m%d-%H%M%S)}"
MACHINE_TYPE="${MACHINE_TYPE:-n2-highmem-8}"         # see README: Pack/WriteShards memory
MAX_WORKERS="${MAX_WORKERS:-40}"
DISK_GB="${DISK_GB:-50}"                             # worker disk; the batch default is 25 GB
EXTRA_PARAMETERS="${EXTRA_PARAMETERS:-}"             # e.g. "~normalize=nfkc~seed=7" (~-separated)

# gcloud's --parameters is a dictionary: KEY=VALUE pairs separated by commas, each key once.
# `input` may itself hold commas, so switch the pair separator to "~" (gcloud topic escaping).
# Only parameters metadata.json declares, and sdk_container_image (which Google documents as a Flex
# Template parameter). The disk size is a pipeline option, not a template parameter: it goes to
# the job through --additional-pipeline-options (the launcher adds it to main.py's arguments).
PARAMS="^~^input=${INPUT}~output=${OUTPUT}~sdk_container_image=${IMAGE}"
if [[ -n "$MODEL_SIZE" ]]; then PARAMS+="~model_size=${MODEL_SIZE}"; fi
PARAMS+="${EXTRA_PARAMETERS}"

gcloud dataflow flex-template run "$JOB_NAME" \
  --project "$PROJECT" \
  --region "$REGION" \
  --template-file-gcs-location "$TEMPLATE" \
  --staging-location "gs://${BUCKET}/dataflow/staging" \
  --temp-location "gs://${BUCKET}/dataflow/temp" \
  --worker-machine-type "$MACHINE_TYPE" \
  --max-workers "$MAX_WORKERS" \
  --additional-experiments use_runner_v2 \
  --additional-pipeline-options "disk_size_gb=${DISK_GB}" \
  --parameters "$PARAMS"

echo "submitted $JOB_NAME; output: $OUTPUT (manifest.json appears last)"
