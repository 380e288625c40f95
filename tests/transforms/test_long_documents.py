"""Long documents, where libraries switch algorithms (chunking, threads, recursion and backtracking
limits): the fast tokenizer must give GPT-2's ids (tiktoken's, or HF tokenizers' where tiktoken
gives up) and the fast normalizer ftfy's text, from 10 KB to 2 MB, on one core and on all of them
(../shared/DESIGN.md section 7)."""
import base64
import contextlib
import hashlib
import os

import numpy as np
import pytest

from transforms import gpt2_fast, tokenizer as tk
from transforms.normalizer import NormalizeConfig, fixer
from transforms.tokenizer import TokenizeConfig, Tokenizer

PROSE = ("It\u2019s the \u201cquick\u201d brown fox \u2014 na\u00efve, caf\u00e9\u2026 12,345 jumps; "
         "the lazy dog's bark. ")
CLEAN = "\u0416\u0438\u0437\u043d\u044c \u65e5\u672c\u8a9e \u05e2\u05d1\u05e8\u05d9\u05ea \u0395\u03bb\u03bb\u03ac\u03b4\u03b1 "


def _noise(n: int) -> str:
    raw = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(n // 43 + 1))
    return base64.b64encode(raw).decode()[:n]


def _long_documents() -> dict[str, str]:
    ascii_prose = "The quick brown fox's 12,345 jumps -- over the lazy dog.\n" * 40_000
    docs = {
        "newlines 10k": "\n" * 10_000,
        "newlines 1M then x": "\n" * 1_000_000 + "x",
        "nbsp, 1M newlines, x (tiktoken gives up)": "\u00a0" + "\n" * 10**6 + "x",
        "2M spaces then x (tiktoken gives up)": " " * 2_000_000 + "x",
        "tabs 50k inside words": "a" + "\t" * 50_000 + "b",
        "base64 2 MB, no space": _noise(2_000_000),
        "hex 100 KB": hashlib.sha256(b"x").hexdigest() * 1_600,
        "digits 300 KB": "0123456789" * 30_000,
        "minified JSON 500 KB": "[" + ",".join(f'{{"id":{i},"v":"{i * 7919 % 10007:x}"}}' for i in range(22_000)) + "]",
        "CSV 1 MB": "".join(f"{i},{i * 31 % 997},{_noise(12)},x{i}\r\n" for i in range(36_000)),
        "ASCII prose 2.3 MB": ascii_prose,
        "one ASCII line 200 KB": "word " * 40_000,
        "long ASCII inside non-ASCII": "\u00e9" + ascii_prose[:500_000] + "\u00fc" + _noise(30_000) + "\u3002",
        "mixed scripts 1 MB": (PROSE + CLEAN + "\n") * 6_000,
        "typographic prose, one line, 400 KB": PROSE * 5_000,
        "tab contractions in long ASCII": ("x\t's " * 3_000 + "\n") * 20,
        "vertical tabs and form feeds": ("line \x0b\x0c\n" + "plain words " * 900) * 20,
        "whitespace runs of every kind": "".join(f"w{i}" + " \t\r\n"[i % 4] * (i * 37 % 20_000) for i in range(200)),
    }
    assert all(len(t.encode("utf-8")) >= 10_000 for t in docs.values())
    return docs


LONG = _long_documents()


@pytest.fixture(scope="module")
def fast():
    tok = Tokenizer(TokenizeConfig())
    tok.prepare()
    return tok


@pytest.fixture(scope="module")
def plain(fast):
    """name -> fast.plain_ids(LONG[name]), computed once for the tests here that compare with it."""
    ids = {}

    def of(name: str) -> np.ndarray:
        if name not in ids:
            ids[name] = fast.plain_ids(LONG[name])
        return ids[name]

    return of


@contextlib.contextmanager
def _cores(cores: set[int]):
    """Run the block with this process pinned to `cores` (tokie sizes its threads by affinity)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores & before or before)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.parametrize("name", sorted(LONG))
def test_fast_tokenizer_gives_gpt2_ids_on_one_core_and_all(fast, plain, name):
    text = LONG[name]
    with _cores({0}):
        one = fast.shard_ids(text)
    every = fast.shard_ids(text)
    np.testing.assert_array_equal(one, plain(name), err_msg=f"{name}: 1 core")
    np.testing.assert_array_equal(every, plain(name), err_msg=f"{name}: all cores")


def _encode_ordinary(fast, text):
    """tiktoken's encode_ordinary, or None where it gives up (it panics: a BaseException)."""
    try:
        return fast._tiktoken.encode_ordinary(text)
    except BaseException as e:  # pyo3's PanicException derives from BaseException
        if "StackOverflow" not in str(e) and "stack" not in str(e).lower():
            raise
        return None


def test_plain_ids_are_tiktoken_or_hf_where_tiktoken_gives_up(fast, plain):
    hf = Tokenizer(TokenizeConfig(backend="hf"))
    gives_up = ("nbsp, 1M newlines, x (tiktoken gives up)", "2M spaces then x (tiktoken gives up)",
                "newlines 1M then x")
    for name in gives_up:
        text = LONG[name]
        assert _encode_ordinary(fast, text) is None, name
        with pytest.raises(tk._TiktokenCannot):
            fast._tiktoken_ids(text)
        np.testing.assert_array_equal(plain(name), hf.shard_ids(text), err_msg=name)
    for name in ("tabs 50k inside words", "mixed scripts 1 MB", "CSV 1 MB", "base64 2 MB, no space"):
        text = LONG[name]
        np.testing.assert_array_equal(plain(name), _encode_ordinary(fast, text), err_msg=name)
        np.testing.assert_array_equal(hf.shard_ids(text), plain(name), err_msg=f"{name}: HF")


@pytest.mark.skipif(not gpt2_fast.tokie_usable(), reason="tokie is not used on this platform")
def test_tokie_alone_depends_on_the_core_count_which_is_why_it_gets_short_pieces(fast):
    """tokie 0.1.4 encodes 10,000 bytes or more in one chunk per core, cut inside pre-tokens: on
    two cores its ids for a newline run are not GPT-2's. The guard keeps every piece below that."""
    text = "\n" * 10_000
    whole = fast._tokie.encode(text, add_special_tokens=False).ids
    with _cores({0}):
        one = fast._tokie.encode(text, add_special_tokens=False).ids
    assert one == fast.plain_ids(text).tolist()
    if len(os.sched_getaffinity(0)) > 1:
        assert whole != one
    for name, text in LONG.items():
        pieces = [(c, d) for a, b, plain in gpt2_fast.ascii_spans(text) if plain
                  for c, d, tokie in gpt2_fast.pieces(text, a, b) if tokie]
        assert all(d - c <= gpt2_fast.TOKIE_MAX_BYTES for c, d in pieces), name


NORMALIZE = {
    "typographic prose 400 KB": PROSE * 5_000,
    "clean other scripts 200 KB": (CLEAN * 20 + "\n") * 400,
    "mojibake lines among prose": ("caf\u00c3\u00a9 \u00e2\u20ac\u0153q\u00e2\u20ac\u009d\n" + PROSE * 20 + "\n") * 200,
    "one line past ftfy's segment length": "\u201cx\u201d " * 260_000,
    "ASCII 2 MB with entities and CRLF": ("a &amp; b &lt;c&gt;\r\n" + "plain text " * 40 + "\n") * 4_000,
    "newlines 100k": "\n" * 100_000,  # ftfy itself takes 11 s over 1M
    "base64 2 MB": _noise(2_000_000),
}


@pytest.mark.parametrize("name", sorted(NORMALIZE))
def test_fast_normalizer_equals_ftfy_on_long_documents(name):
    import ftfy

    text = NORMALIZE[name]
    fix = fixer(NormalizeConfig())
    assert fix.path == "fast"
    assert fix(text) == ftfy.fix_text(text, ftfy.TextFixerConfig(normalization="NFC")), name
