"""Deduplicate: exact and MinHash-LSH near-duplicate removal, and decontamination against a holdout.

Runs after FilterDocuments and before Tokenize. Every decision follows the seeded document order:
of each group of duplicates, the document with the smallest (order_key, id) is kept, so the result
is the same on every runner and worker count. Holdout documents (the Pile's val/test, read and
normalized the same way) take order key -1: they come before every training document, so a group
or cluster holding one removes all its training documents (kind "holdout", as EleutherAI removed
test-set overlap), and they are never emitted themselves.

- exact: the sha256 of the normalized text groups identical documents (kind "exact";
  transforms/dedup_exact.py).
- minhash: exact first, then MinHash-LSH over the survivors (transforms/dedup_near.py). Documents sharing a band key are
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
import apache_beam as beam

from schemas.records import Cluster, Removal
from schemas.run import DEDUP, parquet_bytes
from transforms.dedup_exact import DedupConfig, TagFn, digest, node, resolve_exact
from transforms.dedup_near import RemoveNearDuplicates
from transforms.spill import RestoreText, StowText
from transforms.write import WriteGroups


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
            (docs | "HashDocs" >> beam.Map(lambda d: (digest(d), (node(d), d))),
             holdout | "HashHoldout" >> beam.Map(lambda d: (digest(d), (node(d, True), d))))
            | "AllHashed" >> beam.Flatten()
            | "GroupByText" >> beam.GroupByKey()
            | "Exact" >> beam.ParDo(TagFn(resolve_exact, drop_duplicates=mode != "none"))
            .with_outputs("removed", "holdout", main="kept"))
        if mode != "minhash":
            kept, removed = exact.kept, exact.removed
        else:
            kept, near = ((exact.kept, exact.holdout)
                          | "NearDuplicates" >> RemoveNearDuplicates(self.config, self.spill))
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
