"""--device and --dtype: auto picks what the machine has; the CPU path is the trainer as it was
(same losses as an explicit cpu/fp32 run); a GPU run is tested where torch sees one."""
import json
import math

import pytest

torch = pytest.importorskip("torch")

from tests.trainer.conftest import micro_config
from trainer import device as dev
from trainer.model import GPT
from trainer.train import TrainConfig, configure_optimizer, train
from transforms.errors import ConfigError


def _config(run_dir, out, **overrides):
    fields = {"data": run_dir, "out": str(out), "model": micro_config(), "steps": 4, "val": run_dir,
              "val_rows": 4, "eval_every": 2, "quiet": True}
    return TrainConfig(**{**fields, **overrides})


def _losses(out):
    with open(out / "log.jsonl") as f:
        return [json.loads(line)["loss"] for line in f]


def test_auto_is_the_cpu_here_and_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_dtype("auto", torch.device("cpu")) == "fp32"
    assert dev.resolve_dtype("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ConfigError, match="sees no GPU: install a CUDA build of torch .* or pass --device cpu"):
        dev.resolve_device("cuda")
    with pytest.raises(ConfigError, match="device one of auto, cpu, cuda, got .auto. and .tpu."):
        TrainConfig(data="d", out="o", device="tpu")


def test_on_cuda_auto_means_bf16_and_fused_adamw(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda = dev.resolve_device("auto")
    assert cuda == torch.device("cuda") and dev.resolve_dtype("auto", cuda) == "bf16"
    assert dev.fused_adamw(cuda) and not dev.fused_adamw(torch.device("cpu"))


def test_fused_adamw_is_asked_for_only_when_told():
    model = GPT(micro_config())
    assert not configure_optimizer(model, lr=1e-3, eps=1e-8).defaults.get("fused")
    assert configure_optimizer(model, lr=1e-3, eps=1e-8, fused=True).defaults["fused"] is True


def test_auto_on_the_cpu_trains_exactly_as_an_explicit_cpu_fp32_run(run_dir, tmp_path):
    auto = train(_config(run_dir, tmp_path / "auto"))
    explicit = train(_config(run_dir, tmp_path / "cpu", device="cpu", dtype="fp32"))
    assert auto["device"] == explicit["device"] == "cpu" and auto["dtype"] == "fp32"
    assert _losses(tmp_path / "auto") == _losses(tmp_path / "cpu")
    assert auto["val_history"] == explicit["val_history"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible to torch")
def test_a_cuda_run_trains_in_bf16_and_resumes(run_dir, tmp_path):
    summary = train(_config(run_dir, tmp_path / "gpu", device="cuda", max_steps=2))
    assert summary["device"] == "cuda" and summary["dtype"] in ("bf16", "fp32")
    resumed = train(_config(run_dir, tmp_path / "gpu", device="cuda", resume=True))
    assert resumed["steps"] == 4 and all(math.isfinite(x) for x in _losses(tmp_path / "gpu"))
