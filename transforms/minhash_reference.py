"""MinHash the readable way, with datasketch: the unoptimized path that `--reference` runs and the
tests compare transforms/minhash.py with. Shingles are cut in Python as datatrove and SlimPajama
write it; the signature is `datasketch.MinHash(num_perm, seed, scheme="legacy")` after
`update_batch` of them. "legacy" is the only scheme datasketch had before 2.0 (the one
SlimPajama's signatures used); datasketch 2.0 made "affine32" its default, whose values differ,
so the scheme is named wherever we compare with datasketch.

    reference_signature("one two three four five six", MinHashConfig())   # (128,) uint64
"""
import numpy as np

from transforms.minhash import MinHashConfig, simplify


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

