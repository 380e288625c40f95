"""The end-to-end measurement: `pileprep run` against the naive loop on one corpus, in one command.

    python -m benchmarks.end_to_end --corpus pile --mb 100 --rounds 2 [--dir DIR] [--workers] [--reference]

Builds (or reuses, with --dir) the corpus — Pile-shaped by default (benchmarks/pile_corpus.py),
or the ASCII-heavy one with --corpus ascii — then races `pileprep run --no-documents` on the
default local runner against the naive loop (ftfy.fix_text + HF tokenizers' encode_batch per
document, two processes over halves of the input: benchmarks/naive.py), interleaved, `--rounds`
times each, the faster of each counting (benchmarks/whole.py). Every run's process tree is sampled
from /proc every 0.2 s (the tokenizer child processes included): printed are wall time, MB/s of
text, the ratio to the naive loop, the busiest process's CPU (in cores, and as a share of the
tree's CPU), the tree's utilization of the machine's cores and the 1-minute load average around
each run. Writes benchmarks/results/end_to_end-<corpus>-<mb>mb.json.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile

from benchmarks.whole import DEFAULT, NAIVE, REFERENCE, WORKERS, build_corpus, cpu_cells, fmt, render, whole_runs

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.end_to_end", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("pile", "ascii"), default="pile",
                        help="pile: Pile-shaped (default); ascii: Python sources and /usr/share/doc as they are")
    parser.add_argument("--mb", type=float, default=100.0, help="MB of text (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the Pile-shaped corpus's seed (default 0)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs of each; the fastest counts (default 2)")
    parser.add_argument("--dir", default=None, help="corpus directory, reused when it holds the same corpus")
    parser.add_argument("--workers", action="store_true", help="also race `--workers 2` (Beam's multi-process mode)")
    parser.add_argument("--reference", action="store_true",
                        help="also run the unoptimized path once and check that every fast run's manifest "
                             "and shards equal its own byte for byte")
    parser.add_argument("--output", default=None, help="results JSON (default benchmarks/results/end_to_end-<corpus>-<mb>mb.json)")
    return parser


def table(rows: list[dict]) -> tuple[str, str]:
    head = ("run", "wall (best; all)", "MB/s", "vs naive", "busiest process", "tree utilization",
            "load avg", "peak RSS MB (tree)")
    out = []
    for r in rows:
        busiest, utilization = cpu_cells(r)
        out.append((r["stage"], f"{fmt(r['wall_s'])} s; " + ", ".join(map(str, r["wall_s_all"])),
                    fmt(r["mb_per_s"], 2), f"{r['speedup']:.2f}x", busiest, utilization,
                    "-".join(f"{x:.1f}" for x in r["load_1min"]),
                    f"{fmt(r['max_rss_mb'], 0)} ({fmt(r['tree_rss_mb'], 0)})"))
    return render(head, out)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    work = tempfile.mkdtemp(prefix="pileprep-e2e-")
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        corpus_dir = args.dir or os.path.join(work, "corpus")
        paths, stats = build_corpus(args.corpus, corpus_dir, args.mb, args.seed)
        text_mb = stats["text_bytes"] / 1e6
        print(f"corpus ({args.corpus}): {stats['documents']:,} documents, {text_mb:.1f} MB of text in "
              f"{len(paths)} files at {corpus_dir}", file=sys.stderr)
        variants = {DEFAULT: [], **({WORKERS: ["--workers", "2"]} if args.workers else {})}
        rows = whole_runs(paths, work, text_mb, args.rounds, args.reference, variants)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text, md = table(rows)
    print(text, md, sep="\n\n")
    for r in rows:
        print(f"{r['stage']}: busiest process `{r['cpu']['busiest_cmd'][:90]}`, "
              f"{r['cpu']['processes']} processes, {r['cpu']['tree_cpu_s']:.1f} CPU s")
    checked = [r for r in rows if "identical_to_reference" in r and r["stage"] != REFERENCE]
    for r in checked:
        print(f"{r['stage']}: manifest and shards byte-identical to --reference: "
              f"{'yes' if r['identical_to_reference'] else 'NO'}")
    output = args.output or os.path.join(RESULTS, f"end_to_end-{args.corpus}-{args.mb:g}mb.json")
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        json.dump({"date": started, "command": "python -m benchmarks.end_to_end " + " ".join(sys.argv[1:] if argv is None else argv),
                   "cpus": os.cpu_count(), "corpus": stats, "naive": NAIVE, "runs": rows, "markdown": md},
                  f, indent=1, default=str)
    print(f"wrote {output}", file=sys.stderr)
    return 0 if all(r["identical_to_reference"] for r in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
