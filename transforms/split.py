"""Reading one uncompressed file in parallel: line-aligned byte ranges with known line numbers.

Compressed Pile shards are not splittable, so each is read by one worker. A plain .jsonl file (or
a corpus pre-split into many files) can go wider: one fast pass counts newlines (memchr speed, no
parsing) to cut the file into ranges that start on a line boundary and know their first line
number, so document ids `<file>:<line>` are the same as when the file is read whole.

    for start, end, first_line in plan_ranges(fh, size, 256 << 20): ...
"""
BLOCK = 4 << 20  # bigger than read.BLOCK: this pass only counts newlines


def plan_ranges(fh, size: int, split_bytes: int) -> list[tuple[int, int, int]]:
    """[(start, end, lines before start)] covering [0, size), each about split_bytes long."""
    if split_bytes < 1:
        raise ValueError(f"split size must be >= 1 byte, got {split_bytes}")
    bounds = [(0, 0)]
    target, offset, lines = split_bytes, 0, 0
    while block := fh.read(BLOCK):
        end = offset + len(block)
        while target < end:
            nl = block.find(b"\n", max(target - offset, 0))
            if nl < 0:
                break  # the line crossing the target ends in a later block: cut there
            cut = offset + nl + 1
            if cut < size:
                bounds.append((cut, lines + block.count(b"\n", 0, nl + 1)))
            target = cut + split_bytes
        lines += block.count(b"\n")
        offset = end
        if target < offset:
            target = offset  # continue at the first newline of the next block
    starts = bounds + [(size, None)]
    return [(s, e, first) for (s, first), (e, _) in zip(starts, starts[1:]) if e > s]


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
