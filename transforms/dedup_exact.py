"""What both dedup modes share, and exact deduplication: the seeded order of documents
(nodes), removal records, and resolving a group of identical texts.

Of each group of duplicates the document with the smallest (order_key, id) is kept. Holdout
documents take order key HOLDOUT (-1): they come before every training document, so a group holding
one removes all its training documents (kind "holdout") and they are never emitted themselves.

A text repeated a million times must not reach one worker whole (../shared/DESIGN.md §9), so no
step groups the copies' documents. Three steps, none holding more than a buffer:
1. (text hash, node) -> CombinePerKey(min): each group's first node, from partial minima (the
   combiner runs before the shuffle; no text moves).
2. (text hash, first) and (text hash, node) of every copy, grouped: `firsts` streams the nodes
   (transforms/grouped.py with_head) and gives each copy its group's first, (node, first). A hot
   text's group holds nodes only (~50 bytes each), read once.
3. (node, first) and (node, doc), grouped by node: two values a key; `resolve_exact` tags the doc.

    for node_, first in firsts(digest, [("first", (3, "f:1")), ("node", (7, "f:2"))]): ...
    for tag, value in resolve_exact(node_, [("first", first), ("doc", doc)], drop_duplicates=True): ...
"""
import hashlib

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from schemas.records import TEXT_HASH, Document, Removal, passed
from transforms.grouped import with_head

HOLDOUT = -1  # the order key of holdout documents: before every training key (those are >= 0)


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


def _is_first(value) -> bool:
    return value[0] == "first"


def firsts(digest: bytes, values):
    """(node, its group's first node) for each ("node", node) of a text-hash group, given the
    group's ("first", node) from the CombinePerKey: one pass, a buffer of memory."""
    for (_, first), (_, n) in with_head(values, _is_first):
        yield n, first


def resolve_exact(n: tuple, values, drop_duplicates: bool):
    """(tag, value) for one node's ("doc", doc) and ("first", its group's first node): the first
    stays ("kept", or "holdout" to go on to near matching); the other training documents are
    removed, or kept without drop_duplicates (holdout-only mode); other holdout copies go."""
    doc = first = None
    for tag, value in values:
        doc, first = (value, first) if tag == "doc" else (doc, value)
    if n == first:
        yield ("holdout", (n, doc)) if n[0] == HOLDOUT else ("kept", doc)
    elif n[0] == HOLDOUT:
        return
    elif first[0] == HOLDOUT:
        yield "removed", removal(doc, "holdout", first[1], 1.0)
    elif drop_duplicates:
        yield "removed", removal(doc, "exact", first[1], 1.0)
    else:
        yield "kept", doc


class TagFn(beam.DoFn):
    """Runs a pure (tag, value) generator; the "kept" tag is the main output."""

    def __init__(self, resolve, **kwargs):
        self.resolve, self.kwargs = resolve, kwargs

    def process(self, key_values):
        for tag, value in self.resolve(*key_values, **self.kwargs):
            yield value if tag == "kept" else TaggedOutput(tag, value)


class ResolveExact(beam.PTransform):
    """(text hash, (node, doc)) -> tagged outputs "kept" (main), "removed" and "holdout": the three
    steps of the module docstring, so that no step holds a text's copies."""

    def __init__(self, drop_duplicates: bool):
        super().__init__()
        self.drop_duplicates = drop_duplicates

    def expand(self, hashed):
        first_of_text = (hashed
                         | "NodeOfText" >> beam.MapTuple(lambda h, nd: (h, nd[0]))
                         | "FirstOfText" >> beam.CombinePerKey(min))
        first_of_node = (
            (first_of_text | "TagFirst" >> beam.MapTuple(lambda h, first: (h, ("first", first))),
             hashed | "TagNode" >> beam.MapTuple(lambda h, nd: (h, ("node", nd[0]))))
            | "FirstAndNodes" >> beam.Flatten()
            | "GroupByText" >> beam.GroupByKey()
            | "FirstOfEachNode" >> beam.FlatMapTuple(firsts))
        return (
            (first_of_node | "TagFirstOfNode" >> beam.MapTuple(lambda n, first: (n, ("first", first))),
             hashed | "TagDoc" >> beam.MapTuple(lambda h, nd: (nd[0], ("doc", nd[1]))))
            | "FirstAndDoc" >> beam.Flatten()
            | "GroupByNode" >> beam.GroupByKey()
            | "Resolve" >> beam.ParDo(TagFn(resolve_exact, drop_duplicates=self.drop_duplicates))
            .with_outputs("removed", "holdout", main="kept"))
