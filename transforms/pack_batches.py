"""Pack's batches: a bundle's tokenized documents, per key range, as columns in one element.

The local runner holds every shuffle in the launcher's memory, one encoded element per element
sent (benchmarks/TINY.md §2): a Python dict per document there costs 100-600 bytes each. So Pack
sends documents across GroupKeyRanges in batches: per key range, the Passed fields, order key and
token count of up to BATCH_DOCS documents as Arrow IPC columns, followed by their token ids
(`encode`). On local runs a batch goes to a spill file and only its reference crosses the shuffle;
distributed runners move the bytes themselves (still one element per batch). A batch's documents
are in arrival order: PlaceDocuments sorts a range's documents, so the output never depends on
how they were batched.

    batch = Batcher(bits=8, dtype="uint16")
    ready = batch.add(doc)                         # [(range, payload, stream tokens)] when full
    table, tokens = decode(encode(rows, ids, "uint16"), "uint16")
"""
import struct

import numpy as np
import orjson
import pyarrow as pa

from schemas.records import Document, passed
from transforms.placement import key_range

# A bundle's buffers are sent when they hold this many documents or bytes of ids: one batch element
# per key range then (a few hundred documents per element for a small run's 256 ranges), and the
# buffered documents, a constant, stay a few tens of MB.
BATCH_DOCS = 1 << 16
BATCH_BYTES = 64 << 20

COLUMNS = pa.schema([
    pa.field("order_key", pa.uint64()), pa.field("n", pa.int64()),  # n: ids, without the EOS
    pa.field("id", pa.string()), pa.field("source", pa.string()),
    pa.field("changed", pa.bool_()), pa.field("chars", pa.int64()), pa.field("chars_before_filter", pa.int64()),
    pa.field("edits", pa.string()),  # JSON of the rule -> lines removed dict ("{}": none)
])
_HEADER = struct.Struct("<Q")  # bytes of the Arrow IPC columns; the ids follow them


def _row(doc: Document) -> tuple:
    p = passed(doc)
    edits = orjson.dumps(p["edits"], option=orjson.OPT_SORT_KEYS).decode() if p["edits"] else "{}"
    return (doc["order_key"], len(doc["ids"]), p["id"], p["source"], bool(p["changed"]), p["chars"],
            p["chars_before_filter"], edits)


def encode(rows: list[tuple], ids: list[np.ndarray], dtype: str) -> bytes:
    """A batch's bytes: its rows (tuples in COLUMNS order) as Arrow IPC, then every row's ids."""
    values = list(zip(*rows)) or [()] * len(COLUMNS)
    columns = [pa.array(list(col), type=field.type) for col, field in zip(values, COLUMNS)]
    meta = ipc_bytes(pa.Table.from_arrays(columns, schema=COLUMNS))
    tokens = np.concatenate(ids).astype(dtype, copy=False) if ids else np.zeros(0, dtype)
    return _HEADER.pack(len(meta)) + meta + tokens.tobytes()


def encode_table(rows: pa.Table, tokens: np.ndarray, dtype: str) -> bytes:
    """`encode`'s bytes from the rows as a table (COLUMNS) and their ids already concatenated."""
    meta = ipc_bytes(rows.cast(COLUMNS).combine_chunks())
    return _HEADER.pack(len(meta)) + meta + np.asarray(tokens).astype(dtype, copy=False).tobytes()


def ipc_bytes(table: pa.Table, compression: str | None = None) -> bytes:
    """A table as Arrow IPC stream bytes (its schema's metadata included); zstd-compressed buffers
    with compression="zstd" (read back by any IPC reader as they are)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as out:
        out.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes, dtype: str) -> tuple[pa.Table, np.ndarray]:
    """(the batch's columns, its ids concatenated in row order) from `encode`'s bytes."""
    (size,) = _HEADER.unpack_from(payload)
    table = pa.ipc.open_stream(pa.py_buffer(payload)[_HEADER.size:_HEADER.size + size]).read_all()
    return table, np.frombuffer(payload, dtype=dtype, offset=_HEADER.size + size)


def gather(payloads, dtype: str) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """One key range's batches, read in one pass: (their columns, their ids, where each row's ids
    start in them)."""
    tables, tokens, starts, base = [], [], [], 0
    for payload in payloads:
        table, ids = decode(payload, dtype)
        n = table.column("n").to_numpy()
        tables.append(table)
        tokens.append(ids)
        starts.append(base + np.cumsum(n, dtype=np.int64) - n)
        base += len(ids)
    if not tables:
        return COLUMNS.empty_table(), np.zeros(0, dtype), np.zeros(0, np.int64)
    return pa.concat_tables(tables), np.concatenate(tokens), np.concatenate(starts)


class Batcher:
    """Buffers documents per key range; `add` and `flush` return the ranges' batches to send, as
    (range, encoded batch, stream tokens of its documents: ids plus one EOS each)."""

    def __init__(self, bits: int, dtype: str, max_docs: int = BATCH_DOCS, max_bytes: int = BATCH_BYTES):
        self.bits, self.dtype, self.max_docs, self.max_bytes = bits, dtype, max_docs, max_bytes
        self._ranges: dict[int, tuple[list, list]] = {}
        self._docs = self._bytes = 0

    def add(self, doc: Document) -> list[tuple[int, bytes, int]]:
        rows, ids = self._ranges.setdefault(key_range(doc["order_key"], self.bits), ([], []))
        rows.append(_row(doc))
        ids.append(np.asarray(doc["ids"], dtype=self.dtype))
        self._docs += 1
        self._bytes += ids[-1].nbytes
        return self.flush() if self.full() else []

    def full(self, max_docs: int | None = None, max_bytes: int | None = None) -> bool:
        """Whether the buffers hold max_docs documents or max_bytes of ids (by default, the limits
        at which add flushes)."""
        return self._docs >= (max_docs or self.max_docs) or self._bytes >= (max_bytes or self.max_bytes)

    def flush(self) -> list[tuple[int, bytes, int]]:
        out = []
        for key in sorted(self._ranges):
            rows, ids = self._ranges[key]
            out.append((key, encode(rows, ids, self.dtype), sum(row[1] for row in rows) + len(rows)))
        self._ranges.clear()
        self._docs = self._bytes = 0
        return out
