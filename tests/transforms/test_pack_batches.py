"""Pack's batches: columns that round-trip, counts that add up, lineage bytes unchanged, and memory
that does not grow with the documents (transforms/pack_batches.py, placement.py, shards.py)."""
import io
import tempfile
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings, strategies as st

from schemas.records import passed
from schemas.arrow import LINEAGE
from schemas.run import parquet_bytes
from transforms.counts import _add, packed_events, placed_events
from transforms.pack_batches import COLUMNS, Batcher, _row, decode, encode, gather, ipc_bytes
from transforms.placement import PackConfig, fragments, place_range, plan
from transforms.shards import LINEAGE_GROUP_ROWS, lineage_file, shard_chunks, shard_pieces
from transforms.spill import SpillReader, SpillWriter

EOS = 50256


def _doc(i, n, rng, **extra):
    return {"id": f"t.jsonl.zst:{i + 1}", "source": "Pile-CC", "order_key": int(rng.integers(0, 2**64, dtype=np.uint64)),
            "ids": rng.integers(0, 50000, size=n).astype(np.uint16), **extra}


def lineage_bytes(lineage: list[dict]) -> bytes:
    """The sidecar as written before Pack moved batches: from per-document lineage dicts."""
    return parquet_bytes(pa.table({name: [row[name] for row in lineage] for name in LINEAGE.names}, schema=LINEAGE))


def test_lineage_bytes_are_a_parquet_file_of_the_lineage_schema():
    records = [{"id": "a:1", "source": "Pile-CC", "start": -3, "end": 10, "global_start": 5, "global_end": 18}]
    table = pq.read_table(io.BytesIO(lineage_bytes(records)))
    assert table.schema.equals(LINEAGE, check_metadata=True) and table.to_pylist() == records


def test_a_batch_round_trips_and_batches_are_sent_when_full():
    rng = np.random.default_rng(1)
    docs = [_doc(i, i % 5, rng, text="é" * i, edits={"b": 1, "a": 2} if i % 3 else {}) for i in range(10)]
    batcher = Batcher(bits=1, dtype="uint16", max_docs=4)
    sent = [b for d in docs for b in batcher.add(d)]
    assert len(sent) == 4  # two flushes of at most two ranges each; the rest waits for flush()
    sent += batcher.flush()
    assert batcher.flush() == []
    table, tokens, starts = gather((payload for _, payload, _ in sent), "uint16")
    assert sorted(table.column("id").to_pylist()) == sorted(d["id"] for d in docs)
    for row, start in zip(table.to_pylist(), starts.tolist()):
        doc = next(d for d in docs if d["id"] == row["id"])
        assert np.array_equal(tokens[start: start + row["n"]], doc["ids"])
        assert (row["chars"], row["edits"]) == (len(doc["text"]), '{"a":2,"b":1}' if doc["edits"] else "{}")
    assert sum(tokens_ for _, _, tokens_ in sent) == sum(len(d["ids"]) + 1 for d in docs)
    empty, ids = decode(encode([], [], "uint32"), "uint32")
    assert empty.schema == COLUMNS and empty.num_rows == 0 and len(ids) == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 70000), st.integers(0, 70000), st.booleans(),
                          st.dictionaries(st.sampled_from(["r1", "r2"]), st.integers(1, 9), max_size=2),
                          st.sampled_from(["Pile-CC", "ArXiv", "Github"])), min_size=1, max_size=30),
       st.integers(0, 2000))
def test_placed_events_are_the_sum_of_each_outcomes_events(rows, cut):
    """What CountOutcomes sums is unchanged: a range's events equal its documents' packed_events."""
    rng = np.random.default_rng(len(rows))
    docs = [_doc(i, n, rng, text="x" * chars, chars_before_filter=before, changed=changed, edits=edits, source=source)
            for i, (n, chars, before, changed, edits, source) in enumerate(rows)]
    table, tokens, starts = gather([encode([_row(d) for d in docs], [d["ids"] for d in docs], "uint16")], "uint16")
    placed = place_range(table, tokens, starts, 0, cut, EOS)
    expected = {}
    by_id = {d["id"]: d for d in docs}
    for i, doc_id in enumerate(placed.table.column("id").to_pylist()):
        doc = by_id[doc_id]
        record = {**passed(doc), "outcome": "packed" if i < placed.selected else "over_budget",
                  "tokens": len(doc["ids"]) + 1}
        for key, value in packed_events(record):
            expected[key] = _add([expected.get(key, (0, 0)), value])
    assert placed_events(placed.table, placed.selected) == sorted(expected.items())


def test_lineage_from_fragments_writes_the_bytes_of_lineage_from_rows():
    """The sidecar built from the fragments' columns is byte for byte the one built from rows."""
    rng = np.random.default_rng(3)
    docs = [_doc(i, int(n), rng, source=["Pile-CC", "ArXiv"][i % 2]) for i, n in enumerate(rng.integers(0, 900, 3000))]
    config = PackConfig(out_dir="", rows_per_shard=300)
    batcher = Batcher(bits=8, dtype="uint16", max_docs=500)
    sent = [b for d in docs for b in batcher.add(d)] + batcher.flush()
    hist = np.zeros(256, np.int64)
    for key, _, tokens in sent:
        hist[key] += tokens
    p = plan(hist, config)
    by_shard = {}
    for key in sorted({key for key, _, _ in sent}):
        table, tokens, starts = gather([payload for k, payload, _ in sent if k == key], "uint16")
        placed = place_range(table, tokens, starts, int(p.starts[key]), p.cut, EOS)
        for shard, offset, ids, lineage in fragments(placed, p, config.rows_per_shard):
            by_shard.setdefault(shard, []).append((offset, ids, ipc_bytes(lineage, "zstd")))
    assert len(by_shard) > 2 and max(len(f) for f in by_shard.values()) > 100
    for shard, frags in by_shard.items():
        _, lineage, _ = shard_chunks(shard, frags, p, config)
        assert parquet_bytes(lineage) == lineage_bytes(lineage.to_pylist())
        # written a row group at a time: the bytes of the whole table written with those row groups
        _, items, _ = shard_pieces(shard, frags, p, config)
        for group_rows in (7, 100, lineage.num_rows, LINEAGE_GROUP_ROWS):
            rows, pieces = lineage_file(items, None, group_rows)
            whole = io.BytesIO()
            pq.write_table(lineage, whole, compression="zstd", row_group_size=group_rows)
            assert rows == lineage.num_rows and b"".join(pieces) == whole.getvalue()


def test_lineage_row_groups_are_those_of_write_table():
    """lineage_file cuts row groups where pq.write_table (parquet_bytes) does by default."""
    import pyarrow._parquet

    assert LINEAGE_GROUP_ROWS == pyarrow._parquet._DEFAULT_ROW_GROUP_SIZE


def _pack_spilled(count: int, folder: str, rows_per_shard: int) -> None:
    """Pack's pure core on `count` tiny documents made one at a time, as a local run moves them:
    batches and fragments through spill files, only references held between the steps."""
    rng = np.random.default_rng(0)
    config = PackConfig(out_dir="", rows_per_shard=rows_per_shard, range_bits=8)
    writer, batcher, groups, hist = SpillWriter(folder), Batcher(8, "uint16", max_docs=4096), {}, np.zeros(256, np.int64)

    def send(batches):
        for key, payload, tokens in batches:
            groups.setdefault(key, []).append(writer.put(payload))  # what GroupKeyRanges holds
            hist[key] += tokens

    for i in range(count):
        send(batcher.add(_doc(i, 24, rng, text="x" * 110)))
    send(batcher.flush())
    writer.close()
    p, reader, writer, shards = plan(hist, config), SpillReader(folder), SpillWriter(folder), {}
    for key in sorted(groups):
        placed = place_range(*gather((reader.get(r) for r in groups.pop(key)), "uint16"),
                             int(p.starts[key]), p.cut, EOS)
        placed_events(placed.table, placed.selected)
        for shard, offset, ids, lineage in fragments(placed, p, rows_per_shard):
            shards.setdefault(shard, []).append((offset, writer.put(ids.tobytes()), writer.put(ipc_bytes(lineage, "zstd"))))
    writer.close()
    for shard in sorted(shards):
        _, lineage, pieces = shard_chunks(shard, shards.pop(shard), p, config, reader)
        for _ in pieces:
            pass
        parquet_bytes(lineage)
    reader.close()


def _peak(count: int, rows_per_shard: int) -> tuple[int, int]:
    """(tracemalloc peak, Arrow's peak allocation) of _pack_spilled."""
    base = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(base)
    pa.set_memory_pool(pool)
    try:
        with tempfile.TemporaryDirectory() as folder:
            tracemalloc.start()
            _pack_spilled(count, folder, rows_per_shard)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return peak, pool.max_memory()
    finally:
        pa.set_memory_pool(base)


def test_pack_holds_no_memory_per_document():
    """Between 10,000 and 30,000 documents, peak memory grows by a few bytes per extra document (the
    batch references, one per 16 documents here): nothing per document is held, from the batches to
    the shards. (Shards of 64 rows, so that a shard's lineage, bounded by its rows, stays small.)"""
    small, large = _peak(10000, 64), _peak(30000, 64)
    per_doc = [(b - a) / 20000 for a, b in zip(small, large)]
    assert per_doc[0] < 40 and per_doc[1] < 10, per_doc  # the per-document path held 1,400
