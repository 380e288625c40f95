"""Differential tests: the fast normalizer returns exactly ftfy.fix_text, for every form.

Hypothesis builds text from fragments that each fixer acts on (mojibake, controls, curly quotes,
entities with and without '<', line breaks, width forms, ligatures, surrogates, combining marks,
emoji); real text comes from files on this machine (the standard library, /usr/share/doc, vim).
"""
import glob
import gzip
import os
import sysconfig
import unicodedata

import ftfy
import pytest
from hypothesis import given, settings, strategies as st

from transforms.normalizer import NormalizeConfig, fixer
from transforms.normalize_fast import Fixer
from transforms.normalize_tables import tables

FTFY_CONFIGS = {"nfc": ftfy.TextFixerConfig(normalization="NFC"),
                "nfkc": ftfy.TextFixerConfig(normalization="NFKC"),
                "ftfy": ftfy.TextFixerConfig(normalization=None)}
FIXERS = {form: fixer(NormalizeConfig(form)) for form in FTFY_CONFIGS}

PROSE = ("The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst "
         "of times; def f(x): return x * 2  # (1 + 2) = 3 [ok] {yes} 100% a@b.c ~/path\n")


def _mojibake(text: str) -> str:
    data = text.encode("utf-8")
    return data.decode("sloppy-windows-1252") if len(data) % 2 else data.decode("latin-1")


WORDS = st.sampled_from([
    "caf\u00e9", "na\u00efve", "\u00e0 la", "Espa\u00f1a", "\u00c5ngstr\u00f6m", "\u00d8resund", "stra\u00dfe",
    "\u00a9 2024", "5\u00b0C", "\u00bd", "x\u00b2", "\u00b5s", "\u00d7", "\u00ac", "\u00a6", "\u00a7 3",
    "\u2014", "\u2013", "\u2026", "\u2022", "\u20ac5", "\u00a3", "\u2122", "\u00ab\u00bb", "\u00bf", "\u00a0",
    "\u201chi\u201d", "\u2018it\u2019s\u2019", "\u201e\u201f", "\u02bc", "\u201a\u201b",
    "&amp;", "&lt;3", "&eacute;", "&EACUTE;", "&#x2019;", "&#8217;", "&#xZZ;", "&nosuch;", "&amp",
    "&nTILDE;", "a && b", "<p>", "<", "x < y", "&x;",
    "\r\n", "\r", "\n", "\n\n", "\u2028", "\u2029", "\x85", "\x0c", "\t",
    "\x00", "\x07", "\x0b", "\x1b[31m", "\x1b", "\x7f", "\x80", "\x81", "\x9d", "\x9f",
    "\u206a", "\ufeff", "\ufffc", "\ufff9", "\ufffd", "\u200d", "\u200f",
    "\uff21\uff22", "\uff41", "\uff10", "\u3000", "\uff76\uff9e", "\uffe0", "\uffe8",
    "\ufb01", "\ufb02", "\ufb03", "\u0133", "\u01c6", "\u0149",
    "\ud83d\ude00", "\ud83d", "\ude00", "\udc00\ud800",
    "e\u0301", "\u0301", "A\u030a", "\u1100\u1161", "\u1161", "\uac00\u11a8", "\u0344", "\u1e9b\u0323",
    "\U0001f600", "\U0001f1fa\U0001f1f8", "\u2764\ufe0f", "\U0001d400",
    "\u03b1\u03b2\u03b3", "\u0394", "\u043f\u0440\u0438\u0432\u0435\u0442", "\u0413\u045e\u0412\u0402", "\u0432\u0402",
    "\u65e5\u672c\u8a9e", "\u0639\u0631\u0628\u064a", "\u2502\u2500\u2550", "\u2591",
    "\u00c3\u00a9", "\u00c3 ", "\u00c2 ", "\u00c3\u00a0", "\u00e2\u20ac\u2122", "\u00e2\u20ac\u0153",
    "\u00e2\u20ac\ufffd", "\u00c3\u00a2\u00e2\u201a\u00ac\u00e2\u201e\u00a2", "\u0152x", "\u0153 ",
    "\u221a\u00b1", "\u2248\u00b0", "\u03b2\u20ac\u2122", "\u0101\u20ac", "\u00e0\u00b2",
    "word", "Word", " ", "  ", ".", ",", "?", "!", "a", "Z", "42",
])
MOJIBAKE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, blacklist_categories=("Cs",)),
                   min_size=1, max_size=8).map(_mojibake)
FRAGMENT = st.one_of(WORDS, WORDS, WORDS, MOJIBAKE, st.text(max_size=6),
                     st.characters(min_codepoint=0x80, max_codepoint=0x3000).map(str))
TEXT = st.lists(FRAGMENT, max_size=40).map("".join)


@pytest.mark.parametrize("form", FTFY_CONFIGS)
@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_fragments_match_ftfy(form, text):
    assert FIXERS[form](text) == ftfy.fix_text(text, FTFY_CONFIGS[form])


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_any_text_matches_ftfy(text):
    for form, config in FTFY_CONFIGS.items():
        assert FIXERS[form](text) == ftfy.fix_text(text, config)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.tuples(st.sampled_from([PROSE[:60], PROSE[60:150], "caf\u00e9 \u2014 ok"]), TEXT),
                      max_size=12))
def test_long_documents_with_a_few_bad_lines(lines):
    text = "".join(good + "\n" + bad for good, bad in lines)
    for form, config in FTFY_CONFIGS.items():
        assert FIXERS[form](text) == ftfy.fix_text(text, config)


@settings(max_examples=200, deadline=None)
@given(text=TEXT, limit=st.integers(2, 40))
def test_lines_longer_than_ftfy_segments(text, limit):
    config = ftfy.TextFixerConfig(max_decode_length=limit)
    assert Fixer(config, tables())(text) == ftfy.fix_text(text, config)


TRICKY = ["\u00c3 la", "a \u00c3 la", "a\u00c3 la", ". \u00c2 \u201c", "\u0413\u045e\u0412\u0402\u0412\u2122x",
          "\u00c3\u00a9t\u00c3\u00a9", "\u00e2\u20ac\u201d", "\u00d8\u00a7\u00d9\u201e", "\u00e0\u00b2\u00a0",
          "\u221a\u00a9", "\u00c3\u00a0 ", "\u0153\u00a0", "\u0152 ", "caf\u00c3\u00a9", "\u00c2\u00a0",
          "&amp;", "x &lt; y", "\u00c3\x81", "\x81", "\u03b2\u20ac\u2122", "\u00e2\u20ac\u2122s"]


@pytest.mark.parametrize("case", TRICKY)
def test_tricky_cases_in_every_position(case):
    # At a line start (where ftfy's heuristic anchors ^), deep inside a long line (where the
    # heuristic is searched in windows), and after a line holding '<' (entities stay).
    for text in [case, "\n" + case, ".\n" + case + "\n", PROSE[:80] + case + PROSE[:80],
                 PROSE[:70] + "\u00e9 " + case + " \u2014" + PROSE[:70],
                 PROSE[:70] + "\u00e9" + PROSE[:20] + case + PROSE[:20] + "\u00a9" + PROSE[:70], "<b>\n" + case, case + "\n<b>"]:
        for form, config in FTFY_CONFIGS.items():
            assert FIXERS[form](text) == ftfy.fix_text(text, config), (form, text)


def _real_texts(budget: int = 1_000_000) -> list[str]:
    """Files of this machine, those with non-ASCII characters first, up to `budget` characters."""
    stdlib = sysconfig.get_paths()["stdlib"]
    paths = sorted(p for p in glob.glob(os.path.join(stdlib, "**", "*.py"), recursive=True)
                   if "site-packages" not in p)
    paths += sorted(glob.glob("/usr/share/doc/**/*", recursive=True))
    paths += sorted(glob.glob("/usr/share/vim/**/doc/*.txt", recursive=True))
    texts = []
    for path in paths:
        if not os.path.isfile(path) or os.path.getsize(path) > 400_000:
            continue
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                texts.append(f.read().decode("utf-8"))
        except (OSError, UnicodeDecodeError, EOFError):
            continue
    texts.sort(key=lambda t: (t.isascii(), len(t)))
    chosen, used = [], 0
    for text in texts[: len(texts) // 2] + texts[len(texts) // 2:][::7]:
        if used + len(text) <= budget:
            chosen.append(text)
            used += len(text)
    return chosen


def test_real_text_matches_ftfy():
    texts = _real_texts()
    assert len(texts) > 20
    for form, config in FTFY_CONFIGS.items():
        fix = fixer(NormalizeConfig(form))
        for text in texts:
            assert fix(text) == ftfy.fix_text(text, config)
        assert fix.paths["unchanged"] > len(texts) // 2


def test_plain_ascii_prose_takes_the_fast_path():
    fix = fixer(NormalizeConfig("nfc"))
    assert fix(PROSE * 50) == PROSE * 50
    assert fix("caf\u00e9 \u2014 na\u00efve \u00a9 \u00bd \u65e5\u672c\n" + PROSE) == "caf\u00e9 \u2014 na\u00efve \u00a9 \u00bd \u65e5\u672c\n" + PROSE
    assert fix("a && b; x &nosuch; <p>&amp;</p>\n" + PROSE) == "a && b; x &nosuch; <p>&amp;</p>\n" + PROSE
    assert fix.paths == {"unchanged": 3}


def test_only_the_lines_ftfy_changes_are_fixed():
    fix = fixer(NormalizeConfig("nfc"))
    text = PROSE * 20 + "it\u2019s\n" + PROSE * 20
    assert fix(text) == PROSE * 20 + "it's\n" + PROSE * 20
    assert fix(PROSE + "cafe\u0301\n" + PROSE) == PROSE + "caf\u00e9\n" + PROSE  # the line not in NFC
    assert fix.paths == {"local": 2}  # character by character: no ftfy
    assert fix(PROSE + "caf\u00c3\u00a9\n" + PROSE) == PROSE + "caf\u00e9\n" + PROSE  # mojibake: ftfy
    assert fix.paths == {"local": 2, "lines": 1}


@pytest.mark.parametrize("form", ["NFC", "NFKC"])
@settings(max_examples=300, deadline=None)
@given(left=TEXT, right=TEXT)
def test_normal_forms_do_not_reach_across_a_line_break(form, left, right):
    # Why the fixer may check the normal form line by line.
    assert unicodedata.normalize(form, left + "\n" + right) == (
        unicodedata.normalize(form, left) + "\n" + unicodedata.normalize(form, right))


def test_badness_heuristic_needs_a_named_non_ascii_character():
    # The fast path's premise, re-derived from the installed ftfy: every branch of its mojibake
    # heuristic requires a non-ASCII character (its gate), so ASCII lines never look bad.
    t = tables()
    assert t is not None
    assert t["badness"].gates.search("plain ascii text, <html> & 'quotes' \"too\"") is None
    assert t["badness"].lines("caf\u00c3\u00a9\nplain\n\u201cok\u201d caf\u00e9\n") == {0}
