"""Planted near-duplicates: random texts, and copies of them at a known word 5-gram Jaccard similarity,
for the dedup tests (tests/transforms/test_dedup.py) and benchmark (benchmarks/bench_dedup.py).

    pairs, others = plant(30, unrelated=60)   # [Pair(target, similarity, a, b)], [text]: 6 levels x 30
"""
import functools
import random
from typing import NamedTuple

TARGETS = (0.95, 0.9, 0.8, 0.7, 0.5, 0.3)  # around the 0.8 threshold, and far below it


class Pair(NamedTuple):
    target: float  # the level asked for
    similarity: float  # the true word 5-gram Jaccard similarity of a and b, within 0.03 of target
    a: str
    b: str


@functools.lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    rng = random.Random(0)
    return tuple(sorted({"".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 9)))
                         for _ in range(30000)}))


def random_text(rng: random.Random, words: int = 150) -> str:
    return " ".join(rng.choices(vocabulary(), k=words))


def word5_jaccard(a: str, b: str) -> float:
    """On these texts (lower-case words, single spaces) the same sets as minhash.shingles, faster."""
    wa, wb = a.split(), b.split()
    sa, sb = {tuple(wa[i:i + 5]) for i in range(len(wa) - 4)}, {tuple(wb[i:i + 5]) for i in range(len(wb) - 4)}
    return len(sa & sb) / len(sa | sb)


def near_copy(rng: random.Random, text: str, target: float) -> tuple[str, float]:
    """A copy of `text` whose true word 5-gram Jaccard similarity to it is close to the target, and
    that similarity: words replaced at random inside while the similarity stays above the target
    (each replacement changes up to 5 shingles), then words cut from the end for the last steps
    (one shingle each)."""
    words = text.split()
    j = 1.0
    for position in rng.sample(range(5, len(words) - 5), len(words) - 10):
        trial = words.copy()
        trial[position] = rng.choice(vocabulary())
        trial_j = word5_jaccard(text, " ".join(trial))
        if trial_j < target:
            break
        words, j = trial, trial_j
    while len(words) > 5:
        trial_j = word5_jaccard(text, " ".join(words[:-1]))
        if abs(trial_j - target) >= abs(j - target):
            break
        words, j = words[:-1], trial_j
    return " ".join(words), j


def plant(pairs_per_level: int, unrelated: int, seed: int = 42) -> tuple[list[Pair], list[str]]:
    """Disjoint pairs, level by level in TARGETS order, then `unrelated` texts, all from one seeded
    generator: the same arguments give the same texts."""
    rng = random.Random(seed)
    pairs = []
    for target in TARGETS:
        for _ in range(pairs_per_level):
            base = random_text(rng)
            copy, j = near_copy(rng, base, target)
            pairs.append(Pair(target, j, base, copy))
    return pairs, [random_text(rng) for _ in range(unrelated)]


def s_curve(j: float, bands: int, rows: int) -> float:
    """The chance that two documents at Jaccard similarity j share at least one band key."""
    return 1 - (1 - j ** rows) ** bands
