"""Tests for transforms.document_runs: documents in sorted runs, merged into the same Parquet bytes
as one sorted list of documents, in memory bounded whatever the number of runs."""
import contextlib
import os
import random
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings, strategies as st

from transforms import document_runs
from transforms.document_runs import (FAN_IN, Chunks, document_batches, documents_file, documents_table,
                                      encode_run, merge_runs, run_file)

ALPHABET = "ab \n\té“”—…日本語𝔘\u0301"  # typographic, accented, other scripts, astral, combining


def reference_parquet(docs: list[dict], rows: int = 1024, chars: int = 64 << 20) -> bytes:
    """The document file as WriteDocuments wrote it before runs (its code, verbatim): the documents
    sorted by (order_key, id), a row group per `rows` documents or fewer holding `chars` of text."""
    docs = sorted(docs, key=lambda d: (d["order_key"], d["id"]))

    def batches():
        batch, size = [], 0
        for doc in docs:
            batch.append(doc)
            size += len(doc["text"])
            if len(batch) >= rows or size >= chars:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    sink = Chunks()
    with pq.ParquetWriter(sink, documents_table([]).schema, compression="zstd") as writer:
        for batch in batches():
            writer.write_table(documents_table(batch))
    return b"".join(sink.drain())


def make_docs(n: int, seed: int = 0, *, tied: int = 5, text=(0, 300)) -> list[dict]:
    """n documents; every `tied`-th shares one order key (so only its id orders it)."""
    rng = random.Random(seed)
    pool = "".join(rng.choice(ALPHABET) for _ in range(4 * text[1] + 64))
    docs = []
    for i in range(n):
        start = rng.randrange(len(pool) - text[1])
        body = pool[start:start + rng.randrange(*text)]
        docs.append({"id": f"{rng.choice(['a', 'b.jsonl', 'ü'])}:{i}", "source": rng.choice(["Pile-CC", "Github"]),
                     "text": body, "order_key": 2**63 + 7 if i % tied == 0 else rng.randrange(2**64),
                     "chars_in": len(body) + i % 3, "changed": i % 4 == 0,
                     "edits": {"short_lines": i % 3, "boilerplate": 1} if i % 2 else {}})
    return docs


def runs_of(docs: list[dict], files: int, batch: int) -> dict[int, list[bytes]]:
    runs = {}
    for start in range(0, len(docs), batch):
        for file, payload in document_batches(docs[start:start + batch], files):
            runs.setdefault(file, []).append(payload)
    return runs


def written(runs, fan_in: int = FAN_IN) -> bytes:
    return b"".join(documents_file(merge_runs(runs, fan_in=fan_in)))


@contextlib.contextmanager
def _run_files(path, payloads):
    """The payloads written one after another to `path`, read back as run_file objects."""
    spans, offset = [], 0
    with open(path, "wb") as f:
        for payload in payloads:
            f.write(payload)
            spans.append((offset, len(payload)))
            offset += len(payload)
    fd = os.open(path, os.O_RDONLY)
    try:
        yield (run_file(lambda pos, n, at=at: os.pread(fd, n, at + pos), size) for at, size in spans)
    finally:
        os.close(fd)


def test_document_batches_split_by_order_key_and_sort_each_run():
    docs = make_docs(300, seed=1)
    batches = document_batches(docs, 4)
    assert [file for file, _ in batches] == [0, 1, 2, 3]
    for file, payload in batches:
        table = pa.ipc.open_stream(payload).read_all()
        mine = sorted((d for d in docs if d["order_key"] % 4 == file), key=lambda d: (d["order_key"], d["id"]))
        assert table.equals(documents_table(mine))
    assert document_batches([], 4) == []
    one = [d for d in docs if d["order_key"] % 7 == 3]
    assert [file for file, _ in document_batches(one, 7)] == [3]  # no run for an empty file


def test_merged_runs_write_the_bytes_of_one_sorted_list():
    """Many runs per file (batches of 37 documents), one merge or several passes (fan_in 3 and 2:
    three levels), equal order keys ordered by id, unicode, empty texts: the same bytes."""
    docs = make_docs(3000, seed=2)
    runs = runs_of(docs, 3, 37)
    assert min(len(r) for r in runs.values()) > 9
    for file, file_runs in runs.items():
        expected = reference_parquet([d for d in docs if d["order_key"] % 3 == file])
        for fan_in in (FAN_IN, 3, 2):
            assert written(file_runs, fan_in) == expected, (file, fan_in)
    assert written([]) == reference_parquet([])


def test_row_groups_are_cut_where_one_sorted_list_cuts_them(monkeypatch):
    """By count (1,024) and by characters of text: runs cut into slices elsewhere (long texts are
    slices of one row) give the same row groups."""
    docs = make_docs(2500, seed=3, text=(0, 2000))
    monkeypatch.setattr(document_runs, "DOCUMENT_BATCH_CHARS", 50_000)
    monkeypatch.setattr(document_runs, "SLICE_BYTES", 3000)
    expected = reference_parquet(docs, chars=50_000)
    got = written(runs_of(docs, 1, 400)[0], fan_in=4)
    assert got == expected
    sizes = [pq.ParquetFile(pa.BufferReader(got)).metadata.row_group(i).num_rows
             for i in range(pq.ParquetFile(pa.BufferReader(got)).metadata.num_row_groups)]
    assert len(set(sizes)) > 2 and max(sizes) < 1024  # cut by characters, at varying counts
    one_big = [{**docs[0], "text": "x" * 60_000}] + docs[1:50]
    assert written(runs_of(one_big, 1, 7)[0]) == reference_parquet(one_big, chars=50_000)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.text(max_size=20)), max_size=60),
       st.integers(1, 9), st.integers(2, 5))
def test_any_batching_gives_the_same_file(rows, batch, fan_in):
    docs = [{"id": f"f:{i}", "source": "s", "text": text, "order_key": key} for i, (key, text) in enumerate(rows)]
    assert written(runs_of(docs, 1, batch).get(0, []), fan_in) == reference_parquet(docs)


def test_runs_are_read_from_files_a_slice_at_a_time(tmp_path):
    docs = make_docs(500, seed=4)
    runs = runs_of(docs, 1, 60)[0]
    with _run_files(tmp_path / "runs", runs) as files:
        assert written(files, fan_in=3) == reference_parquet(docs)


def test_the_merge_holds_a_bounded_number_of_slices_whatever_the_runs(tmp_path):
    """The merge's memory (Python objects and Arrow buffers) is the same for FAN_IN runs (one merge)
    and for five times as many (five merges into a temporary file, then one of their results),
    under a bound below the ~70 MB of text merged."""
    peaks = {}
    for runs in (FAN_IN, 5 * FAN_IN):
        payloads = (encode_run([{**d, "id": f"{d['id']}.{r}", "order_key": d["order_key"] ^ (r << 20)}
                                for d in make_docs(300, seed=r % 8, text=(400, 600))]) for r in range(runs))
        with _run_files(tmp_path / f"runs-{runs}", payloads) as files:
            peaks[runs], rows = _peak_mb(lambda: _rows_written(merge_runs(files)))
        assert rows == 300 * runs
    assert peaks[5 * FAN_IN] < 64, peaks
    assert peaks[5 * FAN_IN] < 1.25 * peaks[FAN_IN] + 4, peaks


def _rows_written(tables) -> int:
    """Writes the file from the merged tables, dropping its pieces; the rows written."""
    rows = []
    for piece in documents_file(rows.append(len(table)) or table for table in tables):
        assert piece
    return sum(rows)


def _peak_mb(work):
    """(peak MB of Python allocations plus Arrow buffers during work(), its result)."""
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        result = work()
        peak = tracemalloc.get_traced_memory()[1] + pool.max_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    return peak / 2**20, result
