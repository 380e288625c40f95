"""Line-aligned byte ranges of an uncompressed file, with their first line numbers."""
import io

from hypothesis import given, settings, strategies as st

import transforms.split as split
from transforms.split import Limited, plan_ranges


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=50),
       st.booleans(), st.integers(1, 300), st.integers(1, 64))
def test_ranges_cover_the_file_on_line_boundaries(lines, final_newline, split_bytes, block):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    old, split.BLOCK = split.BLOCK, block
    try:
        ranges = plan_ranges(io.BytesIO(data), len(data), split_bytes)
    finally:
        split.BLOCK = old
    position = 0
    for start, end, first_line in ranges:
        assert start == position and end > start
        assert start == 0 or data[start - 1:start] == b"\n"
        assert data[:start].count(b"\n") == first_line
        position = end
    assert position == len(data)


def test_limited_reads_only_its_range():
    fh = io.BytesIO(b"0123456789")
    fh.seek(2)
    part = Limited(fh, 5)
    assert part.read(3) + part.read(100) + part.read(1) == b"23456"
