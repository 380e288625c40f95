"""The GPT-2 fast path: tokie on the stretches of text where it gives GPT-2's ids, tiktoken on the
rest, cut where no pre-token crosses. Every test compares against tiktoken alone (itself compared
with HF tokenizers in test_tokenize.py); none may find a single differing id."""
import glob
import gzip
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from transforms import gpt2_fast
from transforms.tokenizer import TokenizeConfig, Tokenizer, load

pytest.importorskip("tokie")


@pytest.fixture(scope="module")
def fast():
    tok = load(TokenizeConfig())
    tok.prepare()
    assert tok.backend == "tiktoken+tokie" and tok._tokie is not None
    return tok


@pytest.fixture(scope="module")
def reference():
    return load(TokenizeConfig(backend="tiktoken"))


def _same(fast, reference, text):
    a, b = fast.shard_ids(text), reference.shard_ids(text)
    assert a.dtype == b.dtype == np.uint16
    np.testing.assert_array_equal(a, b, err_msg=repr(text[:200]))
    np.testing.assert_array_equal(fast.encode(text), reference.encode(text))


def _real_texts():
    stdlib = os.path.dirname(os.__file__)
    paths = sorted(glob.glob(os.path.join(stdlib, "*.py")))[:40] + sorted(glob.glob("/usr/share/doc/*/copyright"))[:80]
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    for path in sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))[:30]:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    return texts


def test_real_text(fast, reference):
    texts = _real_texts()
    if not texts:
        pytest.skip("no stdlib sources or /usr/share/doc files on this machine")
    assert any(not t.isascii() for t in texts) and any(t.isascii() for t in texts)
    for text in texts:
        _same(fast, reference, text)


# Where tokie 0.1.4's pre-tokenizer differs from GPT-2's regex (found by fuzzing): these texts
# must never reach it whole, and the hybrid must still give tiktoken's ids.
DIVERGENT = ["\t's", "a\t'll b", "\x0b't", "x\x0c're", "\n\n\x0b", " \xa0\x0c", "\u24b6's", "\u2000\x0b"]


@pytest.mark.parametrize("text", DIVERGENT)
def test_known_divergences_go_to_tiktoken(fast, reference, text):
    assert not gpt2_fast.tokie_safe(text)
    _same(fast, reference, text)
    _same(fast, reference, "plain ascii line\n" * 30 + text + "\nand more plain text\n" * 30)


def test_tokie_alone_would_differ_there(fast, reference):
    """Why the guard exists; if a tokie release fixes these, its pin can move after a re-fuzz."""
    raw = [fast._tokie.encode(t, add_special_tokens=False).ids for t in DIVERGENT[:2]]
    assert raw != [reference.encode(t).tolist() for t in DIVERGENT[:2]]


def test_literal_endoftext_is_text(fast):
    eot_as_text = [27, 91, 437, 1659, 5239, 91, 29]
    assert fast._tokie.encode("<|endoftext|>", add_special_tokens=False).ids == eot_as_text
    assert 50256 not in fast.encode("a <|endoftext|> b\n<|endoftext|>").tolist()


ASCII_PIECES = [chr(i) for i in range(128)] + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", " ", "  ", "\n",
                                               "\r\n", "\t", "    ", "the", " the", "123", "0.5", "...", "''"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ASCII_PIECES), max_size=60).map("".join))
def test_ascii(fast, reference, text):
    _same(fast, reference, text)


LINES = ["hello world", "It's done", "'s and 't", "café au lait", "naïve 's", "日本語のテキスト", "  indented",
         "\tTab's", "trailing  ", "x\r", "", " ", "a\u00a0b", "\x0c", "\u2028", "—dash—", "1234", "ok\x0b",
         "\u24b6's", "end."]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LINES), st.integers(1, 40), st.sampled_from(["\n", "\n\n", "\r\n", " \n"])),
                max_size=20))
def test_mixed_lines(fast, reference, lines):
    """ASCII and non-ASCII lines in every arrangement: the cuts between them must not change an id."""
    _same(fast, reference, "".join(line * n + end for line, n, end in lines))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t\n\r\x0b\x0cab'sé\u3000\u00a01.!", max_size=80))
def test_every_cut_splits_tiktoken_exactly(reference, text):
    """The argument behind `_is_cut`, checked on tiktoken alone: the ids of a text are those of
    its two sides at every cut."""
    ids = reference.encode(text).tolist()
    for p in range(len(text) + 1):
        if gpt2_fast._is_cut(text, p):
            assert reference.encode(text[:p]).tolist() + reference.encode(text[p:]).tolist() == ids, (text, p)


def test_spans_cover_the_text_in_order():
    text = ("ascii line\n" * 40) + "ünïcode line\n" + ("more ascii\n" * 40) + "\t'sat'\n" + ("tail\n" * 80)
    spans = gpt2_fast.ascii_spans(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert [plain for _, _, plain in spans] == [True, False, True, False, True]


def test_unchecked_tokie_version_is_not_used(monkeypatch, reference):
    monkeypatch.setattr(gpt2_fast, "_TOKIE_VERSIONS", ())
    tok = Tokenizer(TokenizeConfig())
    tok.prepare()
    assert tok.backend == "tiktoken" and tok._tokie is None
    _same(tok, reference, "Hello world, it's café time\n")


def test_many_texts_at_once_are_each_text_alone(fast, reference):
    """tokenize_many encodes tokie's pieces of every text in one call: each text gets exactly the
    ids (and backends) it gets alone, whatever its neighbours: empty, whole-tokie, pieces, a
    divergent line, a text tiktoken gives up on (the plain path, HF), long, non-ASCII."""
    giving_up = "\u00a0" + "\n" * 10**6 + "x"
    texts = ["", "hello world", *DIVERGENT, "caf\u00e9 \u201cquoted\u201d and plain words " * 50, giving_up,
             "x" * 20_000, " " * 9_000 + "y", *_real_texts()[:20], "ok"]
    many = fast.tokenize_many(texts)
    assert len(many) == len(texts)
    for text, (ids, backends) in zip(texts, many):
        alone = fast.tokenize_many([text])[0]
        assert backends == alone[1] and ids.dtype == alone[0].dtype == np.uint16
        np.testing.assert_array_equal(ids, alone[0], err_msg=repr(text[:80]))
        np.testing.assert_array_equal(ids, reference.shard_ids(text) if text is not giving_up else fast.plain_ids(text))
    assert many[texts.index(giving_up)][1] == ("hf",) and many[1][1] == ("tokie",)


def test_the_tokie_cache_is_written_once_read_after_and_rebuilt_when_damaged(tmp_path, monkeypatch, reference):
    """gpt2_tokie keeps GPT-2 in tokie's format in the cache: the next load reads it (no JSON
    built), a damaged file is built again and replaced, an unwritable cache is done without."""
    import tokie

    from transforms.gpt2_load import gpt2_tokie, read_gpt2, tokie_cache

    encoder, vocab_bpe, sha = read_gpt2()
    monkeypatch.setenv("PILEPREP_CACHE", str(tmp_path / "cache"))
    path = tokie_cache(sha)
    text = " ".join(_real_texts()[:3])[:200_000]
    built = gpt2_tokie(encoder, vocab_bpe, sha)
    assert os.path.isfile(path)
    real_from_json = tokie.Tokenizer.from_json
    monkeypatch.setattr(tokie.Tokenizer, "from_json", lambda *a: pytest.fail("built again though cached"))
    cached = gpt2_tokie(encoder, vocab_bpe, sha)
    monkeypatch.setattr(tokie.Tokenizer, "from_json", real_from_json)
    ascii_text = text.encode("ascii", "ignore").decode()[:8000]
    assert cached.encode(ascii_text, add_special_tokens=False).ids == built.encode(ascii_text, add_special_tokens=False).ids
    assert cached.encode(ascii_text, add_special_tokens=False).ids == reference.shard_ids(ascii_text).tolist()
    with open(path, "r+b") as f:
        f.write(b"\0" * 64)  # damaged
    again = gpt2_tokie(encoder, vocab_bpe, sha)
    assert again.encode(ascii_text, add_special_tokens=False).ids == reference.shard_ids(ascii_text).tolist()
    assert tokie.Tokenizer.from_file(path).encode("hello world").ids == [31373, 995]  # replaced, whole
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("PILEPREP_CACHE", str(tmp_path / "file" / "cache"))  # cannot be made
    assert gpt2_tokie(encoder, vocab_bpe, sha).encode("hello world").ids == [31373, 995]
