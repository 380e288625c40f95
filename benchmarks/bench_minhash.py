"""Throughput of transforms.minhash.signatures against datasketch, one document at a time, on one core.

The corpus is real text: the standard library's .py files cut at line ends into ~5 KB documents,
about 20 MB. For each shingling, every batch of 256 documents is signed both ways in turn (so that
both see the same machine load; times are CPU seconds of this one process, pinned to one core, so
that other work on the machine counts as little as it can), and the signatures must be identical:

  datasketch   per document, as datatrove and SlimPajama do it: s = naive_shingles(text) (their
               text simplification, then a set of n-grams, in Python); m = MinHash(num_perm=128,
               scheme="legacy"); m.update_batch(s)  -- timed with and without the shingling
  pileprep     signatures(batch) from the texts

    python benchmarks/bench_minhash.py [--mb 20] [--batch 256] [--shingles word5 char13]

Prints a table and writes benchmarks/results/minhash.json.
"""
import argparse
import json
import os
import platform
import sys
import time

import datasketch
import numpy as np
from datasketch import MinHash

from transforms.minhash import MinHashConfig, signatures, simplify

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "minhash.json")


def corpus(megabytes: float, doc_bytes: int = 5000) -> list[str]:
    """Standard-library sources in sorted order, cut at line ends into documents of ~doc_bytes."""
    root = os.path.dirname(os.__file__)
    paths = sorted(os.path.join(d, f) for d, dirs, files in os.walk(root)
                   if "site-packages" not in d for f in files if f.endswith(".py"))
    docs, total, goal = [], 0, megabytes * 1e6
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines(keepends=True)
        doc = ""
        for line in lines + [None]:
            if line is None or len(doc) + len(line) > doc_bytes:
                if doc.strip():
                    docs.append(doc)
                    total += len(doc.encode())
                    if total >= goal:
                        return docs
                doc = ""
            if line is not None:
                doc += line
    return docs


def naive_shingles(text: str, config: MinHashConfig) -> list[bytes]:
    """The distinct shingles the way datatrove (word 5-grams of simplify_text) and SlimPajama
    (character 13-grams of get_features) make them: one Python string per n-gram, then a set."""
    simple = simplify(text, config)
    if config.shingles == "word5":
        words = simple.split()
        return list({" ".join(words[i:i + 5]).encode() for i in range(len(words) - 4)})
    return list({simple[i:i + 13].encode() for i in range(len(simple) - 12)})


def run(docs: list[str], config: MinHashConfig, batch: int) -> dict:
    shingle_s = update_s = ours_s = 0.0
    shingle_count = 0
    for lo in range(0, len(docs), batch):
        texts = docs[lo:lo + batch]
        reference = []
        for text in texts:
            t0 = time.process_time()
            items = naive_shingles(text, config)
            t1 = time.process_time()
            m = MinHash(num_perm=config.num_perm, seed=config.seed, scheme="legacy")
            m.update_batch(items)
            t2 = time.process_time()
            shingle_s += t1 - t0
            update_s += t2 - t1
            shingle_count += len(items)
            reference.append(m.hashvalues)
        t0 = time.process_time()
        ours = signatures(texts, config)
        ours_s += time.process_time() - t0
        if not np.array_equal(ours, np.array(reference)):
            raise AssertionError(f"{config.shingles}: signatures differ from datasketch in documents "
                                 f"{lo}..{lo + len(texts) - 1}")
    mb = sum(len(d.encode()) for d in docs) / 1e6
    return {
        "shingles": config.shingles,
        "distinct_shingles": shingle_count,
        "datasketch_update_batch_s": round(update_s, 3),
        "datasketch_with_shingling_s": round(update_s + shingle_s, 3),
        "pileprep_signatures_s": round(ours_s, 3),
        "datasketch_update_batch_mb_s": round(mb / update_s, 3),
        "datasketch_with_shingling_mb_s": round(mb / (update_s + shingle_s), 3),
        "pileprep_signatures_mb_s": round(mb / ours_s, 3),
        "speedup_vs_update_batch": round(update_s / ours_s, 2),
        "speedup_end_to_end": round((update_s + shingle_s) / ours_s, 2),
        "identical": True,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="megabytes of text (default 20)")
    parser.add_argument("--batch", type=int, default=256, help="documents per signatures() call")
    parser.add_argument("--shingles", nargs="+", default=["word5", "char13"], choices=["word5", "char13"])
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as a Beam worker thread
    docs = corpus(args.mb)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"{len(docs)} documents, {mb:.1f} MB of standard-library Python, batches of {args.batch}, "
          f"num_perm 128, one core, load average {os.getloadavg()[0]:.1f}")
    results = [run(docs, MinHashConfig(shingles=s), args.batch) for s in args.shingles]
    print(f"\n{'shingles':9} {'distinct':>10} {'datasketch':>12} {'+shingling':>12} {'pileprep':>10} "
          f"{'x update':>9} {'x end-to-end':>13}")
    print(f"{'':9} {'shingles':>10} {'MB/s':>12} {'MB/s':>12} {'MB/s':>10}")
    for r in results:
        print(f"{r['shingles']:9} {r['distinct_shingles']:>10,} {r['datasketch_update_batch_mb_s']:>12.2f} "
              f"{r['datasketch_with_shingling_mb_s']:>12.2f} {r['pileprep_signatures_mb_s']:>10.2f} "
              f"{r['speedup_vs_update_batch']:>9.2f} {r['speedup_end_to_end']:>13.2f}")
    report = {
        "documents": len(docs), "megabytes": round(mb, 3), "batch": args.batch, "num_perm": 128,
        "cores": 1, "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(), "numpy": np.__version__, "datasketch": datasketch.__version__,
        "machine": platform.machine(), "results": results,
    }
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
