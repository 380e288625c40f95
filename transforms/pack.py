"""Pack: documents' tokens into rows of 2049 at a stride of 2048, in .npy shards, in parallel.

Row r holds stream tokens [2048 r, 2048 r + 2049): the model reads row[:2048] and predicts
row[1:], so every token is a target exactly once (the convention of Cerebras's preprocessors). No
worker sees the whole stream: transforms/placement.py plans where every token lands from a
histogram of tokens per key range; fragments are grouped by shard, and each shard is written from
its fragments by transforms/shards.py. Pack only wires those steps.

    shards = tokenized | Pack(PackConfig(out_dir="out", dtype="uint16", target_tokens=2_220_000_000))
"""
import apache_beam as beam
import numpy as np

from schemas.records import Document, Outcome, PackItem, ShardEntry, WrittenFile, passed, passed_of
from schemas.run import lineage_bytes, lineage_name, shard_name
from transforms import progress
from transforms.placement import (PackConfig, Plan, add_counts, compact, dense, fragments, key_range, place_range,
                                  plan, shard_span)
from transforms.shards import shard_chunks
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


class _PlaceRangeFn(beam.DoFn):
    def __init__(self, config: PackConfig):
        self.config = config

    def process(self, range_docs, plan_: Plan):
        key, docs = range_docs
        progress.reached("pack")
        for doc, begin, end, selected in place_range(list(docs), int(plan_.starts[key]), plan_.cut):
            yield beam.pvalue.TaggedOutput("outcomes", Outcome(
                **passed_of(doc), tokens=end - begin + 1,
                outcome="packed" if selected else "over_budget"))
            if selected:
                yield from fragments(doc, begin, end, plan_, self.config.rows_per_shard, self.config.eos_id)


class _WriteShardFn(SpillDoFn):
    def __init__(self, config: PackConfig):
        super().__init__(config.out_dir if config.spill else None)
        self.config = config

    def process(self, shard_frags, plan_: Plan):
        from transforms.write import commit_bytes, commit_chunks

        shard, frags = shard_frags
        progress.reached("write")
        rows, lineage, pieces = shard_chunks(shard, frags, plan_, self.config, self.reader)
        name = shard_name(shard)
        info = commit_chunks(self.config.out_dir, name, pieces)
        side = commit_bytes(self.config.out_dir, lineage_name(shard), lineage_bytes(lineage))
        lo, hi = shard_span(shard, plan_, self.config.rows_per_shard)
        last = shard == (plan_.rows - 1) // self.config.rows_per_shard
        yield ShardEntry(**info, index=shard, rows=rows, stream_start=lo,
                         tokens=hi - lo - (0 if last else 1),  # the shared token counts in the next shard
                         lineage=WrittenFile(**side, rows=len(lineage)))


def _for_packing(doc: Document, bits: int) -> tuple[int, PackItem]:
    """Keyed by range, without the text: only ids and what the counts need cross the shuffle."""
    slim = PackItem(**passed(doc), order_key=doc["order_key"], n=len(doc["ids"]), ids=doc["ids"])
    return key_range(doc["order_key"], bits), slim


class _SlimFn(SpillDoFn):
    """_for_packing; with spill, the ids go to this bundle's spill file and a reference replaces them."""

    def __init__(self, config: PackConfig):
        super().__init__(config.out_dir if config.spill else None)
        self.config = config

    def process(self, doc):
        key, slim = _for_packing(doc, self.config.range_bits)
        if self.writer is not None:
            ids = np.asarray(slim.pop("ids"), dtype=self.config.dtype)
            slim["spill"], slim["spill_itemsize"] = self.writer.put(ids.tobytes()), ids.itemsize
        yield key, slim


class Pack(beam.PTransform):
    """Tokenized docs -> {"shards": shard descriptions, "outcomes": per-document outcome records,
    "plan": the singleton Plan}."""

    def __init__(self, config: PackConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        # Drop the text first: only this slim form is buffered for the two branches below
        keyed = docs | "ByKeyRange" >> beam.ParDo(_SlimFn(self.config))
        plan_ = (keyed
                 | "TokensPerDocument" >> beam.Map(lambda kv: (kv[0], kv[1]["n"] + 1))
                 | "Histogram" >> beam.CombineGlobally(_HistogramFn(self.config.range_bits))
                 .with_fanout(HISTOGRAM_FANOUT)
                 | "Plan" >> beam.Map(plan, self.config))
        placed = (keyed
                  | "GroupKeyRanges" >> beam.GroupByKey()
                  | "PlaceDocuments" >> beam.ParDo(_PlaceRangeFn(self.config), beam.pvalue.AsSingleton(plan_))
                  .with_outputs("outcomes", main="fragments"))
        shards = (placed.fragments
                  | "GroupShards" >> beam.GroupByKey()
                  | "WriteShards" >> beam.ParDo(_WriteShardFn(self.config), beam.pvalue.AsSingleton(plan_)))
        return {"shards": shards, "outcomes": placed.outcomes, "plan": plan_}
