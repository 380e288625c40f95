"""The document files' sorted runs: how cleaned documents reach documents/part-*.parquet in batches.

A local run holds every shuffle in the launcher's memory, one encoded element per element sent
(benchmarks/TINY.md §2), so documents cross WriteDocuments' shuffle in runs, not one by one: a
batch of documents is split by file (order_key % files), and each part, sorted by (order_key, id),
is one run, the DOCUMENTS columns as zstd Arrow IPC in slices of SLICE_ROWS rows. A file's runs are
merged a slice of each at a time (FAN_IN runs at once; more are first merged into longer runs in a
temporary file), and the merged rows are cut into row groups exactly as one sorted list of documents
would be (DOCUMENT_BATCH_ROWS / DOCUMENT_BATCH_CHARS): the Parquet bytes never depend on how the
documents were batched. Nothing here imports Beam: a stage that batches documents itself can call
document_batches and hand the payloads to write.py's WriteDocumentRuns.

    batches = document_batches(docs, files=4)     # [(file, payload)]: one sorted run per file
    pieces = documents_file(merge_runs([payload for file, payload in batches if file == 0]))
"""
import bisect
import io
import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.arrow import DOCUMENTS

# A writer's buffer becomes runs when it holds this many documents or characters of text: the
# buffered dicts stay a few tens of MB, and a run per file is one shuffle element per batch.
BATCH_DOCS = 1 << 15
BATCH_CHARS = 32 << 20
DOCUMENT_BATCH_ROWS = 1024  # documents per Parquet row group: a file is written a batch at a time
DOCUMENT_BATCH_CHARS = 64 << 20  # ... or fewer, when they hold this much text
SLICE_ROWS = 1024  # rows per IPC record batch of a run: what the merge decodes of a run at a time
SLICE_BYTES = 256 << 10  # ... or fewer, holding this much UTF-8 text (one slice if a text is longer)
FAN_IN = 16  # runs merged at once: a slice of each and a window of as many, ~1 MB a run (tiny
# documents; measured ~74 MB for 64 runs, benchmarks/TINY.md §7) whatever the file; more runs cost a
# pass through a temporary file per 16x (the Pile's ~60,000 runs a file: 4 passes)
_READ_BUFFER = 1 << 16  # bytes read from a run's file at a time
_ORDER = [("order_key", "ascending"), ("id", "ascending")]  # Arrow compares strings as UTF-8 bytes:
# the order of their code points, as Python's sorted() compares them


def documents_table(docs: list[dict]) -> pa.Table:
    """The DOCUMENTS columns of documents (dicts as WriteDocuments receives them), in their order."""
    cols = {
        "id": [d["id"] for d in docs], "source": [d["source"] for d in docs],
        "text": [d["text"] for d in docs], "order_key": [d["order_key"] for d in docs],
        "chars_in": [d.get("chars_in", len(d["text"])) for d in docs],
        "chars": [len(d["text"]) for d in docs],
        "normalized": [bool(d.get("changed", False)) for d in docs],
        "lines_removed": [sum(d.get("edits", {}).values()) for d in docs],
    }
    return pa.table(cols, schema=DOCUMENTS)


def document_order(doc: dict) -> tuple:
    return doc["order_key"], doc["id"]


def document_batches(docs, files: int) -> list[tuple[int, bytes]]:
    """[(file index, run)] for the non-empty files of these documents, in file order: each run the
    documents of order_key % files == file, sorted by (order_key, id), as encode_run's bytes. The
    caller bounds the batch (its documents are in memory twice: as dicts and as columns)."""
    parts: dict[int, list[dict]] = {}
    for doc in docs:
        parts.setdefault(doc["order_key"] % files, []).append(doc)
    return [(file, encode_run(parts[file])) for file in sorted(parts)]


def encode_run(docs: list[dict]) -> bytes:
    """Documents as one run: sorted by (order_key, id), DOCUMENTS columns, zstd Arrow IPC stream in
    slices of at most SLICE_ROWS rows and SLICE_BYTES of text."""
    table = documents_table(sorted(docs, key=document_order))
    return _run_bytes(table.slice(a, b - a) for a, b in _slices(table))


def encode_table_run(table: pa.Table) -> bytes:
    """encode_run of documents already in columns (DOCUMENTS), in any order: sorted here, a slice
    at a time (never a sorted copy of the whole table)."""
    order = pc.sort_indices(table, sort_keys=_ORDER).to_numpy()
    lengths = pc.binary_length(table.column("text")).to_numpy()[order]
    return _run_bytes((table.take(order[a:b]) for a, b in _slices_of(lengths)))


def _run_bytes(slices) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, DOCUMENTS, options=options) as out:
        for part in slices:
            out.write_batch(part.combine_chunks().to_batches()[0])
    return sink.getvalue().to_pybytes()


def _slices(table: pa.Table):
    """(start, stop) of the run's slices: SLICE_ROWS rows, or fewer holding SLICE_BYTES of text."""
    return _slices_of(pc.binary_length(table.column("text")).to_numpy())


def _slices_of(lengths: np.ndarray):
    ends = np.cumsum(lengths, dtype=np.int64)
    start = 0
    while start < len(lengths):
        before = int(ends[start - 1]) if start else 0
        stop = min(start + SLICE_ROWS, int(np.searchsorted(ends, before + SLICE_BYTES, "right")))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


class RunFile(io.RawIOBase):
    """A run read through read_at(position, n) -> bytes (a spill reference, a range of a temporary
    file): what merge_runs reads a slice at a time instead of holding the whole run."""

    def __init__(self, read_at, size: int):
        super().__init__()
        self.read_at, self.size, self.position = read_at, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        n = min(len(out), self.size - self.position)
        if n <= 0:
            return 0
        data = self.read_at(self.position, n)
        out[:len(data)] = data
        self.position += len(data)
        return len(data)


def run_file(read_at, size: int):
    """A buffered binary file over RunFile(read_at, size), for merge_runs."""
    return io.BufferedReader(RunFile(read_at, size), _READ_BUFFER)


def merge_runs(runs, fan_in: int = FAN_IN):
    """Tables of DOCUMENTS rows, every run's rows in (order_key, id) order. `runs` (an iterable read
    once, lazily) holds encode_run payloads: bytes or binary files (run_file). At most fan_in runs
    are open at once, each with one decoded slice; past fan_in, runs are merged fan_in at a time
    into longer runs in a temporary file first (a pass over the rows per level)."""
    runs = iter(runs)
    group = [run for _, run in zip(range(fan_in), runs)]
    more = next(runs, None)
    if more is None:
        yield from _merge(group)
        return
    with tempfile.TemporaryFile() as tmp:
        level = [_write_run(tmp, _merge(group))]
        group = [more]
        for run in runs:
            group.append(run)
            if len(group) == fan_in:
                level.append(_write_run(tmp, _merge(group)))
                group = []
        if group:
            level.append(_write_run(tmp, _merge(group)))
        while len(level) > fan_in:
            level = [_write_run(tmp, _merge([_at(tmp, *span) for span in level[i:i + fan_in]]))
                     for i in range(0, len(level), fan_in)]
        yield from _merge([_at(tmp, *span) for span in level])


def _write_run(tmp, tables) -> tuple[int, int]:
    """Appends sorted tables to tmp as one run; returns its (offset, length)."""
    start = tmp.seek(0, os.SEEK_END)
    with pa.ipc.new_stream(tmp, DOCUMENTS, options=pa.ipc.IpcWriteOptions(compression="zstd")) as out:
        for table in tables:
            for start_row, stop in _slices(table):
                out.write_batch(table.slice(start_row, stop - start_row).combine_chunks().to_batches()[0])
    tmp.flush()
    return start, tmp.seek(0, os.SEEK_END) - start


def _at(tmp, offset: int, length: int):
    fd = tmp.fileno()
    return run_file(lambda position, n: os.pread(fd, n, offset + position), length)


def _merge(runs):
    """A k-way merge by windows: every run has one decoded slice (its head); the rows up to the
    smallest last key of the heads are all the rows of that key or less still to come, so they are
    sorted together and sent, and emptied heads read their run's next slice."""
    readers = [pa.ipc.open_stream(run) for run in runs]
    heads = {}
    for i in range(len(readers)):
        _advance(readers, heads, i)
    while heads:
        bound = min(_key(batch, batch.num_rows - 1) for batch in heads.values())
        parts = []
        for i in list(heads):
            batch = heads[i]
            n = _count_upto(batch, bound)
            if n:
                parts.append(batch.slice(0, n))
            if n == batch.num_rows:
                del heads[i]
                _advance(readers, heads, i)
            else:
                heads[i] = batch.slice(n)
        yield pa.Table.from_batches(parts, schema=DOCUMENTS).sort_by(_ORDER)


def _advance(readers, heads, i):
    for batch in readers[i]:
        if batch.num_rows:
            heads[i] = batch
            return


def _key(batch: pa.RecordBatch, row: int) -> tuple:
    return batch.column("order_key")[row].as_py(), batch.column("id")[row].as_py()


def _count_upto(batch: pa.RecordBatch, bound: tuple) -> int:
    """How many of the batch's first rows (sorted by (order_key, id)) have a key <= bound."""
    keys = batch.column("order_key").to_numpy()
    lo = int(np.searchsorted(keys, np.uint64(bound[0]), "left"))
    hi = int(np.searchsorted(keys, np.uint64(bound[0]), "right"))
    if lo == hi:
        return lo
    return lo + bisect.bisect_right(batch.column("id").slice(lo, hi - lo).to_pylist(), bound[1])


def documents_file(tables):
    """The documents' Parquet file, in pieces, from DOCUMENTS tables in file order: one row group
    per DOCUMENT_BATCH_ROWS documents, or fewer holding DOCUMENT_BATCH_CHARS of text, so a file of
    any size is written with one row group in memory (the same bytes for any cut of the tables)."""
    import pyarrow.parquet as pq

    sink = Chunks()
    with pq.ParquetWriter(sink, DOCUMENTS, compression="zstd") as writer:
        for group in row_groups(tables, DOCUMENT_BATCH_ROWS, DOCUMENT_BATCH_CHARS):
            writer.write_table(group)
            yield from sink.drain()
    yield from sink.drain()


def row_groups(tables, rows: int, chars: int):
    """The rows of `tables` re-cut into single-chunk tables: each ends at the first row that makes
    it `rows` rows long or brings its "chars" to `chars` or more (the last one: whatever is left)."""
    pending, count, size = [], 0, 0
    for table in tables:
        while table.num_rows:
            total = size + np.cumsum(table.column("chars").to_numpy(), dtype=np.int64)
            full = np.flatnonzero((count + np.arange(1, table.num_rows + 1) >= rows) | (total >= chars))
            if not len(full):
                pending.append(table)
                count, size = count + table.num_rows, int(total[-1])
                break
            cut = int(full[0]) + 1
            pending.append(table.slice(0, cut))
            yield _whole(pending)
            pending, count, size = [], 0, 0
            table = table.slice(cut)
    if pending:
        yield _whole(pending)


def _whole(tables) -> pa.Table:
    return pa.concat_tables(tables).combine_chunks()


class Chunks:
    """A write-only file object that hands over what was written since the last drain()."""

    def __init__(self):
        self.pending, self.position, self.closed = [], 0, False

    def write(self, data) -> int:
        data = bytes(data)
        self.pending.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self):
        pass

    def close(self):
        self.closed = True

    def drain(self):
        out, self.pending = self.pending, []
        return out
