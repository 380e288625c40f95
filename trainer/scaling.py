"""A compute scaling study in miniature: tiny models at 20 tokens per parameter, and L(C) = a C^b + c.

Each model trains on a prefix of ONE run's rows (packed rows are ordered so that a smaller budget is
a prefix of a larger one, as for the Cerebras-GPT family), and is scored by validation cross-entropy
on a held-out run, or by default on the rows after the largest prefix, which no model has seen.
Parameters are non-embedding parameters (Kaplan et al.): the tied 50257-row embedding is most of
every tiny model and no measure of its capacity. Compute is C = 6 N D, D the tokens trained.
The fit needs no scipy: for each c on a grid below min(L), log(L - c) = log a + b log C is a linear
least-squares problem; the c with the smallest squared error in L wins, and R^2 is reported.

    result = scaling(ScalingConfig(data="demo/output", out="runs/scaling"))
"""
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from schemas.family import CHINCHILLA_TOKENS_PER_PARAM
from trainer.model import GPTConfig, get_config
from trainer.train import TrainConfig, make_plan, train
from transforms.errors import ConfigError

# Five sizes spanning 10.4x in non-embedding parameters: 905K tokens in all (~6 min at ~2,500 tokens/s),
# and the largest needs 773 rows of 512 tokens, which the 1,105-row demo run holds with 332 rows to spare
# for validation. Larger tiny sizes need more rows than the demo has, not just more time.
DEFAULT_MODELS = ("tiny-2k", "tiny-3k", "tiny-7k", "tiny-13k", "tiny-20k")


@dataclass(frozen=True)
class ScalingConfig:
    data: str  # one pileprep run; every model trains on a prefix of its rows
    out: str  # scaling.json, scaling.png and one training directory per model
    models: tuple = DEFAULT_MODELS  # names (or GPTConfigs), at least 4 spanning 10x in parameters
    tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM  # per non-embedding parameter
    val: str | None = None  # held-out run; default: the rows of `data` after the largest prefix
    val_rows: int = 32  # rows of 512+ tokens scored per model, the same rows for every model
    lr: float | None = None  # default: each model's own
    dtype: str = "fp32"
    seed: int = 0
    quiet: bool = False

    def __post_init__(self):
        if len(self.models) < 4:
            raise ConfigError(f"a scaling fit needs at least 4 models (it has 3 parameters), got {len(self.models)}")


def fit_power_law(compute, loss, grid: int = 2000) -> dict:
    """Least-squares L = a C^b + c with c on a grid in [0, min L): a, b, c, R^2 and the residuals."""
    C, L = np.asarray(compute, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    X = np.stack([np.ones_like(C), np.log(C)], axis=1)
    best = None
    for c in np.linspace(0.0, L.min(), grid, endpoint=False):
        (log_a, b), *_ = np.linalg.lstsq(X, np.log(L - c), rcond=None)
        pred = c + np.exp(log_a) * C ** b
        sse = float(np.sum((L - pred) ** 2))
        if best is None or sse < best[0]:
            best = (sse, float(np.exp(log_a)), float(b), float(c), pred)
    sse, a, b, c, pred = best
    sst = float(np.sum((L - L.mean()) ** 2))
    return {"a": a, "b": b, "c": c, "r2": 1.0 - sse / sst if sst > 0 else 1.0,
            "residuals": (L - pred).tolist(), "c_grid": [0.0, float(L.min()), grid]}


def _plot(points: list[dict], fit: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    C = np.array([p["compute"] for p in points])
    grid = np.geomspace(C.min() / 2, C.max() * 2, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(grid, fit["a"] * grid ** fit["b"] + fit["c"], "-",
            label=f"L = {fit['a']:.3g} C^{fit['b']:.3f} + {fit['c']:.3f}   (R² {fit['r2']:.4f})")
    ax.plot(C, [p["val_loss"] for p in points], "o", label="tiny models, 20 tokens/param")
    for p in points:
        ax.annotate(p["model"], (p["compute"], p["val_loss"]), textcoords="offset points", xytext=(4, 4))
    ax.set(xscale="log", xlabel="compute C = 6 N D (FLOPs, N non-embedding)",
           ylabel="validation cross-entropy (nats/token)", title="Loss vs compute")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scaling(cfg: ScalingConfig) -> dict:
    from schemas.run import load_manifest

    configs = sorted((m if isinstance(m, GPTConfig) else get_config(m) for m in cfg.models),
                     key=lambda c: c.non_embedding_parameters)
    sizes = [c.non_embedding_parameters for c in configs]
    if sizes[-1] < 10 * sizes[0]:
        raise ConfigError(f"the models span {sizes[-1] / sizes[0]:.1f}x in parameters: choose sizes spanning at least 10x")
    manifest = load_manifest(cfg.data)  # PileprepError if it is not a completed run
    runs, plans = [], []
    for config in configs:
        tokens = math.ceil(cfg.tokens_per_param * config.non_embedding_parameters)
        probe = TrainConfig(data=cfg.data, out=cfg.out, model=config, tokens=tokens, lr=cfg.lr)
        plan = make_plan(probe, config, manifest, manifest.get("rows", 0))  # refuses a run that is too small
        plans.append((config, tokens, plan))
    prefix = max(p.steps * p.batch_size for _, _, p in plans)
    val, val_start = (cfg.val, 0) if cfg.val else (cfg.data, prefix)
    if not cfg.val and manifest.get("rows", 0) - prefix < cfg.val_rows:
        raise ConfigError(f"{cfg.data} has {manifest.get('rows', 0)} rows and the largest model trains on {prefix}, "
                           f"leaving fewer than {cfg.val_rows} held-out rows: pass --val DIR or a larger run")
    started = time.perf_counter()
    for config, tokens, plan in plans:
        out = os.path.join(cfg.out, config.name)
        if os.path.exists(out) and os.listdir(out):
            raise ConfigError(f"{out} is not empty: choose an empty --out for the scaling study")
        summary = train(TrainConfig(
            data=cfg.data, out=out, model=config, tokens=tokens, rows=plan.steps * plan.batch_size,
            val=val, val_start=val_start, val_rows=cfg.val_rows, eval_every=10 ** 9, lr=cfg.lr,
            dtype=cfg.dtype, seed=cfg.seed, checkpoint_every=10 ** 9, quiet=True))
        point = {"model": config.name, "non_embedding_parameters": config.non_embedding_parameters,
                 "parameters": config.parameters, "tokens": summary["tokens"], "rows": plan.steps * plan.batch_size,
                 "steps": plan.steps, "batch_size": plan.batch_size, "lr": plan.lr,
                 "compute": 6.0 * config.non_embedding_parameters * summary["tokens"],
                 "val_loss": summary["val_loss"], "wall_s": summary["wall_s"], "tokens_per_s": summary["tokens_per_s"]}
        runs.append(point)
        if not cfg.quiet:
            print(f"{config.name}: N={point['non_embedding_parameters']:,} D={point['tokens']:,} "
                  f"C={point['compute']:.3g} val {point['val_loss']:.4f} ({point['wall_s']:.0f} s)", flush=True)
    fit = fit_power_law([p["compute"] for p in runs], [p["val_loss"] for p in runs])
    result = {"points": runs, "fit": fit, "wall_s": time.perf_counter() - started,
              "tokens_per_param": cfg.tokens_per_param, "parameters": "non_embedding",
              "compute": "C = 6 N D, N non-embedding parameters, D tokens trained",
              "validation": {"run": val, "first_row": val_start, "rows": cfg.val_rows},
              "data": cfg.data, "nested_prefix_rows": prefix}
    os.makedirs(cfg.out, exist_ok=True)
    tmp = os.path.join(cfg.out, "scaling.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, os.path.join(cfg.out, "scaling.json"))
    _plot(runs, fit, os.path.join(cfg.out, "scaling.png"))
    if not cfg.quiet:
        print(f"fit: L(C) = {fit['a']:.4g} * C^{fit['b']:.4f} + {fit['c']:.4f}, R^2 = {fit['r2']:.4f}; "
              f"{result['wall_s']:.0f} s; {cfg.out}/scaling.json, scaling.png")
    return result
