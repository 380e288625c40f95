"""Near-duplicate removal with MinHash-LSH, after exact dedup: sign, band, confirm, cluster, resolve.

Documents sharing a band key are candidates. A bucket is linked as a star around its smallest node
(found by a CombinePerKey, so a bucket is never listed or sorted): each member is confirmed when
its estimated Jaccard with that node reaches the threshold. Boilerplate fills buckets with 10^6
members; a star keeps their k - 1 edges, where all pairs would be k^2/2, and holdout documents,
first in the order, are the centres of the buckets they are in. Clusters are the connected
components of the confirmed edges (transforms/components.py), each a few GroupByKeys so that no
worker holds the index or the graph; every grouped step reads its values once with a buffer of
memory (transforms/grouped.py). A cluster's smallest node is
its representative: the other training documents in it are removed (kind "near", or "holdout" when
the representative is a holdout document), with their similarity to it.

    kept, removed = (docs, holdout_nodes) | RemoveNearDuplicates(DedupConfig(mode="minhash"))
"""
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import TaggedOutput

from transforms.components import ConnectedComponents
from transforms.dedup_exact import HOLDOUT, TagFn, node, removal
from transforms.grouped import with_head
from transforms.minhash import DedupConfig, MinHashConfig, band_keys, band_params, jaccard_estimate, signatures
from transforms.spill import SpillDoFn, restore_text

SIGN_BATCH = 256  # documents per signatures() call: amortizes numpy's per-call cost


def _as_signature(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")  # every MinHash value fits 32 bits: half the shuffle


def _same(data):
    return data


def _is_min(value) -> bool:
    return value[0] == "min"


def bucket_edges(key, values, config: MinHashConfig, load=_same):
    """Confirmed edges (member, first) of one band bucket, a star around its first (smallest) node:
    values are ("min", (first, signature)), from a CombinePerKey, and ("member", (node, signature))
    for each member, read once (transforms/grouped.py). A member is linked when its estimated
    Jaccard with the first reaches the threshold. `load` turns what members carry into signature
    bytes (spill references: SpillReader.get)."""
    head_sig = None
    for (_, (first, first_data)), (_, (n, data)) in with_head(values, _is_min):
        if first is None or n == first:  # a bucket without its minimum cannot happen; be safe
            continue
        if config.confirm:
            if head_sig is None:
                head_sig = _as_signature(load(first_data))
            if jaccard_estimate(_as_signature(load(data)), head_sig) < config.threshold:
                continue
        yield n, first


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


def _is_rep(value) -> bool:
    return value[0] == "rep"


def resolve_cluster(label: tuple, values, load=_same):
    """Removal records of one cluster's training leaves, with their similarity to the label (the
    cluster's ("rep", None, signature)): one pass over the leaves, a buffer of memory."""
    rep = None
    for head, (_, record, sig) in with_head(values, _is_rep):
        if rep is None:
            rep = _as_signature(load(head[2]))
        yield {**record, "similarity": jaccard_estimate(_as_signature(load(sig)), rep)}


class _LoadingFn(SpillDoFn):
    """Runs fn(key, values, **kwargs, load=...) where load reads signatures back from the spill
    files when the run spills (out_dir given), and passes them through otherwise."""

    def __init__(self, fn, out_dir: str | None, **kwargs):
        super().__init__(out_dir)
        self.fn, self.kwargs = fn, kwargs

    def process(self, key_values):
        yield from self.fn(*key_values, **self.kwargs, load=self.reader.get if self.reader else _same)


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


class RemoveNearDuplicates(beam.PTransform):
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
        first_of_band = signed.bands | "FirstOfBand" >> beam.CombinePerKey(min)  # (band, (node, sig))
        edges = ((first_of_band | "TagFirst" >> beam.MapTuple(lambda b, first: (b, ("min", first))),
                  signed.bands | "TagMember" >> beam.MapTuple(lambda b, member: (b, ("member", member))))
                 | "FirstAndMembers" >> beam.Flatten()
                 | "GroupBands" >> beam.GroupByKey()
                 | "Confirm" >> beam.ParDo(_LoadingFn(bucket_edges, self.spill, config=cfg.minhash))
                 | "DistinctEdges" >> beam.Distinct())
        labels = (edges
                  | "Components" >> ConnectedComponents(cfg.max_rounds)
                  | "Labels" >> beam.MapTuple(lambda n, lab: (n, ("label", lab))))
        joined = ((signed.signed, labels)
                  | "SignedAndLabels" >> beam.Flatten().with_output_types(tuple[Any, Any])
                  | "GroupByNode" >> beam.GroupByKey()
                  | "Split" >> beam.ParDo(TagFn(split_node)).with_outputs("cluster", main="kept"))
        removed = (joined.cluster
                   | "GroupClusters" >> beam.GroupByKey()
                   | "Similarity" >> beam.ParDo(_LoadingFn(resolve_cluster, self.spill)))
        kept = (signed.alone, joined.kept) | "AllKept" >> beam.Flatten()
        return kept, removed
