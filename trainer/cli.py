"""The `train` and `scaling` subcommands, for the pileprep command line.

    register(subparsers)               # adds `train` and `scaling` to an argparse subparsers object
    COMMANDS["train"](args, beam_args)  # -> exit code; user errors raise ConfigError (pileprep prints them)

    pileprep train out/ --model tiny-25k --val val/ --out runs/tiny-25k
    pileprep scaling out/ --out runs/scaling

Importing this module does not import torch, so pileprep works without the [train] extra.
"""
import argparse
import json
import os

from schemas.family import CHINCHILLA_TOKENS_PER_PARAM
from transforms.errors import ConfigError

_NEEDS_TORCH = "this command needs PyTorch and matplotlib: pip install 'pileprep[train]' (torch>=2.1,<3)"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a GPT on a run's shards (Cerebras-GPT recipe, CPU or CUDA)",
                                  description="Train a Cerebras-GPT size or a tiny CPU size on the shards of a "
                                  "pileprep run: AdamW (0.9, 0.95), wd 0.1, warmup then cosine to 10%% of "
                                  "the peak LR, steps = budget / (batch x context). Writes checkpoint.pt, "
                                  "log.jsonl and loss.png to --out.")
    train.add_argument("dir", metavar="DIR", help="a pileprep run's output directory")
    train.add_argument("--model", default="tiny-25k",
                       help="111M 256M 590M 1.3B 2.7B 6.7B 13B, or tiny-2k tiny-3k tiny-7k tiny-13k tiny-20k "
                       "tiny-25k tiny-100k tiny-1m (default tiny-25k)")
    train.add_argument("--out", default=None, metavar="DIR", help="(default: runs/MODEL)")
    train.add_argument("--val", default=None, metavar="DIR", help="held-out run: validation nats/token")
    train.add_argument("--val-rows", type=_positive, default=32, metavar="N", help="rows scored per evaluation")
    train.add_argument("--eval-every", type=_positive, default=None, metavar="N", help="(default: steps / 10)")
    train.add_argument("--batch-size", type=_positive, default=None, help="sequences per step (default: the card's)")
    train.add_argument("--micro-batch", type=_positive, default=None, help="sequences per forward pass")
    train.add_argument("--steps", type=_positive, default=None, help="override the budget's step count")
    train.add_argument("--max-steps", type=_positive, default=None, help="stop after N steps (smoke runs)")
    train.add_argument("--lr", type=float, default=None, help="peak LR (default: the card's)")
    train.add_argument("--checkpoint-every", type=_positive, default=100, metavar="N")
    train.add_argument("--resume", action="store_true", help="continue from --out's checkpoint.pt")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="auto: cuda when torch sees a GPU, else cpu (default auto)")
    train.add_argument("--dtype", choices=("auto", "fp32", "bf16"), default="auto",
                       help="autocast: auto is bf16 on a bf16-capable GPU, fp32 elsewhere (default auto)")
    train.add_argument("--seed", type=int, default=0)
    scaling = subparsers.add_parser("scaling",
                                    help=f"train tiny models at {CHINCHILLA_TOKENS_PER_PARAM:g} tokens/param and "
                                    "fit L(C) = a C^b + c",
                                    description="Train >= 4 tiny models spanning >= 10x in non-embedding "
                                    "parameters on nested prefixes of one run, score them on held-out "
                                    "rows, fit L(C) = a C^b + c with C = 6 N D. Writes scaling.json and scaling.png.")
    scaling.add_argument("dir", metavar="DIR", help="a pileprep run's output directory")
    scaling.add_argument("--out", default="runs/scaling", metavar="DIR")
    scaling.add_argument("--models", default=None, metavar="A,B,C,D",
                         help="tiny sizes (default tiny-2k,tiny-3k,tiny-7k,tiny-13k,tiny-20k)")
    scaling.add_argument("--val", default=None, metavar="DIR",
                         help="held-out run (default: DIR's rows after the largest model's prefix)")
    scaling.add_argument("--val-rows", type=_positive, default=32, metavar="N")
    scaling.add_argument("--lr", type=float, default=None)
    scaling.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    scaling.add_argument("--seed", type=int, default=0)


def cmd_train(args, _beam_args) -> int:
    try:
        from trainer.train import TrainConfig, train
    except ImportError as e:
        raise ConfigError(f"{_NEEDS_TORCH} ({e})") from None
    summary = train(TrainConfig(
        data=args.dir, out=args.out or os.path.join("runs", args.model), model=args.model, val=args.val,
        val_rows=args.val_rows, eval_every=args.eval_every, batch_size=args.batch_size,
        micro_batch=args.micro_batch, steps=args.steps, max_steps=args.max_steps, lr=args.lr,
        checkpoint_every=args.checkpoint_every, resume=args.resume, dtype=args.dtype, device=args.device,
        seed=args.seed))
    print(json.dumps({k: v for k, v in summary.items() if k != "val_history"}))
    return 0


def cmd_scaling(args, _beam_args) -> int:
    try:
        from trainer.scaling import DEFAULT_MODELS, ScalingConfig, scaling
    except ImportError as e:
        raise ConfigError(f"{_NEEDS_TORCH} ({e})") from None
    models = tuple(m.strip() for m in args.models.split(",")) if args.models else DEFAULT_MODELS
    scaling(ScalingConfig(data=args.dir, out=args.out, models=models, val=args.val, val_rows=args.val_rows,
                          lr=args.lr, dtype=args.dtype, seed=args.seed))
    return 0


COMMANDS = {"train": cmd_train, "scaling": cmd_scaling}
