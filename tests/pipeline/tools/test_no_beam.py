"""The tools that read a finished run need no Apache Beam: in a process where `import apache_beam`
fails, `pileprep verify`, `inspect`, `report` and `export` read a real run."""
import os
import shutil
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

_SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["apache_beam"] = None  # any import of apache_beam (or a submodule) now raises ImportError

    from pipeline.cli import main
    from pipeline.tools.verify import verify

    run, out = sys.argv[1], sys.argv[2]
    assert verify(run) == []
    assert main(["verify", run]) == 0
    assert main(["inspect", run, "--decode", "1"]) == 0
    assert main(["report", run]) == 0
    assert main(["export", "--format", "megatron", run, out + "/megatron"]) == 0
    assert sys.modules["apache_beam"] is None and not [m for m in sys.modules if m.startswith("apache_beam.")]
    print("read without beam")
""")


def test_post_run_tools_work_with_apache_beam_unimportable(real_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(real_run, run)  # `report` writes into the run
    env = {**os.environ, "PYTHONPATH": ROOT, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(run), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read without beam" in done.stdout
