"""Live counts for watching a run: lines (documents) and bytes of input read, tokens, and the
furthest stage reached. DoFns add to them per batch; each add also increments the Beam counter of
the same name in the namespace "pileprep", which Dataflow, Spark and Flink show in their UIs.

The launcher's progress line (pipeline/progress.py) reads them on the local runners: from this
process's tallies when the DoFns run in it (the default in-process runner), and from one small
JSON file per worker process (Beam's multi_processing mode) that a thread of the worker rewrites
at most every FLUSH_SECONDS. They are for watching only: the manifest counts the records
themselves (DESIGN.md section 1).

    add(documents=1000, bytes_read=1 << 20)
    reached("pack")
"""
import json
import os
import threading
import time

import apache_beam as beam

NAMESPACE = "pileprep"
COUNTS = ("documents", "bytes_read", "tokens")
STAGES = ("read", "tokenize", "pack", "write")  # in the order a run reaches them
DIRECTORY = "PILEPREP_PROGRESS_DIR"  # set by the launcher for one run: where workers write counts
LAUNCHER = "PILEPREP_PROGRESS_PID"  # the launcher reads its own tallies and writes no file
FLUSH_SECONDS = 0.25  # a worker's file is at most this stale; the line updates twice a second

_COUNTERS = {name: beam.metrics.Metrics.counter(NAMESPACE, name) for name in COUNTS}
_lock = threading.Lock()  # taken once per thread and run, never per add
_tallies: list[list[int]] = []  # one per thread: the COUNTS, then the furthest stage's index
_generation = 0  # bumped by reset(): a thread's tally of an earlier run is left behind
_local = threading.local()
_writer_pid = None  # the process whose file-writing thread runs


def _tally() -> list[int]:
    """This thread's tally: only this thread writes it, so adding takes no lock."""
    tally = getattr(_local, "tally", None)
    if tally is None or _local.generation != _generation:
        tally = [0] * len(COUNTS) + [-1]
        with _lock:
            _tallies.append(tally)
            _local.tally, _local.generation = tally, _generation
        _start_writer()
    return tally


def add(documents: int = 0, bytes_read: int = 0, tokens: int = 0):
    tally = _tally()
    for i, n in enumerate((documents, bytes_read, tokens)):
        if n:
            tally[i] += n
            _COUNTERS[COUNTS[i]].inc(n)
    tally[-1] = max(tally[-1], 1 if tokens else 0)


def reached(stage: str):
    tally = _tally()
    tally[-1] = max(tally[-1], STAGES.index(stage))


def snapshot() -> dict:
    """This process's counts, and the index of the furthest stage reached (-1: none yet)."""
    with _lock:
        tallies = [list(t) for t in _tallies]
    counts = {name: sum(t[i] for t in tallies) for i, name in enumerate(COUNTS)}
    return {**counts, "stage": max((t[-1] for t in tallies), default=-1)}


def reset():
    """Start counting a new run in this process."""
    global _generation, _tallies
    with _lock:
        _generation += 1
        _tallies = []


def combined(directory: str | None) -> dict:
    """This process's counts plus those the worker processes wrote to `directory`."""
    parts = [snapshot()]
    for name in os.listdir(directory) if directory and os.path.isdir(directory) else ():
        if name.endswith(".json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    parts.append(json.load(f))
            except (OSError, ValueError):
                continue  # gone with the run, or (on a file system without atomic rename) half written
    total = {name: sum(p.get(name, 0) for p in parts) for name in COUNTS}
    return {**total, "stage": max(p.get("stage", -1) for p in parts)}


def _start_writer():
    """In a worker process of a watched run, a thread that writes this process's counts to
    DIRECTORY/<pid>.json whenever they changed."""
    global _writer_pid
    directory, launcher = os.environ.get(DIRECTORY), os.environ.get(LAUNCHER)
    pid = os.getpid()
    if not directory or launcher == str(pid) or _writer_pid == pid:
        return
    _writer_pid = pid
    threading.Thread(target=_write_loop, args=(directory, pid), daemon=True, name="pileprep-progress").start()


def _write_loop(directory: str, pid: int):
    path, last = os.path.join(directory, f"{pid}.json"), None
    while True:
        time.sleep(FLUSH_SECONDS)
        counts = snapshot()
        if counts == last:
            continue
        try:
            with open(f"{path}.tmp", "w") as f:
                json.dump(counts, f)
            os.replace(f"{path}.tmp", path)  # the reader never sees half a file
        except OSError:
            return  # the launcher removed the directory: the run is over
        last = counts


class ReadProgress:
    """read_file's `progress` callback for one file, or the byte range [start, end) of it: adds the
    lines read since its last call, and the input bytes consumed, measured on the file object as
    it is stored (compressed bytes for .zst and .gz), so the total is the input's size."""

    def __init__(self, fh, start: int, end: int, first_line: int):
        self.fh, self.start, self.length, self.first_line = fh, start, end - start, first_line
        self.lines = self.bytes = 0

    def __call__(self, name: str, lines: int, nbytes: int):
        try:
            consumed = min(max(self.fh.tell() - self.start, 0), self.length)
        except (OSError, ValueError):
            consumed = self.bytes  # a stream that cannot tell: the rest counts at finish()
        self._add(lines - self.first_line, consumed)

    def finish(self, lines: int):
        """The file (range) is read: count its last lines and all its bytes (a damaged file's
        rest included, so the total is reached)."""
        self._add(lines, self.length)

    def _add(self, lines: int, consumed: int):
        add(documents=lines - self.lines, bytes_read=max(consumed - self.bytes, 0))
        self.lines, self.bytes = lines, max(consumed, self.bytes)
