import json
import math
import os
import shutil

import pytest

torch = pytest.importorskip("torch")

from schemas.family import budget_for
from tests.trainer.conftest import micro_config, write_run
from trainer.model import GPT, get_config
from trainer.train import TrainConfig, configure_optimizer, lr_at, make_plan, train


def test_schedule_matches_the_formula_at_warmup_end_midpoint_and_end():
    peak, warmup, total = 6e-4, 100, 1100
    assert lr_at(0, peak=peak, warmup=warmup, total=total) == pytest.approx(peak / 100)
    assert lr_at(49, peak=peak, warmup=warmup, total=total) == pytest.approx(peak / 2)
    assert lr_at(warmup - 1, peak=peak, warmup=warmup, total=total) == pytest.approx(peak)
    midpoint = warmup - 1 + (total - warmup) // 2  # half of the decay done
    assert lr_at(midpoint, peak=peak, warmup=warmup, total=total) == pytest.approx(peak * (0.1 + 0.9 * 0.5))
    quarter = warmup - 1 + (total - warmup) // 4
    assert lr_at(quarter, peak=peak, warmup=warmup, total=total) == \
        pytest.approx(peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4))))
    assert lr_at(total - 1, peak=peak, warmup=warmup, total=total) == pytest.approx(0.1 * peak)


def test_weight_decay_only_on_matrices_and_the_card_betas_and_eps():
    model = GPT(micro_config())
    optimizer = configure_optimizer(model, lr=1e-3, eps=1e-9)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    assert any(p is model.wte.weight for p in decayed["params"])  # the tied embedding is a matrix: decayed
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))
    assert decayed["betas"] == (0.9, 0.95) and decayed["eps"] == 1e-9


def test_plan_follows_the_card_for_a_family_run():
    manifest = {"budget": {"model": "111M", "target_tokens": budget_for("111M").target_tokens}}
    plan = make_plan(TrainConfig(data="d", out="o", model="111M"), get_config("111M"), manifest, rows=10 ** 7)
    assert (plan.steps, plan.warmup, plan.batch_size, plan.micro_batch, plan.lr) == (9037, 1500, 120, 1, 6e-4)
    plan = make_plan(TrainConfig(data="d", out="o", model="590M"), get_config("590M"), {}, rows=10 ** 7)
    assert plan.steps == budget_for("590M").steps == 21836
    assert plan.warmup == round(375e6 / (264 * 2048))  # 375M tokens of warmup
    with pytest.raises(ValueError, match="needs 1,084,440 rows .*the run has 1,105: pack a larger run"):
        make_plan(TrainConfig(data="d", out="o", model="111M"), get_config("111M"), {}, rows=1105)
    with pytest.raises(ValueError, match="not a multiple of the micro-batch 7"):
        make_plan(TrainConfig(data="d", out="o", model="111M", micro_batch=7), get_config("111M"), {}, rows=10 ** 7)


def test_tiny_plan_uses_20_tokens_per_non_embedding_parameter():
    config = get_config("tiny-25k")
    plan = make_plan(TrainConfig(data="d", out="o", model="tiny-25k"), config, {"budget": None}, rows=1105)
    assert plan.steps == 20 * config.non_embedding_parameters // (config.batch_size * 512)
    assert plan.warmup == round(0.1 * plan.steps) and plan.micro_batch == 4


def _config(run, out, **kw):
    fields = {"data": run, "out": str(out), "model": micro_config(), "steps": 6, "checkpoint_every": 2,
              "quiet": True, "val": run, "val_rows": 4}
    return TrainConfig(**{**fields, **kw})


def _losses(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return {r["step"]: r for r in map(json.loads, f)}


def test_resume_gives_exactly_the_losses_of_an_uninterrupted_run(run_dir, tmp_path):
    whole = train(_config(run_dir, tmp_path / "whole"))
    cut, step2 = tmp_path / "cut", tmp_path / "step2.pt"
    train(_config(run_dir, cut, max_steps=2))
    shutil.copy(cut / "checkpoint.pt", step2)
    train(_config(run_dir, cut, max_steps=3, resume=True))
    shutil.copy(step2, cut / "checkpoint.pt")  # a crash after step 3, before its checkpoint was written
    resumed = train(_config(run_dir, cut, resume=True))
    a, b = _losses(tmp_path / "whole"), _losses(cut)
    assert sorted(b) == list(range(1, 7))  # the log was cut back to step 2 and continued
    for step in range(1, 7):  # step 3 is the next step after the checkpoint: bitwise equal, and so are the rest
        assert a[step]["loss"] == b[step]["loss"] and a[step]["lr"] == b[step]["lr"]
    assert whole["val_loss"] == resumed["val_loss"]
    assert not [n for n in os.listdir(cut) if n.endswith(".tmp")]


def test_a_run_writes_its_log_plot_and_checkpoint_and_validation_falls(run_dir, tmp_path):
    summary = train(_config(run_dir, tmp_path / "out", steps=12, eval_every=4, lr=3e-2))
    records = _losses(tmp_path / "out")
    assert set(records[1]) >= {"step", "tokens", "loss", "lr", "tokens_per_s"}
    assert records[12]["tokens"] == 12 * 4 * 16
    val = [loss for _, loss in summary["val_history"]]
    assert len(val) == 3 and val[-1] < val[0]
    assert os.path.getsize(tmp_path / "out" / "loss.png") > 1000
    state = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 12 and set(state) >= {"model", "optimizer", "rng", "data"}
    with pytest.raises(ValueError, match="already holds a checkpoint: pass --resume"):
        train(_config(run_dir, tmp_path / "out"))


def test_resume_with_other_options_is_refused(run_dir, tmp_path):
    train(_config(run_dir, tmp_path / "out", max_steps=2))
    with pytest.raises(ValueError, match="another model or plan"):
        train(_config(run_dir, tmp_path / "out", steps=8, resume=True))
    with pytest.raises(ValueError, match="no checkpoint.pt to resume from"):
        train(_config(run_dir, tmp_path / "empty", resume=True))


def test_bf16_autocast_and_gradient_accumulation_run(run_dir, tmp_path):
    summary = train(_config(run_dir, tmp_path / "bf16", dtype="bf16", steps=2, micro_batch=2, val=None))
    assert summary["steps"] == 2 and summary["plan"]["micro_batch"] == 2
    assert all(math.isfinite(r["loss"]) for r in _losses(tmp_path / "bf16").values())


def test_a_budget_larger_than_the_run_is_refused_unless_steps_are_given(tmp_path):
    run = write_run(tmp_path / "run", rows_per_shard=(6,))
    with pytest.raises(ValueError, match="needs .* rows .*the run has 6.*--steps to repeat rows"):
        train(TrainConfig(data=run, out=str(tmp_path / "o"), model=micro_config(), quiet=True))
