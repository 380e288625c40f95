r"""The guard around GPT-2's fast path: where tokie (a Rust BPE several times faster than tiktoken)
may encode a text and get GPT-2's ids, where tiktoken must, and the self-test that turns tokie off
if it ever disagrees. Plain functions over str offsets; no tokenizer is loaded here.

    text = "plain text line\n" * 20 + "na\u00efve caf\u00e9\n" + "more plain text\n" * 20
    ascii_spans(text)   # [(0, 319, True), (319, 330, False), (330, 651, True)]: tokie, tiktoken, tokie
"""
from __future__ import annotations

import hashlib
import importlib.util
import platform
import re

import numpy as np

# tokie (a Rust BPE several times faster than tiktoken) gives GPT-2's ids on plain ASCII text,
# under three conditions, each found where it failed (tests/transforms/test_tokenize_tokie.py):
# - its pre-tokenizer splits differently from GPT-2's regex around a vertical tab or form feed in
#   a run of whitespace, and at a contraction ('s 't 're 've 'm 'll 'd) right after a tab; those,
#   and non-ASCII characters (whose letter classes are not GPT-2's in every case), go to tiktoken
#   with the rest of their line: a text is cut only where no pre-token crosses (`_is_cut`);
# - a text of 10,000 bytes or more (PARALLEL_CHUNK_THRESHOLD in its tokenizer.rs) is cut into one
#   chunk per available CPU at spaces and encoded on that many threads; with no space near a chunk
#   boundary it cuts inside a pre-token, so its ids would depend on the text and on the machine's
#   core count. It only ever gets pieces of at most TOKIE_MAX_BYTES, cut at `_is_cut` points,
#   so it encodes each on the calling thread; a stretch with no cut that short goes to tiktoken;
# - only on the platform the fuzzing ran on (Linux x86_64): its pre-tokenizer has SIMD paths (NEON
#   on arm64) that no one here has compared with GPT-2's regex.
# On load, a self-test (`self_test`) compares it with tiktoken on those cases and on long inputs
# and turns it off, with a warning, if a single id differs; during a run a sample of documents is
# checked against the plain path (`Tokenizer.plain_ids` in transforms/tokenizer.py).
_TOKIE_VERSIONS = ("0.1.4",)  # the versions the fuzzing checked: any other is not used
_TOKIE_PLATFORMS = (("Linux", "x86_64"),)  # (platform.system(), platform.machine()) tested
TOKIE_MAX_BYTES = 8192  # well below tokie's 10,000-byte threshold for chunked, threaded encoding
_NON_ASCII = None  # regex (not re: 10x faster at this) patterns, compiled on first use
_VT_FF = None
_TOKIE_LEAST = 256  # ASCII stretches shorter than this stay with their non-ASCII neighbours
# a cut (see `_is_cut`) is just after the non-space of each match
_CUT = re.compile(r"[^\s][ \t\n\r]")


def tokie_safe(text: str) -> bool:
    """Whether tokie gives GPT-2's ids for this text (see above)."""
    return text.isascii() and "\x0b" not in text and "\x0c" not in text and "\t'" not in text


def _is_cut(text: str, p: int) -> bool:
    """Whether every GPT-2 pre-token of text ends or starts at p, so that the ids of text are those
    of text[:p] followed by those of text[p:]: a whitespace run starts at p, after a non-space.
    No piece reaches across p: every alternative of the pattern but the whitespace ones stops at
    whitespace, and those start at it; the pattern looks neither behind nor (but for the end of
    the text) beyond the run. (str.isspace holds for every \\s and a few more, so a character it
    calls a space is never taken for a non-space.)"""
    return 0 < p < len(text) and text[p] in _RUN_START and not text[p - 1].isspace()


_RUN_START = " \t\n\r"
_SAME_RUN = " \t\r"  # a line break's run, walking back from it


def _run_start(text: str, q: int, floor: int) -> int:
    while q > floor and text[q - 1] in _SAME_RUN:
        q -= 1
    return q


def _cut_before(text: str, p: int, floor: int) -> int:
    """The last cut at the start of a line break's whitespace run before p, or floor."""
    while True:
        q = text.rfind("\n", floor + 1, p)
        if q < 0:
            return floor
        p = _run_start(text, q, floor)
        if p > floor and _is_cut(text, p):
            return p


def _cut_after(text: str, p: int) -> int:
    """The first cut at the start of a line break's whitespace run at or after p, or len(text)."""
    while True:
        q = text.find("\n", p)
        if q < 0:
            return len(text)
        r = _run_start(text, q, p)
        if _is_cut(text, r):
            return r
        p = q + 1


def _not_for_tokie(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every run of non-ASCII characters, of vertical tabs and form feeds,
    and of every tab before an apostrophe, in order."""
    global _NON_ASCII, _VT_FF
    if _NON_ASCII is None:
        import regex

        _NON_ASCII, _VT_FF = regex.compile(r"[^\x00-\x7f]+"), regex.compile(r"[\x0b\x0c]+")
    found = [] if text.isascii() else [m.span() for m in _NON_ASCII.finditer(text)]
    if "\x0b" in text or "\x0c" in text:
        found += [m.span() for m in _VT_FF.finditer(text)]
    i = text.find("\t'")
    while i >= 0:
        found.append((i, i + 2))
        i = text.find("\t'", i + 2)
    return sorted(found)


def ascii_spans(text: str) -> list[tuple[int, int, bool]]:
    """text cut (at `_is_cut` points) into (start, end, plain) spans: the lines around what tokie
    would split differently (plain False) go to tiktoken, the stretches between them (plain True:
    `tokie_safe` still decides, on the slice that is encoded) to tokie."""
    spans, done = [], 0
    for start, end in _not_for_tokie(text):
        if start < done:
            continue  # already inside the last tiktoken span
        a, b = _cut_before(text, start, done), _cut_after(text, end)
        if a - done >= _TOKIE_LEAST:
            spans.append((done, a, True))
        elif spans and not spans[-1][2]:
            a = spans.pop()[0]  # a short stretch joins the tiktoken span before it
        else:
            a = done
        spans.append((a, b, False))
        done = b
    if done < len(text):
        spans.append((done, len(text), True))
    return spans


def _last_cut(text: str, lo: int, hi: int) -> int:
    """The last cut q with lo < q <= hi, or -1 (searched near hi first: prose has one every word)."""
    for width in (512, hi - lo):
        q = -1
        for m in _CUT.finditer(text, max(lo, hi - width), hi + 1):
            q = m.start() + 1
        if q > 0:
            return q
    return -1


def pieces(text: str, a: int, b: int):
    """text[a:b] (a plain span) as (start, end, tokie) pieces: pieces for tokie hold at most
    TOKIE_MAX_BYTES (ASCII: a character is a byte) and end at cuts; a stretch with no cut within
    that many characters goes to tiktoken (tokie False) up to the next cut."""
    while b - a > TOKIE_MAX_BYTES:
        q = _last_cut(text, a, a + TOKIE_MAX_BYTES)
        if q > 0:
            yield a, q, True
        else:
            m = _CUT.search(text, a + TOKIE_MAX_BYTES, b)
            q = m.start() + 1 if m else b
            yield a, q, False
        a = q
    if a < b:
        yield a, b, True


def tokie_usable() -> bool:
    """tokie installed, at a checked version, on a checked platform (see above)."""
    return (importlib.util.find_spec("tokie") is not None and tokie_version() in _TOKIE_VERSIONS
            and (platform.system(), platform.machine()) in _TOKIE_PLATFORMS)


def tokie_version() -> str | None:
    """The installed tokie's version, or None."""
    try:
        from importlib.metadata import version

        return version("tokie")
    except Exception:
        return None


def _self_test_texts() -> list[str]:
    """What the fast path must get right, each wrapped in plain lines: tokie's known divergences,
    and long inputs (past tokie's threaded threshold: space-free, one whitespace run, digits,
    base64, minified JSON, long ASCII inside non-ASCII, mixed scripts)."""
    import base64

    divergent = ["\t's", "a\t'll b", "\x0b't", "x\x0c're", "\n\n\x0b", " \xa0\x0c", "\u24b6's", "\u2000\x0b"]
    noise = base64.b64encode(hashlib.sha256(b"pileprep").digest() * 700).decode()  # 22 KB, no space
    line = "The quick brown fox's jumps, 12,345 times -- over the lazy dog. "
    long = [
        "\n" * 10_000, "\n" * 12_000 + "x", " " * 12_000 + "x", "x" + "\t" * 11_000 + "y", "a" * 20_000,
        "7" * 15_000, noise, '{"k":[' + ",".join(str(i * 7919 % 10007) for i in range(4_000)) + "]}",
        line * 300, "caf\u00e9 " + line * 200 + "\u00fc", "\u00e9" + noise + "\u00e9" + " " + noise,
        ("\u0416\u0438\u0437\u043d\u044c " + line + "\u65e5\u672c\u8a9e\n") * 150,
        (line + "\n") * 150 + "\t'quoted'\n" + (line + "\n") * 150,
    ]
    return [f"plain line\n{d} and more\n" for d in divergent] + divergent + long


def self_test(tok) -> str | None:
    """The first input on which tok's fast path (a transforms.tokenizer.Tokenizer's `shard_ids`)
    differs from its `plain_ids`, described; None if none."""
    for text in _self_test_texts():
        fast, plain = tok.shard_ids(text), tok.plain_ids(text)
        if not np.array_equal(fast, plain):
            return f"{len(fast)} ids instead of {len(plain)} on {text[:40]!r}... ({len(text):,} characters)"
    return None

