"""Peak memory as the input grows: python -m benchmarks.stress [--mb 50] [--times 10,40].

Builds the real-text corpus of benchmarks/corpus.py, then links to it under new file names (new
document ids; with `--dedup minhash` every extra copy is removed as an exact duplicate) to make
inputs `times` times its size (10 and 40: 0.5 GB and 2 GB of text), and runs `pileprep run` on
each, with and without `--dedup minhash`, on the default local runner. Beam's local runner holds
its shuffles in memory, so pileprep spills the payloads (tokens, texts) to files and shuffles
references (transforms/spill.py); for comparison the smallest input also runs with `--spill off`.
Writes benchmarks/results/stress.json and prints a table.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

from benchmarks import corpus
from benchmarks.proc import measure

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "stress.json")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="MB of real text in the base corpus")
    parser.add_argument("--times", default="10,40", help="input sizes, in copies of the base corpus")
    parser.add_argument("--dedup", default="none,minhash", help="dedup modes to run at each size")
    parser.add_argument("--dir", default=None, help="work folder (default: a new temporary one)")
    args = parser.parse_args(argv)
    work = args.dir or tempfile.mkdtemp(prefix="pileprep-stress-")
    paths, stats = corpus.build(os.path.join(work, "corpus"), args.mb)
    sizes = [int(t) for t in args.times.split(",")]
    runs = [(times, dedup, "auto") for times in sizes for dedup in args.dedup.split(",")]
    runs.insert(0, (sizes[0], "none", "off"))
    rows = []
    for times, dedup, spill in runs:
        folder = os.path.join(work, f"x{times}")
        os.makedirs(folder, exist_ok=True)
        for copy in range(times):
            for path in paths:
                target = os.path.join(folder, f"c{copy:03d}-{os.path.basename(path)}")
                if not os.path.exists(target):
                    os.link(path, target)
        out = os.path.join(work, f"out-x{times}-{dedup}-{spill}")
        cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", os.path.join(folder, "*.zst"),
               "--output", out, "--overwrite", "--dedup", dedup, "--spill", spill]
        m = measure([cmd], os.path.join(work, f"log-x{times}-{dedup}-{spill}"))
        row = {"input_mb": round(stats["text_bytes"] * times / 1e6, 1), "times": times, "dedup": dedup,
               "spill": spill, "wall_s": round(m["wall_s"], 1), "peak_rss_mb": round(m["max_rss_mb"]),
               "tree_rss_mb": round(m["tree_rss_mb"]), "load_1min": m["load_1min"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(out)  # shards and documents of every size would not fit a small disk
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump({"corpus": stats, "runs": rows}, f, indent=2)
    print("| input | dedup | spill | wall | peak RSS |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['input_mb']:,} MB ({r['times']}x) | {r['dedup']} | {r['spill']} | {r['wall_s']} s "
              f"| {r['peak_rss_mb']} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
