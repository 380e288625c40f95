"""One command for every measurement: python -m benchmarks.run [--corpus pile] [--mb 50] [--dir DIR].

Builds a corpus in Pile format from this machine's files (Pile-shaped, benchmarks/pile_corpus.py,
or with --corpus ascii the ASCII-heavy benchmarks/corpus.py), then in one run: each stage against
its naive counterpart (benchmarks/stages.py), the whole `pileprep run` (--no-documents) with the
default in-process runner and with --workers 2 (Beam's multi_processing mode), against the naive
loop (benchmarks/naive.py) run as two processes over halves of the input, with the peak RSS and
per-process CPU of each (benchmarks/whole.py); each of these three runs `--repeat` times (default 2)
in turn and the fastest counts. (benchmarks/end_to_end.py does only the whole runs.) The
MinHash and trainer benchmarks are included when their modules exist. Prints a table and a
Markdown table for benchmarks/README.md, and writes benchmarks/results/latest.json. The 1-minute load
average is recorded around every measurement: other work on the machine slows everything down.
"""
import argparse
import datetime
import importlib
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time

from benchmarks import stages
from benchmarks.whole import build_corpus, fmt, render, whole_runs

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")


def _sample(docs: list[dict], megabytes: float) -> list[dict]:
    out, size = [], 0
    for doc in docs:  # the corpus interleaves its sources, so a prefix is a mix of all of them
        if size >= megabytes * 1e6:
            break
        out.append(doc)
        size += len(doc["text"].encode("utf-8", "surrogatepass"))
    return out


def optional(name: str, argv: list[str], results_name: str) -> dict | None:
    """Run benchmarks/<name>.py's main(argv), if another engineer has written it, in a child
    process (bench_minhash pins its process to one core), and keep its results; its own results
    file is put back as it was, so that this run does not replace its canonical numbers."""
    if not os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")):
        return None
    path = os.path.join(os.path.dirname(RESULTS), results_name)
    saved = open(path, "rb").read() if os.path.exists(path) else None
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        child = multiprocessing.get_context("spawn").Process(target=module.main, args=(argv,))
        start = time.perf_counter()
        child.start()
        child.join()
        if child.exitcode != 0:
            return {"error": f"{name}.main({argv}) exited with {child.exitcode}"}
        with open(path) as f:
            return {"argv": argv, "wall_s": time.perf_counter() - start, "results": json.load(f)}
    except Exception as e:  # someone else's benchmark must not sink this one
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        if saved is not None:
            with open(path, "wb") as f:
                f.write(saved)


def _extra_rows(extra: dict) -> list[dict]:
    rows = []
    minhash = (extra.get("minhash") or {}).get("results", {})
    for r in minhash.get("results", []):
        try:
            rows.append({"stage": f"minhash ({r['shingles']}, 1 core)", "unit": "MB",
                         "ours_rate": r["pileprep_signatures_mb_s"],
                         "naive_rate": r["datasketch_with_shingling_mb_s"], "speedup": r["speedup_end_to_end"]})
        except KeyError:
            pass
    return rows


def table(stage_rows: list[dict], run_rows: list[dict]) -> tuple[str, str]:
    head = ("stage", "ours", "naive", "speed-up", "peak RSS MB: largest process (tree)")
    rows = []
    for r in stage_rows:
        unit = r["unit"] + "/s"
        rows.append((r["stage"], f"{fmt(r['ours_rate'])} {unit}",
                     f"{fmt(r['naive_rate'])} {unit}" if "naive_rate" in r else "-",
                     f"{r['speedup']:.1f}x" if "speedup" in r else "-", "-"))
    naive = run_rows[-1] if run_rows else None
    for r in run_rows:
        rss = f"{fmt(r['max_rss_mb'], 0)} (tree {fmt(r['tree_rss_mb'], 0)})"
        rows.append((r["stage"], f"{fmt(r['wall_s'])} s, {fmt(r['mb_per_s'], 2)} MB/s",
                     f"{fmt(naive['wall_s'])} s" if r is not naive else "-",
                     f"{r['speedup']:.2f}x" if r is not naive else "1.00x", rss))
    return render(head, rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[1])
    parser.add_argument("--corpus", choices=("pile", "ascii"), default="pile",
                        help="pile: Pile-shaped (benchmarks/pile_corpus.py, the default); ascii: the "
                             "ASCII-heavy one of benchmarks/corpus.py")
    parser.add_argument("--mb", type=float, default=50.0, help="corpus size in MB of text (default 50)")
    parser.add_argument("--stage-mb", type=float, default=16.0,
                        help="MB of the corpus used for the per-stage comparisons (default 16)")
    parser.add_argument("--dir", default=None, help="corpus directory, reused when it matches (default: temp)")
    parser.add_argument("--extras-mb", type=float, default=5.0,
                        help="MB for bench_minhash, when present (default 5; 0 skips it)")
    parser.add_argument("--skip-runs", action="store_true", help="only the per-stage comparisons")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the one run of the unoptimized path (--reference) that every fast run's "
                             "manifest and shards are compared with")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each whole-pipeline command; the fastest counts")
    parser.add_argument("--output", default=RESULTS, help=f"results JSON (default {RESULTS})")
    return parser


def _stage_rows(paths: list[str], stage_mb: float, load: list) -> list[dict]:
    """Each stage's core against its naive counterpart, on a prefix of the corpus."""
    read, docs = stages.read(paths)
    load.append(os.getloadavg())
    sample = _sample(docs, stage_mb)
    rows = [read, stages.normalize(sample), stages.filter_(sample)]
    load.append(os.getloadavg())
    tok, ids = stages.tokenize(sample)
    rows += [*tok, stages.pack(ids)]
    load.append(os.getloadavg())
    return rows


def _measure(args, work: str, load: list) -> tuple[dict, list[dict], list[dict], dict]:
    corpus_dir = args.dir or os.path.join(work, "corpus")
    paths, stats = build_corpus(args.corpus, corpus_dir, args.mb)
    text_mb = stats["text_bytes"] / 1e6
    print(f"corpus ({args.corpus}): {stats['documents']:,} documents, {text_mb:.1f} MB of text in "
          f"{len(paths)} files at {corpus_dir}", file=sys.stderr)
    stage_rows = _stage_rows(paths, args.stage_mb, load)
    run_rows = [] if args.skip_runs else whole_runs(paths, work, text_mb, args.repeat, args.reference)
    load.append(os.getloadavg())
    extra = {"minhash": optional("bench_minhash", ["--mb", str(args.extras_mb)], "minhash.json")
             if args.extras_mb > 0 else None,
             "trainer": optional("bench_trainer", [], "trainer.json")}
    return stats, stage_rows + _extra_rows(extra), run_rows, extra


def _report(stage_rows: list[dict], run_rows: list[dict], load: list) -> tuple[str, list[dict]]:
    text, md = table(stage_rows, run_rows)
    print(text)
    print()
    print(md)
    norm = next(r for r in stage_rows if r["stage"].startswith("normalize"))
    print(f"\nnormalize: {norm['fast_path_fraction']:.1%} of documents without any ftfy call, "
          f"{norm['changed']} of {norm['documents']} changed by ftfy, {norm['mismatched']} mismatches; "
          f"load average {load[0][0]:.2f} -> {load[-1][0]:.2f} on {os.cpu_count()} cores")
    checked = [r for r in run_rows if "identical_to_reference" in r and "--reference" not in r["stage"]]
    if checked:
        print("manifest and shards byte-identical to the unoptimized path (--reference): " + ", ".join(
            f"{r['stage']}: {'yes' if r['identical_to_reference'] else 'NO'}" for r in checked))
    return md, checked


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    work = tempfile.mkdtemp(prefix="pileprep-bench-")
    started, load = time.perf_counter(), [os.getloadavg()]
    try:
        stats, stage_rows, run_rows, extra = _measure(args, work, load)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    md, checked = _report(stage_rows, run_rows, load)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load_average": {"samples": load, "note": "os.getloadavg() at start, after each group, at end"},
        "corpus": stats, "stage_mb": args.stage_mb, "stages": stage_rows, "runs": run_rows,
        "wall_s": time.perf_counter() - started, **{k: v for k, v in extra.items() if v is not None},
        "markdown": md,
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(r["identical_to_reference"] for r in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
