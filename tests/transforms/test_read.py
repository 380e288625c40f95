"""Tests for reading input: transforms.parse (lines), transforms.streams (decompression), transforms.inputs
(matching) and transforms.read (per-file reading and ReadPile)."""
import gzip
import io

import orjson
import pytest
import zstandard
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st

from transforms.errors import PileprepError
from transforms.order import order_key
from transforms.inputs import InputFile, display_names, match_inputs
from transforms.parse import HEAD_BYTES, parse_line
from transforms.inputs import ReadConfig
from transforms.read import ReadPile, read_file
from transforms.streams import Damage, compression_of, decompressed_blocks, split_lines

ZSTD = zstandard.ZstdCompressor(write_checksum=True)  # the zstd CLI writes checksums too


def line(text, source=None) -> bytes:
    obj = {"text": text} if source is None else {"text": text, "meta": {"pile_set_name": source}}
    return orjson.dumps(obj)


class ShortReads:
    """A file object that returns at most `most` bytes per read, as network file systems may."""

    def __init__(self, data: bytes, most: int):
        self.buf, self.most = io.BytesIO(data), most

    def read(self, n=-1):
        return self.buf.read(self.most if n < 0 else min(n, self.most))


def frames(compress, parts) -> tuple[bytes, list[int]]:
    """Concatenated frames (or gzip members) and the offsets where each one ends."""
    out, ends = b"", []
    for part in parts:
        out += compress(part)
        ends.append(len(out))
    return out, ends


# --- parse_line ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (b"", (None, "blank_line")),
    (b" \t ", (None, "blank_line")),
    (b"\r", (None, "blank_line")),
    (b'{"text": "caf\xe9"}', (None, "invalid_utf8")),  # latin-1 byte
    (b'{"text": "\xed\xa0\x80"}', (None, "invalid_utf8")),  # a surrogate encoded as UTF-8 bytes
    (b'{"text": "\\ud800"}', (None, "lone_surrogate")),  # a JSON escape of an unpaired high surrogate
    (b'{"text": "\\udc00x"}', (None, "lone_surrogate")),  # and of an unpaired low one
    (b'{"text": "abc"', (None, "invalid_json")),
    (b'{"text": "a"} trailing', (None, "invalid_json")),
    (b"[1, 2]", (None, "not_an_object")),
    (b'"text"', (None, "not_an_object")),
    (b"{}", ({"source": "unknown"}, "text_missing")),
    (b'{"meta": {"pile_set_name": "Github"}}', ({"source": "Github"}, "text_missing")),
    (b'{"text": null, "meta": {"pile_set_name": "ArXiv"}}', ({"source": "ArXiv"}, "text_null")),
    (b'{"text": 42}', ({"source": "unknown"}, "text_not_string")),
    (b'{"text": ["a", "b"], "meta": {"pile_set_name": "Pile-CC"}}',
     ({"source": "Pile-CC"}, "text_not_string")),
    (b'{"text": "a", "meta": "Pile-CC"}', ({"source": "unknown"}, "meta_not_object")),
    (b'{"text": "a", "meta": ["Pile-CC"]}', ({"source": "unknown"}, "meta_not_object")),
])
def test_parse_line_reasons(raw, expected):
    assert parse_line(raw) == expected


DEEP = b"[" * 1025 + b"]" * 1025  # one level past orjson's limit of 1024


def test_parse_line_too_deep_has_its_own_reason_and_keeps_its_source():
    assert orjson.loads(b"[" * 1024 + b"]" * 1024)  # the limit itself still parses
    meta = b'"meta": {"pile_set_name": "Github"}'
    for raw in [b'{"text": ' + DEEP + b", " + meta + b"}",  # the Pile's order: text, then meta
                b"{" + meta + b', "text": "a", "x": ' + DEEP + b"}",
                b'{"text": "a", "meta": {"pile_set_name" : "Github", "x": ' + DEEP + b"}}",
                b"{" + meta + b', "text": ' + b'{"a": ' * 1100 + b"1" + b"}" * 1100 + b"}"]:
        assert parse_line(raw) == ({"source": "Github"}, "json_too_deep")


@pytest.mark.parametrize("raw", [
    b'{"text": ' + DEEP + b"}",  # no meta at all
    b'{"text": ' + DEEP + b', "meta": {"id": 3, "pile_set_name": "Github"}}',  # not its first key
    b'{"text": ' + DEEP + b', "meta": {"pile_set_name": "Git\\u0068ub"}}',  # an escape in the name
    b'{"text": ' + DEEP + b', "meta": {"pile_set_name": ""}}',
    b'{"text": "\\"meta\\": {\\"pile_set_name\\": \\"Github\\"", "x": ' + DEEP + b"}",  # inside a string
    b'{"x\\"meta": {"pile_set_name": "Github"}, "text": ' + DEEP + b"}",  # the end of another key
    b'{"text": ' + DEEP + b', "meta": {"pile_set_name": "Github"}, "x": {"meta": {"pile_set_name": "ArXiv"}}}',
])
def test_parse_line_too_deep_without_one_clear_source_is_unknown(raw):
    assert parse_line(raw) == ({"source": "unknown"}, "json_too_deep")


@pytest.mark.parametrize("raw, expected", [
    (b'{"text": "hello"}', {"source": "unknown", "text": "hello"}),  # no meta
    (b'{"text": "hello", "meta": null}', {"source": "unknown", "text": "hello"}),
    (b'{"text": "hello", "meta": {}}', {"source": "unknown", "text": "hello"}),
    (b'{"text": "hello", "meta": {"pile_set_name": ""}}', {"source": "unknown", "text": "hello"}),
    (b'{"text": "hello", "meta": {"pile_set_name": 3}}', {"source": "unknown", "text": "hello"}),
    (b'{"text": "", "meta": {"pile_set_name": "Github"}}', {"source": "Github", "text": ""}),
    (b'\xef\xbb\xbf{"text": "bom", "meta": {"pile_set_name": "ArXiv"}}', {"source": "ArXiv", "text": "bom"}),
    (b'{"text": "crlf"}\r', {"source": "unknown", "text": "crlf"}),
    (b'\xef\xbb\xbf{"text": "both"}\r', {"source": "unknown", "text": "both"}),
    (b'{"text": "a\\u0000b\\u0007c\\td\\u001b"}', {"source": "unknown", "text": "a\x00b\x07c\td\x1b"}),
    (b'{"text": "\\ud83d\\ude00 caf\xc3\xa9"}', {"source": "unknown", "text": "\U0001F600 caf\u00e9"}),
    (b'{"text": "line\\r\\nnext"}', {"source": "unknown", "text": "line\r\nnext"}),
])
def test_parse_line_good(raw, expected):
    assert parse_line(raw) == (expected, None)


@given(st.text(), st.sampled_from(["Pile-CC", "Github", "ArXiv", "OpenWebText2"]))
def test_parse_line_round_trips_any_text(text, source):
    assert parse_line(line(text, source)) == ({"source": source, "text": text}, None)


# --- split_lines -----------------------------------------------------------------------------

def test_split_lines_basic():
    assert list(split_lines([b"a\nbb\n\nccc"])) == [b"a", b"bb", b"", b"ccc"]  # last line has no \n
    assert list(split_lines([b"a\nb\n"])) == [b"a", b"b"]
    assert list(split_lines([b"\n"])) == [b""]
    assert list(split_lines([])) == []
    assert list(split_lines([b""])) == []
    assert list(split_lines([b"", b"x", b"", b"\n"])) == [b"x"]


def test_split_lines_across_blocks():
    assert list(split_lines([b"ab", b"c\nd", b"e\n", b"\nf"])) == [b"abc", b"de", b"", b"f"]
    assert list(split_lines([b"a\n", b"\n", b"b"])) == [b"a", b"", b"b"]


def test_split_lines_one_line_spanning_many_blocks():
    blocks = [b"x" * 7] * 1000 + [b"\nend"]
    assert list(split_lines(blocks)) == [b"x" * 7000, b"end"]
    blocks = [b"head\n"] + [bytes([65 + i % 26]) * 3 for i in range(500)] + [b"\n"]
    assert list(split_lines(blocks)) == [b"head", b"".join(bytes([65 + i % 26]) * 3 for i in range(500))]


@st.composite
def data_and_blocks(draw):
    data = draw(st.binary(max_size=300) | st.lists(st.sampled_from([b"\n", b"a", b"bc"]), max_size=60)
                .map(b"".join))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=10)))
    bounds = [0] + cuts + [len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:])]


@given(data_and_blocks())
def test_split_lines_rejoins_to_the_input(case):
    data, blocks = case
    lines = list(split_lines(blocks))
    assert all(b"\n" not in x for x in lines)
    if data.endswith(b"\n"):
        assert b"\n".join(lines) + b"\n" == data
        assert len(lines) == data.count(b"\n")
    elif data:
        assert b"\n".join(lines) == data
        assert len(lines) == data.count(b"\n") + 1
    else:
        assert lines == []


# --- decompressed_blocks ---------------------------------------------------------------------

def test_compression_of():
    paths = ["a.jsonl.zst", "A.JSONL.ZST", "a.zstd", "a.jsonl.gz", "a.jsonl", "gs://b/a.json"]
    assert [compression_of(p) for p in paths] == ["zstd", "zstd", "zstd", "gzip", "none", "none"]


def test_multi_frame_zstd_yields_every_frame():
    data, _ = frames(ZSTD.compress, [b"one\n", b"two\nthr", b"", b"ee\n"])
    assert b"".join(decompressed_blocks(io.BytesIO(data), "zstd")) == b"one\ntwo\nthree\n"
    # frame boundaries inside and across short reads
    for most in (1, 2, 3, 5, 8, 13, len(data)):
        assert b"".join(decompressed_blocks(ShortReads(data, most), "zstd")) == b"one\ntwo\nthree\n"


def test_multi_member_gzip_yields_every_member():
    data, _ = frames(gzip.compress, [b"one\n", b"two\nthr", b"", b"ee\n"])
    assert b"".join(decompressed_blocks(io.BytesIO(data), "gzip")) == b"one\ntwo\nthree\n"
    for most in (1, 2, 3, 5, 8, 13, len(data)):
        assert b"".join(decompressed_blocks(ShortReads(data, most), "gzip")) == b"one\ntwo\nthree\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=5), st.integers(1, 64),
       st.sampled_from(["zstd", "gzip"]))
def test_decompression_conserves_bytes(parts, most, compression):
    compress = ZSTD.compress if compression == "zstd" else gzip.compress
    data, _ = frames(compress, parts)
    assert b"".join(decompressed_blocks(ShortReads(data, most), compression)) == b"".join(parts)


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_zero_byte_file_yields_nothing(compression):
    assert list(decompressed_blocks(io.BytesIO(b""), compression)) == []


def test_plain_is_passed_through_block_by_block():
    assert list(decompressed_blocks(ShortReads(b"abcdefghij", 4), "none")) == [b"abcd", b"efgh", b"ij"]
    assert list(decompressed_blocks(io.BytesIO(b"a\nb\n"), "none")) == [b"a\nb\n"]


COMPRESSIONS = [("zstd", ZSTD.compress, "frame"), ("gzip", gzip.compress, "member")]


@pytest.mark.parametrize("compression, compress, unit", COMPRESSIONS)
def test_every_truncation_inside_a_frame_is_damage_at_the_end(compression, compress, unit):
    data, ends = frames(compress, [b'{"text": "a"}\n' * 3, b'{"text": "b"}\n', b'{"text": "c"}\n' * 2])
    for cut in range(1, len(data)):
        stream = ShortReads(data[:cut], 16)
        if cut in ends:  # a clean frame boundary: a shorter but whole stream
            assert list(decompressed_blocks(stream, compression))
            continue
        with pytest.raises(Damage) as info:
            list(decompressed_blocks(stream, compression))
        assert (info.value.offset, info.value.what) == (
            cut, f"truncated {compression} stream (it ends inside a {unit})")
        assert str(info.value) == f"truncated {compression} stream (it ends inside a {unit}) at byte {cut}"


def test_truncated_zstd_and_gzip_in_memory():
    payload = b"".join(line(f"document {i}") + b"\n" for i in range(100))
    for compression, data in [("zstd", ZSTD.compress(payload)), ("gzip", gzip.compress(payload))]:
        with pytest.raises(Damage) as info:
            list(decompressed_blocks(io.BytesIO(data[:-5]), compression))
        assert info.value.offset == len(data) - 5


def test_corrupt_zstd_in_the_middle_is_damage():
    payload = b"".join(line(f"document {i} " + "abcdefgh"[i % 8] * (i % 50)) + b"\n" for i in range(500))
    data = bytearray(ZSTD.compress(payload))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(Damage) as info:
        list(decompressed_blocks(io.BytesIO(bytes(data)), "zstd"))
    assert info.value.what.startswith("corrupt zstd frame (")
    assert info.value.offset == 0  # the start of the only frame: nothing finer is exact


def test_corrupt_second_zstd_frame_keeps_the_first():
    data, ends = frames(ZSTD.compress, [b"first\n", b"second\n", b"third\n"])
    bad = bytearray(data)
    bad[ends[0]] ^= 0xFF  # the magic number of the second frame
    got = []
    with pytest.raises(Damage) as info:
        for block in decompressed_blocks(ShortReads(bytes(bad), ends[0]), "zstd"):
            got.append(block)
    assert got == [b"first\n"]
    assert info.value.offset == ends[0]  # where the first frame ends and the damaged one starts
    assert info.value.what.startswith("corrupt zstd frame (")


def test_corrupt_gzip_is_damage():
    payload = b"".join(line(f"document {i}") + b"\n" for i in range(200))
    data = bytearray(gzip.compress(payload))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(Damage) as info:
        list(decompressed_blocks(io.BytesIO(bytes(data)), "gzip"))
    assert info.value.what.startswith("corrupt gzip member (")
    assert info.value.offset == 0


@pytest.mark.parametrize("compression, compress, unit", COMPRESSIONS)
def test_garbage_after_a_whole_frame_is_damage_where_the_frame_ends(compression, compress, unit):
    # one 1 MiB read holds the whole file: the offset must not be that read's start (byte 0)
    frame = compress(b"".join(line(f"document {i}", "Pile-CC") + b"\n" for i in range(60)))
    data = frame + b"garbage, not a frame" * 10
    got = []
    with pytest.raises(Damage) as info:
        for block in decompressed_blocks(io.BytesIO(data), compression):
            got.append(block)
    assert len(got[0]) > 0 and b"".join(got).count(b"\n") == 60
    assert info.value.offset == len(frame) and 0 < len(frame) < len(data)
    assert info.value.what.startswith(f"corrupt {compression} {unit} (")


@pytest.mark.parametrize("compression, compress, unit", COMPRESSIONS)
@pytest.mark.parametrize("most", [7, 100, 1 << 20])
def test_corruption_inside_a_frame_is_damage_at_that_frame_whatever_the_read_sizes(
        compression, compress, unit, most):
    parts = [b"".join(line(f"frame {f} document {i} " + "xyz"[i % 3] * (i % 40)) + b"\n" for i in range(80))
             for f in range(4)]
    data, ends = frames(compress, parts)
    bad = bytearray(data)
    for i in range(ends[1] + 20, ends[1] + 60):  # inside the third frame, past its header
        bad[i] ^= 0x5A
    with pytest.raises(Damage) as info:
        list(decompressed_blocks(ShortReads(bytes(bad), most), compression))
    assert info.value.offset == ends[1]  # the damaged frame's start: the two before it are whole
    assert info.value.what.startswith(f"corrupt {compression} {unit} (")


# --- read_file -------------------------------------------------------------------------------

def read_all(data: bytes, path: str, name: str, **kw):
    return list(read_file(io.BytesIO(data), InputFile(path, name, len(data)), **kw))


def doc(doc_id, source, text, seed=0):
    return ("doc", {"id": doc_id, "source": source, "text": text, "order_key": order_key(seed, doc_id)})


def test_read_file_docs_rejects_and_summary():
    long_bad = b'{"text": 7, "pad": "' + b"x" * 400 + b'"}'
    data = b"\n".join([
        line("alpha", "Pile-CC"),
        b"",
        line("beta"),
        b'{"text": "caf\xe9", "meta": {"pile_set_name": "ArXiv"}}',
        b'{"meta": {"pile_set_name": "Github"}}',
        long_bad,
        line("gamma", "Github") + b"\r",
    ]) + b"\n"
    got = read_all(data, "/in/00.jsonl", "00.jsonl", allow_corrupt=False, seed=5)
    assert got == [
        doc("00.jsonl:1", "Pile-CC", "alpha", seed=5),
        ("reject", {"file": "00.jsonl", "line": 2, "reason": "blank_line", "source": "unknown", "head": ""}),
        doc("00.jsonl:3", "unknown", "beta", seed=5),
        ("reject", {"file": "00.jsonl", "line": 4, "reason": "invalid_utf8", "source": "unknown",
                    "head": '{"text": "caf\\xe9", "meta": {"pile_set_name": "ArXiv"}}'}),
        ("reject", {"file": "00.jsonl", "line": 5, "reason": "text_missing", "source": "Github",
                    "head": '{"meta": {"pile_set_name": "Github"}}'}),
        ("reject", {"file": "00.jsonl", "line": 6, "reason": "text_not_string", "source": "unknown",
                    "head": long_bad[:HEAD_BYTES].decode()}),
        doc("00.jsonl:7", "Github", "gamma", seed=5),
        ("file", {"path": "/in/00.jsonl", "name": "00.jsonl", "bytes": len(data), "lines": 7,
                  "documents": 3, "malformed": 4, "damage": None}),
    ]
    assert HEAD_BYTES == 200 and len(got[5][1]["head"]) == 200


def test_read_file_final_line_without_newline_and_bom():
    data = b"\xef\xbb\xbf" + line("a") + b"\r\n" + line("b") + b"\r\n" + line("c")
    got = read_all(data, "x.jsonl", "x.jsonl", allow_corrupt=False)
    assert got == [doc("x.jsonl:1", "unknown", "a"), doc("x.jsonl:2", "unknown", "b"),
                   doc("x.jsonl:3", "unknown", "c"),
                   ("file", {"path": "x.jsonl", "name": "x.jsonl", "bytes": len(data), "lines": 3,
                             "documents": 3, "malformed": 0, "damage": None})]


def test_read_file_multi_frame_zstd_with_a_line_across_frames():
    text = line("one", "ArXiv") + b"\n" + line("two", "ArXiv") + b"\n" + line("three") + b"\n"
    data, _ = frames(ZSTD.compress, [text[:5], text[5:30], text[30:]])
    got = read_all(data, "gs://bucket/pile/07.jsonl.zst", "07.jsonl.zst", allow_corrupt=False)
    assert got == [doc("07.jsonl.zst:1", "ArXiv", "one"), doc("07.jsonl.zst:2", "ArXiv", "two"),
                   doc("07.jsonl.zst:3", "unknown", "three"),
                   ("file", {"path": "gs://bucket/pile/07.jsonl.zst", "name": "07.jsonl.zst",
                             "bytes": len(data), "lines": 3, "documents": 3, "malformed": 0, "damage": None})]


@given(st.lists(st.one_of(st.text().map(line), st.binary(max_size=40)), max_size=20))
def test_read_file_lines_are_docs_plus_rejects(lines):
    data = b"\n".join(x.replace(b"\n", b" ") for x in lines) + b"\n" if lines else b""
    got = read_all(data, "p.jsonl", "p.jsonl", allow_corrupt=False)
    kinds = [kind for kind, _ in got]
    summary = got[-1][1]
    assert kinds[-1] == "file" and "file" not in kinds[:-1]
    assert summary["lines"] == len(lines) == summary["documents"] + summary["malformed"]
    assert (summary["documents"], summary["malformed"]) == (kinds.count("doc"), kinds.count("reject"))
    assert [r["id"] for k, r in got if k == "doc"] == [
        f"p.jsonl:{i + 1}" for i, x in enumerate(lines) if parse_line(x.replace(b"\n", b" "))[1] is None]


def test_reject_head_of_a_valid_utf8_line_is_a_prefix_of_at_most_200_bytes():
    raw = b'{"text": 1, "pad": "' + b"x" * 179 + "\u20ac".encode() + b'"}'  # euro: bytes 200-202
    assert raw[:HEAD_BYTES].endswith(b"\xe2")
    (kind, reject), _ = read_all(raw + b"\n", "e.jsonl", "e.jsonl", allow_corrupt=False)
    assert kind == "reject" and reject["reason"] == "text_not_string"
    assert len(reject["head"].encode("utf-8")) <= HEAD_BYTES
    assert raw.decode("utf-8").startswith(reject["head"])  # no "\\xe2" for a character cut in two


def damaged_zstd() -> tuple[bytes, int]:
    """Two whole frames of two documents each, then a third frame cut in its middle."""
    whole, _ = frames(ZSTD.compress, [line("d1", "Pile-CC") + b"\n" + line("d2") + b"\n",
                                      b"{bad\n" + line("d4", "Github") + b"\n"])
    third = ZSTD.compress(b"".join(line(f"lost {i} " + "x" * 100) + b"\n" for i in range(50)))
    data = whole + third[:len(third) // 2]
    return data, len(data)


def corrupt_zstd() -> tuple[bytes, int]:
    """The same two whole frames, then bytes that are no zstd frame; and where the garbage starts."""
    whole, _ = frames(ZSTD.compress, [line("d1", "Pile-CC") + b"\n" + line("d2") + b"\n",
                                      b"{bad\n" + line("d4", "Github") + b"\n"])
    return whole + b"\x00garbage" * 100, len(whole)


def test_damage_without_allow_corrupt_names_the_file_offset_and_fix():
    data, end = damaged_zstd()
    with pytest.raises(PileprepError) as info:
        read_all(data, "/pile/train/03.jsonl.zst", "03.jsonl.zst", allow_corrupt=False)
    message = info.value.message
    assert message == (
        f"input file /pile/train/03.jsonl.zst is damaged: truncated zstd stream (it ends inside a frame) "
        f"at byte {end} of {end}. Re-download or re-create it, or pass --allow-corrupt-inputs to keep "
        f"the 3 documents read before the damage.")


def test_damage_with_allow_corrupt_keeps_what_came_before():
    data, end = damaged_zstd()
    got = read_all(data, "/pile/train/03.jsonl.zst", "03.jsonl.zst", allow_corrupt=True)
    assert got == [
        doc("03.jsonl.zst:1", "Pile-CC", "d1"),
        doc("03.jsonl.zst:2", "unknown", "d2"),
        ("reject", {"file": "03.jsonl.zst", "line": 3, "reason": "invalid_json", "source": "unknown",
                    "head": "{bad"}),
        doc("03.jsonl.zst:4", "Github", "d4"),
        ("file", {"path": "/pile/train/03.jsonl.zst", "name": "03.jsonl.zst", "bytes": end, "lines": 4,
                  "documents": 3, "malformed": 1,
                  "damage": {"offset": end, "what": "truncated zstd stream (it ends inside a frame)"}}),
    ]


def test_corrupt_zstd_names_the_offset_of_the_damage_in_the_message_and_the_summary():
    data, start = corrupt_zstd()
    with pytest.raises(PileprepError) as info:
        read_all(data, "/pile/train/03.jsonl.zst", "03.jsonl.zst", allow_corrupt=False)
    assert info.value.message == (
        f"input file /pile/train/03.jsonl.zst is damaged: corrupt zstd frame (zstd decompressor error: "
        f"Unknown frame descriptor) at byte {start} of {len(data)}. Re-download or re-create it, or pass "
        f"--allow-corrupt-inputs to keep the 3 documents read before the damage.")
    got = read_all(data, "/pile/train/03.jsonl.zst", "03.jsonl.zst", allow_corrupt=True)
    assert [r["id"] for k, r in got if k == "doc"] == ["03.jsonl.zst:1", "03.jsonl.zst:2", "03.jsonl.zst:4"]
    assert got[-1][1]["damage"] == {
        "offset": start, "what": "corrupt zstd frame (zstd decompressor error: Unknown frame descriptor)"}


def test_truncated_gzip_with_allow_corrupt():
    whole = gzip.compress(line("g1") + b"\n")
    rest = gzip.compress(b"".join(line(f"lost {i}") + b"\n" for i in range(50)))
    data = whole + rest[:len(rest) - 3]
    got = read_all(data, "a/01.jsonl.gz", "01.jsonl.gz", allow_corrupt=True)
    assert got[0] == doc("01.jsonl.gz:1", "unknown", "g1")
    assert got[-1] == ("file", {"path": "a/01.jsonl.gz", "name": "01.jsonl.gz", "bytes": len(data),
                                "lines": len(got) - 1, "documents": len(got) - 1, "malformed": 0,
                                "damage": {"offset": len(data),
                                           "what": "truncated gzip stream (it ends inside a member)"}})
    with pytest.raises(PileprepError, match="--allow-corrupt-inputs"):
        read_all(data, "a/01.jsonl.gz", "01.jsonl.gz", allow_corrupt=False)


# --- display_names and match_inputs ----------------------------------------------------------

def test_display_names_are_base_names_when_unique():
    paths = ["/data/pile/00.jsonl.zst", "/data/pile/01.jsonl.zst", "gs://b/val.jsonl.zst"]
    assert display_names(paths) == {"/data/pile/00.jsonl.zst": "00.jsonl.zst",
                                    "/data/pile/01.jsonl.zst": "01.jsonl.zst",
                                    "gs://b/val.jsonl.zst": "val.jsonl.zst"}
    assert display_names([]) == {}


def test_display_names_below_the_common_folder_when_base_names_collide():
    paths = ["/data/pile/train/00.jsonl.zst", "/data/pile/val/00.jsonl.zst", "/data/pile/test/x/00.jsonl.zst",
             "/data/pile/other.jsonl"]
    assert display_names(paths) == {"/data/pile/train/00.jsonl.zst": "train/00.jsonl.zst",
                                    "/data/pile/val/00.jsonl.zst": "val/00.jsonl.zst",
                                    "/data/pile/test/x/00.jsonl.zst": "test/x/00.jsonl.zst",
                                    "/data/pile/other.jsonl": "other.jsonl"}
    assert display_names(["pile/a/00.jsonl", "pile/b/00.jsonl"]) == {"pile/a/00.jsonl": "a/00.jsonl",
                                                                      "pile/b/00.jsonl": "b/00.jsonl"}


@pytest.mark.parametrize("paths, expected", [
    (["gs://bucket/train/00.jsonl.zst", "gs://bucket/val/00.jsonl.zst"], ["train/00.jsonl.zst", "val/00.jsonl.zst"]),
    (["/train/00.jsonl.zst", "/val/00.jsonl.zst"], ["train/00.jsonl.zst", "val/00.jsonl.zst"]),
])
def test_display_names_below_a_bucket_or_the_root(paths, expected):
    # the same files give the same document ids on a local disk, at the root or in a bucket
    assert display_names(paths) == dict(zip(paths, expected))


@given(st.lists(st.lists(st.sampled_from(["a", "b", "c.jsonl"]), min_size=1, max_size=4)
                .map(lambda parts: "/d/" + "/".join(parts)), unique=True, max_size=8))
def test_display_names_are_unique(paths):
    names = display_names(paths)
    assert sorted(names) == sorted(paths)
    assert len(set(names.values())) == len(paths)


def test_match_inputs_sorted_with_sizes(tmp_path):
    (tmp_path / "b.jsonl").write_bytes(b"12345")
    (tmp_path / "a.jsonl.zst").write_bytes(b"")
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "00.jsonl").write_bytes(b"abc")
    (tmp_path / "y" / "00.jsonl").write_bytes(b"abcdefg")
    (tmp_path / "notes.txt").write_bytes(b"not matched")
    got = match_inputs([str(tmp_path / "*.jsonl*"), str(tmp_path / "*" / "00.jsonl"), str(tmp_path / "b.jsonl")])
    t = str(tmp_path)
    assert got == [InputFile(f"{t}/a.jsonl.zst", "a.jsonl.zst", 0), InputFile(f"{t}/b.jsonl", "b.jsonl", 5),
                   InputFile(f"{t}/x/00.jsonl", "x/00.jsonl", 3), InputFile(f"{t}/y/00.jsonl", "y/00.jsonl", 7)]


def test_match_inputs_pattern_matching_nothing(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"{}\n")
    pattern = str(tmp_path / "*.zst")
    with pytest.raises(PileprepError) as info:
        match_inputs([str(tmp_path / "a.jsonl"), pattern])
    assert info.value.message == (f"input pattern {pattern!r} matches no file: check the path "
                                  f"(quote globs so the shell does not expand them)")
    with pytest.raises(PileprepError, match="nowhere"):
        match_inputs([str(tmp_path / "nowhere" / "*.jsonl")])


def symlinks(tmp_path):
    """A file, a link to it, a link to nothing and two links to each other, in tmp_path/in."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"{}\n")
    (folder / "b.jsonl").symlink_to("a.jsonl")
    (folder / "c.jsonl").symlink_to("gone.jsonl")
    (folder / "d.jsonl").symlink_to("e.jsonl")
    (folder / "e.jsonl").symlink_to("d.jsonl")
    return folder


FIX = "point the link at the file, remove it, or change the pattern so it does not match it"


def test_match_inputs_names_a_broken_symlink(tmp_path):
    folder = symlinks(tmp_path)
    with pytest.raises(PileprepError) as info:
        match_inputs([str(folder / "c.jsonl")])
    assert info.value.message == (f"input {folder}/c.jsonl is a broken symlink (it points to "
                                  f"'gone.jsonl', which does not exist): {FIX}")
    (folder / "d.jsonl").unlink(), (folder / "e.jsonl").unlink()
    pattern = str(folder / "*.jsonl")  # Beam's listing alone would skip c.jsonl and match two files
    with pytest.raises(PileprepError) as info:
        match_inputs([pattern])
    assert info.value.message == (f"input {folder}/c.jsonl, matched by {pattern!r}, is a broken symlink "
                                  f"(it points to 'gone.jsonl', which does not exist): {FIX}")


def test_match_inputs_names_a_symlink_loop(tmp_path):
    folder = symlinks(tmp_path)
    with pytest.raises(PileprepError) as info:
        match_inputs([str(folder / "d.jsonl")])
    assert info.value.message == (f"input {folder}/d.jsonl is a symlink loop (it points to 'e.jsonl', "
                                  f"and following the links never ends): {FIX}")
    (folder / "c.jsonl").unlink()
    for pattern in (str(folder / "*.jsonl"), str(folder) + "/", str(tmp_path / "**")):
        with pytest.raises(PileprepError) as info:
            match_inputs([pattern])
        assert info.value.message == (f"input {folder}/d.jsonl, matched by {pattern!r}, is a symlink loop "
                                      f"(it points to 'e.jsonl', and following the links never ends) "
                                      f"(and 1 more such link(s)): {FIX}")


def test_match_inputs_follows_good_symlinks_and_ignores_bad_ones_it_does_not_match(tmp_path):
    folder = symlinks(tmp_path)
    t = str(folder)
    assert match_inputs([f"{t}/[ab].jsonl"]) == [InputFile(f"{t}/a.jsonl", "a.jsonl", 3),
                                                 InputFile(f"{t}/b.jsonl", "b.jsonl", 3)]


def test_read_config_needs_a_pattern():
    with pytest.raises(ValueError, match="--input PATTERN"):
        ReadConfig(())


# --- ReadPile --------------------------------------------------------------------------------

def test_read_pile(pipeline, tmp_path):
    zst = (line("z1", "Pile-CC") + b"\n" + line("z2", "Github") + b"\n" + line("z3") + b"\n"
           + line("z4", "ArXiv") + b"\n")
    zst_data, _ = frames(ZSTD.compress, [zst[:10], zst[10:40], zst[40:41], zst[41:]])
    gz_data, _ = frames(gzip.compress, [line("g1", "ArXiv") + b"\n", line("g2") + b"\n"])
    plain = line("p1", "Github") + b"\n" + b'{"text": null}\n' + line("p3", "Pile-CC")
    (tmp_path / "a.jsonl.zst").write_bytes(zst_data)
    (tmp_path / "b.jsonl.gz").write_bytes(gz_data)
    (tmp_path / "c.jsonl").write_bytes(plain)
    t = str(tmp_path)

    read = pipeline | ReadPile(ReadConfig((f"{t}/*.jsonl*",), seed=11))
    ids = [("a.jsonl.zst:1", "Pile-CC", "z1"), ("a.jsonl.zst:2", "Github", "z2"), ("a.jsonl.zst:3", "unknown", "z3"),
           ("a.jsonl.zst:4", "ArXiv", "z4"), ("b.jsonl.gz:1", "ArXiv", "g1"), ("b.jsonl.gz:2", "unknown", "g2"),
           ("c.jsonl:1", "Github", "p1"), ("c.jsonl:3", "Pile-CC", "p3")]
    assert_that(read["docs"], equal_to([{"id": i, "source": s, "text": x, "order_key": order_key(11, i)}
                                        for i, s, x in ids]), label="Docs")
    assert_that(read["rejects"], equal_to([{"file": "c.jsonl", "line": 2, "reason": "text_null",
                                            "source": "unknown", "head": '{"text": null}'}]), label="Rejects")
    assert_that(read["files"], equal_to([
        {"path": f"{t}/a.jsonl.zst", "name": "a.jsonl.zst", "bytes": len(zst_data), "lines": 4, "documents": 4,
         "malformed": 0, "damage": None},
        {"path": f"{t}/b.jsonl.gz", "name": "b.jsonl.gz", "bytes": len(gz_data), "lines": 2, "documents": 2,
         "malformed": 0, "damage": None},
        {"path": f"{t}/c.jsonl", "name": "c.jsonl", "bytes": len(plain), "lines": 3, "documents": 2,
         "malformed": 1, "damage": None},
    ]), label="Files")
    pipeline.run().wait_until_finish()


def test_find_message_unwraps_a_runner_rewrapped_error():
    from transforms.errors import find_message

    inner = PileprepError("file x is damaged: re-download it")
    rewrapped = PileprepError(str(inner) + " [while running 'ReadPile/ReadFiles']")
    assert find_message(RuntimeError(str(rewrapped))) == "file x is damaged: re-download it"
    assert find_message(rewrapped) == "file x is damaged: re-download it"
    assert find_message(ValueError("other")) is None
