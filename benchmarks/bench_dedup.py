"""Quality and peak memory of MinHash dedup on planted near-duplicates, through the real CLI.

    python -m benchmarks.bench_dedup [--pairs 200] [--times 1,10] [--dir DIR]

For each size in `times`, writes a Pile-format .jsonl corpus of benchmarks/planted.py: `pairs` x
times disjoint pairs at each similarity level of TARGETS, plus twice that many unrelated texts (the
test's proportion), each size generated afresh rather than copied. Runs `pileprep run --dedup minhash
--rules none` on it as a measured subprocess (wall time, peak RSS), then reads the removal files the
manifest lists. A pair is found when one of its two documents is removed as "near" with the other
as cause. Per level it reports recall next to what the S-curve of the default banding (datasketch's
9 bands x 13 rows for 0.8) promises for the pairs' true similarities: the S-curve is the chance of
becoming a candidate, and confirmation (estimated Jaccard >= 0.8) keeps fewer near the threshold.
It also checks that the manifest's counts add up (read = malformed + filtered + deduplicated +
over_budget + packed). Prints a table and writes benchmarks/results/dedup.json.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import apache_beam
import numpy as np
import pyarrow.parquet as pq

from benchmarks.planted import TARGETS, plant, s_curve
from benchmarks.proc import measure
from transforms.minhash import MinHashConfig, band_params

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dedup.json")
OUTCOMES = ("malformed", "filtered", "deduplicated", "over_budget", "packed")


def write_corpus(path: str, pairs_per_level: int) -> tuple[list[tuple[float, float, str, str]], int]:
    """Writes the planted corpus; returns [(target, true similarity, id a, id b)] under the ids the
    reader gives (file name:line, from 1) and the number of documents."""
    planted, others = plant(pairs_per_level, unrelated=2 * pairs_per_level)
    texts = [text for pair in planted for text in (pair.a, pair.b)] + others
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": text, "meta": {"pile_set_name": "Pile-CC"}}) + "\n" for text in texts)
    name = os.path.basename(path)
    return [(pair.target, pair.similarity, f"{name}:{2 * i + 1}", f"{name}:{2 * i + 2}")
            for i, pair in enumerate(planted)], len(texts)


def score(out: str, pairs: list[tuple[float, float, str, str]], documents: int) -> dict:
    """Recall per level and overall from the removal files, and whether the counts add up."""
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    bands, rows = band_params(MinHashConfig())
    used = manifest["dedup"]["minhash"]
    if (used["bands"], used["rows"]) != (bands, rows):  # the S-curve must be the run's own
        raise RuntimeError(f"the run banded {used['bands']} x {used['rows']}, not the default {bands} x {rows}")
    removed = {}
    for info in manifest["dedup"]["files"]:
        table = pq.read_table(os.path.join(out, info["path"]), columns=["id", "kind", "cause", "similarity"])
        removed.update((r["id"], r) for r in table.to_pylist())
    levels = {t: {"pairs": 0, "found": 0, "touched": 0, "similarity": 0.0, "s_curve": 0.0} for t in TARGETS}
    for target, j, a, b in pairs:
        hit = [removed[x] for x in (a, b) if x in removed]
        found = len(hit) == 1 and hit[0]["kind"] == "near" and {hit[0]["id"], hit[0]["cause"]} == {a, b}
        level = levels[target]
        level["pairs"] += 1
        level["found"] += found
        level["touched"] += bool(hit)  # any removal in the pair, right or wrong
        level["similarity"] += j
        level["s_curve"] += s_curve(j, bands, rows)
    for level in levels.values():
        n = level["pairs"]
        level.update(recall=level["found"] / n, similarity=level["similarity"] / n, s_curve=level["s_curve"] / n)
    high = [levels[t] for t in TARGETS if t >= 0.9]
    low = [levels[t] for t in TARGETS if t < 0.5]
    counts = manifest["counts"]["documents"]
    listed = sum(f["rows"] for f in manifest["dedup"]["files"])
    add_up = counts["read"] == sum(counts[k] for k in OUTCOMES) == documents and listed == counts["deduplicated"]
    return {
        "bands": bands, "rows": rows,
        "levels": [{"target": t, **{k: round(v, 4) for k, v in levels[t].items()}} for t in TARGETS],
        "recall_at_least_0.9": round(sum(x["found"] for x in high) / sum(x["pairs"] for x in high), 4),
        "removal_rate_below_0.5": round(sum(x["touched"] for x in low) / sum(x["pairs"] for x in low), 4),
        "other_removals": len(removed) - sum(x["found"] for x in levels.values()),  # unrelated, both of a pair...
        "counts": counts,
        "counts_add_up": add_up,
    }


def print_run(run: dict) -> None:
    print(f"\n{run['times']}x: {run['pairs_per_level']:,} pairs per level, {run['documents']:,} documents, "
          f"{run['input_mb']} MB; pileprep run {run['wall_s']} s, peak RSS {run['peak_rss_mb']} MB "
          f"(tree {run['tree_rss_mb']} MB), load {run['load_1min'][0]:.1f}-{run['load_1min'][1]:.1f}")
    print(f"{'level':>5} {'pairs':>6} {'true J':>7} {'found':>6} {'recall':>7} {'S-curve':>8}  "
          f"({run['bands']} bands x {run['rows']} rows)")
    for x in run["levels"]:
        print(f"{x['target']:>5} {x['pairs']:>6} {x['similarity']:>7.3f} {x['found']:>6} {x['recall']:>7.3f} "
              f"{x['s_curve']:>8.3f}")
    c = run["counts"]
    print(f"recall at >= 0.9 (pooled): {run['recall_at_least_0.9']:.3f}; pairs with a removal below 0.5: "
          f"{run['removal_rate_below_0.5']:.3f}; other removals: {run['other_removals']}")
    print(f"counts: read {c['read']:,} = " + " + ".join(f"{k} {c[k]:,}" for k in OUTCOMES)
          + (": add up" if run["counts_add_up"] else ": DO NOT ADD UP"), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="planted pairs per similarity level at 1x")
    parser.add_argument("--times", default="1,10", help="corpus sizes, in multiples of --pairs")
    parser.add_argument("--dir", default=None, help="work folder, kept (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    work = args.dir or tempfile.mkdtemp(prefix="pileprep-dedup-")
    os.makedirs(work, exist_ok=True)
    runs = []
    for times in (int(t) for t in args.times.split(",")):
        t0 = time.perf_counter()
        corpus = os.path.join(work, f"planted-x{times}.jsonl")
        pairs, documents = write_corpus(corpus, args.pairs * times)
        generate_s = time.perf_counter() - t0
        out = os.path.join(work, f"out-x{times}")
        cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", corpus, "--output", out, "--dedup",
               "minhash", "--rules", "none", "--overwrite", "--rows-per-shard", "64"]
        m = measure([cmd], os.path.join(work, f"log-x{times}"))
        run = {"times": times, "pairs_per_level": args.pairs * times, "documents": documents,
               "input_mb": round(os.path.getsize(corpus) / 1e6, 2), "generate_s": round(generate_s, 1),
               "wall_s": round(m["wall_s"], 1), "peak_rss_mb": round(m["max_rss_mb"]),
               "tree_rss_mb": round(m["tree_rss_mb"]), "load_1min": m["load_1min"],
               **score(out, pairs, documents)}
        runs.append(run)
        print_run(run)
    report = {"python": platform.python_version(), "numpy": np.__version__, "apache_beam": apache_beam.__version__,
              "machine": platform.machine(), "cores": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
              "runs": runs}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print("\n| corpus | documents | input | wall | peak RSS | tree RSS |\n|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['times']}x ({r['pairs_per_level']:,} pairs/level) | {r['documents']:,} | {r['input_mb']} MB "
              f"| {r['wall_s']} s | {r['peak_rss_mb']} MB | {r['tree_rss_mb']} MB |")
    print(f"\nwrote {RESULTS}")
    if not args.dir:
        shutil.rmtree(work)
    return 0 if all(r["counts_add_up"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
