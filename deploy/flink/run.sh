#!/usr/bin/env bash
# pileprep on Apache Flink through Beam's portable runner (Beam 2.77.0, Python 3.11).
# Written for: apache-beam 2.77.0 (its FlinkRunner knows Flink 1.19, 1.20, 2.0, 2.1, 2.2),
# apache/beam_flink${FLINK_VERSION}_job_server:2.77.0,
# org.apache.beam:beam-runners-flink-${FLINK_VERSION}-job-server:2.77.0, apache/beam_python3.11_sdk:2.77.0.
# FLINK_VERSION must be the minor version of the Flink cluster (default 1.20).
# Not run against a Flink cluster here (no cluster, no Docker engine); see deploy/flink/README.md.
#
#   deploy/flink/run.sh image        build + push the worker image (deploy/dataflow/Dockerfile, target worker)
#   deploy/flink/run.sh runner       pileprep run --runner=FlinkRunner --flink_master=... (waits;
#                                    starts the Flink job server jar itself, needs Java here)
#   deploy/flink/run.sh jobserver    start the Flink job server container against FLINK_MASTER
#   deploy/flink/run.sh submit       pileprep run -> PortableRunner -> that job server (waits)
#   deploy/flink/run.sh uberjar      --flink_submit_uber_jar: build the jar, upload it to the
#                                    JobManager's REST API, run it there (no job server process)
#   deploy/flink/run.sh jar          build the uber-jar only (--output_executable_path)
#   deploy/flink/run.sh flink-run    flink run that uber-jar on the cluster
#
# ENVIRONMENT (DOCKER, PROCESS, EXTERNAL, LOOPBACK), IMAGE, INPUT, OUTPUT, MODEL_SIZE, EXTRA_ARGS,
# ARTIFACTS_DIR: see deploy/portable.sh.
set -euo pipefail

FLINK_VERSION="${FLINK_VERSION:-1.20}"              # 1.19 1.20 2.0 2.1 2.2 (Beam 2.77's list)
FLINK_MASTER="${FLINK_MASTER:-localhost:8081}"      # the JobManager's REST address
PARALLELISM="${PARALLELISM:-}"                      # default: the cluster's parallelism.default
JOB_ENDPOINT="${JOB_ENDPOINT:-localhost:8099}"
JOBSERVER_IMAGE="${JOBSERVER_IMAGE:-apache/beam_flink${FLINK_VERSION}_job_server:2.77.0}"
JOBSERVER_JAR="${JOBSERVER_JAR:-beam-runners-flink-${FLINK_VERSION}-job-server-2.77.0.jar}"
JAR="${JAR:-pileprep-flink.jar}"
# shellcheck source=SCRIPTDIR/../portable.sh
source "$(dirname "${BASH_SOURCE[0]}")/../portable.sh"   # ENV_ARGS, PIPELINE, build_worker_image

FLINK_ARGS=(--flink_version="$FLINK_VERSION")
if [[ -n "$PARALLELISM" ]]; then FLINK_ARGS+=(--parallelism="$PARALLELISM"); fi
if [[ -f "$JOBSERVER_JAR" ]]; then FLINK_ARGS+=(--flink_job_server_jar="$JOBSERVER_JAR"); fi

case "${1:-}" in
  image)
    build_worker_image
    ;;
  runner)
    pileprep "${PIPELINE[@]}" -v \
      --runner=FlinkRunner --flink_master="$FLINK_MASTER" "${FLINK_ARGS[@]}" \
      --artifacts_dir="$ARTIFACTS_DIR" "${ENV_ARGS[@]}"
    ;;
  jobserver)
    # Listens on 8099 (jobs), 8098 (artifacts), 8097 (expansion). Staged artifacts are written to
    # ARTIFACTS_DIR and read back by the TaskManagers (see deploy/portable.sh).
    docker run --rm --net=host "${ARTIFACTS_MOUNT[@]}" "$JOBSERVER_IMAGE" \
      --flink-master="$FLINK_MASTER" --artifacts-dir="$ARTIFACTS_DIR" \
      --job-port=8099 --artifact-port=8098 --expansion-port=8097
    ;;
  submit)
    parallelism=()
    if [[ -n "$PARALLELISM" ]]; then parallelism=(--parallelism="$PARALLELISM"); fi
    pileprep "${PIPELINE[@]}" -v \
      --runner=PortableRunner --job_endpoint="$JOB_ENDPOINT" "${parallelism[@]}" "${ENV_ARGS[@]}"
    ;;
  uberjar)
    # Submit-only: the job runs on the cluster; deploy/submit.py returns once Flink has it.
    python3 "$DEPLOY/submit.py" "${PIPELINE[@]}" \
      --runner=FlinkRunner --flink_master="$FLINK_MASTER" --flink_submit_uber_jar \
      "${FLINK_ARGS[@]}" "${ENV_ARGS[@]}"
    ;;
  jar)
    # The job server writes the jar instead of running the pipeline and reports DONE; there is
    # no manifest to read, hence deploy/submit.py. Inputs are listed and the output directory is
    # prepared now, not when the jar runs.
    python3 "$DEPLOY/submit.py" "${PIPELINE[@]}" \
      --runner=FlinkRunner "${FLINK_ARGS[@]}" --output_executable_path="$JAR" "${ENV_ARGS[@]}"
    ;;
  flink-run)
    # Run where the `flink` CLI is configured for the cluster (its Flink configuration's
    # rest.address / rest.port). -c names the entry class explicitly; the jar's manifest also
    # names it (Beam's PortablePipelineJarCreator sets Main-Class to FlinkPipelineRunner).
    flink run -c org.apache.beam.runners.flink.FlinkPipelineRunner "$JAR"
    ;;
  *)
    sed -n '2,21p' "$0"; exit 2 ;;
esac
