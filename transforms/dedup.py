"""Deduplicate: exact and MinHash-LSH near-duplicate removal, and decontamination against a holdout.

Runs after FilterDocuments and before Tokenize. Every decision follows the seeded document order:
of each group of duplicates, the document with the smallest (order_key, id) is kept, so the result
is the same on every runner and worker count. Holdout documents (the Pile's val/test, read and
normalized the same way) take order key -1: they come before every training document, so a group
or cluster holding one removes all its training documents (kind "holdout", as EleutherAI removed
test-set overlap), and they are never emitted themselves.

- exact: the sha256 of the normalized text groups identical documents (kind "exact").
- minhash: exact first, then MinHash-LSH over the survivors. Documents sharing a band key are
  candidates, confirmed when their estimated Jaccard reaches the threshold; clusters are the
  connected components of the confirmed pairs (transforms/components.py), each a few GroupByKeys
  so that no worker holds the index or the graph (kind "near", or "holdout").
- none (with a holdout): only the exact holdout matches are removed.

Every removed document yields a Removal record (schemas/records.py): cause is the kept
representative or the holdout document, similarity the estimated Jaccard to it (1.0 for exact
matches); the removal files keep all its fields but chars_before_filter.

    kept, removed = docs | Deduplicate(DedupConfig(mode="minhash"), holdout=holdout_docs)
    files = removed | WriteRemovals(out_dir)          # dedup/removed-<kind>.parquet
"""
import dataclasses
import hashlib

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import TaggedOutput

from schemas.records import TEXT_HASH, Cluster, Document, Removal, passed
from schemas.run import DEDUP, parquet_bytes
from transforms.components import ConnectedComponents
from transforms.errors import ConfigError
from transforms.minhash import MinHashConfig, band_keys, band_params, jaccard_estimate, signatures
from transforms.spill import RestoreText, SpillDoFn, StowText, restore_text
from transforms.write import WriteGroups

MODES = ("none", "exact", "minhash")
HOLDOUT = -1  # the order key of holdout documents: before every training key (those are >= 0)
SIGN_BATCH = 256  # documents per signatures() call: amortizes numpy's per-call cost


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


def _digest(doc: dict) -> bytes:
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


def _as_signature(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")  # every MinHash value fits 32 bits: half the shuffle


def _same(data):
    return data


def bucket_edges(members, config: MinHashConfig, max_bucket: int, load=_same) -> list[tuple]:
    """Confirmed pairs (u, v), u < v, among the (node, signature bytes) sharing one band key: all
    pairs of a bucket up to max_bucket members, else the first member paired with every other.
    `load` turns what members carry into signature bytes (spill references: SpillReader.get)."""
    members = sorted(members)
    if len(members) < 2:
        return []
    nodes = [n for n, _ in members]
    sigs = np.stack([_as_signature(load(s)) for _, s in members])
    edges = []
    for i in range(len(members) - 1 if len(members) <= max_bucket else 1):
        others = np.arange(i + 1, len(members))
        if config.confirm:  # the same arithmetic as jaccard_estimate, for a row at a time
            similar = np.count_nonzero(sigs[i + 1:] == sigs[i], axis=1) / sigs.shape[1] >= config.threshold
            others = others[similar]
        edges.extend((nodes[i], nodes[j]) for j in others.tolist())
    return edges


def split_node(n: tuple, values):
    """Join one node's signed document with its cluster label (if any): (tag, value) pairs."""
    doc = sig = label = None
    for value in values:
        if value[0] == "label":
            label = value[1]
        else:
            _, doc, sig = value
    training = n[0] != HOLDOUT
    if label is None or label == n:
        if training:
            yield "kept", doc
        if label == n:
            yield "cluster", (n, ("rep", None, sig))
    elif training:
        kind = "holdout" if label[0] == HOLDOUT else "near"
        yield "cluster", (label, ("leaf", removal(doc, kind, label[1], None), sig))


def resolve_cluster(label: tuple, values, load=_same):
    """Removal records of one cluster's training leaves, with their similarity to the label."""
    rep = next(_as_signature(load(sig)) for tag, _, sig in values if tag == "rep")
    for tag, record, sig in values:
        if tag == "leaf":
            yield {**record, "similarity": jaccard_estimate(_as_signature(load(sig)), rep)}


class _LoadingFn(SpillDoFn):
    """Runs fn(key, values, **kwargs, load=...) where load reads signatures back from the spill
    files when the run spills (out_dir given), and passes them through otherwise."""

    def __init__(self, fn, out_dir: str | None, **kwargs):
        super().__init__(out_dir)
        self.fn, self.kwargs = fn, kwargs

    def process(self, key_values):
        yield from self.fn(*key_values, **self.kwargs, load=self.reader.get if self.reader else _same)


def describe(config: DedupConfig, holdout: bool) -> dict:
    """The dedup settings as the manifest records them (bands and rows resolved)."""
    minhash = None
    if config.mode == "minhash":
        m = config.minhash
        bands, rows = band_params(m)
        minhash = {"num_perm": m.num_perm, "seed": m.seed, "shingles": m.shingles, "threshold": m.threshold,
                   "bands": bands, "rows": rows, "confirm": m.confirm}
    return {"mode": config.mode, "holdout": holdout, "minhash": minhash}


class _TagFn(beam.DoFn):
    """Runs a pure (tag, value) generator; the "kept" tag is the main output."""

    def __init__(self, resolve, **kwargs):
        self.resolve, self.kwargs = resolve, kwargs

    def process(self, key_values):
        for tag, value in self.resolve(*key_values, **self.kwargs):
            yield value if tag == "kept" else TaggedOutput(tag, value)


class _SignFn(SpillDoFn):
    """A batch of (node, doc) -> (node, ("doc", doc, signature)) and (band key, (node, signature))."""

    def __init__(self, config: MinHashConfig, out_dir: str | None = None):
        super().__init__(out_dir)
        self.config = config

    def setup(self):
        super().setup()
        self.bands = band_params(self.config)  # datasketch's optimizer: scipy, once per worker

    def process(self, batch):
        bands, rows = self.bands
        sigs = signatures([restore_text(doc, self.reader)["text"] for _, doc in batch], self.config)
        for (n, doc), sig in zip(batch, sigs):
            keys = band_keys(sig, bands, rows)
            if not keys:  # no shingle: never a candidate, nothing to join
                if n[0] != HOLDOUT:
                    yield TaggedOutput("alone", doc)
                continue
            data = sig.astype("<u4").tobytes()
            if self.writer is not None:  # the bands and the join carry a 28-byte reference instead
                data = self.writer.put(data)
            yield n, ("doc", doc if n[0] != HOLDOUT else None, data)
            for key in keys:
                yield TaggedOutput("bands", (key, (n, data)))


class _RemoveNearDuplicates(beam.PTransform):
    """(training docs, holdout (node, doc)) -> (kept docs, removal records)."""

    def __init__(self, config: DedupConfig, spill: str | None = None):
        super().__init__()
        self.config, self.spill = config, spill

    def expand(self, inputs):
        docs, holdout = inputs
        cfg = self.config
        signed = ((docs | "Nodes" >> beam.Map(lambda d: (node(d), d)), holdout)
                  | "AllNodes" >> beam.Flatten()
                  | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=SIGN_BATCH)
                  | "Sign" >> beam.ParDo(_SignFn(cfg.minhash, self.spill))
                  .with_outputs("bands", "alone", main="signed"))
        edges = (signed.bands
                 | "GroupBands" >> beam.GroupByKey()
                 | "Confirm" >> beam.ParDo(_LoadingFn(lambda _, members, load: bucket_edges(
                     members, cfg.minhash, cfg.max_bucket, load), self.spill)))
        labels = (edges
                  | "Components" >> ConnectedComponents(cfg.max_rounds)
                  | "Labels" >> beam.MapTuple(lambda n, lab: (n, ("label", lab))))
        joined = ((signed.signed, labels)
                  | "SignedAndLabels" >> beam.Flatten()
                  | "GroupByNode" >> beam.GroupByKey()
                  | "Split" >> beam.ParDo(_TagFn(split_node)).with_outputs("cluster", main="kept"))
        removed = (joined.cluster
                   | "GroupClusters" >> beam.GroupByKey()
                   | "Similarity" >> beam.ParDo(_LoadingFn(resolve_cluster, self.spill)))
        kept = (signed.alone, joined.kept) | "AllKept" >> beam.Flatten()
        return kept, removed


class Deduplicate(beam.PTransform):
    """docs -> (kept docs, removal records); optionally against a holdout PCollection of docs.

    In "minhash" mode exact deduplication runs first and MinHash-LSH clusters only its survivors
    (and the holdout's distinct texts): identical copies never reach the band buckets."""

    def __init__(self, config: DedupConfig, holdout=None, spill: str | None = None):
        """spill: the run's output folder, to keep the texts in spill files while dedup shuffles
        (local runners); None shuffles the documents whole."""
        super().__init__()
        self.config, self.holdout, self.spill = config, holdout, spill

    def expand(self, docs):
        mode = self.config.mode
        if mode == "none" and self.holdout is None:
            return docs, docs.pipeline | "NoRemovals" >> beam.Create([])
        holdout = (self.holdout if self.holdout is not None else
                   docs.pipeline | "NoHoldout" >> beam.Create([]))
        if self.spill:
            docs = docs | "StowTexts" >> beam.ParDo(StowText(self.spill, digest=True))
            holdout = holdout | "StowHoldoutTexts" >> beam.ParDo(StowText(self.spill, digest=True))
        exact = (
            (docs | "HashDocs" >> beam.Map(lambda d: (_digest(d), (node(d), d))),
             holdout | "HashHoldout" >> beam.Map(lambda d: (_digest(d), (node(d, True), d))))
            | "AllHashed" >> beam.Flatten()
            | "GroupByText" >> beam.GroupByKey()
            | "Exact" >> beam.ParDo(_TagFn(resolve_exact, drop_duplicates=mode != "none"))
            .with_outputs("removed", "holdout", main="kept"))
        if mode != "minhash":
            kept, removed = exact.kept, exact.removed
        else:
            kept, near = ((exact.kept, exact.holdout)
                          | "NearDuplicates" >> _RemoveNearDuplicates(self.config, self.spill))
            removed = (exact.removed, near) | "AllRemoved" >> beam.Flatten()
        if self.spill:
            kept = kept | "RestoreTexts" >> beam.ParDo(RestoreText(self.spill))
        return kept, removed


class MeasureClusters(beam.PTransform):
    """Removal records -> one {"kind", "cause", "size"} per cluster (size counts the cause too)."""

    def expand(self, removed):
        return (removed
                | "ByCause" >> beam.Map(lambda r: ((r["kind"], r["cause"]), 1))
                | "CountRemoved" >> beam.CombinePerKey(sum)
                | "Describe" >> beam.MapTuple(lambda kc, n: Cluster(kind=kc[0], cause=kc[1], size=n + 1)))


def removals_table(records: list[Removal]):
    import pyarrow as pa

    schema = pa.schema([("id", pa.string()), ("source", pa.string()), ("kind", pa.string()),
                        ("cause", pa.string()), ("similarity", pa.float64()), ("chars", pa.int64()),
                        ("changed", pa.bool_()), ("edits", pa.map_(pa.string(), pa.int64()))])
    cols = {name: [r[name] for r in records] for name in schema.names}
    cols["edits"] = [sorted(e.items()) for e in cols["edits"]]
    return pa.table(cols, schema=schema)


def WriteRemovals(out_dir: str) -> WriteGroups:  # noqa: N802 - a PTransform factory
    """Removal records -> dedup/removed-<kind>.parquet (sorted by id), one description per file."""
    return WriteGroups(out_dir, key=lambda r: r["kind"], relpath=lambda kind: f"{DEDUP}/removed-{kind}.parquet",
                       encode=lambda records: parquet_bytes(removals_table(records)), order=lambda r: r["id"])
