#!/usr/bin/env bash
# Run pileprep on Dataflow straight from this machine, without a template.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket MODE=image \
#   IMAGE=us-central1-docker.pkg.dev/my-project/pileprep/pileprep:TAG deploy/dataflow/run_direct.sh
#
# This machine is the launcher: it needs Python 3.11 (the workers' Python), pileprep and
# apache-beam[gcp]==2.77.0 (gs:// access and the Dataflow client), and gcloud application-default
# credentials:  pip install 'apache-beam[gcp]==2.77.0' -e .   &&   gcloud auth application-default login
#
# How the workers get pileprep (MODE):
#   image     (default) --sdk_container_image=$IMAGE: the image from deploy/dataflow/Dockerfile
#             (build.sh builds it), everything preinstalled; workers install nothing at start-up.
#   prebuild  --setup_file pyproject.toml --prebuild_sdk_container_engine=cloud_build: Beam builds
#             the sdist here (needs `pip install build wheel`), then Cloud Build bakes it into an
#             image pushed to --docker_registry_push_url, used by every worker. No Dockerfile.
#   setup     --setup_file pyproject.toml: every worker pip-installs the sdist and its dependencies
#             from PyPI when it starts (slow start, needs internet egress from the workers).
#   wheel     --extra_package dist/pileprep-0.1.0-py3-none-any.whl: like setup, from a wheel that
#             deploy/wheel.sh dist built beforehand.
#
# WAIT=1 (default) runs `pileprep run`, which blocks until the job ends, then reads and prints the
# manifest. WAIT=0 runs deploy/submit.py instead: same checks, submits, returns at once.
set -euo pipefail

PROJECT="${PROJECT:?set PROJECT}"
REGION="${REGION:-us-central1}"
BUCKET="${BUCKET:?set BUCKET (no gs:// prefix)}"
IMAGE="${IMAGE:-}"
REPOSITORY="${REPOSITORY:-pileprep}"
MODE="${MODE:-image}"
WAIT="${WAIT:-1}"

MODEL_SIZE="${MODEL_SIZE-590M}"
INPUT="${INPUT:-gs://${BUCKET}/pile/train/*.jsonl.zst}"   # comma-separated patterns allowed
OUTPUT="${OUTPUT:-gs://${BUCKET}/pileprep/${MODEL_SIZE:-all}-$(date -u +%Y%m%d-%H%M%S)}"
JOB_NAME="${JOB_NAME:-pileprep-$(echo "${MODEL_SIZE:-all}" | tr 'A-Z.' 'a-z-')-$(date -u +%Y%m%d-%H%M%S)}"
MACHINE_TYPE="${MACHINE_TYPE:-n2-highmem-8}"
MAX_WORKERS="${MAX_WORKERS:-40}"
DISK_GB="${DISK_GB:-50}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

case "$MODE" in
  image)    DEPS=(--sdk_container_image="${IMAGE:?MODE=image needs IMAGE (build.sh prints it)}") ;;
  prebuild) DEPS=(--setup_file="$ROOT/pyproject.toml" --prebuild_sdk_container_engine=cloud_build
                  --docker_registry_push_url="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}") ;;
  setup)    DEPS=(--setup_file="$ROOT/pyproject.toml") ;;
  wheel)    DEPS=(--extra_package="$ROOT/dist/pileprep-0.1.0-py3-none-any.whl") ;;
  *) echo "MODE must be image, prebuild, setup or wheel, got $MODE" >&2; exit 2 ;;
esac

if [[ "$WAIT" == 1 ]]; then RUN=(pileprep); else RUN=(python3 "$ROOT/deploy/submit.py"); fi
SIZE=()
if [[ -n "$MODEL_SIZE" ]]; then SIZE=(--model-size "$MODEL_SIZE"); fi
INPUTS=()
IFS=, read -ra PATTERNS <<<"$INPUT"                 # comma-separated patterns -> one --input each
for pattern in "${PATTERNS[@]}"; do INPUTS+=(--input "$pattern"); done

"${RUN[@]}" run \
  "${INPUTS[@]}" \
  --output "$OUTPUT" \
  "${SIZE[@]}" \
  -v \
  --runner DataflowRunner \
  --project "$PROJECT" \
  --region "$REGION" \
  --job_name "$JOB_NAME" \
  --temp_location "gs://${BUCKET}/dataflow/temp" \
  --staging_location "gs://${BUCKET}/dataflow/staging" \
  --experiments=use_runner_v2 \
  --worker_machine_type "$MACHINE_TYPE" \
  --max_num_workers "$MAX_WORKERS" \
  --disk_size_gb "$DISK_GB" \
  "${DEPS[@]}"
