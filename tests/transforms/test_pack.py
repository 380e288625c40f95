"""Pack: the pure core (histogram, plan, placement, fragments, shard bytes) and the PTransform."""
import io

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from schemas.run import ROW_LEN, SEQ_LEN
from transforms.errors import PileprepError
from transforms.pack import _HistogramFn
from transforms.pack_batches import Batcher, gather, ipc_bytes
from transforms.placement import (PackConfig, add_counts, compact, dense, fragments, histogram, place_range, plan,
                                  range_bits_for)
from transforms.shards import shard_chunks

EOS = 50256


def _docs(lengths, seed=0):
    rng = np.random.default_rng(seed)
    docs = []
    for i, n in enumerate(lengths):
        docs.append({"id": f"f:{i + 1}", "source": "Pile-CC", "order_key": int(rng.integers(0, 2**63)) * 2 + i % 2,
                     "ids": rng.integers(0, 50000, size=n).astype(np.uint32)})
    return docs


def _placed_ranges(docs, config, bits=16, batch_docs=3):
    """Batch the documents per key range (a few per batch, so ranges get several), then place
    each range as PlaceDocuments does: (plan, [(range, Placed)])."""
    p = plan(histogram(((d["order_key"], len(d["ids"]) + 1) for d in docs), bits=bits), config)
    batcher, batches = Batcher(bits, config.dtype, max_docs=batch_docs), []
    for d in docs:
        batches += batcher.add(d)
    batches += batcher.flush()
    ranges = {}
    for key, payload, _ in batches:
        ranges.setdefault(key, []).append(payload)
    placed = [(key, place_range(*gather(ranges[key], config.dtype), int(p.starts[key]), p.cut, EOS))
              for key in sorted(ranges)]
    return p, placed


def _pack(docs, config, bits=16):
    """Run the pure core end to end, as the PTransform wires it."""
    p, placed = _placed_ranges(docs, config, bits)
    by_shard, outcomes = {}, []
    for _, range_ in placed:
        ids, n = range_.table.column("id").to_pylist(), range_.table.column("n").to_pylist()
        for i, (doc_id, begin) in enumerate(zip(ids, range_.begin.tolist())):
            outcomes.append((doc_id, i < range_.selected, begin, begin + n[i]))
        for shard, offset, tokens, lineage in fragments(range_, p, config.rows_per_shard):
            by_shard.setdefault(shard, []).append((offset, tokens, ipc_bytes(lineage)))
    shards = [_written(s, by_shard[s], p, config) for s in sorted(by_shard)]
    return p, shards, outcomes


def _written(shard, frags, p, config, reader=None):
    """The shard as its .npy file holds it: the bytes shard_chunks gives, read back by numpy."""
    _, _, pieces = shard_chunks(shard, frags, p, config, reader)
    return np.load(io.BytesIO(b"".join(pieces)), allow_pickle=False)


def _expected_stream(docs, selected_ids=None):
    parts = []
    for d in sorted(docs, key=lambda d: (d["order_key"], d["id"])):
        if selected_ids is None or d["id"] in selected_ids:
            parts += [d["ids"], np.array([EOS], dtype=np.uint32)]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint32)


def _stream_of(shards):
    """Undo the 2049/2048 overlap: row r contributes its first 2048 tokens, the last row all."""
    rows = np.concatenate(shards) if shards else np.zeros((0, ROW_LEN))
    if not len(rows):
        return np.zeros(0, np.uint32)
    assert all(rows[i, -1] == rows[i + 1, 0] for i in range(len(rows) - 1))
    return np.concatenate([rows[:, :SEQ_LEN].reshape(-1), rows[-1, -1:]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=40), st.integers(1, 4), st.integers(0, 9))
@example([2047 * 4 + 3], 2, 0)  # rows end exactly at a shard edge with tokens left over
def test_packing_conserves_every_token_in_order(lengths, rows_per_shard, seed):
    docs = _docs(lengths, seed)
    config = PackConfig(out_dir="unused", rows_per_shard=rows_per_shard)
    p, shards, _ = _pack(docs, config)
    stream = _expected_stream(docs)
    assert p.total == len(stream)
    assert p.rows == max(0, (len(stream) - 1) // SEQ_LEN)
    assert sum(len(s) for s in shards) == p.rows
    assert all(len(s) for s in shards)  # no shard without rows
    assert all(len(s) == rows_per_shard for s in shards[:-1])
    assert all(s.shape[1] == ROW_LEN and s.dtype == np.uint16 for s in shards)
    got = _stream_of(shards)
    assert np.array_equal(got, stream[: p.rows * SEQ_LEN + 1] if p.rows else got)


def test_budget_takes_a_prefix_and_nests():
    docs = _docs([3000] * 30, seed=3)
    _, small, out_small = _pack(docs, PackConfig(out_dir="x", rows_per_shard=3, target_tokens=5 * SEQ_LEN))
    _, large, out_large = _pack(docs, PackConfig(out_dir="x", rows_per_shard=3, target_tokens=20 * SEQ_LEN))
    small_rows, large_rows = np.concatenate(small), np.concatenate(large)
    assert len(small_rows) == 5 and len(large_rows) == 20
    assert np.array_equal(large_rows[:5], small_rows)
    picked = {i for i, sel, _, _ in out_small if sel}
    assert picked < {i for i, sel, _, _ in out_large if sel}
    # documents are taken until the one that crosses the cut; the rest are over budget
    spans = sorted((b, e) for _, sel, b, e in out_small if sel)
    assert spans[-1][0] < 5 * SEQ_LEN + 1 <= spans[-1][1] + 1


def test_budget_too_large_refuses_unless_allowed():
    docs = _docs([100] * 5)
    with pytest.raises(PileprepError, match=r"holds 505 tokens .* needs 2,049"):
        _pack(docs, PackConfig(out_dir="x", target_tokens=1))
    p, shards, _ = _pack(docs, PackConfig(out_dir="x", target_tokens=1, allow_short=True))
    assert p.short and p.rows == 0 and shards == []


def test_budget_rows_are_ceil_of_tokens():
    docs = _docs([4000] * 10)
    p, shards, _ = _pack(docs, PackConfig(out_dir="x", target_tokens=2 * SEQ_LEN + 1))
    assert p.rows == 3 and sum(len(s) for s in shards) == 3


def test_config_validation():
    with pytest.raises(ValueError, match="dtype"):
        PackConfig(out_dir="x", dtype="int8")
    with pytest.raises(ValueError, match="rows-per-shard"):
        PackConfig(out_dir="x", rows_per_shard=0)
    with pytest.raises(ValueError, match="budget"):
        PackConfig(out_dir="x", target_tokens=0)


def test_pack_transform_writes_shards_and_outcomes(pipeline, tmp_path):
    """Shards, lineage, and the outcomes' events: summed per range, they add up to the events of
    each document's outcome record (transforms/counts.py packed_events)."""
    import apache_beam as beam
    import pyarrow.parquet as pq
    from apache_beam.testing.util import assert_that, equal_to

    from schemas.records import passed
    from transforms.counts import _add, packed_events
    from transforms.pack import Pack

    docs = _docs([1500, 700, 3000, 0, 2500, 900], seed=5)
    for i, d in enumerate(docs):
        d["ids"] = d["ids"].astype(np.uint32)
        d["text"] = "w" * (10 * i)
        if i % 2:  # line edits shortened it; the others met no filter (tests), so had no edits
            d["chars_before_filter"] = 1000 + i
            d["edits"], d["changed"] = {"r": i}, True
    config = PackConfig(out_dir=str(tmp_path), rows_per_shard=2, target_tokens=3 * SEQ_LEN)
    p, shards_expected, outcomes = _pack(docs, config)
    by_id = {d["id"]: d for d in docs}
    expected = {}
    for doc_id, sel, begin, end in outcomes:
        record = {**passed(by_id[doc_id]), "outcome": "packed" if sel else "over_budget", "tokens": end - begin + 1}
        for key, value in packed_events(record):
            expected[key] = _add([expected.get(key, (0, 0)), value])
    assert {k[2] for k in expected if k[0] == "length"} == {"00", "04", "05", "06", "10"}
    with pipeline as pl:
        out = pl | beam.Create(docs) | Pack(config)
        assert_that(out["shards"] | beam.Map(lambda s: (s["index"], s["rows"], s["path"])),
                    equal_to([(0, 2, "shards/shard-00000.npy"), (1, 1, "shards/shard-00001.npy")]),
                    label="shards")
        assert_that(out["events"] | beam.CombinePerKey(_add), equal_to(list(expected.items())), label="events")
    written = [np.load(tmp_path / f"shards/shard-{i:05d}.npy", allow_pickle=False) for i in range(2)]
    for got, want in zip(written, shards_expected):
        assert np.array_equal(got, want)
    lineage = pq.read_table(tmp_path / "shards/shard-00000.lineage.parquet").to_pylist()
    assert lineage[0]["start"] == 0 and lineage[0]["global_start"] == 0
    assert not list(tmp_path.glob("shards/.tmp-*"))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 9000), min_size=1, max_size=25), st.integers(1, 4), st.sampled_from([1, 2, 3, 4096]),
       st.integers(0, 9))
def test_shard_chunks_are_np_save_of_the_rows(tmp_path_factory, lengths, rows_per_shard, rows_per_chunk, seed):
    """Shards are written a chunk of rows at a time, straight from the fragments and the spill
    files: the bytes are np.save of the shard's rows cut from the expected stream, for in-memory
    and spilled documents, whatever the chunk size (fragments and EOS tokens straddle chunk edges)."""
    from transforms.spill import SpillReader, SpillWriter

    folder = str(tmp_path_factory.mktemp("spill"))
    docs = _docs(lengths, seed)
    config = PackConfig(out_dir="", rows_per_shard=rows_per_shard, dtype="uint16")
    p, placed = _placed_ranges(docs, config, bits=8)
    stream = _expected_stream(docs).astype(np.uint16)
    writer, inline, spilled = SpillWriter(folder), {}, {}
    for _, range_ in placed:
        for shard, offset, tokens, lineage in fragments(range_, p, rows_per_shard):
            inline.setdefault(shard, []).append((offset, tokens, ipc_bytes(lineage)))
            spilled.setdefault(shard, []).append((offset, writer.put(tokens.tobytes()), writer.put(ipc_bytes(lineage))))
    writer.close()
    reader = SpillReader(folder)
    for shard in sorted(inline):
        first = shard * rows_per_shard
        rows = np.stack([stream[r * SEQ_LEN: r * SEQ_LEN + ROW_LEN]
                         for r in range(first, min(first + rows_per_shard, p.rows))])
        expected = io.BytesIO()
        np.save(expected, rows, allow_pickle=False)
        lineages = []
        for frags, source in ((inline[shard], None), (spilled[shard], reader)):
            n, lineage, pieces = shard_chunks(shard, frags, p, config, source, rows_per_chunk=rows_per_chunk)
            assert n == len(rows)
            assert b"".join(pieces) == expected.getvalue()
            lineages.append(lineage)
        assert lineages[0].equals(lineages[1])  # spilled or not, the same
    reader.close()


# --- key ranges: their number follows the input, the bytes do not ------------------------------

def test_range_bits_follow_the_input_size():
    assert range_bits_for(0) == range_bits_for(10**6) == 8  # a demo: 256 ranges, a 2 KiB plan
    assert range_bits_for(420 * 10**9) == 14  # the Pile's .jsonl.zst: ~23M tokens per range
    assert range_bits_for(50 * 10**12) == 21  # 50 TB: ~24M tokens per range, not 250M
    assert range_bits_for(10**16) == 21  # the plan stays 16 MiB
    with pytest.raises(ValueError, match="range_bits must be in"):
        PackConfig(out_dir="o", range_bits=30)


@pytest.mark.parametrize("target", [None, 3 * SEQ_LEN + 5])
def test_the_range_count_does_not_change_the_packing(target):
    docs = _docs([0, 1, 5, 2048, 2049, 700, 3000, 12, 4096] * 5)
    config = PackConfig(out_dir="unused", rows_per_shard=2, target_tokens=target)
    results = [_pack(docs, config, bits) for bits in (8, 16, 21)]
    for p, shards, outcomes in results[1:]:
        assert (p.rows, p.cut, p.total) == (results[0][0].rows, results[0][0].cut, results[0][0].total)
        # an over-budget document's span is never used (its outcome holds its token count only)
        assert sorted(o if o[1] else o[:2] for o in outcomes) == sorted(o if o[1] else o[:2] for o in results[0][2])
        assert len(shards) == len(results[0][1]) and all(np.array_equal(a, b) for a, b in zip(shards, results[0][1]))


def test_sparse_histogram_accumulators_merge_to_the_dense_histogram():
    rng = np.random.default_rng(5)
    bits = 8
    pairs = [(int(k), int(t)) for k, t in zip(rng.integers(0, 1 << bits, 3000), rng.integers(1, 5000, 3000))]
    expected = np.zeros(1 << bits, dtype=np.int64)
    for k, t in pairs:
        expected[k] += t
    fn = _HistogramFn(bits)
    small = fn.create_accumulator()
    for pair in pairs[:10]:
        small = fn.add_input(small, pair)
    assert isinstance(small, dict) and len(small) <= 10  # a bundle of few documents stays small
    big = fn.create_accumulator()
    for pair in pairs[10:]:
        big = fn.add_input(big, pair)
    assert isinstance(big, np.ndarray)  # past 1/16 of the ranges the dense array is smaller
    for order in ([small, big], [big, small], [small, fn.create_accumulator(), big]):
        copies = [a.copy() for a in order]
        assert np.array_equal(fn.extract_output(fn.merge_accumulators(copies)), expected)
    assert np.array_equal(fn.extract_output(fn.compact(small)), dense(small, bits))
    assert add_counts({1: 2}, {1: 3, 4: 1}) == {1: 5, 4: 1}
    assert compact({1: 2}, bits) == {1: 2}


def test_runs_with_two_range_counts_write_the_same_bytes(tmp_path, monkeypatch):
    """The whole run, with a budget that cuts inside a range, at 2**8 and 2**13 key ranges: every
    file and the manifest byte for byte."""
    import hashlib

    from pipeline import options
    from pipeline.cli import main
    from pipeline.tools.sample import SampleConfig, write_sample

    write_sample(str(tmp_path / "in"), SampleConfig(seed=4, documents=200, files=1))
    found = {}
    for bits in (8, 13):
        monkeypatch.setattr(options, "range_bits_for", lambda _, bits=bits: bits)
        out = tmp_path / f"out{bits}"
        assert main(["run", "--input", f"{tmp_path}/in/*", "--output", str(out), "--rows-per-shard", "8",
                     "--token-budget", "40000"]) == 0
        found[bits] = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                       for p in sorted(out.rglob("*")) if p.is_file()}
    assert "manifest.json" in found[8] and any(name.endswith(".npy") for name in found[8])
    assert found[8] == found[13]
