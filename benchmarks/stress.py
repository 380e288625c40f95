"""Peak memory as the input grows: python -m benchmarks.stress [--mb 50] [--times 1,4].

Builds the real-text corpus of benchmarks/corpus.py, then copies of it under new file names (new
document ids; with `--dedup minhash` every extra copy is removed as an exact duplicate) to make
inputs 1x and 4x its size, and runs `pileprep run --no-documents` on each, without dedup and with
`--dedup minhash`. Every stage streams, but Beam's local runner keeps its shuffle in the launcher's
memory, so on this runner peak RSS grows with the input (on Dataflow, Spark or Flink the shuffle
lives outside the workers). Writes benchmarks/results/stress.json.
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
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--times", default="1,4")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args(argv)
    work = args.dir or tempfile.mkdtemp(prefix="pileprep-stress-")
    paths, stats = corpus.build(os.path.join(work, "corpus"), args.mb)
    rows = []
    for times in (int(t) for t in args.times.split(",")):
        folder = os.path.join(work, f"x{times}")
        os.makedirs(folder, exist_ok=True)
        for copy in range(times):
            for path in paths:
                target = os.path.join(folder, f"c{copy}-{os.path.basename(path)}")
                if not os.path.exists(target):
                    shutil.copyfile(path, target)
        for dedup in ("none", "minhash"):
            out = os.path.join(work, f"out-x{times}-{dedup}")
            cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", os.path.join(folder, "*.zst"),
                   "--output", out, "--no-documents", "--overwrite", "--dedup", dedup]
            m = measure([cmd], os.path.join(work, f"log-x{times}-{dedup}"))
            row = {"input_mb": round(stats["text_bytes"] * times / 1e6, 1), "times": times, "dedup": dedup,
                   "wall_s": round(m["wall_s"], 1), "peak_rss_mb": round(m["max_rss_mb"]),
                   "tree_rss_mb": round(m["tree_rss_mb"]), "load_1min": m["load_1min"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump({"corpus": stats, "runs": rows}, f, indent=2)
    print("| input | dedup | wall | peak RSS (largest process) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['input_mb']} MB ({r['times']}x) | {r['dedup']} | {r['wall_s']} s | {r['peak_rss_mb']} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
