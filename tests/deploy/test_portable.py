"""deploy/spark, deploy/flink, deploy/portable.sh: the artifacts directory and one set of memory figures."""
import os
import re

DEPLOY = os.path.join(os.path.dirname(__file__), "..", "..", "deploy")


def _read(*path):
    with open(os.path.join(DEPLOY, *path)) as f:
        return f.read()


def test_every_job_server_is_given_a_shared_artifacts_directory():
    """Beam 2.77 stages artifacts with every job (stager.py: submission_environment_dependencies.txt
    at least), and the workers read them from the job server's --artifacts-dir."""
    assert re.search(r'^ARTIFACTS_DIR="\$\{ARTIFACTS_DIR:-', _read("portable.sh"), re.M)
    for runner in ("spark", "flink"):
        script = _read(runner, "run.sh")
        assert "ARTIFACTS_DIR=" not in script  # one definition, in portable.sh
        cases = dict(re.findall(r"^  ([a-z-]+)\)\n(.*?);;", script, re.M | re.S))
        servers = [c for c in cases if c.startswith("jobserver")]
        assert servers and all('--artifacts-dir="$ARTIFACTS_DIR"' in cases[c] for c in servers), runner
        assert '--artifacts_dir="$ARTIFACTS_DIR"' in cases["runner"]  # starts its own job server


def test_memory_figures_live_in_scaling_md_only():
    scaling = _read("SCALING.md")
    assert "## Memory per worker process" in scaling
    for readme in (("spark", "README.md"), ("flink", "README.md")):
        text = _read(*readme)
        assert "SCALING.md#memory-per-worker-process" in text
        assert not re.search(r"\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)? GB per (?:shard|core|slot)", text), readme
