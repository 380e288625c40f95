"""Deduplicate: exact and MinHash-LSH near-duplicate removal, and decontamination against a holdout.

Runs after FilterDocuments and before Tokenize. Every decision follows the seeded document order:
of each group of duplicates, the document with the smallest (order_key, id) is kept, so the result
is the same on every runner and worker count. Holdout documents (the Pile's val/test, read and
normalized the same way) take order key -1: they come before every training document, so a group
or cluster holding one removes all its training documents (kind "holdout", as EleutherAI removed
test-set overlap), and they are never emitted themselves.

- exact: the sha256 of the normalized text identifies identical documents (kind "exact";
  transforms/dedup_exact.py): a combiner finds each text's first node before any text moves.
- minhash: exact first, then MinHash-LSH over the survivors (transforms/dedup_near.py): a band
  bucket is a star around its first node, each member confirmed by its estimated Jaccard with
  it; clusters are the connected components of the confirmed edges (transforms/components.py),
  rounds on many workers then a final pass, so that no worker holds the index or the graph and
  the run never fails for want of rounds (kind "near", or "holdout").
Skewed keys (one text 10^6 times, a bucket of 10^6 near-copies) are never listed or sorted: every
grouped step reads its values once with a buffer of memory (transforms/grouped.py).
- none (with a holdout): only the exact holdout matches are removed.

Every removed document yields a Removal record (schemas/records.py): cause is the kept
representative or the holdout document, similarity the estimated Jaccard to it (1.0 for exact
matches); the removal files keep all its fields but chars_before_filter. A kind's removals are
spread over files by a hash of their id (~76M for the Pile: no worker writes them all), each
file sorted by id with an external sort and written a row group at a time.

    kept, removed = docs | Deduplicate(DedupConfig(mode="minhash"), holdout=holdout_docs)
    files = removed | WriteRemovals(out_dir)   # dedup/removed-<kind>-NNNNN-of-MMMMM.parquet
"""
import itertools

import apache_beam as beam
import xxhash

from schemas.records import Cluster, Removal
from schemas.run import DEDUP
from transforms.dedup_exact import ResolveExact, digest, node
from transforms.dedup_near import RemoveNearDuplicates
from transforms.minhash import DedupConfig
from transforms.document_runs import Chunks
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
            | "Exact" >> ResolveExact(drop_duplicates=mode != "none"))
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


REMOVAL_FILE_ROWS = 1 << 20  # about this many removals per file at most: a worker writes one at a time
REMOVAL_BATCH = 1 << 16  # removals per Parquet row group: a file is written a row group at a time


def removal_files(count: int) -> int:
    """How many files a kind's `count` removals go to: a power of two, none over REMOVAL_FILE_ROWS
    expected (EleutherAI's dedup of the Pile, ~76M removals: 128 files)."""
    files = 1
    while files * REMOVAL_FILE_ROWS < count:
        files *= 2
    return files


def removal_shard(record_id: str, files: int) -> int:
    """The file of a removed document: a fixed hash of its id (never Python's salted hash)."""
    return xxhash.xxh64_intdigest(record_id.encode("utf-8", "surrogatepass")) % files


def removal_path(kind: str, shard: int, files: int) -> str:
    return f"{DEDUP}/removed-{kind}-{shard:05d}-of-{files:05d}.parquet"


def _removals_schema():
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("source", pa.string()), ("kind", pa.string()),
                      ("cause", pa.string()), ("similarity", pa.float64()), ("chars", pa.int64()),
                      ("changed", pa.bool_()), ("edits", pa.map_(pa.string(), pa.int64()))])


def removals_table(records: list[Removal]):
    import pyarrow as pa

    schema = _removals_schema()
    cols = {name: [r[name] for r in records] for name in schema.names}
    cols["edits"] = [sorted(e.items()) for e in cols["edits"]]
    return pa.table(cols, schema=schema)


def removals_parquet(records):
    """A removal file in pieces, one row group per REMOVAL_BATCH records (sorted by the caller)."""
    import pyarrow.parquet as pq

    sink, records = Chunks(), iter(records)
    with pq.ParquetWriter(sink, _removals_schema(), compression="zstd") as writer:
        for batch in iter(lambda: list(itertools.islice(records, REMOVAL_BATCH)), []):
            writer.write_table(removals_table(batch))
            yield from sink.drain()
    yield from sink.drain()


class WriteRemovals(WriteGroups):
    """Removal records -> dedup/removed-<kind>-NNNNN-of-MMMMM.parquet, each sorted by id: a kind's
    removals are sharded by a hash of the id over removal_files(their count) files, so no worker
    writes a list that grows with the data; one description per file."""

    def __init__(self, out_dir: str):
        super().__init__(out_dir, key=_kind, relpath=lambda key: removal_path(*key),
                         encode=removals_parquet, order=_record_id)

    def expand(self, removed):
        files = (removed | "KindOf" >> beam.Map(lambda r: (r["kind"], 1))
                 | "CountKind" >> beam.CombinePerKey(sum)
                 | "FilesOfKind" >> beam.MapTuple(lambda kind, n: (kind, removal_files(n))))
        keyed = removed | "ByShard" >> beam.Map(_shard_key, beam.pvalue.AsDict(files))
        return self.commit(keyed)


def _kind(record) -> str:
    return record["kind"]


def _record_id(record) -> str:
    return record["id"]


def _shard_key(record, files: dict):
    n = files[record["kind"]]
    return (record["kind"], removal_shard(record["id"], n), n), record
