"""The seeded document order: a portable 64-bit key per document id.

Every ordering decision (which document of a duplicate group is kept, where a document lands in the
packed stream, which documents a token budget takes) sorts by this key, so none depends on the
runner, the worker count or bundle boundaries. xxh64 is fixed across platforms and versions;
Python's `hash` is salted per process and must never be used for this.

    key = order_key(seed=1234, doc_id="00.jsonl.zst:17")
"""
import xxhash


def order_key(seed: int, doc_id: str) -> int:
    """An unsigned 64-bit key, uniform over documents; ties are broken by the id itself."""
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed=seed & 0xFFFFFFFFFFFFFFFF)
