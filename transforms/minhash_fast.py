"""The arithmetic of MinHash signatures, fast: SHA-1 of many shingles at once in numpy, and the
minimum of datasketch's legacy permutations over them without numpy's integer division.
transforms/minhash.py cuts the shingles and calls these; transforms/minhash_reference.py computes
the same numbers with datasketch, one shingle at a time.

The legacy hash family: h = first 4 bytes of sha1(shingle), little-endian; for each permutation k,
phv_k = ((a_k * h + b_k) mod 2**64 mod (2**61 - 1)) & (2**32 - 1), the wrap-around of numpy's
uint64 multiply and add being part of the definition; the signature is the minimum of phv_k over
the shingles, 2**32 - 1 for a document without shingles. Here shingles are byte ranges of one
buffer, SHA-1 runs in numpy over thousands of them at a time, and the modulo by the Mersenne
prime is done with shifts, chunk by chunk.

    hashes = sha1_hash32(np.frombuffer(b"hello world", np.uint8), np.array([0]), np.array([11]))
    permuted_min(hashes, np.array([0]), *permutations(128, 1))   # (1, 128) uint64: one signature
"""
import functools
import hashlib

import numpy as np

MAX_HASH = (1 << 32) - 1  # datasketch's _max_hash: every value of a signature is at most this
_PRIME = np.uint64((1 << 61) - 1)  # datasketch's _mersenne_prime
_CHUNK_VALUES = 1 << 20  # shingles x permutations per numpy step (measured best of 2**16..2**22)
_CHUNK_DENSE = 1 << 18  # the same when every value is computed in 64 bits
_FEW_CANDIDATES = 32  # below this many shingles per document on average, every value is computed
_EDGE = np.uint32(MAX_HASH - 7)  # low 32 bits of x from here up: r may reach p, or low + top wrap


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


def sha1_hash32(array: np.ndarray, starts: np.ndarray, ends: np.ndarray,
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
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's legacy `_init_permutations`: (a, b) pairs drawn in turn from RandomState(seed)."""
    gen = np.random.RandomState(seed)
    pairs = np.array([(gen.randint(1, _PRIME, dtype=np.uint64), gen.randint(0, _PRIME, dtype=np.uint64))
                      for _ in range(num_perm)], dtype=np.uint64)
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    a.flags.writeable = b.flags.writeable = False
    return a, b


def permuted_min(hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
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
    candidates only (see permuted_min)."""
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
    modulo (see permuted_min)."""
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

