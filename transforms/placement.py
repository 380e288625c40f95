"""Where every token lands: the seeded stream of documents cut into rows, planned without one worker
seeing the whole stream.

The stream is every selected document's ids followed by EOS, in increasing order key. A histogram
of tokens per key range (the top `range_bits` bits of the order key) gives each range its starting
offset (Plan); each range sorts its own documents and knows where each of its tokens lands
(place_range), and cuts them into per-shard fragments (fragments). A token budget keeps the
documents that start before the cut, so a smaller budget's rows are a prefix of a larger one's.

    plan_ = plan(histogram([(doc["order_key"], doc["n"] + 1) for doc in docs]), PackConfig(out_dir="out"))
"""
import dataclasses
import math

import numpy as np

from schemas.run import ROW_LEN, SEQ_LEN
from transforms.errors import ConfigError, PileprepError

RANGE_BITS = 16  # the default number of key-range bits: 65,536 ranges, a 512 KiB plan
# The key-range count follows the input (range_bits_for): a range holds about RANGE_TOKENS tokens
# or fewer, so GroupKeyRanges' groups stay a few tens of MB at any scale (a fixed 65,536 ranges
# held ~250M tokens each at 50 TB) while a small run has few ranges and a small plan.
RANGE_TOKENS = 1 << 25  # 33.5M tokens: 64 MB of uint16 ids per range at most, sorted by one worker
TOKENS_PER_INPUT_BYTE = 1  # an upper bound: .jsonl.zst of the Pile holds ~0.9, plain .jsonl ~0.25
MIN_RANGE_BITS, MAX_RANGE_BITS = 8, 21  # 256 ranges (2 KiB plan) .. 2M ranges (16 MiB plan)


def range_bits_for(input_bytes: int) -> int:
    """Key-range bits for an input of this many bytes (compressed or not): enough ranges that
    each holds at most ~RANGE_TOKENS tokens. The Pile (~420 GB of .jsonl.zst): 14 bits; 50 TB: 21.
    The bytes written do not depend on it (the stream is ordered by key whatever the ranges)."""
    ranges = max(1, input_bytes) * TOKENS_PER_INPUT_BYTE / RANGE_TOKENS
    return min(MAX_RANGE_BITS, max(MIN_RANGE_BITS, math.ceil(math.log2(max(ranges, 1)))))


@dataclasses.dataclass(frozen=True)
class PackConfig:
    out_dir: str
    dtype: str = "uint16"  # follows the vocabulary: uint16 below 65,536 ids
    eos_id: int = 50256  # GPT-2's <|endoftext|>, appended after every document
    rows_per_shard: int = 65536  # 65,536 x 2,049 x 2 bytes = 268 MB per uint16 shard
    target_tokens: int | None = None  # budget; None packs every document
    allow_short: bool = False  # pack what there is when the input is smaller than the budget
    spill: bool = False  # tokens cross the shuffles as references to spill files (local runners)
    range_bits: int = RANGE_BITS  # key ranges = 2**range_bits; range_bits_for(input size) in a run

    def __post_init__(self):
        if self.dtype not in ("uint16", "uint32"):
            raise ConfigError(f"shard dtype must be uint16 or uint32, got {self.dtype}")
        if self.rows_per_shard < 1:
            raise ConfigError(f"--rows-per-shard must be >= 1, got {self.rows_per_shard}")
        if self.target_tokens is not None and self.target_tokens < 1:
            raise ConfigError(f"the token budget must be >= 1, got {self.target_tokens}")
        if not MIN_RANGE_BITS <= self.range_bits <= MAX_RANGE_BITS:
            raise ConfigError(f"range_bits must be in [{MIN_RANGE_BITS}, {MAX_RANGE_BITS}], got {self.range_bits}")


def key_range(order_key: int, bits: int = RANGE_BITS) -> int:
    return order_key >> (64 - bits)


def histogram(pairs, hist: np.ndarray | None = None, bits: int = RANGE_BITS) -> np.ndarray:
    """Stream tokens per key range from (order_key, tokens incl. EOS) pairs, added to hist if given."""
    hist = np.zeros(1 << bits, dtype=np.int64) if hist is None else hist
    for key, tokens in pairs:
        hist[key_range(key, bits)] += tokens
    return hist


# --- the histogram as a combiner's accumulator: sparse while few ranges are seen -----------------
# A bundle sees a few hundred documents: a dict {range: tokens} of that size, not a dense array of
# 2**range_bits counters (16 MiB at 21 bits), crosses the shuffle; past DENSE_FRACTION of the
# ranges the dense array is the smaller one and the accumulator becomes it.
DENSE_FRACTION = 1 / 16


def add_counts(acc, more):
    """acc + more, each a dict {range: tokens} or a dense int64 array; may update acc in place."""
    if isinstance(acc, dict) and isinstance(more, np.ndarray):
        acc, more = more.copy(), acc
    if isinstance(acc, np.ndarray):
        if isinstance(more, np.ndarray):
            acc += more
        elif more:
            np.add.at(acc, np.fromiter(more.keys(), np.int64, len(more)),
                      np.fromiter(more.values(), np.int64, len(more)))
        return acc
    for key, tokens in more.items():
        acc[key] = acc.get(key, 0) + tokens
    return acc


def compact(acc, bits: int):
    """The smaller form of an accumulator: dense once it holds DENSE_FRACTION of the ranges."""
    if isinstance(acc, dict) and len(acc) > (1 << bits) * DENSE_FRACTION:
        return add_counts(np.zeros(1 << bits, dtype=np.int64), acc)
    return acc


def dense(acc, bits: int) -> np.ndarray:
    """The histogram an accumulator holds, as the dense array `plan` takes."""
    return acc if isinstance(acc, np.ndarray) else add_counts(np.zeros(1 << bits, dtype=np.int64), acc)


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


@dataclasses.dataclass(frozen=True)
class Placed:
    """A key range's documents in stream order, where each begins, and the stream they make."""
    table: object  # pyarrow Table of the documents (pack_batches.COLUMNS), sorted by (order_key, id)
    begin: np.ndarray  # stream offset of each document's first token (int64)
    selected: int  # the first `selected` documents start before the cut: packed; the rest over budget
    stream: np.ndarray  # the selected documents' ids, each followed by EOS: stream[0] is at begin[0]


def place_range(table, tokens: np.ndarray, token_starts: np.ndarray, start: int, cut: int, eos_id: int) -> Placed:
    """Sort one key range's documents by (order_key, id) and give each its stream offset.

    `table` holds the documents' columns (pack_batches.COLUMNS), `tokens[token_starts[i]:][:n_i]`
    document i's ids. Arrow's sort is stable and orders strings by UTF-8 bytes, which is the
    order of their code points: the order of Python's sorted(key=(order_key, id))."""
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[("order_key", "ascending"), ("id", "ascending")]).to_numpy()
    table = table.take(order)
    src = np.asarray(token_starts, dtype=np.int64)[order]
    n = table.column("n").to_numpy().astype(np.int64)
    begin = start + np.cumsum(n + 1) - (n + 1)
    selected = int(np.searchsorted(begin, cut))  # offsets only grow: the selected ones are a prefix
    rel = begin[:selected] - start
    stream = np.empty(int(n[:selected].sum()) + selected, dtype=tokens.dtype)
    for at, a, m in zip(rel.tolist(), src[:selected].tolist(), n[:selected].tolist()):
        stream[at: at + m] = tokens[a: a + m]
    stream[rel + n[:selected]] = eos_id
    return Placed(table, begin, selected, stream)


def shard_span(shard: int, plan_: Plan, rows_per_shard: int) -> tuple[int, int]:
    """Stream span [lo, hi) of a shard's rows: its last row reaches one token into the next."""
    first = shard * rows_per_shard
    rows = plan_.rows_of_shard(shard, rows_per_shard)
    return first * SEQ_LEN, (first + rows) * SEQ_LEN + 1


def fragments(placed: Placed, plan_: Plan, rows_per_shard: int):
    """(shard, local offset, tokens, lineage) for each shard the range's selected stream overlaps:
    the range's tokens in that shard (a view of placed.stream) and the lineage rows (a pyarrow
    Table of schemas/arrow.py LINEAGE) of the documents they belong to. Tokens past the last full
    row are left over and go nowhere; a shard's final token is the next shard's first: both get it."""
    import pyarrow as pa

    from schemas.arrow import LINEAGE

    limit = plan_.rows * SEQ_LEN + 1 if plan_.rows else 0
    if not placed.selected:
        return
    first = int(placed.begin[0])
    stop = min(first + len(placed.stream), limit)
    if first >= stop:
        return
    begin = placed.begin[:placed.selected]
    end = begin + placed.table.column("n").to_numpy()[:placed.selected]
    doc_stop = np.minimum(end + 1, limit)
    span = SEQ_LEN * rows_per_shard
    for shard in range(max(first // span - 1, 0), (stop - 1) // span + 1):
        if not plan_.rows_of_shard(shard, rows_per_shard):
            continue  # the token after the last row, when the rows end exactly at a shard edge
        lo, hi = shard_span(shard, plan_, rows_per_shard)
        a, b = max(first, lo), min(stop, hi)
        if a >= b:
            continue
        i, j = int(np.searchsorted(doc_stop, a, side="right")), int(np.searchsorted(begin, b))
        lineage = pa.table({"id": placed.table.column("id").slice(i, j - i),
                            "source": placed.table.column("source").slice(i, j - i),
                            "start": begin[i:j] - lo, "end": end[i:j] - lo,
                            "global_start": begin[i:j], "global_end": end[i:j]}, schema=LINEAGE)
        yield shard, a - lo, placed.stream[a - first: b - first], lineage
