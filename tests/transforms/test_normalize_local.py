"""Differential tests of the lines the fast normalizer fixes without ftfy: typographic English,
clean text in other scripts, and the lines whose local fix ftfy would fix again.

Hypothesis builds lines from an alphabet mixing ASCII, typographic punctuation, accented Latin,
Cyrillic, Greek, Hebrew, CJK, mojibake, HTML entities (plain and fullwidth), control characters,
ligatures and fullwidth forms; every result is compared with ftfy.fix_text for each normal form.
"""
import ftfy
import pytest
from ftfy.badness import BADNESS_RE
from hypothesis import given, settings, strategies as st

from transforms import normalize, normalizer
from transforms.errors import PileprepError
from transforms.normalizer import NormalizeConfig, fixer
from transforms.normalize_fast import Fixer
from transforms.normalize_tables import LOCAL_STEPS, tables
from transforms.provenance import CheckConfig

FTFY_CONFIGS = {"nfc": ftfy.TextFixerConfig(normalization="NFC"),
                "nfkc": ftfy.TextFixerConfig(normalization="NFKC"),
                "ftfy": ftfy.TextFixerConfig(normalization=None)}
FIXERS = {form: fixer(NormalizeConfig(form)) for form in FTFY_CONFIGS}

TYPOGRAPHIC = ("\u201cIt\u2019s a \u2018test\u2019,\u201d said Zo\u00eb \u2014 at the caf\u00e9\u2026 "
               "Dvo\u0159\u00e1k, Bront\u00eb, \u00c5ngstr\u00f6m \u2013 Mu\u00f1oz\u2019s na\u00efve \u201cpi\u00f1ata\u201d.\n")
CLEAN = ("\u041c\u043e\u0441\u043a\u0432\u0430, \u00ab\u0413\u0430\u0437\u043f\u0440\u043e\u043c\u00bb \u2014 "
         "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3002 \u05e2\u05d1\u05e8\u05d9\u05ea \u0395\u03bb\u03bb\u03ac\u03b4\u03b1 "
         "\ud55c\uad6d\uc5b4 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\n")


def _mojibake(text: str) -> str:
    data = text.encode("utf-8")
    return data.decode("sloppy-windows-1252") if len(data) % 2 else data.decode("latin-1")


PIECES = st.sampled_from([
    "word", "Word", " ", ".", ",", "x", "a", "Z", "1", "'", '"', "-", "--", "...", "&", ";", "<", "\t",
    "\u201c", "\u201d", "\u2018", "\u2019", "\u201a", "\u201e", "\u02bc", "\u2014", "\u2013", "\u2026", "\u00a0",
    "\u00ab", "\u00bb", "\u2022", "\u00a9", "\u00ae", "\u2122", "\u00b0", "\u00b5", "\u20ac", "\u00a3", "\u00bd",
    "\u00e9", "\u00eb", "\u00e1", "\u0159", "\u00f1", "\u00f6", "\u00f8", "\u00c5", "\u00c9", "\u00c3", "\u00c2",
    "\u00e0", "\u00d8", "\u00d9", "\u0153", "\u0152", "\u00d7", "\u00b2", "\u221a", "\u00b1", "\u2248",
    "\u0412", "\u0413", "\u0420", "\u0421", "\u0432\u0402", "\u0436\u0438\u0437\u043d\u044c", "\u0416",
    "\u039f", "\u03be", "\u03b2\u20ac", "\u03b1\u03b2\u03b3", "\u05e2\u05d1\u05e8", "\u65e5\u672c", "\u3002",
    "\u00c3\u00a9", "\u00e2\u20ac\u2122", "\u00e2\u20ac\u0153", "\u00c2\u00a0", "\u0101\u20ac",
    "&amp;", "&lt;", "&eacute;", "&#8217;", "\uff06amp\uff1b", "\uff06", "\uff1b", "\uff1c", "\uff41", "\uff58",
    "\uff21", "\u3000", "\ufb01", "\ufb02", "\u0133", "\x00", "\x07", "\x1b[1m", "\x7f", "\x80", "\x9d",
    "\r\n", "\r", "\u2028", "\x85", "\ufeff", "e\u0301", "\u0301", "\u1100\u1161", "\ud83d\ude00", "\ud800",
    "\u00a6", "\u00ac", "\u2502", "\u2550",
])
LINE = st.one_of(st.lists(PIECES, max_size=24).map("".join),
                 st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, blacklist_categories=("Cs",)),
                         max_size=6).map(_mojibake))
TEXT = st.lists(LINE, max_size=12).map("\n".join)


@pytest.mark.parametrize("form", FTFY_CONFIGS)
@settings(max_examples=150, deadline=None)
@given(text=TEXT)
def test_mixed_lines_match_ftfy(form, text):
    assert FIXERS[form](text) == ftfy.fix_text(text, FTFY_CONFIGS[form])


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.one_of(LINE, st.just(TYPOGRAPHIC[:-1]), st.just(CLEAN[:-1])), min_size=1, max_size=8),
       html=st.booleans())
def test_typographic_and_clean_lines_beside_others_match_ftfy(lines, html):
    text = "\n".join(lines) + ("\n<p>\n" + "\n".join(reversed(lines)) if html else "")
    for form, config in FTFY_CONFIGS.items():
        assert FIXERS[form](text) == ftfy.fix_text(text, config)


@settings(max_examples=120, deadline=None)
@given(text=TEXT)
def test_bad_lines_hold_all_the_heuristic_matches(text):
    # The gate-first heuristic, searched over the whole text, finds every line BADNESS_RE matches
    # (and may name a line more where a match reaches across a line break).
    fix = FIXERS["nfc"]
    start, expected = 0, set()
    for line in text.split("\n"):
        end = text.find("\n", start) + 1 or len(text)
        if BADNESS_RE.search(text[start:end]):  # the line as ftfy's segment: with its "\n"
            expected.add(start)
        start = end
    assert fix._bad_lines(text) >= expected
    for line in text.split("\n"):  # on one line, no match can reach across a line break: the same
        assert bool(tables()["badness"].lines(line)) == bool(BADNESS_RE.search(line)), line
    assert fix._bad_lines(TYPOGRAPHIC + text) >= {q + len(TYPOGRAPHIC) for q in expected}


@pytest.mark.parametrize("name, text", [
    ("typographic lines", TYPOGRAPHIC * 3_000),
    ("typographic, one line", TYPOGRAPHIC.replace("\n", " ") * 3_000),
    ("clean lines", CLEAN * 3_000),
    ("clean, one line", CLEAN.replace("\n", " ") * 3_000),
    ("crlf", TYPOGRAPHIC.replace("\n", "\r\n") * 300),
    ("mixed", (TYPOGRAPHIC + CLEAN + "caf\u00c3\u00a9 \uff06amp\uff1b\n" + "\ufb01\u00c3 y\n") * 500),
])
def test_long_documents_match_ftfy(name, text):
    for form, config in FTFY_CONFIGS.items():
        assert FIXERS[form](text) == ftfy.fix_text(text, config), (name, form)


def test_long_line_past_ftfy_segments_matches_ftfy():
    config = ftfy.TextFixerConfig(normalization="NFC", max_decode_length=1_000)
    text = TYPOGRAPHIC.replace("\n", " ") * 50 + "\n" + TYPOGRAPHIC * 10
    assert Fixer(config, tables())(text) == ftfy.fix_text(text, config)


def test_typographic_and_clean_text_never_reach_ftfy():
    fix = fixer(NormalizeConfig("nfc"))
    assert fix(TYPOGRAPHIC * 50) == ftfy.fix_text(TYPOGRAPHIC * 50)
    assert fix(CLEAN * 50) == CLEAN * 50
    assert fix("\u201ccafe\u0301\u201d\n") == '"caf\u00e9"\n'  # quotes and the normal form at once
    assert fix.paths == {"local": 2, "unchanged": 1}


@pytest.mark.parametrize("line", [
    "\uff06amp\uff1b x",  # width makes "&amp;": unescaped on the second pass
    "\uff58\u00c3 y",  # width makes "x\u00c3 ": mojibake on the second pass
    "\ufb01\u00c3 y",  # so does a ligature
])
def test_lines_ftfy_would_fix_again_go_to_ftfy(line):
    fix = fixer(NormalizeConfig("nfc"))
    text = TYPOGRAPHIC + line + "\n" + TYPOGRAPHIC
    assert fix(text) == ftfy.fix_text(text) and fix.paths == {"lines": 1}
    after_lt = "<b>\n" + text  # no unescaping after a '<': the entity stays
    assert fix(after_lt) == ftfy.fix_text(after_lt)


def test_local_steps_are_ftfys_in_its_order():
    # tables() checks the order against fix_and_explain's code; the steps are ftfy's own functions.
    assert [name for name, _, _ in tables()["local_steps"]] == list(LOCAL_STEPS)
    assert all(step is ftfy.FIXERS[name] for name, step, _ in tables()["local_steps"])


def _without_uncurling(self, text, starts, html_end):
    """A broken local fix: every line comes back as it was."""
    ends = [text.find("\n", a) + 1 or len(text) for a in starts]
    return {a: text[a:b] for a, b in zip(starts, ends)}


def test_a_wrong_local_fix_fails_the_self_test(monkeypatch):
    fast = Fixer(FTFY_CONFIGS["nfc"], tables())
    monkeypatch.setattr(Fixer, "_fix_local", _without_uncurling)
    assert normalizer.self_test(fast, fast.config) is not None


def test_a_wrong_local_fix_fails_the_run_time_cross_check(monkeypatch):
    fn = normalize._NormalizeFn(NormalizeConfig("nfc"), CheckConfig(every=1))
    fn.setup()
    fn.start_bundle()
    doc = {"id": "a:1", "text": TYPOGRAPHIC}
    assert next(fn.process(doc))["text"] == ftfy.fix_text(TYPOGRAPHIC)
    assert fn.fix.paths == {"local": 1} and fn.checked == 1
    monkeypatch.setattr(Fixer, "_fix_local", _without_uncurling)
    with pytest.raises(PileprepError, match="normalized differently by the fast normalizer"):
        next(fn.process(doc))
