"""pipeline/launch.py: a cluster runner with a local path or --spill on is refused at launch, naming the fix."""
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.launch import check_launch, cluster_runner
from pipeline.options import RunConfig
from transforms.errors import ConfigError

REMOTE = RunConfig(inputs=("gs://b/pile/*.jsonl.zst",), output="gs://b/out")
DATAFLOW = ["--runner=DataflowRunner", "--project=p", "--region=us-central1", "--temp_location=gs://b/tmp"]
SPARK = ["--runner=SparkRunner", "--spark_master_url=spark://m:7077"]
FLINK = ["--runner=FlinkRunner", "--flink_master=jm:8081"]
PORTABLE = ["--runner=PortableRunner", "--job_endpoint=js:8099"]


def _check(config, args, wait=True):
    check_launch(config, PipelineOptions(args), wait=wait)


@pytest.mark.parametrize("args, expected", [
    ([], None), (["--runner=DirectRunner"], None), (DATAFLOW, "dataflow"),
    (["--runner=apache_beam.runners.dataflow.dataflow_runner.DataflowRunner"], "dataflow"),
    (SPARK, "spark"), (["--runner=SparkRunner"], None),  # local[4]: Beam's default master
    (FLINK, "flink"), (["--runner=FlinkRunner"], None), (["--runner=FlinkRunner", "--flink_master=[local]"], None),
    (PORTABLE, "portable"), (["--runner=PortableRunner"], None),
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=EXTERNAL"], None),
    (PORTABLE + ["--environment_type=LOOPBACK"], None), (SPARK + ["--environment_type=DOCKER"], "spark"),
])
def test_which_runners_are_clusters(args, expected):
    assert cluster_runner(PipelineOptions(args)) == expected


@pytest.mark.parametrize("args", [DATAFLOW, SPARK, FLINK, PORTABLE])
def test_cluster_runners_accept_remote_paths(args):
    _check(REMOTE, args)
    _check(RunConfig(inputs=("s3://b/*.zst",), output="hdfs://nn/out", spill=False), args)


@pytest.mark.parametrize("args, where", [(DATAFLOW, "Dataflow"), (SPARK, "Spark"), (FLINK, "Flink"),
                                         (PORTABLE, "the job server's cluster")])
def test_a_local_output_is_refused_on_a_cluster(args, where):
    with pytest.raises(ConfigError, match=f"--output out/run is a local path, but the workers run on {where} "
                                          "and cannot write there: give a"):
        _check(RunConfig(inputs=REMOTE.inputs, output="out/run"), args)


def test_local_inputs_and_holdout_are_refused_on_a_cluster():
    with pytest.raises(ConfigError, match="--input/--holdout data/00.jsonl.zst is a local path.*copy the files"):
        _check(RunConfig(inputs=("gs://b/a", "data/00.jsonl.zst"), output="gs://b/o"), SPARK)
    with pytest.raises(ConfigError, match="--input/--holdout /pile/val.jsonl.zst is a local path"):
        _check(RunConfig(inputs=("gs://b/a",), output="gs://b/o", holdout=("/pile/val.jsonl.zst",)), DATAFLOW)


@pytest.mark.parametrize("args", [DATAFLOW, SPARK, FLINK, PORTABLE])
def test_spill_on_is_refused_on_a_cluster(args):
    with pytest.raises(ConfigError, match="--spill on .* drop --spill"):
        _check(RunConfig(inputs=REMOTE.inputs, output=REMOTE.output, spill=True), args)


def test_local_runners_accept_local_paths_and_spill():
    local = RunConfig(inputs=("data/*.jsonl",), output="out", spill=True)
    for args in ([], ["--runner=SparkRunner"], ["--runner=FlinkRunner"], PORTABLE + ["--environment_type=LOOPBACK"]):
        _check(local, args)


def test_dataflow_needs_gs_staging():
    with pytest.raises(ConfigError, match="--temp_location/--staging_location /tmp/x must be a gs:// path"):
        _check(REMOTE, ["--runner=DataflowRunner", "--temp_location=/tmp/x"])
    _check(REMOTE, ["--runner=DataflowRunner"])  # Beam finds a project, region and bucket itself


def test_loopback_cannot_be_submitted_without_waiting():
    with pytest.raises(ConfigError, match="LOOPBACK runs the Python workers inside this process"):
        _check(REMOTE, PORTABLE + ["--environment_type=LOOPBACK"], wait=False)
    _check(REMOTE, PORTABLE + ["--environment_type=LOOPBACK"], wait=True)


def test_the_cli_refuses_before_touching_the_output(tmp_path, capsys):
    from pipeline.cli import main

    out = tmp_path / "out"
    code = main(["run", "--input", str(tmp_path / "in.jsonl"), "--output", str(out)] + SPARK)
    assert code == 2 and not out.exists()
    assert "is a local path, but the workers run on Spark" in capsys.readouterr().err
