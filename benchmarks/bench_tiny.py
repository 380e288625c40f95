"""Per-document cost of a local run: many tiny documents (issue #17, items 1 and 2).

    python -m benchmarks.bench_tiny --docs 50000,500000 [--dedup none,exact] [--extra=--no-documents]

For each size it writes (once, then reuses) a Pile-format corpus of distinct ~120-character
documents (`--files` .jsonl.zst files, from `--seed`): English sentences from the synthetic sample's
word lists with typographic punctuation (curly quotes, dashes, ellipses, accented names), about 1
in 20 in another script, about 1 in 10 a line of code. Then, for each dedup mode, it runs
`python -m pipeline.cli run` on the default local runner (in-process FnApiRunner) under
benchmarks/proc.py `measure`, which samples the summed RSS of the whole process tree (launcher and
tokenizer children), and prints per run: documents, wall time, documents/s, MB/s of text, peak tree
RSS, CPU seconds of the tree; and per dedup mode the slope of peak RSS between successive sizes in
bytes per extra document (the issue's goal: <= 50). `--large-mb N` also runs the same command on
N MB of real text (benchmarks/corpus.py), for the MB/s comparison of tiny against large documents.
Results go to benchmarks/results/tiny.json (`--json PATH` to change). Nothing is run as a test.
"""
import argparse
import json
import os
import random
import shutil
import sys
import time

import orjson
import zstandard

from benchmarks.proc import measure

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "tiny.json")
TARGET_CHARS = 120

_OPEN = ("“", "‘", "")
_CLOSE = {"“": "”", "‘": "’", "": ""}
_JOIN = (", ", " — ", "; ", " – ", ": ", " … ")
_NAMES = ("Zoë", "José", "Renée", "Björn", "François", "Anaïs", "Müller", "Dvořák", "Nuñez", "Øystein")
_OTHER = ("Это короткий текст о погоде и городе", "これは短い日本語の文章です", "Ο καιρός σήμερα είναι καλός",
          "这是一个关于城市历史的短句", "هذا نص قصير عن المدينة", "Dies ist ein kurzer Satz über Bücher")
_SOURCES = ("Pile-CC", "OpenWebText2", "Wikipedia (en)", "StackExchange", "FreeLaw", "PubMed Abstracts",
            "USPTO Backgrounds", "HackerNews", "Books3", "ArXiv")
_CODE = ("def {a}_{b}({c}):\n    return {c} * {n}  # {w}\n",
         "for (int {c} = 0; {c} < {n}; {c}++) {{ {a}[{c}] = {b}; }} // {w}\n",
         "const {a} = ({c}) => {c}.{b} + {n}; /* {w} */\n")


def _words():
    from pipeline.tools.sample_text import VOCAB  # the synthetic sample's word lists, per field

    return sorted({w for vocab in VOCAB.values() for w in vocab})


def _sentence(r: random.Random, words: list[str]) -> str:
    parts, size = [], 0
    while size < TARGET_CHARS - 20:
        n = r.randint(3, 7)
        clause = " ".join(r.choice(words) for _ in range(n))
        if r.random() < 0.2:
            clause += " " + r.choice(_NAMES)
        if r.random() < 0.15:
            q = r.choice(_OPEN)
            clause = f"{q}{clause}{_CLOSE[q]}"
        parts.append(clause)
        size += len(clause) + 2
    text = parts[0]
    for p in parts[1:]:
        text += r.choice(_JOIN) + p
    text = text[0].upper() + text[1:] + r.choice((".", ".", ".", "?", "!", "…"))
    if r.random() < 0.25:
        text = text.replace(" it is ", " it’s ").replace(" do not ", " don’t ")
    return text


def document(r: random.Random, words: list[str]) -> tuple[str, str]:
    """(source, text): one tiny document of about TARGET_CHARS characters."""
    u = r.random()
    if u < 0.10:
        w = [r.choice(words) for _ in range(4)]
        return "Github", r.choice(_CODE).format(a=w[0], b=w[1], c=w[2][:1] or "x", n=r.randint(2, 999), w=w[3])
    if u < 0.15:
        return "Pile-CC", f"{r.choice(_OTHER)}, {r.randint(1, 9999)} — {_sentence(r, words)[:60]}"
    return r.choice(_SOURCES), _sentence(r, words)


def build(out_dir: str, docs: int, files: int, seed: int) -> dict:
    """Write (or reuse) `files` .jsonl.zst files holding `docs` distinct tiny documents."""
    stamp = os.path.join(out_dir, "tiny.json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            stats = json.load(f)
        if stats.get("documents") == docs and stats.get("files") == files and stats.get("seed") == seed:
            return stats
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    r, words, seen = random.Random(seed), _words(), set()
    text_bytes = 0
    cctx = zstandard.ZstdCompressor(level=3)
    per_file = [docs // files + (i < docs % files) for i in range(files)]
    for i, count in enumerate(per_file):
        lines = []
        while len(lines) < count:
            source, text = document(r, words)
            key = hash(text)  # distinctness within this build only (a process-local hash is fine)
            if key in seen:
                continue
            seen.add(key)
            text_bytes += len(text.encode("utf-8"))
            lines.append(orjson.dumps({"text": text, "meta": {"pile_set_name": source}}))
        with open(os.path.join(out_dir, f"{i:02d}.jsonl.zst"), "wb") as f:
            f.write(cctx.compress(b"\n".join(lines) + b"\n"))
    stats = {"documents": docs, "files": files, "seed": seed, "text_bytes": text_bytes,
             "mean_bytes": text_bytes / docs}
    with open(stamp, "w") as f:
        json.dump(stats, f)
    return stats


def run_once(inputs: str, out: str, log: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", inputs, "--output", out, "--overwrite", *extra]
    stats = measure([cmd], log)
    shutil.rmtree(out, ignore_errors=True)
    return {"cmd": " ".join(cmd), "wall_s": stats["wall_s"], "tree_rss_mb": stats["tree_rss_mb"],
            "max_rss_mb": stats["max_rss_mb"], "cpu_s": stats["runs"][0]["cpu_s"], "load_1min": stats["load_1min"],
            "at_peak": stats["at_peak"], "rss_by_process": stats["cpu"]["rss"]}


def _short(cmd: str) -> str:
    """A process's role, from its command line: the launcher or a worker (transforms/*_processes.py child)."""
    return "launcher" if "pipeline.cli" in cmd else "worker" if "_processes" in cmd else cmd[:40]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", default="50000,500000", help="comma-separated corpus sizes")
    ap.add_argument("--dedup", default="none", help="comma-separated --dedup modes (none,exact,minhash)")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "pileprep-tiny"))
    ap.add_argument("--extra", action="append", default=[], help="a further `pileprep run` argument (repeatable)")
    ap.add_argument("--large-mb", type=float, default=0, help="also run on this many MB of real text (0: no)")
    ap.add_argument("--json", default=RESULTS)
    args = ap.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.docs.split(","))
    modes = args.dedup.split(",")
    os.makedirs(args.dir, exist_ok=True)
    results = []
    header = f"{'dedup':<7} {'docs':>10} {'wall s':>8} {'docs/s':>9} {'MB/s':>6} {'peak RSS MB':>12} {'cpu s':>7} {'load':>5}"
    print(header, flush=True)
    for mode in modes:
        for n in sizes:
            corpus = os.path.join(args.dir, f"corpus-{n}-{args.files}-{args.seed}")
            stats = build(corpus, n, args.files, args.seed)
            r = run_once(os.path.join(corpus, "*.jsonl.zst"), os.path.join(args.dir, "out"),
                         os.path.join(args.dir, f"log-{mode}-{n}"), ["--dedup", mode, *args.extra])
            r.update(dedup=mode, docs=n, text_mb=stats["text_bytes"] / 1e6, docs_per_s=n / r["wall_s"],
                     mb_per_s=stats["text_bytes"] / 1e6 / r["wall_s"])
            results.append(r)
            print(f"{mode:<7} {n:>10,} {r['wall_s']:>8.1f} {r['docs_per_s']:>9,.0f} {r['mb_per_s']:>6.2f} "
                  f"{r['tree_rss_mb']:>12,.0f} {r['cpu_s']:>7.1f} {r['load_1min'][0]:>5.1f}", flush=True)
            print("    at the tree's peak: " + ", ".join(f"{_short(p['cmd'])} {p['rss_mb']:,.0f}"
                                                       for p in r["at_peak"]) + " MB; each process's own peak: "
                  + ", ".join(f"{_short(p['cmd'])} {p['rss_mb']:,.0f}" for p in r["rss_by_process"]) + " MB",
                  flush=True)
    slopes = []
    for mode in modes:
        runs = [r for r in results if r["dedup"] == mode]
        for a, b in zip(runs, runs[1:]):
            slope = (b["tree_rss_mb"] - a["tree_rss_mb"]) * 2**20 / (b["docs"] - a["docs"])
            slopes.append({"dedup": mode, "from": a["docs"], "to": b["docs"], "bytes_per_doc": slope})
            print(f"slope --dedup {mode}: {a['docs']:,} -> {b['docs']:,} docs: {slope:,.0f} bytes of peak RSS "
                  f"per extra document (goal <= 50)")
    large = None
    if args.large_mb:
        from benchmarks import corpus as real

        paths, stats = real.build(os.path.join(args.dir, f"real-{args.large_mb:g}mb"), args.large_mb)
        large = run_once(os.path.join(os.path.dirname(paths[0]), "*.jsonl.zst"), os.path.join(args.dir, "out"),
                         os.path.join(args.dir, "log-large"), ["--dedup", modes[0], *args.extra])
        large.update(docs=stats["documents"], text_mb=stats["text_bytes"] / 1e6,
                     mb_per_s=stats["text_bytes"] / 1e6 / large["wall_s"])
        print(f"large documents ({stats['documents']:,} docs, {large['text_mb']:.1f} MB): {large['wall_s']:.1f} s, "
              f"{large['mb_per_s']:.2f} MB/s, peak RSS {large['tree_rss_mb']:,.0f} MB")
        for r in results:
            print(f"  tiny {r['dedup']} {r['docs']:,}: {large['mb_per_s'] / r['mb_per_s']:.1f}x slower in MB/s "
                  f"(goal <= 3x)")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(), "extra": args.extra,
                   "runs": results, "slopes": slopes, "large": large}, f, indent=1)


if __name__ == "__main__":
    main()
