import glob
import gzip
import os
import pickle

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline  # not TestPipeline by name: pytest would try to collect it
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st
from tokenizers import AddedToken, Tokenizer as HFTokenizer, models, pre_tokenizers, processors

from transforms.provenance import CheckConfig
from transforms.gpt2_load import gpt2_files
from transforms.tokenize import Tokenize
from transforms.tokenizer import TokenizeConfig, load

EOT = "<|endoftext|>"
EOT_AS_TEXT = [27, 91, 437, 1659, 5239, 91, 29]  # "<", "|", "end", "of", "text", "|", ">"
# The hashes tiktoken pins for OpenAI's own copies of these files.
GPT2_SHA256 = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}

VARIED = [
    "",
    "Hello world",
    "The quick brown fox jumps over the lazy dog. It's 3.14159, isn't it? We'll see; they've gone.",
    "def f(x):\n\tif x:\n\t\treturn  x   *  2\n        else:\n            pass\n",
    "\n\n\n\n\nparagraph\r\n\r\n\r\n  \n \n\t\n",
    " " * 37 + "x" + " " * 5,
    "trailing spaces   ",
    "\u00a0non\u2009breaking\u3000spaces\u200b",
    "Ünïcödé naïve café résumé Ελληνικά русский עברית العربية हिन्दी",
    "emoji 😀🎉👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "漢字かなカナ한국어 中文文本，标点。",
    "combining e\u0301 a\u0300 o\u0308 \u0915\u094d\u0937 Z\u0351\u0352\u0357",
    EOT,
    f"end of one{EOT}start of another",
    f"  {EOT}\n{EOT}{EOT} <|endoftext",
    "numbers 1234567890 123,456.789 1e-10 0x1F",
    "'s 're 've 'll 'd 'm 't 'S 'RE",
    "\x00\x01\x7f control \x1b[31mred\x1b[0m",
]


@pytest.fixture(scope="module")
def gpt2():
    return {backend: load(TokenizeConfig(backend=backend)) for backend in ("tiktoken", "hf")}


def _write_tokenizer(path, vocab_size=4, eos=True, bos_template=False):
    """A tiny WordLevel tokenizer.json: [UNK], hello, world, then filler, then <|endoftext|>."""
    vocab = {"[UNK]": 0, "hello": 1, "world": 2, **{f"w{i}": i for i in range(3, vocab_size - 1)}}
    tok = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if eos:
        tok.add_special_tokens([AddedToken(EOT, special=True)])
    if bos_template:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{EOT} $A", special_tokens=[(EOT, tok.token_to_id(EOT))]
        )
    tok.save(str(path))
    return str(path)


def test_gpt2_ids_are_gpt2s(gpt2):
    for tok in gpt2.values():
        assert tok.encode("Hello world").tolist() == [15496, 995]
        assert tok.encode(" Hello world").tolist() == [18435, 995]  # no prefix space is added
        assert (tok.vocab_size, tok.eos_id, tok.dtype) == (50257, 50256, np.dtype(np.uint16))
        assert tok.name == "gpt2"
        assert tok.files_sha256 == GPT2_SHA256


def test_auto_backend_is_tiktoken_for_gpt2(gpt2):
    assert load(TokenizeConfig()).backend in ("tiktoken", "tiktoken+tokie")  # tokie: see test_tokenize_tokie.py
    assert [gpt2[b].backend for b in ("tiktoken", "hf")] == ["tiktoken", "hf"]


def test_gpt2_files_are_the_packaged_ones():
    encoder_json, vocab_bpe = gpt2_files()
    assert os.path.basename(encoder_json) == "encoder.json" and os.path.isfile(encoder_json)
    assert os.path.basename(vocab_bpe) == "vocab.bpe" and os.path.isfile(vocab_bpe)


@pytest.mark.parametrize("text", VARIED)
def test_backends_agree(gpt2, text):
    ids = gpt2["tiktoken"].encode(text)
    assert ids.dtype == np.uint32
    np.testing.assert_array_equal(gpt2["hf"].encode(text), ids)
    for tok in gpt2.values():
        assert tok.decode(ids) == text


def test_literal_endoftext_is_ordinary_text(gpt2):
    for tok in gpt2.values():
        assert tok.encode(EOT).tolist() == EOT_AS_TEXT
        assert tok.encode(f"a{EOT}").tolist() == [64] + EOT_AS_TEXT
        assert 50256 not in tok.encode(f"{EOT} {EOT}\n{EOT}").tolist()
        assert tok.decode([50256]) == EOT
        assert tok.decode(np.array([15496, 50256, 995], dtype=np.uint16)) == f"Hello{EOT} world"


def test_lone_surrogates_become_replacement_characters(gpt2):
    text = "a\ud800b \ud83d\ude00"  # a lone surrogate, then a pair spelling 😀 (as JSON can)
    expected = gpt2["tiktoken"].encode("a\ufffdb 😀").tolist()
    for tok in gpt2.values():
        assert tok.encode(text).tolist() == expected
        assert tok.encode("ok").tolist() == [482]  # the next text is not affected


def test_encode_is_shard_ids_as_uint32(gpt2):
    for tok in gpt2.values():
        for text in VARIED:
            ids = tok.encode(text)
            assert ids.dtype == np.uint32
            np.testing.assert_array_equal(ids, tok.shard_ids(text))


def _real_texts():
    stdlib = os.path.dirname(os.__file__)
    names = ["os.py", "textwrap.py", "json/decoder.py", "email/_header_value_parser.py", "locale.py",
             "unicodedata.py", "encodings/cp1252.py", "html/entities.py", "difflib.py", "tarfile.py"]
    paths = [os.path.join(stdlib, n) for n in names]
    docs = sorted(glob.glob("/usr/share/doc/*/copyright"))[:60]
    changelogs = sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))[:20]
    texts = []
    for path in paths + docs:
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
    for path in changelogs:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    return texts


def test_backends_agree_on_real_text(gpt2):
    texts = _real_texts()
    if not texts:
        pytest.skip("no stdlib sources or /usr/share/doc files on this machine")
    fast, reference = [gpt2["tiktoken"].encode(t) for t in texts], [gpt2["hf"].encode(t) for t in texts]
    for text, a, b in zip(texts, fast, reference):
        np.testing.assert_array_equal(a, b)
        assert gpt2["tiktoken"].decode(a) == text
    assert sum(map(len, fast)) > 10_000


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decode_inverts_encode(gpt2, text):
    ids = gpt2["tiktoken"].encode(text)
    assert gpt2["tiktoken"].decode(ids) == text
    assert gpt2["hf"].decode(ids) == text
    np.testing.assert_array_equal(gpt2["hf"].encode(text), ids)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u3000ab1'sS!<|>é😀\u0301", max_size=40))
def test_backends_agree_on_whitespace_and_punctuation(gpt2, text):
    # The pre-tokenizer regexes differ in spelling between backends; runs of these characters are
    # where they would diverge.
    np.testing.assert_array_equal(gpt2["hf"].encode(text), gpt2["tiktoken"].encode(text))


def test_tokenizer_json_uses_hf_and_its_endoftext(tmp_path):
    tok = load(TokenizeConfig(tokenizer=_write_tokenizer(tmp_path / "tokenizer.json")))
    assert (tok.backend, tok.vocab_size, tok.eos_id, tok.dtype) == ("hf", 4, 3, np.dtype(np.uint16))
    assert tok.files_sha256.keys() == {"tokenizer.json"}
    assert tok.encode("hello world").tolist() == [1, 2]
    assert tok.decode([1, 2]) == "hello world"


def test_tokenizer_json_endoftext_in_text_is_ordinary(tmp_path):
    path = _write_tokenizer(tmp_path / "tokenizer.json")
    text = f"hello{EOT}world"
    assert HFTokenizer.from_file(path).encode(text).ids == [1, 3, 2]  # what HF does by default
    assert load(TokenizeConfig(tokenizer=path)).encode(text).tolist() == [1, 0, 0, 0, 2]


def test_tokenizer_json_post_processor_adds_nothing(tmp_path):
    path = _write_tokenizer(tmp_path / "tokenizer.json", bos_template=True)
    assert HFTokenizer.from_file(path).encode("hello").ids == [3, 1]
    assert load(TokenizeConfig(tokenizer=path)).encode("hello").tolist() == [1]


def test_tokenizer_json_without_endoftext_needs_eos_id(tmp_path):
    path = _write_tokenizer(tmp_path / "tokenizer.json", eos=False)
    with pytest.raises(ValueError, match="--eos-id"):
        load(TokenizeConfig(tokenizer=path))
    assert load(TokenizeConfig(tokenizer=path, eos_id=0)).eos_id == 0


def test_large_vocabulary_is_uint32(tmp_path):
    tok = load(TokenizeConfig(tokenizer=_write_tokenizer(tmp_path / "t.json", vocab_size=70_000)))
    assert (tok.vocab_size, tok.eos_id, tok.dtype) == (70_000, 69_999, np.dtype(np.uint32))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tokenizer": ""}, "tokenizer must be"),
        ({"tokenizer": None}, "tokenizer must be"),
        ({"backend": "fast"}, "backend must be one of"),
        ({"backend": "tiktoken", "tokenizer": "neox/tokenizer.json"}, "use backend 'hf'"),
        ({"eos_id": -1}, "eos_id must be"),
        ({"eos_id": True}, "eos_id must be"),
        ({"eos_id": "50256"}, "eos_id must be"),
    ],
)
def test_invalid_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenizeConfig(**kwargs)


def test_unloadable_config_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(TokenizeConfig(tokenizer=str(tmp_path / "missing.json")))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        load(TokenizeConfig(eos_id=50257))


def test_pickle_ships_config_only(gpt2, tmp_path):
    custom = load(TokenizeConfig(tokenizer=_write_tokenizer(tmp_path / "tokenizer.json")))
    for tok in [*gpt2.values(), custom]:
        data = pickle.dumps(tok)
        assert len(data) < 1000
        copy = pickle.loads(data)
        assert (copy.config, copy.backend, copy.eos_id) == (tok.config, tok.backend, tok.eos_id)
        for text in ("hello world", VARIED[8]):
            np.testing.assert_array_equal(copy.encode(text), tok.encode(text))


def _tokenized_like(docs, tokenizer):
    def check(actual):
        by_id = {doc["id"]: doc for doc in actual}
        assert len(actual) == len(by_id) == len(docs)
        for doc in docs:
            out = dict(by_id[doc["id"]])
            ids = out.pop("ids")
            assert out == doc  # every input key, including text, is kept unchanged
            assert ids.dtype == tokenizer.dtype  # the shard dtype: uint16 for GPT-2
            np.testing.assert_array_equal(ids, tokenizer.encode(doc["text"]))

    return check


def test_tokenize_transform(gpt2):
    docs = [{"id": f"d{i}", "source": "Pile-CC", "text": text, "meta": {"n": i}} for i, text in enumerate(VARIED)]
    with test_pipeline.TestPipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(docs) | "Tokenize" >> Tokenize(TokenizeConfig(), check=CheckConfig(every=1))
        assert_that(out["docs"], _tokenized_like(docs, gpt2["tiktoken"]))
        checked = out["provenance"] | beam.Filter(lambda e: e[0][1] == "checked") | beam.Map(lambda e: e[1])
        assert_that(checked | beam.CombineGlobally(sum), equal_to([len(docs)]), label="EveryDocChecked")


def test_tokenize_transform_fails_before_running(tmp_path):
    path = _write_tokenizer(tmp_path / "tokenizer.json", eos=False)
    p = test_pipeline.TestPipeline(runner=FnApiRunner())
    with pytest.raises(ValueError, match="--eos-id"):
        _ = p | beam.Create([{"id": "a", "text": "hello"}]) | Tokenize(TokenizeConfig(tokenizer=path))
