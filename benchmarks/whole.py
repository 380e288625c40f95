"""Whole runs raced against each other: ways of running `pileprep run` (--no-documents) and the naive
loop (benchmarks/naive.py as two processes over halves of the input), each `rounds` times in turn
so that the machine's load hits all alike, the fastest of each counting; then, once, the
unoptimized path (`--reference`), whose manifest and shards every fast run must equal byte for byte.
Every run's wall time, peak RSS and per-process CPU come from benchmarks/proc.py.

    paths, stats = build_corpus("pile", corpus_dir, megabytes=100)
    rows = whole_runs(paths, work, stats["text_bytes"] / 1e6, rounds=2, variants={"...": [...]})
"""
import hashlib
import json
import os
import sys

from benchmarks import corpus, pile_corpus
from benchmarks.proc import measure

DEFAULT = "pileprep run (default, in-process)"
WORKERS = "pileprep run (--workers 2)"
REFERENCE = "pileprep run --reference (unoptimized path)"
NAIVE = "naive loop (2 processes)"
VARIANTS = {DEFAULT: [], WORKERS: ["--workers", "2"]}


def build_corpus(kind: str, out_dir: str, megabytes: float, seed: int = 0) -> tuple[list[str], dict]:
    """The Pile-shaped corpus ("pile", benchmarks/pile_corpus.py) or the ASCII-heavy one ("ascii",
    benchmarks/corpus.py), reused when out_dir already holds the same."""
    if kind == "pile":
        return pile_corpus.build(out_dir, megabytes, seed)
    if kind == "ascii":
        return corpus.build(out_dir, megabytes)
    raise ValueError(f"unknown corpus {kind!r}: give pile or ascii")


def commands(paths: list[str], work: str, variants: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    """label -> the commands of one run (run concurrently); the naive loop last."""
    inputs = [arg for p in paths for arg in ("--input", p)]
    half = len(paths) // 2
    out = {label: [[sys.executable, "-m", "pipeline.cli", "run", *inputs, "--output",
                    os.path.join(work, f"run-{i}"), "--no-documents", "--overwrite", *extra]]
           for i, (label, extra) in enumerate(variants.items())}
    out[NAIVE] = [[sys.executable, "-m", "benchmarks.naive", os.path.join(work, f"naive{i}.bin"), *part]
                  for i, part in enumerate((paths[:half], paths[half:]))]
    return out


def _manifest(cmds: list[list[str]]) -> bytes:
    with open(os.path.join(cmds[0][cmds[0].index("--output") + 1], "manifest.json"), "rb") as f:
        return f.read()


def _output_of(data: bytes) -> dict:
    """The manifest without its provenance (which implementations ran: the one part that may
    differ); it holds the sha256 of every shard, so equal ones are byte-identical outputs."""
    return {k: v for k, v in json.loads(data).items() if k != "provenance"}


def _row(label: str, cmds: list[list[str]], trials: list[dict], work: str, expected: dict | None) -> dict:
    stats = min(trials, key=lambda t: t["wall_s"])
    row = {"stage": label, **stats, "wall_s_all": [round(t["wall_s"], 2) for t in trials]}
    if label == NAIVE:
        row["tokens"] = sum(os.path.getsize(os.path.join(work, f"naive{i}.bin")) // 2 for i in range(2))
        return row
    data = _manifest(cmds)
    manifest = json.loads(data)
    row.update(tokens=manifest["tokens"]["packed"], rows=manifest["rows"],
               manifest_sha256=hashlib.sha256(data).hexdigest())
    if expected is not None:
        row["identical_to_reference"] = _output_of(data) == expected
    return row


def whole_runs(paths: list[str], work: str, text_mb: float, rounds: int = 2, reference: bool = True,
               variants: dict[str, list[str]] = VARIANTS) -> list[dict]:
    """One row per way of running, the naive loop last; the ratios are against the naive loop
    (this machine's timings vary by +-15% from run to run; ours and the naive loop alike)."""
    cmds = commands(paths, work, variants)
    trials = {label: [] for label in cmds}
    for _ in range(rounds):
        for label, c in cmds.items():
            trials[label].append(measure(c, os.path.join(work, "run")))
    expected = None
    if reference:  # once: it is the slow path, there to prove the output, not to race
        naive = cmds.pop(NAIVE)
        cmds[REFERENCE] = commands(paths, work, {**variants, REFERENCE: ["--reference"]})[REFERENCE]
        cmds[NAIVE] = naive
        trials[REFERENCE] = [measure(cmds[REFERENCE], os.path.join(work, "run"))]
        expected = _output_of(_manifest(cmds[REFERENCE]))
    runs = [_row(label, c, trials[label], work, expected) for label, c in cmds.items()]
    for r in runs:
        r["mb_per_s"] = text_mb / r["wall_s"]
        r["speedup"] = runs[-1]["wall_s"] / r["wall_s"]
    return runs


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def cpu_cells(row: dict) -> tuple[str, str]:
    """The busiest process's CPU (cores, share of the tree's CPU) and the tree's utilization."""
    cpu = row["cpu"]
    return (f"{cpu['busiest_cores']:.2f} cores ({cpu['busiest_share']:.0%} of the tree's CPU)",
            f"{cpu['utilization']:.0%} of {os.cpu_count()} cores")


def render(head: tuple, rows: list[tuple]) -> tuple[str, str]:
    """A table as aligned text for the terminal and as Markdown for the READMEs."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    text = "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths))
                     for row in [head, tuple("-" * w for w in widths), *rows])
    md = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                   + ["| " + " | ".join(str(x) for x in row) + " |" for row in rows])
    return text, md
