"""PlanRanges: input files to work items (file, start, end, first line), large files cut into
ranges that are read in parallel with the same document ids as when the file is read whole.

Compressed Pile shards are not splittable, so each is one item. A plain .jsonl file above the
split size is cut into nominal windows of `split_bytes` by arithmetic alone; each window is read
by its own task (count_window: the first line start in it and its newlines, ~3 GB/s with numpy); a
per-file prefix sum over the windows' counts (number_ranges, a GroupByKey by file of one small
tuple per window) gives each range, from a window's first line start to the next one's, its first
line number, so ids `<file>:<line>` are those of a whole read. No step reads a whole file. A large
Parquet file is cut into runs of row groups from its footer alone (transforms/columnar.py).

    items = files | PlanRanges(256 << 20)   # (file, start, end or None, lines before start)
"""
import apache_beam as beam
import numpy as np

from transforms.columnar import format_of, plan_row_groups
from transforms.errors import PileprepError
from transforms.inputs import InputFile, open_input
from transforms.streams import compression_of

BLOCK = 1 << 20  # stays in cache between the read and the count


def nominal_windows(size: int, split_bytes: int) -> list[tuple[int, int]]:
    """[(start, end)] of split_bytes each (the last shorter) covering [0, size)."""
    if split_bytes < 1:
        raise ValueError(f"split size must be >= 1 byte, got {split_bytes}")
    return [(start, min(start + split_bytes, size)) for start in range(0, size, split_bytes)]


def count_window(fh, start: int, end: int) -> tuple[int, int | None, int]:
    """(start, the first line start in [start, end) or None, the newlines in [start, end)), reading
    only the window and the byte before it. EOFError if the file ends before `end`."""
    fh.seek(max(start - 1, 0))
    first = 0 if start == 0 else (start if fh.read(1) == b"\n" else None)
    offset, newlines = start, 0
    while offset < end:
        block = fh.read(min(BLOCK, end - offset))
        if not block:
            raise EOFError(offset)
        if first is None and (nl := block.find(b"\n")) >= 0:
            # a newline at the window's last byte starts the next window's first line, not ours
            first = offset + nl + 1 if offset + nl + 1 < end else -1
        newlines += int(np.count_nonzero(np.frombuffer(block, np.uint8) == 10))  # 2x bytes.count
        offset += len(block)
    return start, (None if first == -1 else first), newlines


def number_ranges(size: int, counts) -> list[tuple[int, int, int]]:
    """[(start, end, lines before start)] covering [0, size) from every window's count_window, in
    any order: a range from each window's first line start to the next window's that has one."""
    counts = sorted(counts)
    if size and (not counts or counts[0][0] != 0):
        raise ValueError("number_ranges needs the counts of every window, from offset 0")
    starts, lines = [], 0
    for window, first, newlines in counts:
        if first is not None:  # the newline just before `first` is in this window when first > window
            starts.append((first, lines + (first > window)))
        lines += newlines
    bounds = starts + [(size, None)]
    return [(start, end, first_line) for (start, first_line), (end, _) in zip(bounds, bounds[1:])]


def plan_ranges(fh, size: int, split_bytes: int) -> list[tuple[int, int, int]]:
    """number_ranges over every window, counted one after the other (what PlanRanges spreads)."""
    return number_ranges(size, [count_window(fh, start, end) for start, end in nominal_windows(size, split_bytes)])


class Limited:
    """A file object that reads at most `length` bytes from the current position."""

    def __init__(self, fh, length: int):
        self.fh, self.left = fh, length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        return data


def read_whole(file: InputFile, split_bytes: int) -> bool:
    """Whether a file is one work item, told without opening it: small, compressed, or of a format
    never split (a large plain file is cut into line ranges, a large Parquet file maybe by row groups)."""
    return (file.size <= split_bytes or compression_of(file.path) != "none"
            or format_of(file.path) not in (None, "parquet"))


class _PlanFileFn(beam.DoFn):
    """A file -> one whole-file item; a large plain file's windows (tagged); a large Parquet
    file's row-group runs, planned from its footer."""

    def __init__(self, split_bytes: int):
        self.split_bytes = split_bytes

    def process(self, file):
        file = InputFile(*file)
        if read_whole(file, self.split_bytes):
            yield tuple(file), 0, None, 0
        elif format_of(file.path) == "parquet":
            with open_input(file.path) as fh:
                runs = plan_row_groups(fh, file.path, self.split_bytes)
            yield from ((tuple(file), *run) for run in runs) if len(runs) > 1 else [(tuple(file), 0, None, 0)]
        else:
            for start, end in nominal_windows(file.size, self.split_bytes):
                yield beam.pvalue.TaggedOutput("windows", (tuple(file), start, end))


class _CountLinesFn(beam.DoFn):
    def process(self, window):
        file, start, end = window
        with open_input(file[0]) as fh:
            try:
                yield file, count_window(fh, start, end)
            except EOFError as e:
                raise PileprepError(f"input file {file[0]} ends at byte {e.args[0]}, before its listed size "
                                    f"{file[2]}: it changed during the run; rerun once it is complete") from None


def _numbered(file_counts):
    file, counts = file_counts  # one (start, first line start, newlines) per window: size / split_bytes
    for start, end, first_line in number_ranges(file[2], counts):
        yield file, start, end, first_line


class PlanRanges(beam.PTransform):
    """(path, name, size) files -> (file, start, end, first line) work items: whole files as
    (file, 0, None, 0); plain line ranges in bytes; Parquet runs as row-group indices [start, end)
    with the rows before them."""

    def __init__(self, split_bytes: int):
        super().__init__()
        self.split_bytes = split_bytes

    def expand(self, files):
        planned = files | "PlanFiles" >> beam.ParDo(_PlanFileFn(self.split_bytes)).with_outputs("windows", main="items")
        ranges = (planned.windows
                  | "SpreadWindows" >> beam.Reshuffle()
                  | "CountLines" >> beam.ParDo(_CountLinesFn())
                  | "GroupByFile" >> beam.GroupByKey()
                  | "NumberRanges" >> beam.FlatMap(_numbered))
        return (planned.items, ranges) | "Items" >> beam.Flatten()
