"""PlanRanges: line-aligned byte ranges of an uncompressed file with their first line numbers,
planned from windows counted one by one, the same as reading the file whole."""
import gzip
import io
import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st

import transforms.split as split
from transforms.errors import PileprepError
from transforms.inputs import InputFile
from transforms.read import read_file
from transforms.split import Limited, PlanRanges, count_window, nominal_windows, number_ranges, plan_ranges


def expected_ranges(data: bytes, split_bytes: int) -> list[tuple[int, int, int]]:
    """The plan by definition: a range from the first line start in each window of split_bytes
    (line starts: 0 and every byte after a newline, but the end of the file) to the next one."""
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 10 and i + 1 < len(data)]
    cuts = sorted({next(s for s in starts if s >= w) for w in range(0, len(data), split_bytes)
                   if any(w <= s < w + split_bytes for s in starts)})
    bounds = cuts + [len(data)]
    return [(s, e, data[:s].count(b"\n")) for s, e in zip(bounds, bounds[1:])]


def check(data: bytes, split_bytes: int, block: int = 4 << 20) -> list[tuple[int, int, int]]:
    old, split.BLOCK = split.BLOCK, block
    try:
        ranges = plan_ranges(io.BytesIO(data), len(data), split_bytes)
    finally:
        split.BLOCK = old
    assert ranges == expected_ranges(data, split_bytes)
    position = 0
    for start, end, first_line in ranges:  # a cover on line boundaries, with their line numbers
        assert start == position and end > start
        assert start == 0 or data[start - 1:start] == b"\n"
        assert data[:start].count(b"\n") == first_line
        position = end
    assert position == len(data)
    return ranges


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=50),
       st.booleans(), st.integers(1, 300), st.integers(1, 64))
def test_ranges_cover_the_file_on_line_boundaries(lines, final_newline, split_bytes, block):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    check(data, split_bytes, block)


@pytest.mark.parametrize("data, split_bytes, ranges", [
    (b"aaa\nbbb\nccc\n", 4, [(0, 4, 0), (4, 8, 1), (8, 12, 2)]),  # windows end exactly at newlines
    (b"aaa\nbbb\nccc\n", 12, [(0, 12, 0)]),  # a file exactly split_bytes long: one range
    (b"aaa\nbbb\nccc\n", 11, [(0, 12, 0)]),  # the first line start at or after 11 is the end
    (b"a" * 30 + b"\nb\nc", 4, [(0, 31, 0), (31, 33, 1), (33, 34, 2)]),  # a line longer than many windows
    (b"ab\ncd", 2, [(0, 3, 0), (3, 5, 1)]),  # no trailing newline
    (b"\n\n\na\n\n", 1, [(0, 1, 0), (1, 2, 1), (2, 3, 2), (3, 5, 3), (5, 6, 4)]),  # empty lines, split 1
    (b"a\r\nb\r\n\r\nc", 3, [(0, 3, 0), (3, 6, 1), (6, 9, 2)]),  # CRLF: cut after the \n
    (b"x", 1, [(0, 1, 0)]),
    (b"\n", 1, [(0, 1, 0)]),
])
def test_edge_cases(data, split_bytes, ranges):
    assert check(data, split_bytes) == ranges
    assert check(data, split_bytes, block=1) == ranges


def test_split_bytes_one_is_one_range_per_line():
    data = b"a\n\nbc\r\nd\n\n"
    assert [data[s:e] for s, e, _ in check(data, 1)] == [b"a\n", b"\n", b"bc\r\n", b"d\n", b"\n"]


def test_windows_and_their_counts():
    assert nominal_windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert nominal_windows(8, 4) == [(0, 4), (4, 8)]
    assert nominal_windows(0, 4) == []
    with pytest.raises(ValueError, match="split size must be >= 1"):
        nominal_windows(10, 0)
    data = io.BytesIO(b"ab\ncd\nefgh\n")
    assert count_window(data, 0, 4) == (0, 0, 1)
    assert count_window(data, 4, 8) == (4, 6, 1)  # the line start after the newline at 5
    assert count_window(data, 3, 6) == (3, 3, 1)  # starts on a line start: the byte before is \n
    assert count_window(data, 6, 11) == (6, 6, 1)
    assert count_window(data, 7, 11) == (7, None, 1)  # its only newline ends the file
    assert count_window(data, 1, 3) == (1, None, 1)  # the newline at its last byte starts the next window


def test_counts_in_any_order_give_the_same_plan():
    data = b"".join(b"x" * random.Random(i).randrange(0, 50) + b"\n" for i in range(200))
    counts = [count_window(io.BytesIO(data), s, e) for s, e in nominal_windows(len(data), 37)]
    random.Random(0).shuffle(counts)
    assert number_ranges(len(data), counts) == expected_ranges(data, 37)
    with pytest.raises(ValueError, match="every window"):
        number_ranges(len(data), [c for c in counts if c[0] != 0])


def test_a_file_shorter_than_its_size_is_an_eof():
    with pytest.raises(EOFError):
        count_window(io.BytesIO(b"abc\n"), 2, 8)


@pytest.mark.parametrize("split_bytes", [1, 7, 50, 10_000])
def test_ranges_read_apart_give_the_records_of_the_whole_file(split_bytes):
    data = (b'{"text": "a"}\n\n{"text": "b\\u00e9"}\r\n{"text": broken\n' + b'{"text": "%s"}\n' % (b"l" * 90)
            + b'{"text": "last"}')
    file = InputFile("f.jsonl", "f.jsonl", len(data))
    whole = list(read_file(io.BytesIO(data), file, allow_corrupt=False))
    parts, summaries = [], []
    for start, end, first_line in plan_ranges(io.BytesIO(data), len(data), split_bytes):
        fh = io.BytesIO(data)
        fh.seek(start)
        for kind, record in read_file(Limited(fh, end - start), file, allow_corrupt=False, first_line=first_line):
            (summaries if kind == "file" else parts).append((kind, record))
    assert parts == whole[:-1]
    assert sum(s["lines"] for _, s in summaries) == whole[-1][1]["lines"] == 6


def test_limited_reads_only_its_range():
    fh = io.BytesIO(b"0123456789")
    fh.seek(2)
    part = Limited(fh, 5)
    assert part.read(3) + part.read(100) + part.read(1) == b"23456"


# --- the PTransform ---------------------------------------------------------------------------

@pytest.mark.parametrize("split_bytes", [1, 64])
def test_plan_ranges_transform(pipeline, tmp_path, split_bytes):
    big = b"".join(b'{"text": "%d"}\n' % i for i in range(50)) + b"\n\r\n" + b"z" * 40  # 40 bytes: its own range
    small = b'{"text": "s"}\n'
    (tmp_path / "big.jsonl").write_bytes(big)
    (tmp_path / "small.jsonl").write_bytes(small)
    (tmp_path / "big.jsonl.gz").write_bytes(gzip.compress(big * 4))
    files = [InputFile(str(tmp_path / n), n, (tmp_path / n).stat().st_size)
             for n in ("big.jsonl", "small.jsonl", "big.jsonl.gz")]
    expected = [(tuple(files[0]), *r) for r in plan_ranges(io.BytesIO(big), len(big), split_bytes)]
    assert len(expected) == (big.count(b"\n") + 1 if split_bytes == 1 else 12)
    expected += [(tuple(files[1]), 0, None, 0) if split_bytes > 1 else (tuple(files[1]), 0, len(small), 0),
                 (tuple(files[2]), 0, None, 0)]  # small: whole (or one range of its one line); compressed: whole
    items = pipeline | "Files" >> beam.Create([tuple(f) for f in files]) | PlanRanges(split_bytes)
    assert_that(items, equal_to(expected))
    pipeline.run().wait_until_finish()


def test_a_file_that_shrank_is_an_error_naming_it(tmp_path):
    from transforms.split import _CountLinesFn

    path = tmp_path / "a.jsonl"
    path.write_bytes(b"abc\n")
    with pytest.raises(PileprepError, match=r"a.jsonl ends at byte 4, before its listed size 100"):
        list(_CountLinesFn().process(((str(path), "a.jsonl", 100), 0, 100)))
