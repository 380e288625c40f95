"""Skewed dedup corpora through the real CLI: right answers, wall time and peak memory.

    python -m benchmarks.bench_skew [--n 100000] [--only boilerplate,chain,exact] [--dir DIR]

Three corpora of n skewed documents, each with `--others` unrelated texts that must all stay:
- boilerplate: one 150-word page and n - 1 near-copies of it (the page with a reference number
  appended, word 5-gram Jaccard 0.98 to the page): one near-duplicate cluster, its band buckets
  hot keys of ~0.9 n members each. Right answer: n - 1 "near" removals, all with one cause.
- chain: n documents, each a 200-word window of one long random word sequence, shifted by one word
  from the previous: consecutive documents are near-duplicates (Jaccard 0.99), documents more than
  ~20 apart are not, and the ends share nothing. One component of diameter n - 1 (a long chain for
  Large-Star/Small-Star). Right answer: n - 1 "near" removals.
- exact: one text repeated n times. Right answer: n - 1 "exact" removals, none "near".
Each runs `python -m pipeline.cli run --dedup minhash --rules none` on the local runner as a
measured subprocess (benchmarks/proc.py: wall time, peak RSS of the largest process and of the
process tree). The answers are read from the manifest's counts and the removal files it lists.
Prints a table and writes benchmarks/results/skew.json.
"""
import argparse
import json
import os
import pathlib
import platform
import random
import shutil
import sys
import tempfile
import time

import pyarrow.parquet as pq

from benchmarks.planted import random_text, vocabulary
from benchmarks.proc import measure

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "skew.json")
CORPORA = ("boilerplate", "chain", "exact")
CHAIN_WORDS = 200  # a window of the chain: consecutive windows share 195 of 197 word 5-grams


def skewed_texts(kind: str, n: int, rng: random.Random):
    """The n skewed texts of one corpus, as a generator (10^6 texts are never held)."""
    if kind == "boilerplate":
        page = random_text(rng, 150)
        yield page
        for i in range(1, n):
            yield f"{page} ref{i:07d}"
    elif kind == "chain":
        vocab = vocabulary()
        window = [rng.choice(vocab) for _ in range(CHAIN_WORDS)]
        for _ in range(n):
            yield " ".join(window)
            window = window[1:] + [rng.choice(vocab)]
    elif kind == "exact":
        text = random_text(rng, 150)
        for _ in range(n):
            yield text
    else:
        raise ValueError(f"unknown corpus {kind!r}: choose one of {', '.join(CORPORA)}")


def write_corpus(path: str, kind: str, n: int, others: int, seed: int = 0) -> int:
    """The corpus as Pile-format JSONL: the skewed texts, then the unrelated ones; returns its lines."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for text in skewed_texts(kind, n, rng):
            f.write(json.dumps({"text": text, "meta": {"pile_set_name": "Pile-CC"}}) + "\n")
        for _ in range(others):
            f.write(json.dumps({"text": random_text(rng, 150), "meta": {"pile_set_name": "Pile-CC"}}) + "\n")
    return n + others


def expected(kind: str, n: int) -> dict:
    return {"near": n - 1, "exact": 0} if kind != "exact" else {"near": 0, "exact": n - 1}


def check(out: str, kind: str, n: int, documents: int) -> dict:
    """The run's answer against the right one: removals per kind, one cause, every other text kept."""
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    counts = manifest["counts"]
    by_kind = counts.get("deduplicated_by_kind", {})
    got = {k: by_kind.get(k, 0) for k in ("near", "exact")}
    causes, rows, skewed_removed = set(), 0, 0
    for info in manifest["dedup"]["files"]:
        table = pq.read_table(os.path.join(out, info["path"]), columns=["id", "cause"])
        causes.update(table.column("cause").to_pylist())
        ids = table.column("id").to_pylist()
        rows += len(ids)
        skewed_removed += sum(int(i.rsplit(":", 1)[1]) <= n for i in ids)
    d = counts["documents"]
    right = (got == expected(kind, n) and skewed_removed == rows == n - 1 and d["read"] == documents
             and (kind == "chain" or len(causes) == 1))
    return {"removed": got, "expected": expected(kind, n), "removal_files": len(manifest["dedup"]["files"]),
            "causes": len(causes), "right": right}


def run_one(work: str, kind: str, n: int, others: int, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    corpus = os.path.join(work, f"{kind}-{n}.jsonl")
    documents = write_corpus(corpus, kind, n, others)
    generate_s = time.perf_counter() - t0
    out = os.path.join(work, f"out-{kind}-{n}")
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", corpus, "--output", out, "--dedup", "minhash",
           "--rules", "none", "--overwrite", "--rows-per-shard", "64", *extra]
    m = measure([cmd], os.path.join(work, f"log-{kind}-{n}"))
    result = {"corpus": kind, "n": n, "documents": documents, "input_mb": round(os.path.getsize(corpus) / 1e6, 1),
              "generate_s": round(generate_s, 1), "wall_s": round(m["wall_s"], 1),
              "peak_rss_mb": round(m["max_rss_mb"]), "tree_rss_mb": round(m["tree_rss_mb"]),
              "load_1min": m["load_1min"], **check(out, kind, n, documents)}
    print(json.dumps(result), flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="skewed documents per corpus")
    parser.add_argument("--others", type=int, default=1000, help="unrelated documents added to each corpus")
    parser.add_argument("--only", default=",".join(CORPORA), help="corpora to run, comma-separated")
    parser.add_argument("--dir", default=None, help="work folder, kept (default: a temporary one, removed)")
    args, extra = parser.parse_known_args(argv)  # the rest goes to pileprep run (e.g. --dedup-max-rounds 4)
    work = args.dir or tempfile.mkdtemp(prefix="pileprep-skew-")
    os.makedirs(work, exist_ok=True)
    runs = [run_one(work, kind, args.n, args.others, extra) for kind in args.only.split(",")]
    report = {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
              "extra_options": extra, "runs": runs}
    pathlib.Path(RESULTS).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(RESULTS).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(runs) + f"\n\nwrote {RESULTS}")
    if not args.dir:
        shutil.rmtree(work)
    return 0 if all(r["right"] for r in runs) else 1


def table(runs: list[dict]) -> str:
    """The runs as a Markdown table (benchmarks/README.md)."""
    lines = ["", "| corpus | n | input | removed (near, exact) | right | wall | peak RSS | tree RSS |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['corpus']} | {r['n']:,} | {r['input_mb']} MB | {r['removed']['near']:,}, "
              f"{r['removed']['exact']:,} | {'yes' if r['right'] else 'NO'} | {r['wall_s']} s "
              f"| {r['peak_rss_mb']} MB | {r['tree_rss_mb']} MB |" for r in runs]
    return "\n".join(lines)

if __name__ == "__main__":
    sys.exit(main())
