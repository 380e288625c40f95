"""What the fast paths' guards cost: the whole default run with the sampled cross-check
(`--check-every 100`) against `--check-every 0`, interleaved, and GPT-2 tokenization per document
with tokie behind its guard against tiktoken alone (one core, CPU seconds, ids compared).

    python -m benchmarks.bench_check [--mb 50] [--rounds 3] [--dir DIR]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

from benchmarks import corpus
from benchmarks.proc import measure


def whole_runs(paths: list[str], work: str, rounds: int) -> dict[str, list[float]]:
    inputs = [arg for p in paths for arg in ("--input", p)]
    walls: dict[str, list[float]] = {"--check-every 100 (default)": [], "--check-every 0": []}
    for _ in range(rounds):
        for label in walls:
            every = label.split()[1]
            cmd = [sys.executable, "-m", "pipeline.cli", "run", *inputs, "--output", os.path.join(work, "out"),
                   "--no-documents", "--overwrite", "--check-every", every]
            walls[label].append(round(measure([cmd], os.path.join(work, "run"))["wall_s"], 2))
    return walls


def tokenizers(megabytes: float) -> dict[str, float]:
    from transforms.tokenizer import TokenizeConfig, Tokenizer

    texts = [text for _, text in corpus.documents(megabytes)]
    fast, plain = Tokenizer(TokenizeConfig()), Tokenizer(TokenizeConfig(backend="tiktoken"))
    fast.prepare(), plain.prepare()
    out = {}
    for name, tok in (("guarded tokie + tiktoken", fast), ("tiktoken alone", plain)):
        start = time.process_time()
        for text in texts:
            tok.shard_ids(text)
        out[name] = round(time.process_time() - start, 2)
    out["documents differing"] = sum(not np.array_equal(fast.shard_ids(t), plain.shard_ids(t)) for t in texts)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args(argv)
    work = args.dir or tempfile.mkdtemp(prefix="pileprep-bench-check-")
    paths, stats = corpus.build(os.path.join(work, "corpus"), megabytes=args.mb)
    print(f"corpus: {stats['megabytes']} MB, {stats['documents']:,} documents")
    for label, walls in whole_runs(paths, work, args.rounds).items():
        print(f"pileprep run {label}: wall {walls} s")
    print(f"tokenize {args.mb:g} MB, one core, CPU s: {tokenizers(args.mb)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
