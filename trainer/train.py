"""Train a GPT on a pileprep run with the Cerebras-GPT recipe, on the CPU or a CUDA GPU.

AdamW (0.9, 0.95) with the family's eps, weight decay 0.1 on 2-D weight matrices only, linear
warmup then cosine decay to 10% of the peak LR, gradient accumulation up to the batch size,
clipping at 1.0, fp32 or bf16 autocast (bf16 and fused AdamW on CUDA: trainer/device.py). Total steps = budget / (batch x context), the budget being
the manifest's when it was packed for this model, else 20 tokens per parameter (see GPTConfig).
Checkpoints (model, optimizer, step, RNG states, data position) are written atomically, and
`resume` continues with exactly the losses an uninterrupted run would have had.

    summary = train(TrainConfig(data="out/", out="runs/tiny", model="tiny-25k", val="val/"))
"""
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np
import torch

from schemas.family import CHINCHILLA_TOKENS_PER_PARAM
from trainer import device as dev
from trainer.data import EpochOrder, ShardRows
from trainer.model import GPT, GPTConfig, get_config
from transforms.errors import ConfigError

CHECKPOINT, LOG, PLOT = "checkpoint.pt", "log.jsonl", "loss.png"
MICRO_TOKENS = 2048  # default micro-batch: one 2048-token row; bounds the (micro x ctx x 50257) logits


@dataclass(frozen=True)
class TrainConfig:
    data: str  # a pileprep run's output directory (holds manifest.json)
    out: str  # checkpoint, log.jsonl and loss.png go here
    model: str | GPTConfig = "tiny-25k"  # a Cerebras-GPT size (111M ... 13B), a tiny-* size, or a config
    val: str | None = None  # a held-out pileprep run to measure validation cross-entropy on
    val_start: int = 0  # first row of `val` to evaluate on (the scaling study holds out a tail)
    val_rows: int = 32  # rows evaluated each time: a fixed set, so the curve compares like with like
    eval_every: int | None = None  # default: ten evaluations per run
    batch_size: int | None = None  # sequences per optimizer step; default: the model's (the card's)
    micro_batch: int | None = None  # sequences per forward pass; default: MICRO_TOKENS worth
    steps: int | None = None  # override the budget's step count (rows may then repeat: epochs)
    max_steps: int | None = None  # stop after this step (smoke runs); the schedule still spans `steps`
    rows: int | None = None  # train on the first `rows` rows only: nested budgets are prefixes
    tokens: int | None = None  # token budget instead of the model's 20 tokens/param
    lr: float | None = None  # peak LR; default: the model's (the card's)
    checkpoint_every: int = 100
    resume: bool = False
    dtype: str = "auto"  # auto (bf16 on a bf16-capable GPU, else fp32) | fp32 | bf16 (autocast)
    device: str = "auto"  # auto (cuda when torch sees a GPU) | cpu | cuda
    seed: int = 0  # model init and data order
    quiet: bool = False

    def __post_init__(self):
        if self.dtype not in dev.DTYPES or self.device not in dev.DEVICES:
            raise ConfigError(f"dtype must be one of {', '.join(dev.DTYPES)} and device one of "
                              f"{', '.join(dev.DEVICES)}, got {self.dtype!r} and {self.device!r}")
        for name in ("batch_size", "micro_batch", "steps", "max_steps", "rows", "tokens", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class Plan:
    steps: int
    warmup: int
    batch_size: int
    micro_batch: int
    lr: float
    tokens_per_step: int
    budget_source: str  # where `steps` came from, for the log


def make_plan(cfg: TrainConfig, config: GPTConfig, manifest: dict, rows: int) -> Plan:
    batch = cfg.batch_size or config.batch_size
    micro = min(batch, cfg.micro_batch or max(1, MICRO_TOKENS // config.n_ctx))
    if batch % micro:
        raise ConfigError(f"batch size {batch} is not a multiple of the micro-batch {micro}: "
                           f"pass a --micro-batch that divides it")
    per_step = batch * config.n_ctx
    budget = manifest.get("budget") or {}
    if cfg.steps:
        steps, source = cfg.steps, "--steps"
    else:
        if cfg.tokens:
            tokens, source = cfg.tokens, f"{cfg.tokens:,} tokens"
        elif str(budget.get("model", "")).lower() == config.name.lower():
            tokens, source = budget["target_tokens"], f"the manifest's budget for {config.name}"
        else:
            tokens = math.ceil(CHINCHILLA_TOKENS_PER_PARAM * config.budget_parameter_count)
            source = f"20 tokens x {config.budget_parameter_count:,} {config.budget_params.replace('_', '-')} parameters"
        steps = tokens // per_step  # rounded down, as the card's step counts are
        if steps * batch > rows:
            raise ConfigError(f"model {config.name} needs {steps * batch:,} rows ({source}), the run has {rows:,}: "
                               f"pack a larger run (pileprep run --model-size, or demo --documents N), or pass "
                               f"--steps to repeat rows")
    if steps < 1:
        raise ConfigError(f"a budget of {source} is less than one step of {per_step:,} tokens: lower --batch-size")
    if config.warmup_steps is not None:
        warmup = config.warmup_steps
    elif config.warmup_tokens is not None:
        warmup = max(1, round(config.warmup_tokens / per_step))  # the card: warm up for 375M tokens
    else:
        warmup = max(1, round(config.warmup_fraction * steps))
    return Plan(steps, min(warmup, steps), batch, micro, cfg.lr or config.lr, per_step, source)


def lr_at(step: int, *, peak: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """LR of update `step` (0-based): linear up to peak at update warmup - 1, cosine down to floor x peak
    at the last update, total - 1 (the card: "10x cosine decayed")."""
    u = step + 1
    if u <= warmup:
        return peak * u / warmup
    progress = (u - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def configure_optimizer(model: GPT, lr: float, eps: float, weight_decay: float = 0.1, *,
                        fused: bool = False) -> torch.optim.AdamW:
    # nanoGPT's rule: decay every 2-D tensor, never biases or LayerNorm gains and shifts. Embeddings
    # are 2-D, so the tied token embedding (= output layer) and the position table are decayed too.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=eps, **({"fused": True} if fused else {}))


@torch.no_grad()
def evaluate(model: GPT, rows: ShardRows, *, n_rows: int, micro: int, dtype: str,
             device: torch.device = torch.device("cpu")) -> float:
    """Mean cross-entropy in nats per token over the first n_rows rows."""
    total, count = 0.0, 0
    for s in range(0, min(n_rows, len(rows)), micro):
        x, y = dev.to_device(rows.batch(range(s, min(s + micro, n_rows, len(rows)))), device)
        with dev.autocast(device, dtype):
            _, loss = model(x, y)
        total, count = total + loss.item() * y.numel(), count + y.numel()
    return total / count


def _rng_state(device: torch.device) -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [kind, keys.tolist(), pos, has_gauss, cached], **dev.rng_state(device)}


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    dev.set_rng_state(state, device)
    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(path: str, **state) -> None:
    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint intact


def _open_log(path: str, resume_step: int):
    """The JSONL log, cut back to the checkpoint's step when resuming (later lines were never kept)."""
    kept = []
    if resume_step and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            kept = [line for line in f if json.loads(line)["step"] <= resume_step]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(kept)
    return open(path, "a", encoding="utf-8")


def plot_loss(log_path: str, png_path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot([r["tokens"] for r in records], [r["loss"] for r in records], lw=1, label="train")
    val = [r for r in records if "val_loss" in r]
    if val:
        ax.plot([r["tokens"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    ax.set(xlabel="tokens", ylabel="cross-entropy (nats/token)", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def _setup(cfg: TrainConfig) -> SimpleNamespace:
    """What a run is: its model config, data, plan, device and files; refuses a checkpoint left behind."""
    config = cfg.model if isinstance(cfg.model, GPTConfig) else get_config(cfg.model)
    rows = ShardRows(cfg.data, config, limit=cfg.rows)
    plan = make_plan(cfg, config, rows.manifest, len(rows))
    device = dev.resolve_device(cfg.device)
    run = SimpleNamespace(config=config, rows=rows, plan=plan, device=device,
                          dtype=dev.resolve_dtype(cfg.dtype, device),
                          val=ShardRows(cfg.val, config, start=cfg.val_start) if cfg.val else None,
                          stop=min(plan.steps, cfg.max_steps or plan.steps),
                          eval_every=cfg.eval_every or max(1, plan.steps // 10),
                          ckpt_path=os.path.join(cfg.out, CHECKPOINT))
    os.makedirs(cfg.out, exist_ok=True)
    if os.path.exists(run.ckpt_path) and not cfg.resume:
        raise ConfigError(f"{cfg.out} already holds a checkpoint: pass --resume to continue it, or choose another --out")
    return run


def _start(cfg: TrainConfig, run: SimpleNamespace) -> int:
    """Build the model, optimizer and data order (on run), from the checkpoint with --resume; the next step."""
    dev.prepare(run.device)
    torch.manual_seed(cfg.seed)
    run.model = GPT(run.config).to(run.device)  # initialized on the CPU: the same weights on every device
    run.optimizer = configure_optimizer(run.model, run.plan.lr, run.config.adam_eps, fused=dev.fused_adamw(run.device))
    run.order = EpochOrder(len(run.rows), cfg.seed)
    if not cfg.resume:
        return 0
    if not os.path.exists(run.ckpt_path):
        raise ConfigError(f"--resume: {cfg.out} has no {CHECKPOINT} to resume from")
    state = torch.load(run.ckpt_path, weights_only=True, map_location=run.device)
    if state["plan"] != asdict(run.plan) or state["model_name"] != run.config.name:
        raise ConfigError(f"{run.ckpt_path} was written by a run with another model or plan "
                          f"({state['model_name']}, {state['plan']}): resume with the same options")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.order.load_state_dict(state["data"])
    state["rng"]["torch"] = state["rng"]["torch"].cpu()  # map_location moved the CPU generator's state too
    _set_rng_state(state["rng"], run.device)
    return state["step"]


def _step(run: SimpleNamespace, step: int) -> dict:
    """One optimizer update (gradient accumulation over micro-batches); its log record."""
    plan, model, optimizer = run.plan, run.model, run.optimizer
    lr = lr_at(step, peak=plan.lr, warmup=plan.warmup, total=plan.steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    accum = plan.batch_size // plan.micro_batch
    t0, loss_sum = time.perf_counter(), 0.0
    for _ in range(accum):
        x, y = dev.to_device(run.rows.batch(run.order.take(plan.micro_batch)), run.device)
        with dev.autocast(run.device, run.dtype):
            _, loss = model(x, y)
        (loss / accum).backward()
        loss_sum += loss.item()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - t0
    return {"step": step + 1, "tokens": (step + 1) * plan.tokens_per_step, "loss": loss_sum / accum, "lr": lr,
            "grad_norm": grad_norm, "tokens_per_s": plan.tokens_per_step / elapsed}


def _after_step(cfg: TrainConfig, run: SimpleNamespace, record: dict, log, say) -> None:
    """Evaluate, log, report and checkpoint as the step's number asks."""
    step, plan = record["step"], run.plan
    if run.val is not None and (step % run.eval_every == 0 or step == run.stop):
        record["val_loss"] = evaluate(run.model, run.val, n_rows=cfg.val_rows, micro=plan.micro_batch,
                                      dtype=run.dtype, device=run.device)
        run.history.append((step, record["val_loss"]))
    log.write(json.dumps(record) + "\n")
    log.flush()
    if step % max(1, plan.steps // 20) == 0 or step == run.stop:
        say(f"step {step}/{plan.steps} loss {record['loss']:.4f} lr {record['lr']:.2e} "
            f"{record['tokens_per_s']:,.0f} tok/s" + (f" val {record['val_loss']:.4f}" if "val_loss" in record else ""))
    if step % cfg.checkpoint_every == 0 or step == run.stop:
        save_checkpoint(run.ckpt_path, model=run.model.state_dict(), optimizer=run.optimizer.state_dict(), step=step,
                        data=run.order.state_dict(), rng=_rng_state(run.device), plan=asdict(plan),
                        model_name=run.config.name)


def train(cfg: TrainConfig) -> dict:
    run = _setup(cfg)
    step = _start(cfg, run)
    config, plan = run.config, run.plan
    log = _open_log(os.path.join(cfg.out, LOG), step)
    say = (lambda *a: None) if cfg.quiet else print
    say(f"{config.name}: {config.parameters:,} parameters, {plan.steps} steps of {plan.batch_size} x "
        f"{config.n_ctx} tokens ({plan.budget_source}), warmup {plan.warmup}, lr {plan.lr:g}, "
        f"{run.dtype} on {run.device.type}")
    started, trained_tokens, run.history = time.perf_counter(), 0, []
    val_loss = None
    while step < run.stop:
        record = _step(run, step)
        _after_step(cfg, run, record, log, say)
        step, trained_tokens = record["step"], trained_tokens + plan.tokens_per_step
        val_loss = record.get("val_loss", val_loss)
    log.close()
    wall = time.perf_counter() - started
    plot_loss(os.path.join(cfg.out, LOG), os.path.join(cfg.out, PLOT), f"{config.name} on {cfg.data}")
    return {"model": config.name, "parameters": config.parameters,
            "non_embedding_parameters": config.non_embedding_parameters, "steps": step,
            "planned_steps": plan.steps, "tokens": step * plan.tokens_per_step, "val_loss": val_loss,
            "val_history": run.history, "wall_s": wall, "device": run.device.type, "dtype": run.dtype,
            "tokens_per_s": trained_tokens / wall if wall > 0 else None, "plan": asdict(plan)}
