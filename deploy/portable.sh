# shellcheck shell=bash
# Shared by deploy/spark/run.sh and deploy/flink/run.sh (sourced, not run): the worker environment
# and the pileprep arguments, as bash arrays ENV_ARGS and PIPELINE, the artifacts directory
# (ARTIFACTS_DIR, ARTIFACTS_MOUNT) and the worker image build.
#
# ENVIRONMENT picks where the Python code runs on the cluster's workers:
#   DOCKER   every worker host starts IMAGE with its own Docker engine (default)
#   PROCESS  every worker host runs BOOT (/opt/apache/beam/boot, copied out of the SDK image) with a
#            Python 3.11 first on PATH that has apache-beam==2.77.0 and pileprep installed
#   EXTERNAL a worker pool beside every worker: docker run -p 50000:50000 IMAGE --worker_pool
#   LOOPBACK the submitting process itself (local testing only; it must stay up: pileprep run)
BEAM_VERSION="${BEAM_VERSION:-2.77.0}"
IMAGE="${IMAGE:-pileprep-worker:${BEAM_VERSION}}"   # a registry path every worker host can pull
ENVIRONMENT="${ENVIRONMENT:-DOCKER}"
BOOT="${BOOT:-/opt/apache/beam/boot}"
WORKER_POOL="${WORKER_POOL:-localhost:50000}"
INPUT="${INPUT:-gs://BUCKET/pile/train/*.jsonl.zst}"  # comma-separated; a file system workers can read
OUTPUT="${OUTPUT:-gs://BUCKET/pileprep/590M}"
MODEL_SIZE="${MODEL_SIZE-590M}"                     # "" packs every document
read -ra EXTRA_ARGS <<<"${EXTRA_ARGS:-}"            # more pileprep/Beam options, split on spaces
# Where the job server stores the artifacts Beam stages with every job (apache-beam 2.77's stager
# always stages submission_environment_dependencies.txt, and more without a prebuilt image) and
# where the executors / TaskManagers read them back: a directory they all can read, i.e. a shared
# file system (gs://, hdfs://, s3://) or the same mounted volume on every host. Beam's default is
# a temp directory on the job server host only. Uber-jars carry their artifacts and need none.
ARTIFACTS_DIR="${ARTIFACTS_DIR:-/tmp/beam-artifact-staging}"
ARTIFACTS_MOUNT=()                                  # docker -v for a local ARTIFACTS_DIR
if [[ "$ARTIFACTS_DIR" != *://* ]]; then ARTIFACTS_MOUNT=(-v "${ARTIFACTS_DIR}:${ARTIFACTS_DIR}"); fi

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "$ENVIRONMENT" in
  DOCKER)   ENV_ARGS=(--environment_type=DOCKER "--environment_options=docker_container_image=${IMAGE}") ;;
  PROCESS)  ENV_ARGS=(--environment_type=PROCESS "--environment_options=process_command=${BOOT}"
                      --environment_options=process_variables=RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1) ;;
  EXTERNAL) ENV_ARGS=(--environment_type=EXTERNAL "--environment_options=external_service_address=${WORKER_POOL}") ;;
  LOOPBACK) ENV_ARGS=(--environment_type=LOOPBACK) ;;
  *) echo "ENVIRONMENT must be DOCKER, PROCESS, EXTERNAL or LOOPBACK, got $ENVIRONMENT" >&2; exit 2 ;;
esac
# Several SDK worker processes per worker node (0: the runner chooses); with the default of 1, one
# Python process per node would do all the CPU-bound work (ftfy, tokenizing).
ENV_ARGS+=(--sdk_worker_parallelism=0)

PIPELINE=(run)
IFS=, read -ra PATTERNS <<<"$INPUT"
for pattern in "${PATTERNS[@]}"; do PIPELINE+=(--input "$pattern"); done
PIPELINE+=(--output "$OUTPUT")
if [[ -n "$MODEL_SIZE" ]]; then PIPELINE+=(--model-size "$MODEL_SIZE"); fi
PIPELINE+=("${EXTRA_ARGS[@]}")

# Build and push the worker image (the `worker` target of deploy/dataflow/Dockerfile: no Flex
# Template launcher) from a staged context with our wheel.
build_worker_image() {
  local context
  context="$(mktemp -d)"
  "$DEPLOY/wheel.sh" "$context/wheels" >/dev/null
  rm -f "$context"/wheels/*.tar.gz
  cp "$DEPLOY/dataflow/Dockerfile" "$context/"
  docker build --target worker --build-arg "BEAM_VERSION=${BEAM_VERSION}" -t "$IMAGE" "$context"
  rm -rf "$context"
  docker push "$IMAGE"
}
