"""Pack: documents' tokens into rows of 2049 at a stride of 2048, in .npy shards, in parallel.

The stream is every selected document's ids followed by EOS, in increasing order key. Row r holds
stream tokens [2048 r, 2048 r + 2049): the model reads row[:2048] and predicts row[1:], so every
token is a target exactly once (the convention of Cerebras's preprocessors). No worker sees the
whole stream: a histogram of tokens per key range (the top RANGE_BITS bits of the order key) gives
each range its starting offset; each range sorts its own documents and knows where every token
lands; fragments are grouped by shard and placed at their offsets. A token budget keeps the
documents that start before the cut, so a smaller budget's rows are a prefix of a larger one's.

    shards = tokenized | Pack(PackConfig(out_dir="out", dtype="uint16", target_tokens=2_220_000_000))
"""
import bisect
import dataclasses
import math

import apache_beam as beam
import numpy as np

from schemas.run import ROW_LEN, SEQ_LEN, lineage_bytes, lineage_name, npy_header, shard_name
from transforms import progress
from transforms.errors import ConfigError
from transforms.spill import SpillDoFn, ref_length, sub_ref

RANGE_BITS = 16  # 65,536 key ranges: a 512 KiB side input, ranges small enough to sort anywhere


@dataclasses.dataclass(frozen=True)
class PackConfig:
    out_dir: str
    dtype: str = "uint16"  # follows the vocabulary: uint16 below 65,536 ids
    eos_id: int = 50256  # GPT-2's <|endoftext|>, appended after every document
    rows_per_shard: int = 65536  # 65,536 x 2,049 x 2 bytes = 268 MB per uint16 shard
    target_tokens: int | None = None  # budget; None packs every document
    allow_short: bool = False  # pack what there is when the input is smaller than the budget
    spill: bool = False  # tokens cross the shuffles as references to spill files (local runners)

    def __post_init__(self):
        if self.dtype not in ("uint16", "uint32"):
            raise ConfigError(f"shard dtype must be uint16 or uint32, got {self.dtype}")
        if self.rows_per_shard < 1:
            raise ConfigError(f"--rows-per-shard must be >= 1, got {self.rows_per_shard}")
        if self.target_tokens is not None and self.target_tokens < 1:
            raise ConfigError(f"the token budget must be >= 1, got {self.target_tokens}")


def key_range(order_key: int) -> int:
    return order_key >> (64 - RANGE_BITS)


def histogram(pairs, hist: np.ndarray | None = None) -> np.ndarray:
    """Stream tokens per key range from (order_key, tokens incl. EOS) pairs, added to hist if given."""
    hist = np.zeros(1 << RANGE_BITS, dtype=np.int64) if hist is None else hist
    for key, tokens in pairs:
        hist[key_range(key)] += tokens
    return hist


@dataclasses.dataclass(frozen=True)
class Plan:
    """Where every key range starts in the stream, where the budget cuts it, and the rows."""
    starts: np.ndarray  # stream offset of each key range's first token
    total: int  # stream tokens of all candidate documents
    cut: int  # documents starting at or after this offset are over budget
    rows: int
    short: bool  # the input held fewer tokens than the budget (only with allow_short)

    def rows_of_shard(self, shard: int, rows_per_shard: int) -> int:
        return max(0, min(rows_per_shard, self.rows - shard * rows_per_shard))


def plan(hist: np.ndarray, config: PackConfig) -> Plan:
    from transforms.errors import PileprepError

    starts = np.concatenate([[0], np.cumsum(hist)[:-1]]).astype(np.int64)
    total = int(hist.sum())
    full_rows = max(0, (total - 1) // SEQ_LEN)  # rows the whole stream can fill
    if config.target_tokens is None:
        return Plan(starts, total, total, full_rows, False)
    rows = math.ceil(config.target_tokens / SEQ_LEN)
    needed = rows * SEQ_LEN + 1
    if total < needed:
        if not config.allow_short:
            raise PileprepError(
                f"the input holds {total:,} tokens after filtering but the budget needs {needed:,} "
                f"({rows:,} rows of {ROW_LEN}): add input, choose a smaller --model-size or "
                f"--token-budget, or pass --allow-short to pack the {full_rows:,} rows there are")
        return Plan(starts, total, total, full_rows, True)
    return Plan(starts, total, needed, rows, False)


def place_range(docs: list[dict], start: int, cut: int):
    """Sort one key range's documents and give each its stream span [begin, end) (end holds EOS).

    Yields (doc, begin, end, selected)."""
    offset = start
    for doc in sorted(docs, key=lambda d: (d["order_key"], d["id"])):
        n = _count(doc)
        selected = offset < cut
        yield doc, offset, offset + n, selected
        if selected:
            offset += n + 1


def _count(doc: dict) -> int:
    """A document's token count: its "ids", or "n" when its ids went to a spill file."""
    return doc["n"] if "n" in doc else len(doc["ids"])


def shard_span(shard: int, plan_: Plan, rows_per_shard: int) -> tuple[int, int]:
    """Stream span [lo, hi) of a shard's rows: its last row reaches one token into the next."""
    first = shard * rows_per_shard
    rows = plan_.rows_of_shard(shard, rows_per_shard)
    return first * SEQ_LEN, (first + rows) * SEQ_LEN + 1


def fragments(doc: dict, begin: int, end: int, plan_: Plan, rows_per_shard: int, eos_id: int):
    """(shard, (local offset, tokens, lineage)) for each shard the document's span [begin, end]
    (ids then EOS) overlaps; tokens past the last full row are left over and go nowhere. A spilled
    document's fragments carry (reference, EOS follows) instead of tokens (read back by `shard_chunks`)."""
    limit = plan_.rows * SEQ_LEN + 1 if plan_.rows else 0
    stop = min(end + 1, limit)
    if begin >= stop:
        return
    span = SEQ_LEN * rows_per_shard
    first, last = begin // span, (stop - 1) // span
    if first and begin % span == 0:
        first -= 1  # a shard's final token is the next shard's first: both need it
    for shard in range(max(first, 0), last + 1):
        if not plan_.rows_of_shard(shard, rows_per_shard):
            continue  # the token after the last row, when the rows end exactly at a shard edge
        lo, hi = shard_span(shard, plan_, rows_per_shard)
        a, b = max(begin, lo), min(stop, hi)
        if a >= b:
            continue
        body_end = min(b, end)
        if "spill" in doc:  # the span's ids stay on disk: (reference to them, whether EOS follows)
            size = doc["spill_itemsize"]
            tokens = (sub_ref(doc["spill"], (a - begin) * size, max(body_end - a, 0) * size), b == end + 1)
        else:
            tokens = np.empty(b - a, dtype=np.asarray(doc["ids"]).dtype if len(doc["ids"]) else np.uint32)
            if body_end > a:
                tokens[: body_end - a] = doc["ids"][a - begin: body_end - begin]
            if b == end + 1:
                tokens[-1] = eos_id
        lineage = {"id": doc["id"], "source": doc["source"], "start": begin - lo, "end": end - lo,
                   "global_start": begin, "global_end": end}
        yield shard, (a - lo, tokens, lineage)


def _lost(what: str):
    from transforms.errors import PileprepError

    return PileprepError(f"{what}: the runner lost or duplicated data between Pack's stages, so no "
                         f"shard was committed under its final name. Rerun; if it repeats, report it "
                         f"with the runner and its options")


def _placed(shard: int, frags, plan_: Plan, config: PackConfig) -> tuple[list[tuple], list[dict]]:
    """The shard's fragments as (offset, size, piece) in stream order, and its lineage, after
    checking (before a token is read) that they cover the shard's stream exactly once."""
    lo, hi = shard_span(shard, plan_, config.rows_per_shard)
    itemsize = np.dtype(config.dtype).itemsize
    placed, items, lineage = 0, [], []
    for offset, piece, line in sorted(frags, key=lambda f: f[0]):
        if isinstance(piece, np.ndarray):
            size = len(piece)
        else:  # (reference, EOS follows)
            size = ref_length(piece[0]) // itemsize + bool(piece[1])
        if offset + size > hi - lo:
            raise _lost(f"shard {shard}: a fragment reaches past its end at stream offset {lo + offset}")
        if offset != placed:
            raise _lost(f"shard {shard}: gap or overlap at stream offset {lo + offset} "
                        f"(expected {lo + placed})")
        items.append((offset, size, piece))
        placed += size
        lineage.append(line)
    if placed != hi - lo:
        raise _lost(f"shard {shard}: {placed} of {hi - lo} tokens placed")
    return items, lineage


def _fill(buf: np.ndarray, start: int, items: list[tuple], config: PackConfig, reader) -> None:
    """buf = the shard's stream tokens [start, start + len(buf)), from the placed fragments; a
    spilled fragment's tokens are read from its file straight into place."""
    end = start + len(buf)
    i = max(bisect.bisect_right(items, start, key=lambda item: item[0]) - 1, 0)
    while i < len(items) and items[i][0] < end:
        offset, size, piece = items[i]
        a, b = max(start, offset) - offset, min(end, offset + size) - offset  # the part inside buf
        if isinstance(piece, np.ndarray):
            buf[offset + a - start: offset + b - start] = piece[a:b]
        else:
            ref, eos = piece
            body = size - bool(eos)
            if min(b, body) > a:
                reader.get_into(sub_ref(ref, a * buf.itemsize, (min(b, body) - a) * buf.itemsize),
                                memoryview(buf[offset + a - start: offset + min(b, body) - start]).cast("B"))
            if eos and a <= body < b:
                buf[offset + body - start] = config.eos_id
        i += 1


def shard_chunks(shard: int, frags, plan_: Plan, config: PackConfig, reader=None,
                 rows_per_chunk: int = 4096) -> tuple[int, list[dict], object]:
    """(rows, lineage, the bytes of the shard's .npy file in pieces): the shard's [rows, 2049]
    array as np.save writes it, never whole in memory, only a chunk of rows of it (16 MB), filled
    straight from the fragments and the spill files (`reader`, a SpillReader), after checking that
    the fragments place every token of the shard exactly once."""
    items, lineage = _placed(shard, frags, plan_, config)
    rows = plan_.rows_of_shard(shard, config.rows_per_shard)

    def pieces():
        yield npy_header((rows, ROW_LEN), config.dtype)
        for r in range(0, rows, rows_per_chunk):
            n = min(rows_per_chunk, rows - r)
            buf = np.empty(n * SEQ_LEN + 1, dtype=config.dtype)  # rows overlap by one token
            _fill(buf, r * SEQ_LEN, items, config, reader)
            yield np.ascontiguousarray(rows_view(buf, n)).tobytes()

    return rows, lineage, pieces()


def rows_view(flat: np.ndarray, rows: int) -> np.ndarray:
    """The [rows, 2049] rows of a shard's stream tokens, as a read-only view (rows overlap by one)."""
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, ROW_LEN), strides=(SEQ_LEN * flat.itemsize, flat.itemsize),
                                           writeable=False)


class _HistogramFn(beam.CombineFn):
    def create_accumulator(self):
        return histogram(())

    def add_input(self, hist, pair):
        return histogram((pair,), hist)

    def merge_accumulators(self, hists):
        hists = iter(hists)
        total = next(hists).copy()
        for h in hists:
            total += h
        return total

    def extract_output(self, hist):
        return hist


class _PlaceRangeFn(beam.DoFn):
    def __init__(self, config: PackConfig):
        self.config = config

    def process(self, range_docs, plan_: Plan):
        key, docs = range_docs
        progress.reached("pack")
        for doc, begin, end, selected in place_range(list(docs), int(plan_.starts[key]), plan_.cut):
            yield beam.pvalue.TaggedOutput("outcomes", {
                "id": doc["id"], "source": doc["source"], "tokens": end - begin + 1,
                "outcome": "packed" if selected else "over_budget",
                "changed": doc.get("changed", False), "edits": doc.get("edits", {}),
                "chars": doc.get("chars", 0), "chars_before_filter": doc.get("chars_before_filter", 0)})
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
        yield {**info, "index": shard, "rows": rows, "stream_start": lo,
               "tokens": hi - lo - (0 if last else 1),  # the shared token counts in the next shard
               "lineage": {**side, "rows": len(lineage)}}


def _for_packing(doc: dict):
    """Keyed by range, without the text: only ids and what the counts need cross the shuffle."""
    slim = {k: doc[k] for k in ("id", "source", "order_key", "ids") if k in doc}
    slim["n"] = len(doc["ids"])
    slim["changed"], slim["edits"] = doc.get("changed", False), doc.get("edits", {})
    slim["chars"] = len(doc["text"]) if "text" in doc else 0  # after the filter's line edits
    # before them; a document that met no filter had no edits (FilterDocuments sets it on the rest)
    slim["chars_before_filter"] = doc.get("chars_before_filter", slim["chars"])
    return key_range(doc["order_key"]), slim


class _SlimFn(SpillDoFn):
    """_for_packing; with spill, the ids go to this bundle's spill file and a reference replaces them."""

    def __init__(self, config: PackConfig):
        super().__init__(config.out_dir if config.spill else None)
        self.config = config

    def process(self, doc):
        key, slim = _for_packing(doc)
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
                 | "TokensPerDocument" >> beam.Map(lambda kv: (kv[1]["order_key"], kv[1]["n"] + 1))
                 | "Histogram" >> beam.CombineGlobally(_HistogramFn())
                 | "Plan" >> beam.Map(plan, self.config))
        placed = (keyed
                  | "GroupKeyRanges" >> beam.GroupByKey()
                  | "PlaceDocuments" >> beam.ParDo(_PlaceRangeFn(self.config), beam.pvalue.AsSingleton(plan_))
                  .with_outputs("outcomes", main="fragments"))
        shards = (placed.fragments
                  | "GroupShards" >> beam.GroupByKey()
                  | "WriteShards" >> beam.ParDo(_WriteShardFn(self.config), beam.pvalue.AsSingleton(plan_)))
        return {"shards": shards, "outcomes": placed.outcomes, "plan": plan_}
