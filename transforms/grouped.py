"""Consuming a GroupByKey's values in one pass with bounded memory, whatever the group's size.

On a cluster the values of one key go to one worker as a one-pass iterable, and deduplication's
keys are skewed (one boilerplate page with a million copies, the centre of a huge cluster), so no
consumer may list or sort a group whose size grows with the data (../shared/DESIGN.md §9). Two
helpers cover what dedup's consumers need:

- `with_head`: a group holding one small "head" (a minimum computed beforehand by a CombinePerKey)
  and many members; yields (head, member) for every member. Beam gives no order inside a group, so
  the members seen before the head wait in a buffer of BUFFER values, then in a temporary file of
  the worker's local disk: memory stays at one buffer, each member is read from the input once.
- `sorted_externally`: the values in a key's order, by sorted runs of RUN values in a temporary
  file, merged lazily FAN_IN at a time (an external merge sort): memory is one run, or one read
  block of each of FAN_IN runs.

Temporary files are private to one call and deleted when it ends; nothing in the outputs depends
on them, so the results are what an in-memory consumer would give.

    for head, member in with_head(values, is_head=lambda v: v[0] == "min"): ...
    for record in sorted_externally(records, key=lambda r: r["id"]): ...
"""
import heapq
import pickle
import tempfile

from transforms.diskfull import disk_full_is_an_error

BUFFER = 4096  # members held in memory before the head arrives (a few MB of dedup's values)
RUN = 20_000  # values sorted in memory at once: ~10 MB of removal records
BLOCK = 256  # values per pickled block of a temporary file: one block per run is read at a time
FAN_IN = 64  # runs merged at once; more are first merged into longer runs, so memory stays bounded


class _Overflow:
    """Blocks of values appended to an anonymous temporary file, read back in order."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.offsets = []

    def append(self, block: list):
        with disk_full_is_an_error(tempfile.gettempdir(), "a temporary file of a group too large for memory",
                                   fix="free space there, or set TMPDIR to a directory on a larger disk"):
            self.offsets.append(self.file.seek(0, 2))
            pickle.dump(block, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def blocks(self, first: int = 0, last: int | None = None):
        """The blocks first..last-1, one in memory at a time."""
        for offset in self.offsets[first:last]:
            self.file.seek(offset)
            yield pickle.load(self.file)

    def close(self):
        self.file.close()


def with_head(values, is_head, buffer: int = BUFFER):
    """(head, member) for every value that is not the head, reading `values` once; head is None
    when the group has none. Members before the head are buffered (then spilled, past `buffer`)."""
    head, early, spill = None, [], None
    try:
        for value in values:
            if head is None and is_head(value):
                head = value
                yield from ((head, v) for v in early)
                early = []
                if spill is not None:
                    for block in spill.blocks():
                        yield from ((head, v) for v in block)
                    spill.close()
                    spill = None
            elif head is not None:
                yield head, value
            else:
                early.append(value)
                if len(early) >= buffer:
                    spill = spill or _Overflow()
                    spill.append(early)
                    early = []
        if head is None:  # no head: every member goes out without one
            if spill is not None:
                for block in spill.blocks():
                    yield from ((None, v) for v in block)
            yield from ((None, v) for v in early)
    finally:
        if spill is not None:
            spill.close()


def _run_values(spill: _Overflow, first: int, last: int):
    for block in spill.blocks(first, last):
        yield from block


def sorted_externally(values, key, run: int = RUN):
    """`sorted(values, key=key)` read once and yielded lazily, with at most `run` values (or one
    block of each of FAN_IN runs) in memory. Equal keys may come in any order: give keys that differ."""
    spill, runs, current = None, [], []
    try:
        for value in values:
            current.append(value)
            if len(current) >= run:
                spill = spill or _Overflow()
                runs.append(_write_run(spill, sorted(current, key=key)))
                current = []
        current.sort(key=key)
        if spill is None:
            yield from current
            return
        if current:
            runs.append(_write_run(spill, current))
        current = []
        while len(runs) > FAN_IN:  # merge the first FAN_IN runs into one: a pass over fewer runs
            merged = heapq.merge(*(_run_values(spill, a, b) for a, b in runs[:FAN_IN]), key=key)
            runs = runs[FAN_IN:] + [_write_run(spill, merged)]
        yield from heapq.merge(*(_run_values(spill, a, b) for a, b in runs), key=key)
    finally:
        if spill is not None:
            spill.close()


def _write_run(spill: _Overflow, values) -> tuple[int, int]:
    """Appends sorted values (any iterable) as blocks; returns the run's range of block numbers."""
    first, block = len(spill.offsets), []
    for value in values:
        block.append(value)
        if len(block) >= BLOCK:
            spill.append(block)
            block = []
    if block:
        spill.append(block)
    return first, len(spill.offsets)
