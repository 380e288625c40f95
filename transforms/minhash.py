"""MinHash signatures for near-duplicate detection: the pure core of Deduplicate (no Beam here),
and the dedup settings (DedupConfig: none, exact or minhash) the command line builds.

A document becomes a set of shingles, the set a signature of `num_perm` minimum hash values, and
the signature `bands` LSH keys: two documents sharing a key are candidate near-duplicates. Every
signature is bit-for-bit the `hashvalues` of `datasketch.MinHash(num_perm, seed, scheme="legacy")`
after `update_batch(shingles(text))` (transforms/minhash_reference.py, the `--reference` path).
`signatures` computes the same numbers for many documents at once without a Python object per
shingle: shingles are byte ranges of one buffer, hashed and permuted by transforms/minhash_fast.py.

    sigs = signatures(texts, MinHashConfig())                 # (len(texts), 128) uint64
    keys = band_keys(sigs[0], *band_params(MinHashConfig()))  # 16 keys of 34 bytes
"""
import dataclasses
import functools
import re
import string
import struct
import unicodedata

import numpy as np

from transforms.errors import ConfigError
from transforms.minhash_fast import MAX_HASH, permutations, permuted_min, sha1_hash32

SHINGLINGS = ("word5", "char13")


@dataclasses.dataclass(frozen=True)
class MinHashConfig:
    """The defaults are the "pileprep" preset: chosen and measured to find nearly all near-duplicates
    (benchmarks/bench_recall.py: recall >= 99% of pairs at Jaccard >= 0.9, >= 90% at 0.85, at most
    1% of pairs at <= 0.7 removed). PRESETS below keeps SlimPajama's and datatrove's settings."""
    num_perm: int = 128  # datasketch's default, and SlimPajama's: 512 bytes of signature to shuffle
    seed: int = 1  # datasketch MinHash's default seed: the same permutations as datasketch
    shingles: str = "word5"  # word 5-grams of datatrove's simplified text; "char13": SlimPajama's
    threshold: float = 0.8  # Jaccard similarity above which documents are duplicates (SlimPajama)
    # 16 x 8 = 128: a pair at 0.9 shares a band with probability 1 - (1 - 0.9^8)^16 = 0.99999, at
    # 0.85 0.994 (datasketch's 9 x 13 for 0.8: 0.93 and 0.65); the confirmation removes what the
    # looser bands let in below the threshold. None (both): datasketch.MinHashLSH's choice.
    bands: int | None = 16
    rows: int | None = 8
    confirm: bool = True  # keep only candidate pairs whose estimated Jaccard reaches the threshold
    reference: bool = False  # signatures by datasketch, one document at a time: the unoptimized path

    def __post_init__(self):
        if isinstance(self.num_perm, bool) or not isinstance(self.num_perm, int) or self.num_perm < 2:
            raise ConfigError(f"num_perm must be an integer >= 2 (datasketch's MinHashLSH needs two "
                               f"permutations at least), got {self.num_perm!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_HASH:
            raise ConfigError(f"seed must be an integer in [0, 2**32 - 1] (numpy's RandomState draws the "
                               f"permutations), got {self.seed!r}")
        if self.shingles not in SHINGLINGS:
            raise ConfigError(f"unknown shingles {self.shingles!r}: choose one of {', '.join(SHINGLINGS)}")
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be a Jaccard similarity strictly between 0 and 1, "
                               f"got {self.threshold!r}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError(f"give bands and rows together, or neither to let the threshold choose "
                               f"them (got bands={self.bands!r}, rows={self.rows!r})")
        if self.bands is not None:
            for name in ("bands", "rows"):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"{name} must be a positive integer, got {value!r}")
            if self.bands * self.rows > self.num_perm:
                raise ConfigError(f"bands x rows = {self.bands} x {self.rows} = {self.bands * self.rows} "
                                   f"exceeds num_perm = {self.num_perm}: lower one or raise num_perm")


# Named settings, `--minhash-preset NAME`; the other --minhash-* flags override single fields.
PRESETS = {
    # measured with benchmarks/bench_recall.py (see README "Deduplicate")
    "pileprep": MinHashConfig(),
    # SlimPajama (Cerebras modelzoo, data_preparation/nlp/slimpajama): character 13-grams of
    # get_features' text (dedup/to_hash.py), datasketch MinHash(num_perm=128), bands and range from
    # datasketch's optimizer for Jaccard 0.8 (README, step 3.2: 9 x 13), and every pair sharing a
    # band is a duplicate (dedup/generate_duplicate_pairs.py checks no Jaccard).
    "slimpajama": MinHashConfig(shingles="char13", num_perm=128, threshold=0.8, bands=9, rows=13, confirm=False),
    # datatrove 0.x (src/datatrove/pipeline/dedup/minhash.py, MinhashConfig): word 5-grams, 14
    # buckets x 8 hashes = 112 permutations, seed 1, a shared bucket is a duplicate (no Jaccard
    # check). Its comment puts the threshold at (1/14)^(1/8) = 0.72; recorded here, not used.
    "datatrove": MinHashConfig(shingles="word5", num_perm=112, threshold=0.72, bands=14, rows=8, confirm=False),
}


# --- text to shingles ----------------------------------------------------------------------------

# datatrove.utils.text.PUNCTUATION, character for character: ASCII and CJK punctuation, a few
# symbols (the full-width digit one among them) and the C0/C1 control characters but \t and \n.
_DATATROVE_PUNCTUATION = (
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(map(chr, (x for lo, hi in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(lo, hi))))
)
_DATATROVE_PUNCT = re.compile("[" + re.escape(_DATATROVE_PUNCTUATION) + "]+")  # 3x faster than translate
_DATATROVE_NUMBER = re.compile(r"\d+(?:[.,،٫⎖⎗⎘]\d+)?")  # their \p{Nd}: re's \d is exactly Nd
_FROM_COMBINING = re.compile("[^\x00-\u02ff]")  # no character below U+0300 is a combining mark (Mn)
_SLIMPAJAMA_DELETE = str.maketrans("", "", string.punctuation)


def simplify(text: str, config: MinHashConfig) -> str:
    """The text whose shingles are hashed, simplified so that trivial edits do not break a match.

    "word5" is `simplify_text` of datatrove 0.10 with its default `TextNormConfig`
    (huggingface/datatrove, src/datatrove/utils/text.py), step for step: lowercase; a number (a
    run of digits of any script, with at most one decimal separator . , ، ٫ ⎖ ⎗ ⎘ followed by
    digits) to "0"; each character of datatrove's PUNCTUATION to a space; strip, then every run
    of whitespace to one space; NFD, dropping the combining marks (category Mn: "café" -> "cafe");
    strip. So "Hello, World! 3.14 1,000,000 naïve" -> "hello world 0 0 0 naive".
    "char13" is SlimPajama's `get_features` preprocessing (Cerebras modelzoo, slimpajama/dedup/
    to_hash.py): lowercase; delete `string.punctuation`; strip, then every run of whitespace to
    one space: "Hello, World!  3.14" -> "hello world 314".
    (" ".join(s.split()) is their re.sub(r"\\s+", " ", s.strip()): both split at exactly the
    characters of str.isspace.)
    """
    text = text.lower()
    if config.shingles == "char13":
        return " ".join(text.translate(_SLIMPAJAMA_DELETE).split())
    text = " ".join(_DATATROVE_PUNCT.sub(" ", _DATATROVE_NUMBER.sub("0", text)).split())
    if not text.isascii():  # NFD changes no ASCII text and ASCII has no combining mark
        text = unicodedata.normalize("NFD", text)
        marks = [c for c in set(_FROM_COMBINING.findall(text)) if unicodedata.category(c) == "Mn"]
        if marks:
            text = re.sub("[" + re.escape("".join(sorted(marks))) + "]+", "", text)
    return text.strip()


def shingles(text: str, config: MinHashConfig) -> list[bytes]:
    """The distinct shingles of `text`, UTF-8 encoded, in order of first occurrence.

    "word5": every 5 consecutive words of `simplify(text)` joined by one space, words being what
    `str.split()` separates (datatrove splits with a language's word tokenizer; on text without
    punctuation the two differ only in rare splits such as nltk's "cannot" -> "can not").
    "char13": every 13 consecutive characters of `simplify(text)`, as SlimPajama's nltk ngrams.
    A text with fewer than 5 words (13 characters) has no shingle, as in datatrove and SlimPajama:
    its signature is the empty one and it is never a candidate duplicate (see `band_keys`).
    """
    array, starts, ends, _ = _spans([text], config)
    data = array.tobytes()
    return list(dict.fromkeys(map(data.__getitem__, map(slice, starts.tolist(), ends.tolist()))))


# --- shingles to signatures ----------------------------------------------------------------------

# ASCII text (most of the Pile) takes a shortcut through bytes: for "word5" one translate
# lowercases and turns digits into "0" (so that a number is a run of "0" with at most one . or ,
# inside), then another turns punctuation and whitespace into spaces; for "char13" one translate
# lowercases, deletes punctuation and turns whitespace into spaces.
_ASCII = bytes(range(128))
_ASCII_SPACE = bytes(c for c in _ASCII if chr(c).isspace())
_ASCII_LOWER_ZERO = bytes.maketrans(string.ascii_uppercase.encode() + string.digits.encode(),
                                    string.ascii_lowercase.encode() + b"0" * 10)
# A number, once its digits are "0"s, is 0+(?:[.,]0+)?; replacing it by "0" changes only the matches
# longer than one byte, so the pattern matches just those (same matches left to right, 5x faster).
_ASCII_NUMBER = re.compile(rb"0(?:0+(?:[.,]0+)?|[.,]0+)")
_ASCII_SEPARATE = bytes(32 if c < 128 and (chr(c) in _DATATROVE_PUNCTUATION or chr(c).isspace()) else c
                        for c in range(256))
_ASCII_CHAR13 = (bytes.maketrans(string.ascii_uppercase.encode() + _ASCII_SPACE,
                                 string.ascii_lowercase.encode() + b" " * len(_ASCII_SPACE)),
                 string.punctuation.encode())


def _unit_text(text: str, config: MinHashConfig) -> tuple[bytes, int]:
    """The UTF-8 text that a document's shingles are cut from, and how many units (words or
    characters) it holds: for "word5" the words of `simplify(text)` joined by single spaces, so
    that 5 consecutive words are one byte range; for "char13" `simplify(text)` itself."""
    if config.shingles == "word5":
        if text.isascii():
            simple = text.encode().translate(_ASCII_LOWER_ZERO)
            if b"0" in simple:
                simple = _ASCII_NUMBER.sub(b"0", simple)
            words = simple.translate(_ASCII_SEPARATE).split()
            return b" ".join(words), len(words)
        words = simplify(text, config).split()
        return " ".join(words).encode(), len(words)
    if text.isascii():
        simple = b" ".join(text.encode().translate(*_ASCII_CHAR13).split())
        return simple, len(simple)
    simple = simplify(text, config)
    return simple.encode(), len(simple)


def _spans(texts: list[str], config: MinHashConfig):
    """Every shingle of every text as a byte range of one buffer, without a bytes object each.

    Returns (array, starts, ends, counts): shingle j is array[starts[j]:ends[j]] (uint8), the
    shingles of text i come after those of text i - 1, counts[i] of them (repeats included: they
    do not change a minimum). The array joins the texts' `_unit_text`s, by a space for "word5".
    """
    n = 5 if config.shingles == "word5" else 13
    units = [_unit_text(t, config) for t in texts]
    counts = np.array([max(size - n + 1, 0) for _, size in units], dtype=np.int64)
    kept = np.flatnonzero(counts).tolist()
    if not kept:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), counts
    buffer = (b" " if n == 5 else b"").join(units[i][0] for i in kept)
    sizes = np.array([units[i][1] for i in kept], dtype=np.int64)
    array = np.frombuffer(buffer, dtype=np.uint8)
    if n == 5:  # words are separated by exactly one space, texts too
        spaces = np.flatnonzero(array == 32)
        unit_start = np.concatenate(([0], spaces + 1))
        unit_end = np.concatenate((spaces, [len(buffer)]))
    elif len(buffer) == sizes.sum():  # ASCII: a character is a byte
        unit_start = unit_end = np.arange(len(buffer) + 1)
    else:  # a character starts at every byte but UTF-8 continuation bytes 10xxxxxx
        unit_start = unit_end = np.concatenate((np.flatnonzero((array & 0xC0) != 0x80), [len(buffer)]))
    # the first unit of a shingle: every unit but the last n - 1 of each text
    first = np.ones(int(sizes.sum()), dtype=bool)
    first[(np.cumsum(sizes)[:, None] - np.arange(1, n)).ravel()] = False
    g = np.flatnonzero(first)
    if n == 5:
        return array, unit_start[g], unit_end[g + 4], counts
    return array, unit_start[g], unit_start[g + 13], counts


def signatures(texts: list[str], config: MinHashConfig) -> np.ndarray:
    """The signatures of many texts at once, shape (len(texts), num_perm), uint64: row i is
    `signature(texts[i], config)`. All shingles are hashed in one pass and permuted in chunks."""
    if config.reference:
        # imported here: minhash_reference imports this module (simplify, MinHashConfig)
        from transforms.minhash_reference import reference_signature

        return np.array([reference_signature(t, config) for t in texts], dtype=np.uint64).reshape(
            len(texts), config.num_perm)
    array, starts, ends, counts = _spans(texts, config)
    out = np.full((len(texts), config.num_perm), MAX_HASH, dtype=np.uint64)
    filled = np.flatnonzero(counts)
    if len(filled):
        hashes = sha1_hash32(array, starts, ends)
        first = np.concatenate(([0], np.cumsum(counts[filled])[:-1]))
        out[filled] = permuted_min(hashes, first, *permutations(config.num_perm, config.seed))
    return out


def signature(text: str, config: MinHashConfig) -> np.ndarray:
    """The signature of one text, shape (num_perm,), uint64: exactly the `hashvalues` of
    `datasketch.MinHash(num_perm, seed=seed, scheme="legacy")` after `update_batch(shingles(text))`;
    all 2**32 - 1 (datasketch's initial values) when the text has no shingle."""
    return signatures([text], config)[0]


def has_shingles(sig: np.ndarray) -> bool:
    """False for the signature of a text without shingles (every value 2**32 - 1)."""
    return not bool(np.all(np.asarray(sig) == MAX_HASH))


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of equal values: datasketch's `MinHash.jaccard` of two signatures."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"signatures must be two non-empty vectors of one length, got shapes "
                         f"{a.shape} and {b.shape}: compare signatures made with one num_perm")
    return float(np.count_nonzero(a == b)) / len(a)


# --- LSH bands -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _optimal_param(threshold: float, num_perm: int) -> tuple[int, int]:
    from datasketch.lsh import _optimal_param as datasketch_optimal_param  # scipy: import on demand

    return datasketch_optimal_param(threshold, num_perm, 0.5, 0.5)


def band_params(config: MinHashConfig) -> tuple[int, int]:
    """(bands, rows): the config's own, else what `datasketch.MinHashLSH(threshold, num_perm)`
    chooses: the pair minimizing the false positive plus false negative probability, each
    integrated over Jaccard similarity (datasketch.lsh._optimal_param, weights 0.5 and 0.5)."""
    if config.bands is not None:
        return config.bands, config.rows
    return _optimal_param(float(config.threshold), config.num_perm)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: the band index (2 bytes, big-endian) then its `rows` values (4 bytes each,
    little-endian; every value fits 32 bits). Two signatures share band i's key exactly when their
    values in that band are equal. [] for a signature without shingles: such documents are never
    candidates (all of them would otherwise collide)."""
    sig = np.asarray(sig)
    if bands < 1 or rows < 1 or bands * rows > len(sig) or bands > 1 << 16:
        raise ValueError(f"{bands} bands of {rows} rows do not fit a signature of {len(sig)} values "
                         f"(and at most 65536 bands have a 2-byte index)")
    if not has_shingles(sig):
        return []
    if sig.dtype.kind not in "ui" or sig.min() < 0 or sig.max() > MAX_HASH:
        raise ValueError("a signature holds integers in [0, 2**32 - 1]: pass one made by signature()")
    values = sig[:bands * rows].astype("<u4").tobytes()
    width = 4 * rows
    return [struct.pack(">H", i) + values[i * width:(i + 1) * width] for i in range(bands)]


MODES = ("none", "exact", "minhash")


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    mode: str = "none"  # none: the Pile as released, as Cerebras-GPT was trained | exact | minhash
    minhash: MinHashConfig = MinHashConfig()  # word 5-grams, 128 permutations, 0.8 (SlimPajama, datatrove)
    # Large-Star/Small-Star rounds run on many workers before a final pass completes what they
    # left (transforms/components.py): a chain of 2,000 near-duplicates needs 11 to leave nothing.
    max_rounds: int = 12

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"unknown dedup mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if not isinstance(self.minhash, MinHashConfig):
            raise ConfigError(f"minhash must be a MinHashConfig, got {type(self.minhash).__name__}")
        value = self.max_rounds
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"max_rounds must be an integer >= 1, got {value!r}")


def describe(config: DedupConfig, holdout: bool) -> dict:
    """The dedup settings as the manifest records them (bands and rows resolved)."""
    minhash = None
    if config.mode == "minhash":
        m = config.minhash
        bands, rows = band_params(m)
        minhash = {"num_perm": m.num_perm, "seed": m.seed, "shingles": m.shingles, "threshold": m.threshold,
                   "bands": bands, "rows": rows, "confirm": m.confirm}
    return {"mode": config.mode, "holdout": holdout, "minhash": minhash}
