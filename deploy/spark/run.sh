#!/usr/bin/env bash
# pileprep on Apache Spark through Beam's portable runner (Beam 2.77.0, Spark 3, Python 3.11).
# Written for: apache-beam 2.77.0, apache/beam_spark3_job_server:2.77.0,
# org.apache.beam:beam-runners-spark-3-job-server:2.77.0, apache/beam_python3.11_sdk:2.77.0.
# Not run against a Spark cluster here (no cluster, no Docker engine); see deploy/spark/README.md.
#
#   deploy/spark/run.sh image        build + push the worker image (deploy/dataflow/Dockerfile, target worker)
#   deploy/spark/run.sh jobserver    start the Spark job server container against SPARK_MASTER
#   deploy/spark/run.sh jobserver-jar  the same from the job server jar (Java 11 or 17)
#   deploy/spark/run.sh submit       pileprep run -> PortableRunner -> that job server (waits)
#   deploy/spark/run.sh runner       pileprep run --runner=SparkRunner (starts its own job server)
#   deploy/spark/run.sh jar          build the uber-jar (--output_executable_path), run nothing
#   deploy/spark/run.sh spark-submit spark-submit that uber-jar to SPARK_MASTER
#
# ENVIRONMENT (DOCKER, PROCESS, EXTERNAL, LOOPBACK), IMAGE, INPUT, OUTPUT, MODEL_SIZE, EXTRA_ARGS,
# ARTIFACTS_DIR: see deploy/portable.sh.
set -euo pipefail

SPARK_MASTER="${SPARK_MASTER:-spark://localhost:7077}"
JOB_ENDPOINT="${JOB_ENDPOINT:-localhost:8099}"
ARTIFACT_ENDPOINT="${ARTIFACT_ENDPOINT:-}"          # default: the one the job server reports
JOBSERVER_IMAGE="${JOBSERVER_IMAGE:-apache/beam_spark3_job_server:2.77.0}"
JOBSERVER_JAR="${JOBSERVER_JAR:-beam-runners-spark-3-job-server-2.77.0.jar}"
JAR="${JAR:-pileprep-spark.jar}"
# shellcheck source=SCRIPTDIR/../portable.sh
source "$(dirname "${BASH_SOURCE[0]}")/../portable.sh"   # ENV_ARGS, PIPELINE, build_worker_image

case "${1:-}" in
  image)
    build_worker_image
    ;;
  jobserver)
    # Listens on 8099 (jobs), 8098 (artifacts), 8097 (expansion). --net=host so the Spark
    # driver it starts is reachable from the executors, which read the staged artifacts from
    # ARTIFACTS_DIR (see deploy/portable.sh).
    docker run --rm --net=host "${ARTIFACTS_MOUNT[@]}" "$JOBSERVER_IMAGE" \
      --spark-master-url="$SPARK_MASTER" --artifacts-dir="$ARTIFACTS_DIR" \
      --job-port=8099 --artifact-port=8098 --expansion-port=8097
    ;;
  jobserver-jar)
    # The jar Beam's SparkRunner would download itself:
    # https://repo.maven.apache.org/maven2/org/apache/beam/beam-runners-spark-3-job-server/2.77.0/
    # The --add-opens flags are the ones Beam 2.77's spark_runner.py adds (Java 17).
    java --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
      --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED \
      -jar "$JOBSERVER_JAR" \
      --spark-master-url="$SPARK_MASTER" --artifacts-dir="$ARTIFACTS_DIR" \
      --job-port=8099 --artifact-port=8098 --expansion-port=8097
    ;;
  submit)
    artifacts=()
    if [[ -n "$ARTIFACT_ENDPOINT" ]]; then artifacts=(--artifact_endpoint="$ARTIFACT_ENDPOINT"); fi
    pileprep "${PIPELINE[@]}" -v \
      --runner=PortableRunner --job_endpoint="$JOB_ENDPOINT" "${artifacts[@]}" "${ENV_ARGS[@]}"
    ;;
  runner)
    # SparkRunner starts the job server jar itself (needs Java here; downloads JOBSERVER_JAR from
    # Maven Central unless it is a local file) and stops it when pileprep exits (it waits).
    jarserver=()
    if [[ -f "$JOBSERVER_JAR" ]]; then jarserver=(--spark_job_server_jar="$JOBSERVER_JAR"); fi
    pileprep "${PIPELINE[@]}" -v \
      --runner=SparkRunner --spark_master_url="$SPARK_MASTER" --spark_version=3 "${jarserver[@]}" \
      --artifacts_dir="$ARTIFACTS_DIR" "${ENV_ARGS[@]}"
    ;;
  jar)
    # SparkRunner starts the job server jar locally (Java; downloads JOBSERVER_JAR from Maven
    # Central unless it is a local file), which writes the jar instead of running the pipeline.
    # deploy/submit.py: the jar run reports DONE without a manifest; pileprep run would call that
    # an incomplete run. The inputs are listed and the output directory prepared now, not when
    # the jar runs.
    jarserver=()
    if [[ -f "$JOBSERVER_JAR" ]]; then jarserver=(--spark_job_server_jar="$JOBSERVER_JAR"); fi
    python3 "$DEPLOY/submit.py" "${PIPELINE[@]}" \
      --runner=SparkRunner --spark_version=3 "${jarserver[@]}" \
      --output_executable_path="$JAR" "${ENV_ARGS[@]}"
    ;;
  spark-submit)
    spark-submit --master "$SPARK_MASTER" \
      --class org.apache.beam.runners.spark.SparkPipelineRunner \
      "$JAR"
    ;;
  *)
    sed -n '2,16p' "$0"; exit 2 ;;
esac
