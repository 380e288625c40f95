import argparse
import json
import sys

import pytest


def _parser():
    from trainer.cli import register

    parser = argparse.ArgumentParser(prog="pileprep")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_imports_without_torch_and_registers_both_commands(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    for name in ("trainer.cli", "trainer.train", "trainer.model", "trainer.data", "trainer.scaling"):
        monkeypatch.delitem(sys.modules, name, raising=False)  # restored after the test
    from trainer.cli import COMMANDS

    assert set(COMMANDS) == {"train", "scaling"}
    args = _parser().parse_args(["train", "out/", "--model", "111M", "--batch-size", "8", "--micro-batch", "2",
                                 "--max-steps", "3", "--resume", "--dtype", "bf16", "--val", "v/"])
    assert (args.command, args.dir, args.model, args.batch_size, args.micro_batch, args.max_steps) == \
        ("train", "out/", "111M", 8, 2, 3)
    assert args.resume and args.dtype == "bf16" and args.val == "v/" and args.out is None
    args = _parser().parse_args(["scaling", "out/", "--models", "tiny-2k,tiny-3k,tiny-7k,tiny-20k"])
    assert args.command == "scaling" and args.out == "runs/scaling"
    with pytest.raises(ValueError, match="pip install 'pileprep\\[train\\]'"):
        COMMANDS["train"](_parser().parse_args(["train", "out/"]), [])
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "out/", "--steps", "0"])


def test_train_command_runs_a_smoke_step(tmp_path, capsys):
    pytest.importorskip("torch")
    from tests.trainer.conftest import write_run
    from trainer.cli import COMMANDS

    run = write_run(tmp_path / "run", rows_per_shard=(4,), vocab_size=50257)
    args = _parser().parse_args(["train", run, "--model", "tiny-2k", "--out", str(tmp_path / "out"),
                                 "--max-steps", "1", "--steps", "3", "--val", run, "--val-rows", "1"])
    assert COMMANDS["train"](args, []) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 1 and summary["planned_steps"] == 3 and summary["val_loss"] > 0
