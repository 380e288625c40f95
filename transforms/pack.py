"""Pack: documents' tokens into rows of 2049 at a stride of 2048, in .npy shards, in parallel.

Row r holds stream tokens [2048 r, 2048 r + 2049): the model reads row[:2048] and predicts
row[1:], so every token is a target exactly once (the convention of Cerebras's preprocessors). No
worker sees the whole stream: transforms/placement.py plans where every token lands from a
histogram of tokens per key range; fragments are grouped by shard, and each shard is written from
its fragments by transforms/shards.py. Pack only wires those steps. Nothing crosses its shuffles
per document: documents go to PlaceDocuments in batches per key range (transforms/pack_batches.py),
each range's share of a shard goes to WriteShards as one fragment, and the outcomes' count events
are summed per range; on local runs, batches and fragments wait in spill files (transforms/spill.py)
and only their references cross.

    shards = tokenized | Pack(PackConfig(out_dir="out", dtype="uint16", target_tokens=2_220_000_000))
"""
import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from schemas.records import ShardEntry, WrittenFile
from schemas.run import lineage_name, shard_name
from transforms import progress
from transforms.counts import placed_events
from transforms.memory import release_memory
from transforms.pack_batches import Batcher, gather, ipc_bytes
from transforms.placement import PackConfig, Plan, add_counts, compact, dense, fragments, place_range, plan, shard_span
from transforms.shards import lineage_file, shard_pieces
from transforms.spill import SpillDoFn


# Partial histograms are merged on HISTOGRAM_FANOUT workers first, so that no worker merges one
# accumulator per bundle of the whole run (10^4 and more at Pile scale).
HISTOGRAM_FANOUT = 64


class _HistogramFn(beam.CombineFn):
    """Tokens per key range, from (range, tokens) pairs; sparse accumulators (placement.add_counts)."""

    def __init__(self, bits: int):
        self.bits = bits

    def create_accumulator(self):
        return {}

    def add_input(self, counts, pair):
        key, tokens = pair
        if isinstance(counts, dict):
            counts[key] = counts.get(key, 0) + tokens
            return compact(counts, self.bits)
        counts[key] += tokens
        return counts

    def merge_accumulators(self, accumulators):
        total = {}
        for counts in accumulators:
            total = compact(add_counts(total, counts), self.bits)
        return total

    def compact(self, counts):
        return compact(counts, self.bits)

    def extract_output(self, counts):
        return dense(counts, self.bits)


class _BatchFn(SpillDoFn):
    """Tokenized docs -> (range, (batch, stream tokens)): a bundle's documents per key range, as
    pack_batches batches, sent when full and at the bundle's end; with spill, a batch goes to this
    bundle's spill file and its reference replaces it. One element per batch, none per document."""

    def __init__(self, config: PackConfig):
        super().__init__(config.out_dir if config.spill else None)
        self.config = config
        self.batcher = None

    def start_bundle(self):
        super().start_bundle()
        self.batcher = Batcher(self.config.range_bits, self.config.dtype)

    def process(self, doc):
        yield from self._send(self.batcher.add(doc))

    def finish_bundle(self):
        out = [WindowedValue(kv, MIN_TIMESTAMP, [GlobalWindow()]) for kv in self._send(self.batcher.flush())]
        super().finish_bundle()  # closes the spill file: every reference sent is readable
        return out

    def _send(self, batches):
        for key, payload, tokens in batches:
            yield key, (self.writer.put(payload) if self.writer is not None else payload, tokens)


class _PlaceRangeFn(SpillDoFn):
    """(range, batches) -> per shard its fragment of the range, (shard, (offset, tokens, lineage)),
    and the range's outcomes, summed ("events"); with spill, tokens and lineage go to a spill file."""

    def __init__(self, config: PackConfig):
        super().__init__(config.out_dir if config.spill else None)
        self.config = config

    def process(self, range_batches, plan_: Plan):
        key, batches = range_batches
        progress.reached("pack")
        payloads = (self.reader.get(batch) if self.reader is not None else batch for batch, _ in batches)
        table, tokens, starts = gather(payloads, self.config.dtype)
        placed = place_range(table, tokens, starts, int(plan_.starts[key]), plan_.cut, self.config.eos_id)
        for event in placed_events(placed.table, placed.selected):
            yield beam.pvalue.TaggedOutput("events", event)
        for shard, offset, ids, lineage in fragments(placed, plan_, self.config.rows_per_shard):
            lineage = ipc_bytes(lineage, "zstd")  # ids repeat their file's name: a fifth of the bytes
            if self.writer is not None:
                ids, lineage = self.writer.put(ids.tobytes()), self.writer.put(lineage)
            yield shard, (offset, ids, lineage)


class _WriteShardFn(SpillDoFn):
    def __init__(self, config: PackConfig):
        super().__init__(config.out_dir if config.spill else None)
        self.config = config

    def process(self, shard_frags, plan_: Plan):
        from transforms.write import commit_chunks

        shard, frags = shard_frags
        progress.reached("write")
        rows, items, pieces = shard_pieces(shard, frags, plan_, self.config, self.reader)
        info = commit_chunks(self.config.out_dir, shard_name(shard), pieces)
        lineage_rows, lineage = lineage_file(items, self.reader)  # a row group at a time: never whole
        side = commit_chunks(self.config.out_dir, lineage_name(shard), lineage)
        release_memory()  # a row group of lineage and the shard's chunks: not under the next step's peak
        lo, hi = shard_span(shard, plan_, self.config.rows_per_shard)
        last = shard == (plan_.rows - 1) // self.config.rows_per_shard
        yield ShardEntry(**info, index=shard, rows=rows, stream_start=lo,
                         tokens=hi - lo - (0 if last else 1),  # the shared token counts in the next shard
                         lineage=WrittenFile(**side, rows=lineage_rows))


class Pack(beam.PTransform):
    """Tokenized docs -> {"shards": shard descriptions, "events": the outcomes' count events
    (transforms/counts.py placed_events), "plan": the singleton Plan}."""

    def __init__(self, config: PackConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        # Without the text, in batches per key range: one element per batch crosses GroupKeyRanges
        return self.place(docs | "ByKeyRange" >> beam.ParDo(_BatchFn(self.config)))

    def batched(self) -> "beam.PTransform":
        """Pack for input already in batches, (range, (batch or spill reference, stream tokens)),
        as transforms/prepare.py sends them."""
        return beam.ptransform_fn(lambda batches: self.place(batches))()

    def place(self, batches):
        plan_ = (batches
                 | "TokensPerBatch" >> beam.Map(lambda kv: (kv[0], kv[1][1]))
                 | "Histogram" >> beam.CombineGlobally(_HistogramFn(self.config.range_bits))
                 .with_fanout(HISTOGRAM_FANOUT)
                 | "Plan" >> beam.Map(plan, self.config))
        placed = (batches
                  | "GroupKeyRanges" >> beam.GroupByKey()
                  | "PlaceDocuments" >> beam.ParDo(_PlaceRangeFn(self.config), beam.pvalue.AsSingleton(plan_))
                  .with_outputs("events", main="fragments"))
        shards = (placed.fragments
                  | "GroupShards" >> beam.GroupByKey()
                  | "WriteShards" >> beam.ParDo(_WriteShardFn(self.config), beam.pvalue.AsSingleton(plan_)))
        return {"shards": shards, "events": placed.events, "plan": plan_}
