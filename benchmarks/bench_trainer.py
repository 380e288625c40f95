"""Training throughput of the tiny models on this CPU: tokens per second, fp32 and bf16 autocast.

Each case times full optimizer steps (forward, backward, clipping, AdamW) on random GPT-2 token ids
after one warm-up step, with the default micro-batch (2,048 tokens) and batch = one micro-batch.
Prints a table and writes benchmarks/results/trainer.json. Not a test: numbers depend on the machine
and on whatever else it is running (the load average is recorded).

    python benchmarks/bench_trainer.py [--models tiny-3k,tiny-25k] [--steps 4]
"""
import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from trainer.model import GPT, get_config
from trainer.train import MICRO_TOKENS, configure_optimizer

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "trainer.json")


def bench(name: str, dtype: str, steps: int) -> dict:
    torch.manual_seed(0)
    config = get_config(name)
    model = GPT(config)
    optimizer = configure_optimizer(model, config.lr, config.adam_eps)
    micro = max(1, MICRO_TOKENS // config.n_ctx)
    x = torch.randint(0, config.vocab_size, (micro, config.n_ctx))
    y = torch.randint(0, config.vocab_size, (micro, config.n_ctx))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # first-call allocation and kernel selection
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tokens = steps * micro * config.n_ctx
    return {"model": name, "dtype": dtype, "parameters": config.parameters,
            "non_embedding_parameters": config.non_embedding_parameters, "micro_batch": micro,
            "n_ctx": config.n_ctx, "steps": steps, "tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu,
            "model_flops_per_s": 6 * config.parameters * tokens / wall}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny-2k,tiny-7k,tiny-20k,tiny-100k")
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = [bench(m, d, args.steps) for m in args.models.split(",") for d in args.dtypes.split(",")]
    header = f"{'model':<10} {'dtype':<5} {'params':>10} {'non-emb':>8} {'tokens/s':>9} {'tok/cpu-s':>9} {'GFLOP/s':>8}"
    print(header)
    for r in rows:
        print(f"{r['model']:<10} {r['dtype']:<5} {r['parameters']:>10,} {r['non_embedding_parameters']:>8,} "
              f"{r['tokens_per_s']:>9,.0f} {r['tokens_per_cpu_s']:>9,.0f} {r['model_flops_per_s'] / 1e9:>8.1f}")
    print(f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          f"({torch.get_num_threads()} torch threads); GFLOP/s counts 6 x parameters x tokens")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump({"machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                               "processor": platform.processor() or platform.machine(), "torch": torch.__version__,
                               "load_average": [load_before, os.getloadavg()[0]]},
                   "results": rows}, f, indent=2)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
