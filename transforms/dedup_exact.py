"""What both dedup modes share, and exact deduplication: the config, the seeded order of documents
(nodes), removal records, and resolving a group of identical texts.

Of each group of duplicates the document with the smallest (order_key, id) is kept. Holdout
documents take order key HOLDOUT (-1): they come before every training document, so a group holding
one removes all its training documents (kind "holdout") and they are never emitted themselves.

    for tag, value in resolve_exact(digest, [(node(doc), doc) for doc in group], drop_duplicates=True): ...
"""
import dataclasses
import hashlib

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from schemas.records import TEXT_HASH, Document, Removal, passed
from transforms.errors import ConfigError
from transforms.minhash import MinHashConfig, band_params

MODES = ("none", "exact", "minhash")
HOLDOUT = -1  # the order key of holdout documents: before every training key (those are >= 0)

@dataclasses.dataclass(frozen=True)
class DedupConfig:
    mode: str = "none"  # none: the Pile as released, as Cerebras-GPT was trained | exact | minhash
    minhash: MinHashConfig = MinHashConfig()  # word 5-grams, 128 permutations, 0.8 (SlimPajama, datatrove)
    max_rounds: int = 12  # Large-Star/Small-Star rounds: a chain of 2,000 near-duplicates needs 11
    # A band bucket of k documents has k(k-1)/2 pairs: boilerplate (cookie notices, licence
    # headers) fills buckets with 10^5 members and 10^10 pairs. Past this size a bucket links each
    # member to its first one only (k - 1 pairs): the cluster is still found when the first
    # member resembles the others, as boilerplate does.
    max_bucket: int = 1000

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"unknown dedup mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if not isinstance(self.minhash, MinHashConfig):
            raise ConfigError(f"minhash must be a MinHashConfig, got {type(self.minhash).__name__}")
        for name, least in (("max_rounds", 1), ("max_bucket", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")


def node(doc: dict, holdout: bool = False) -> tuple[int, str]:
    """A document's place in the seeded order; holdout documents come first."""
    return (HOLDOUT, doc["id"]) if holdout else (doc["order_key"], doc["id"])


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def removal(doc: Document, kind: str, cause: str, similarity: float | None) -> Removal:
    return Removal(**passed(doc), kind=kind, cause=cause, similarity=similarity)


def digest(doc: dict) -> bytes:
    """The text's sha256: computed when its text was stowed (see transforms/spill.py), or now."""
    return doc[TEXT_HASH] if TEXT_HASH in doc else text_hash(doc["text"])


def resolve_exact(digest: bytes, members, drop_duplicates: bool):
    """(tag, value) for the (node, doc) members of one text-hash group, iterated twice (as Beam
    allows): the first in order stays ("kept", or "holdout" to go on to near matching); the
    other training documents are removed, or kept without drop_duplicates (holdout-only mode)."""
    first = min(n for n, _ in members)
    for n, doc in members:
        if n == first:
            yield ("holdout", (n, doc)) if n[0] == HOLDOUT else ("kept", doc)
        elif n[0] == HOLDOUT:
            continue
        elif first[0] == HOLDOUT:
            yield "removed", removal(doc, "holdout", first[1], 1.0)
        elif drop_duplicates:
            yield "removed", removal(doc, "exact", first[1], 1.0)
        else:
            yield "kept", doc


def describe(config: DedupConfig, holdout: bool) -> dict:
    """The dedup settings as the manifest records them (bands and rows resolved)."""
    minhash = None
    if config.mode == "minhash":
        m = config.minhash
        bands, rows = band_params(m)
        minhash = {"num_perm": m.num_perm, "seed": m.seed, "shingles": m.shingles, "threshold": m.threshold,
                   "bands": bands, "rows": rows, "confirm": m.confirm}
    return {"mode": config.mode, "holdout": holdout, "minhash": minhash}


class TagFn(beam.DoFn):
    """Runs a pure (tag, value) generator; the "kept" tag is the main output."""

    def __init__(self, resolve, **kwargs):
        self.resolve, self.kwargs = resolve, kwargs

    def process(self, key_values):
        for tag, value in self.resolve(*key_values, **self.kwargs):
            yield value if tag == "kept" else TaggedOutput(tag, value)
