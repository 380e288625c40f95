"""printable: what the input says, shown on a terminal without controlling it."""
import pytest

from transforms.display import NAME_CHARS, PATH_CHARS, printable


@pytest.mark.parametrize("raw, shown", [
    ("Pile-CC", "Pile-CC"),
    ("Wikipedia (en)", "Wikipedia (en)"),
    ("naïve 日本語", "naïve 日本語"),
    ("\x1b[31mRED\x1b[0m", "\\x1b[31mRED\\x1b[0m"),  # ANSI colour
    ("nul\x00name", "nul\\x00name"),
    ("two\nlines\r\tx", "two\\nlines\\r\\tx"),
    ("c1\x9b2J", "c1\\x9b2J"),  # the one-byte CSI of C1
    ("del\x7f", "del\\x7f"),
    ("bidi\u202eevil\u2066", "bidi\\u202eevil\\u2066"),  # right-to-left override, isolate
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("not-utf8-\udcff", "not-utf8-\\udcff"),  # a lone surrogate: print() would raise on it
    ("tag\U000e0041", "tag\\U000e0041"),
])
def test_controls_are_escaped_visibly(raw, shown):
    assert printable(raw) == shown
    assert printable(raw).isprintable()


def test_long_names_are_cut_with_an_ellipsis():
    assert printable("x" * 5000) == "x" * (NAME_CHARS - 3) + "..."
    assert printable("x" * 5000, PATH_CHARS) == "x" * (PATH_CHARS - 3) + "..."
    assert printable("x" * NAME_CHARS) == "x" * NAME_CHARS  # exactly at the limit: whole
    assert printable("x" * 5000, None) == "x" * 5000


def test_a_cut_never_splits_an_escape():
    shown = printable("ab" + "\x1b" * 100)
    assert shown == "ab" + "\\x1b" * 8 + "..." and len(shown) <= NAME_CHARS
    # escapes that make a short name longer than the limit also cut it
    assert printable("\x00" * 20).endswith("...") and len(printable("\x00" * 20)) <= NAME_CHARS


def test_keep_leaves_the_layout_of_text():
    assert printable("line one\n\tline\x1b[2J two", None, keep="\n\t") == "line one\n\tline\\x1b[2J two"
