"""The trainer reads runs without Apache Beam: in a process where `import apache_beam` fails, it
trains on a run's shards, through trainer.data and through `pileprep train`."""
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["apache_beam"] = None  # any import of apache_beam (or a submodule) now raises ImportError

    from tests.trainer.conftest import micro_config, write_run
    from trainer.data import EpochOrder, ShardRows
    from trainer.train import TrainConfig, train
    import trainer.cli, trainer.scaling  # noqa: E401, F401 - importable too

    run = write_run(sys.argv[1] + "/run")
    rows = ShardRows(run, micro_config())
    x, y = rows.batch(EpochOrder(len(rows), seed=0).take(4))
    assert x.shape == (4, 16) and (x[:, 1:] == y[:, :-1]).all()
    summary = train(TrainConfig(data=run, out=sys.argv[1] + "/out", model=micro_config(), steps=2,
                                quiet=True, val=run, val_rows=4))
    assert "val_loss" in summary

    from pipeline.cli import main  # `pileprep train` goes through the command line's imports too
    gpt2 = write_run(sys.argv[1] + "/gpt2", rows_per_shard=(3, 2), vocab_size=50257)
    assert main(["train", gpt2, "--model", "tiny-2k", "--steps", "1", "--val-rows", "1",
                 "--out", sys.argv[1] + "/cli"]) == 0
    assert sys.modules["apache_beam"] is None and not [m for m in sys.modules if m.startswith("apache_beam.")]
    print("trained without beam")
""")


def test_trainer_trains_with_apache_beam_unimportable(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained without beam" in done.stdout
