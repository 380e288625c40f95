"""Recall and precision of each MinHash preset on pairs planted at controlled Jaccard similarity.

    python -m benchmarks.bench_recall [--pairs 1000] [--presets pileprep slimpajama datatrove]

Plants `pairs` disjoint pairs at each level of LEVELS (benchmarks/planted.py: random texts of 150
words and copies edited down to the level, word 5-gram Jaccard within 0.03 of it) and 2 x `pairs`
unrelated texts, from one seed. For each preset it runs the pure core of Deduplicate on all of them
at once: signatures, band keys, one bucket per key, `bucket_edges` (the pipeline's confirmation),
connected components, and in each component every document but the first removed. A pair is found
when exactly one of its two documents is removed and its component is the pair itself.

Similarities are measured in each preset's own shingling (word 5-grams or character 13-grams), and
pairs are binned by that true Jaccard: the targets (README "Deduplicate") are recall >= 99% at
J >= 0.9 and >= 90% at 0.85 (the bin 0.85 <= J < 0.86), at most 1% of pairs at J <= 0.7 touched, and no unrelated
document removed. Prints a table and writes benchmarks/results/recall.json.
"""
import argparse
import collections
import json
import os
import platform
import random
import sys
import time

import numpy as np

from benchmarks.planted import near_copy, random_text, s_curve
from transforms.dedup_near import bucket_edges
from transforms.minhash import PRESETS, MinHashConfig, band_keys, band_params, shingles, signatures

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "recall.json")
LEVELS = (0.95, 0.9, 0.87, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
BINS = (("J >= 0.9", 0.9, 1.01), ("0.86 <= J < 0.9", 0.86, 0.9), ("0.85 <= J < 0.86", 0.85, 0.86),
        ("0.8 <= J < 0.85", 0.8, 0.85),
        ("0.7 < J < 0.8", 0.7000001, 0.8), ("J <= 0.7", 0.0, 0.7000001))


def plant(pairs_per_level: int, seed: int = 7) -> tuple[list[tuple[str, str]], list[str]]:
    """Disjoint (original, near copy) pairs, level by level, and 2 x pairs_per_level unrelated texts."""
    rng = random.Random(seed)
    pairs = [(base, near_copy(rng, base, level)[0]) for level in LEVELS for base in
             (random_text(rng) for _ in range(pairs_per_level))]
    return pairs, [random_text(rng) for _ in range(2 * pairs_per_level)]


def jaccard(a: str, b: str, config: MinHashConfig) -> float:
    sa, sb = set(shingles(a, config)), set(shingles(b, config))
    return len(sa & sb) / len(sa | sb)


def removed_documents(texts: list[str], config: MinHashConfig) -> tuple[dict[int, int], int]:
    """{removed index: the index kept in its component}, and the candidate pairs that were compared."""
    bands, rows = band_params(config)
    sigs = signatures(texts, config)
    buckets = collections.defaultdict(list)
    for i, sig in enumerate(sigs):
        data = sig.astype("<u4").tobytes()
        for key in band_keys(sig, bands, rows):
            buckets[key].append((i, data))
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    compared = 0
    for members in buckets.values():
        compared += len(members) - 1  # a star around the bucket's first member, as the pipeline links it
        values = [("min", min(members))] + [("member", m) for m in members]
        for u, v in bucket_edges(None, values, config):
            ru, rv = find(u), find(v)
            if ru != rv:
                parent[max(ru, rv)] = min(ru, rv)  # the smallest index labels the component
    return {i: find(i) for i in range(len(texts)) if find(i) != i}, compared


def score(name: str, config: MinHashConfig, pairs, others) -> dict:
    texts = [t for pair in pairs for t in pair] + others
    t0 = time.process_time()
    removed, compared = removed_documents(texts, config)
    seconds = time.process_time() - t0
    bands, rows = band_params(config)
    bins = {label: {"pairs": 0, "found": 0, "touched": 0, "s_curve": 0.0} for label, _, _ in BINS}
    sizes = collections.Counter(removed.values())
    for k, (a, b) in enumerate(pairs):
        j = jaccard(a, b, config)
        label = next(label for label, lo, hi in BINS if lo <= j < hi)
        x, y = 2 * k, 2 * k + 1
        found = y in removed and removed[y] == x and sizes[x] == 1
        bins[label]["pairs"] += 1
        bins[label]["found"] += found
        bins[label]["touched"] += x in removed or y in removed
        bins[label]["s_curve"] += s_curve(j, bands, rows)
    for b in bins.values():
        b["recall"] = round(b["found"] / b["pairs"], 4) if b["pairs"] else None
        b["s_curve"] = round(b["s_curve"] / b["pairs"], 4) if b["pairs"] else None
    first_other = 2 * len(pairs)
    unrelated = sum(1 for i in removed if i >= first_other)
    foreign = sum(1 for i, rep in removed.items() if i < first_other and rep // 2 != i // 2)
    return {"preset": name, "shingles": config.shingles, "num_perm": config.num_perm, "bands": bands,
            "rows": rows, "threshold": config.threshold, "confirm": config.confirm, "bins": bins,
            "unrelated_removed": unrelated, "removed_for_another_pair": foreign,
            "candidate_pairs_compared": compared, "cpu_s": round(seconds, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="planted pairs per level (default 1000)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    pairs, others = plant(args.pairs, args.seed)
    print(f"{len(pairs):,} pairs ({args.pairs:,} at each of {', '.join(map(str, LEVELS))}) and "
          f"{len(others):,} unrelated texts planted in {time.perf_counter() - t0:.0f} s")
    runs = [score(name, PRESETS[name], pairs, others) for name in args.presets]
    for r in runs:
        print(f"\n{r['preset']}: {r['shingles']}, {r['num_perm']} perm, {r['bands']} x {r['rows']}, "
              f"{'confirmed at ' + format(r['threshold'], 'g') if r['confirm'] else 'no confirmation'}")
        print(f"  {'true Jaccard':17} {'pairs':>6} {'found':>6} {'recall':>7} {'S-curve':>8} {'touched':>8}")
        for label, b in r["bins"].items():
            if b["pairs"]:
                print(f"  {label:17} {b['pairs']:>6} {b['found']:>6} {b['recall']:>7.4f} {b['s_curve']:>8.4f} "
                      f"{b['touched'] / b['pairs']:>8.4f}")
        print(f"  unrelated documents removed: {r['unrelated_removed']}; removed for another pair: "
              f"{r['removed_for_another_pair']}; candidate pairs compared: {r['candidate_pairs_compared']:,}")
    report = {"pairs_per_level": args.pairs, "levels": LEVELS, "unrelated": len(others), "seed": args.seed,
              "python": platform.python_version(), "numpy": np.__version__, "runs": runs}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
