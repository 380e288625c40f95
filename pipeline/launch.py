"""Launch checks: what can be known wrong before the graph is built, refused in a second with the fix.

A cluster runner's workers are other machines: they cannot read the launcher's local files nor
write its local directories, and `--spill on` (payloads through files beside the output, for the
local runners' in-memory shuffles) only adds I/O to a runner whose shuffle is its own. Without
these checks such a run fails at its first worker, or at its end, minutes or hours in.

    check_launch(config, p.options, wait=True)   # pipeline/run.py, before the graph is built
"""
from pipeline.options import RunConfig
from transforms.errors import ConfigError

CLUSTER_RUNNERS = ("dataflow", "spark", "flink", "portable")
LOCAL_MASTERS = ("[local]", "[auto]", "[collection]")  # Flink masters that run inside the job server
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "embed")  # job services taken to run on this machine


def _runner_name(runner) -> str | None:
    """dataflow, spark, flink, portable, ... from "DataflowRunner", "dataflow", a class path."""
    if runner is None:
        return None
    name = (runner if isinstance(runner, str) else type(runner).__name__).rsplit(".", 1)[-1].lower()
    name = name.removesuffix("runner").removeprefix("test")
    return name or None


def cluster_runner(options) -> str | None:
    """The cluster runner these Beam options choose (dataflow, spark, flink, portable), or None when
    the workers run on this machine (the local runners, Spark's local[N], Flink's [local]/[auto], a
    portable job service with LOOPBACK workers or on localhost; a job server on localhost that fronts a
    cluster, as deploy/spark/run.sh starts one, cannot be told apart and is not checked)."""
    from apache_beam.options.pipeline_options import (FlinkRunnerOptions, PortableOptions, SparkRunnerOptions,
                                                      StandardOptions)

    name = _runner_name(options.view_as(StandardOptions).runner)
    if name not in CLUSTER_RUNNERS:
        return None
    if name == "dataflow":
        return name
    portable = options.view_as(PortableOptions)
    if (portable.environment_type or "").upper() == "LOOPBACK":
        return None  # the SDK workers are this process
    if name == "spark" and (options.view_as(SparkRunnerOptions).spark_master_url or "").startswith("local"):
        return None
    if name == "flink" and (options.view_as(FlinkRunnerOptions).flink_master or "[auto]") in LOCAL_MASTERS:
        return None
    if name == "portable" and (portable.job_endpoint or "embed").rsplit(":", 1)[0] in LOCAL_HOSTS:
        return None
    return name


def _local(path: str) -> bool:
    return "://" not in path


def check_launch(config: RunConfig, options, *, wait: bool = True) -> None:
    """Raise ConfigError naming the fix for every combination of options and runner that cannot work."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PortableOptions

    runner = cluster_runner(options)
    portable = options.view_as(PortableOptions)
    if (portable.environment_type or "").upper() == "LOOPBACK" and not wait:
        raise ConfigError("--environment_type=LOOPBACK runs the Python workers inside this process, which a "
                          "submit-only launch (--no-wait, deploy/submit.py) leaves at once: use pileprep run "
                          "and let it wait, or a DOCKER/PROCESS/EXTERNAL environment")
    if runner is None:
        return
    where = {"dataflow": "Dataflow", "spark": "Spark", "flink": "Flink", "portable": "the job server's cluster"}[runner]
    scheme = "gs://" if runner == "dataflow" else "gs://, s3:// or hdfs://"
    if _local(config.output):
        raise ConfigError(f"--output {config.output} is a local path, but the workers run on {where} and "
                          f"cannot write there: give a {scheme} directory every worker can write")
    local_inputs = [p for p in (*config.inputs, *config.holdout) if _local(p)]
    if local_inputs:
        raise ConfigError(f"--input/--holdout {local_inputs[0]} is a local path, but the workers run on {where} "
                          f"and read the inputs themselves: copy the files to {scheme} and give that pattern")
    if config.spill:
        raise ConfigError(f"--spill on passes tokens and text through files in the output folder, for the local "
                          f"runners whose shuffle lives in memory; {where} shuffles them itself: drop --spill "
                          f"(auto is off on a cluster runner) or give --spill off")
    if runner == "dataflow":  # Beam finds --project, --region and a default bucket itself when absent
        gcp = options.view_as(GoogleCloudOptions)
        bad = [loc for loc in (gcp.temp_location, gcp.staging_location) if loc and not loc.startswith("gs://")]
        if bad:
            raise ConfigError(f"--temp_location/--staging_location {bad[0]} must be a gs:// path on Dataflow "
                              f"(it stages the job and writes temporary files there)")
