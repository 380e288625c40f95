"""MinHash signatures for near-duplicate detection: the pure core of Deduplicate (no Beam here).

A document becomes a set of shingles, the set a signature of `num_perm` minimum hash values, and
the signature `bands` LSH keys: two documents sharing a key are candidate near-duplicates. Every
signature is bit-for-bit the `hashvalues` of `datasketch.MinHash(num_perm, seed, scheme="legacy")`
after `update_batch(shingles(text))`. "legacy" is the only scheme datasketch had before 2.0 (the
one SlimPajama's signatures used); datasketch 2.0 made "affine32" its default, whose values
differ, so the scheme is named wherever we compare with datasketch.

The legacy hash family: h = first 4 bytes of sha1(shingle), little-endian; for each permutation k,
phv_k = ((a_k * h + b_k) mod 2**64 mod (2**61 - 1)) & (2**32 - 1), the wrap-around of numpy's
uint64 multiply and add being part of the definition; the signature is the minimum of phv_k over
the shingles, 2**32 - 1 for a document without shingles. `signatures` computes the same numbers
for many documents at once without a Python object per shingle: shingles are byte ranges of one
buffer, SHA-1 runs in numpy over thousands of them at a time, and the modulo by the Mersenne
prime is done with shifts, chunk by chunk, in place of numpy's integer division.

    sigs = signatures(texts, MinHashConfig())                 # (len(texts), 128) uint64
    keys = band_keys(sigs[0], *band_params(MinHashConfig()))  # 9 keys of 54 bytes
"""
import dataclasses
import functools
import hashlib
import re
import string
import struct
import unicodedata

import numpy as np

from transforms.errors import ConfigError

SHINGLINGS = ("word5", "char13")
MAX_HASH = (1 << 32) - 1  # datasketch's _max_hash: every value of a signature is at most this
_PRIME = np.uint64((1 << 61) - 1)  # datasketch's _mersenne_prime
_CHUNK_VALUES = 1 << 20  # shingles x permutations per numpy step (measured best of 2**16..2**22)
_CHUNK_DENSE = 1 << 18  # the same when every value is computed in 64 bits
_FEW_CANDIDATES = 32  # below this many shingles per document on average, every value is computed
_EDGE = np.uint32(MAX_HASH - 7)  # low 32 bits of x from here up: r may reach p, or low + top wrap


@dataclasses.dataclass(frozen=True)
class MinHashConfig:
    num_perm: int = 128  # datasketch's default, and SlimPajama's
    seed: int = 1  # datasketch MinHash's default seed: the same permutations as datasketch
    shingles: str = "word5"  # word 5-grams of datatrove's simplified text; "char13": SlimPajama's
    threshold: float = 0.8  # Jaccard similarity above which documents are duplicates (SlimPajama)
    bands: int | None = None  # None: what datasketch.MinHashLSH picks (weights 0.5/0.5): 9 for 0.8/128
    rows: int | None = None  # None: likewise, 13 for 0.8/128
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


# SHA-1 (FIPS 180-4) of many short messages at once, in numpy uint32 arithmetic, one message per
# column: hashlib costs a Python call per shingle, as much as all the rest of a signature.
_SHA1_H = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
_SHA1_K = tuple(np.uint32(k) for k in (0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6))
_SHA1_BATCH = 1 << 15  # messages per pass: amortizes ~1,400 numpy calls per block, fits L3
_SHA1_BLOCKS = 4  # messages of up to 4 blocks (247 bytes) in numpy, longer ones (rare) in hashlib
_SHA1_LEAST = 2048  # below this many messages, numpy's fixed cost (~1 ms a block) exceeds hashlib's


def _sha1_padding(blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, add), each (blocks, 64 * blocks - 8, 64) uint8: block j of a message of L bytes is
    (its 64 bytes from the buffer & keep[j, L]) | add[j, L], which clears what follows the message,
    appends the 0x80 byte and, in the last block, the bit length (big-endian)."""
    top = 64 * blocks - 8
    length = np.arange(top)[:, None]
    position = np.arange(blocks)[:, None, None] * 64 + np.arange(64)
    keep = np.where(position < length, 0xFF, 0).astype(np.uint8)
    add = np.where(position == length, 0x80, 0).astype(np.uint8)
    last = (length[:, 0] + 8) // 64
    add[last, np.arange(top), 56:] = (length[:, 0] * 8).astype(">u8").view(np.uint8).reshape(-1, 8)
    return keep, add


_SHA1_KEEP, _SHA1_ADD = _sha1_padding(_SHA1_BLOCKS)


def _sha1_compress(w: np.ndarray, state: list[np.ndarray]) -> None:
    """One SHA-1 block per column: `w` (16, m) uint32 (overwritten by the message schedule),
    `state` five (m,) uint32 arrays, updated in place."""
    m = w.shape[1]
    w = list(w)  # a ring of 16 schedule words: w[t] = rotl1(w[t-3] ^ w[t-8] ^ w[t-14] ^ w[t-16])
    a, b, c, d, e = (s.copy() for s in state)
    f, tmp = np.empty(m, dtype=np.uint32), np.empty(m, dtype=np.uint32)
    xor, andb, orb, add = np.bitwise_xor, np.bitwise_and, np.bitwise_or, np.add
    shl, shr = np.left_shift, np.right_shift
    n1, n2, n5, n27, n30, n31 = (np.uint32(n) for n in (1, 2, 5, 27, 30, 31))
    for t in range(80):
        wt = w[t & 15]
        if t >= 16:
            xor(wt, w[(t - 3) & 15], out=wt)
            xor(wt, w[(t - 8) & 15], out=wt)
            xor(wt, w[(t - 14) & 15], out=wt)
            shr(wt, n31, out=tmp); shl(wt, n1, out=wt); orb(wt, tmp, out=wt)
        if t < 20:  # choose: d ^ (b & (c ^ d))
            xor(c, d, out=f); andb(f, b, out=f); xor(f, d, out=f)
        elif 40 <= t < 60:  # majority: (b & c) | ((b | c) & d)
            orb(b, c, out=f); andb(f, d, out=f); andb(b, c, out=tmp); orb(f, tmp, out=f)
        else:  # parity
            xor(b, c, out=f); xor(f, d, out=f)
        # f + rotl5(a) + e + k + w[t]; the two halves of rotl5 share no bit, so + is |
        add(f, wt, out=f); add(e, _SHA1_K[t // 20], out=e); add(f, e, out=f)
        shl(a, n5, out=tmp); add(f, tmp, out=f); shr(a, n27, out=tmp); add(f, tmp, out=f)
        shl(b, n30, out=tmp); shr(b, n2, out=b); orb(b, tmp, out=b)  # rotl30
        a, b, c, d, e, f = f, a, b, c, d, e
    for s, v in zip(state, (a, b, c, d, e)):
        s += v


def _sha1_hash32(array: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 least: int = _SHA1_LEAST) -> np.ndarray:
    """datasketch's sha1_hash32 of each array[starts[j]:ends[j]], as uint64: the first 4 bytes of
    the SHA-1 digest read little-endian. Block j of the messages goes through numpy when at least
    `least` messages have one (and j < 4); the messages left over go through hashlib."""
    lengths = ends - starts
    blocks = (lengths + 8) // 64 + 1
    out = np.empty(len(starts), dtype=np.uint64)
    reaching = np.bincount(np.minimum(blocks, _SHA1_BLOCKS + 1))[::-1].cumsum()[::-1]  # [j]: blocks >= j
    in_numpy = int(np.count_nonzero(reaching[1:_SHA1_BLOCKS + 1] >= least))
    short = np.flatnonzero(blocks <= in_numpy)
    windows = np.lib.stride_tricks.sliding_window_view(  # windows[i] = the 64 bytes from byte i
        np.concatenate((array, np.zeros(64 * _SHA1_BLOCKS, dtype=np.uint8))), 64)
    state = np.empty((5, len(short)), dtype=np.uint32)
    state[:] = np.array(_SHA1_H, dtype=np.uint32)[:, None]
    for j in range(in_numpy):
        live = np.flatnonzero(blocks[short] > j)  # the messages with a block j, in even batches
        for part in np.array_split(live, -(-len(live) // _SHA1_BATCH)):
            message = short[part]
            size = lengths[message]
            block = windows[starts[message] + 64 * j]  # (m, 64) copies
            np.bitwise_and(block, np.take(_SHA1_KEEP[j], size, axis=0), out=block)
            np.bitwise_or(block, np.take(_SHA1_ADD[j], size, axis=0), out=block)
            w = np.ascontiguousarray(block.view(">u4").T, dtype=np.uint32)
            if j == 0:  # part is a range: compress in place
                _sha1_compress(w, list(state[:, part[0]:part[-1] + 1]))
            else:
                words = list(state[:, part])
                _sha1_compress(w, words)
                state[:, part] = words
    out[short] = state[0].byteswap()  # the digest's first 4 bytes, read little-endian
    rest = np.flatnonzero(blocks > in_numpy).tolist()
    data = array.tobytes() if rest else b""
    for j in rest:
        out[j] = int.from_bytes(hashlib.sha1(data[starts[j]:ends[j]]).digest()[:4], "little")
    return out


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's legacy `_init_permutations`: (a, b) pairs drawn in turn from RandomState(seed)."""
    gen = np.random.RandomState(seed)
    pairs = np.array([(gen.randint(1, _PRIME, dtype=np.uint64), gen.randint(0, _PRIME, dtype=np.uint64))
                      for _ in range(num_perm)], dtype=np.uint64)
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    a.flags.writeable = b.flags.writeable = False
    return a, b


def _permuted_min(hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per segment hashes[starts[i]:starts[i+1]] (all non-empty), the minimum over its hashes h of
    ((a*h + b) % 2**64 % (2**61 - 1)) & (2**32 - 1), for each (a, b): shape (len(starts), len(a)).

    x % p for the Mersenne prime p = 2**61 - 1 is r = (x & p) + (x >> 61) (as 2**61 = 1 mod p),
    less p if r >= p; r < p + 8. Only the low 32 bits of r are kept: the low 32 bits of x plus
    top = x >> 61, between 0 and 7 (x & p differs from x in its top 3 bits only). The low 32 bits
    of x are those of a*h + b in 32-bit arithmetic, computed for every value; the full 64-bit x
    only for the values that can be a minimum, those within 7 of the smallest low 32 bits of their
    segment (usually one per segment and permutation). r >= p needs bits 3 to 60 of x all set
    (odds 2**-58 per value), so low 32 bits at least 2**32 - 8; likewise low + top can wrap only
    there: a chunk with such a value takes the exact path, in 64 bits throughout.
    """
    n, k = len(hashes), len(a)
    out = np.full((k, len(starts)), MAX_HASH, dtype=np.uint32)  # permutations x segments
    dense = n < _FEW_CANDIDATES * len(starts)  # short documents: candidates would be most values
    chunk = max(1, (_CHUNK_DENSE if dense else _CHUNK_VALUES) // k)
    low_buf = np.empty((k, min(chunk, n)), dtype=np.uint32)
    a_low, b_low = a.astype(np.uint32)[:, None], b.astype(np.uint32)[:, None]  # the low 32 bits
    h_low = hashes.astype(np.uint32)  # hashes are 32-bit
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        # the segments overlapping [lo, hi), each from its own start or from lo
        first = int(np.searchsorted(starts, lo, side="right")) - 1
        last = int(np.searchsorted(starts, hi, side="left"))
        local = starts[first:last] - lo
        local[0] = 0
        mins = out[:, first:last]
        if not dense and len(local) * _FEW_CANDIDATES <= hi - lo:
            low = low_buf[:, :hi - lo]
            np.multiply(a_low, h_low[lo:hi], out=low)
            low += b_low  # the low 32 bits of x, wrapping as x's do
            if low.max() < _EDGE:  # else r may reach p, or low + top wrap, somewhere in this chunk
                _candidates_min(low, local, mins, a, b, hashes[lo:hi])
                continue
        np.minimum(mins, np.minimum.reduceat(_exact_low(a, b, hashes[lo:hi]), local, axis=1), out=mins)
    return out.T.astype(np.uint64)


def _candidates_min(low: np.ndarray, local: np.ndarray, mins: np.ndarray, a: np.ndarray, b: np.ndarray,
                    hashes: np.ndarray) -> None:
    """mins = the minimum with, per permutation and segment (starting at `local`), the minimum of
    low32(r) over its hashes, from low (their low32(x), all below _EDGE) and the 64-bit x of the
    candidates only (see _permuted_min)."""
    m = low.shape[1]
    bound = np.minimum.reduceat(low, local, axis=1) + np.uint32(7)
    if len(local) > 1:
        bound = np.repeat(bound, np.diff(np.append(local, m)), axis=1)
    perm, col = np.divmod(np.flatnonzero(low <= bound), m)  # 10x faster than np.nonzero
    x = a[perm] * hashes[col] + b[perm]  # the candidates' x, wrapping at 2**64
    value = x.astype(np.uint32) + (x >> np.uint64(61)).astype(np.uint32)
    # candidates come permutation by permutation, segment by segment, each pair at least once
    pair = perm * len(local) + (np.searchsorted(local, col, side="right") - 1)
    best = np.minimum.reduceat(value, np.flatnonzero(np.diff(pair, prepend=-1)))
    np.minimum(mins, best.reshape(mins.shape), out=mins)


def _exact_low(a: np.ndarray, b: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """((a*h + b) % 2**64 % (2**61 - 1)) & (2**32 - 1) for every (a, b) and h: (len(a), len(h)),
    in 64-bit arithmetic; the low 32 bits of x plus x >> 61 unless some value needs the exact
    modulo (see _permuted_min)."""
    x = a[:, None] * hashes + b[:, None]
    top = x >> np.uint64(61)
    low = x.astype(np.uint32)
    if low.max() < _EDGE:
        low += top.astype(np.uint32)
        return low
    x &= _PRIME
    x += top
    x[x >= _PRIME] -= _PRIME
    return x.astype(np.uint32)


def signatures(texts: list[str], config: MinHashConfig) -> np.ndarray:
    """The signatures of many texts at once, shape (len(texts), num_perm), uint64: row i is
    `signature(texts[i], config)`. All shingles are hashed in one pass and permuted in chunks."""
    if config.reference:
        return np.array([reference_signature(t, config) for t in texts], dtype=np.uint64).reshape(
            len(texts), config.num_perm)
    array, starts, ends, counts = _spans(texts, config)
    out = np.full((len(texts), config.num_perm), MAX_HASH, dtype=np.uint64)
    filled = np.flatnonzero(counts)
    if len(filled):
        hashes = _sha1_hash32(array, starts, ends)
        first = np.concatenate(([0], np.cumsum(counts[filled])[:-1]))
        out[filled] = _permuted_min(hashes, first, *_permutations(config.num_perm, config.seed))
    return out


def signature(text: str, config: MinHashConfig) -> np.ndarray:
    """The signature of one text, shape (num_perm,), uint64: exactly the `hashvalues` of
    `datasketch.MinHash(num_perm, seed=seed, scheme="legacy")` after `update_batch(shingles(text))`;
    all 2**32 - 1 (datasketch's initial values) when the text has no shingle."""
    return signatures([text], config)[0]


def reference_shingles(text: str, config: MinHashConfig) -> list[bytes]:
    """`shingles` the plain way, as datatrove and SlimPajama write it: simplify, cut the words (or
    characters) into n-grams in Python, keep the distinct ones."""
    simple = simplify(text, config)
    if config.shingles == "char13":
        grams = [simple[i:i + 13] for i in range(len(simple) - 12)]
    else:
        words = simple.split()
        grams = [" ".join(words[i:i + 5]) for i in range(len(words) - 4)]
    return list(dict.fromkeys(g.encode("utf-8") for g in grams))


def reference_signature(text: str, config: MinHashConfig) -> np.ndarray:
    """The signature by datasketch itself (`MinHash.update_batch` of `reference_shingles`): what
    `signature` computes without datasketch, kept as the unoptimized path (`--reference`)."""
    from datasketch import MinHash

    try:
        m = MinHash(num_perm=config.num_perm, seed=config.seed, scheme="legacy")
    except TypeError:  # datasketch before 2.0: "legacy" is its only scheme and takes no argument
        m = MinHash(num_perm=config.num_perm, seed=config.seed)
    m.update_batch(reference_shingles(text, config))
    return m.hashvalues.astype(np.uint64)


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
