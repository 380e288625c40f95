"""A fused worker's epoch in columns: the kept documents it holds until it sends Pack's batches and
the document files' runs (transforms/prepare_work.py).

An epoch holds up to 65,536 documents. As Python objects (a Pack row tuple, an ids array and the
document's dict each) that was ~1.4 KB a tiny document, ~150 MB per worker at the epoch's end
(benchmarks/TINY.md §7); here each chunk's documents are turned into Arrow columns and one ids
array when the chunk ends (seal), ~250 bytes a tiny document plus its text. The epoch's end cuts
the columns into the same payloads as pack_batches.Batcher (one batch per key range, rows in
arrival order) and document_runs.document_batches (one sorted run per document file), so nothing
downstream can tell them apart.

    epoch = Epoch(bits=8, dtype="uint16", document_files=4)
    epoch.add(doc, ids); epoch.seal()           # per document; at each chunk's end
    batches, runs = epoch.end()                 # [(range, payload, stream tokens)], [(file, run)]
"""
from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa

from schemas.arrow import DOCUMENTS
from transforms.document_runs import encode_table_run
from transforms.pack_batches import COLUMNS, encode_table

# Every column an epoch keeps: Pack's (pack_batches.COLUMNS), then what only the document files need
_EXTRA = [pa.field("text", pa.large_string()), pa.field("chars_in", pa.int64()), pa.field("lines_removed", pa.int64())]
EPOCH = pa.schema(list(COLUMNS) + _EXTRA)


class Epoch:
    def __init__(self, bits: int, dtype: str, document_files: int):
        self.bits, self.dtype, self.files = bits, dtype, document_files
        self.parts: list[tuple[pa.Table, np.ndarray]] = []  # sealed chunks: columns, their ids
        self._columns = {name: [] for name in (EPOCH.names if document_files else COLUMNS.names)}
        self._ids: list[np.ndarray] = []
        self.docs = self.id_bytes = self.chars = 0  # chars: of the texts kept for the document files

    def add(self, doc: dict, ids: np.ndarray) -> None:
        """A kept document (after FilterDocuments) and its token ids."""
        c = self._columns
        text = doc["text"]
        edits = doc.get("edits") or {}
        c["order_key"].append(doc["order_key"])
        c["n"].append(len(ids))
        c["id"].append(doc["id"])
        c["source"].append(doc["source"])
        c["changed"].append(bool(doc.get("changed", False)))
        c["chars"].append(len(text))
        c["chars_before_filter"].append(doc.get("chars_before_filter", len(text)))
        c["edits"].append(orjson.dumps(edits, option=orjson.OPT_SORT_KEYS).decode() if edits else "{}")
        if self.files:
            c["text"].append(text)
            c["chars_in"].append(doc.get("chars_in", len(text)))
            c["lines_removed"].append(sum(edits.values()))
            self.chars += len(text)
        ids = np.asarray(ids, dtype=self.dtype)
        self._ids.append(ids)
        self.docs += 1
        self.id_bytes += ids.nbytes

    def seal(self) -> None:
        """The documents added since the last seal, turned into columns (a chunk's end)."""
        if not self._ids:
            return
        schema = EPOCH if self.files else COLUMNS
        table = pa.Table.from_arrays([pa.array(self._columns[f.name], type=f.type) for f in schema], schema=schema)
        self.parts.append((table, np.concatenate(self._ids)))
        for values in self._columns.values():
            values.clear()
        self._ids = []

    def full(self, docs: int, id_bytes: int, chars: int) -> bool:
        return self.docs >= docs or self.id_bytes >= id_bytes or self.chars >= chars

    def end(self) -> tuple[list[tuple[int, bytes, int]], list[tuple[int, bytes]]]:
        """(Pack's batches, as Batcher.flush gives them; the document runs, as document_batches
        gives them), and the epoch emptied."""
        self.seal()
        parts, self.parts = self.parts, []
        self.docs = self.id_bytes = self.chars = 0
        if not parts:
            return [], []
        table = pa.concat_tables([t for t, _ in parts])  # chunked: cut and copied per range and file below
        ids = np.concatenate([i for _, i in parts])
        del parts
        return self._batches(table, ids), self._runs(table) if self.files else []

    def _batches(self, table: pa.Table, ids: np.ndarray) -> list[tuple[int, bytes, int]]:
        """Per key range, its documents in arrival order and their ids (index arrays per range only:
        a whole epoch's would be 8 bytes a token, several times its ids)."""
        keys = table.column("order_key").to_numpy()
        n = table.column("n").to_numpy()
        ranges = (keys >> np.uint64(64 - self.bits)).astype(np.int64)
        order = np.argsort(ranges, kind="stable")
        starts = np.cumsum(n) - n
        ranges = ranges[order]
        cuts = np.flatnonzero(np.diff(ranges)) + 1
        rows, out = table.select(COLUMNS.names), []
        for a, b in zip([0] + cuts.tolist(), cuts.tolist() + [len(order)]):
            docs = order[a:b]
            lengths = n[docs]
            before = np.cumsum(lengths) - lengths  # where each document's ids go in the batch
            at = np.repeat(starts[docs] - before, lengths) + np.arange(int(lengths.sum()))
            out.append((int(ranges[a]), encode_table(rows.take(docs), ids[at], self.dtype),
                        int(lengths.sum()) + len(docs)))
        return out

    def _runs(self, table: pa.Table) -> list[tuple[int, bytes]]:
        files = (table.column("order_key").to_numpy() % np.uint64(self.files)).astype(np.int64)
        docs = pa.table({"id": table.column("id"), "source": table.column("source"), "text": table.column("text"),
                         "order_key": table.column("order_key"), "chars_in": table.column("chars_in"),
                         "chars": table.column("chars"), "normalized": table.column("changed"),
                         "lines_removed": table.column("lines_removed")}, schema=DOCUMENTS)
        present = np.unique(files).tolist()
        if len(present) == 1:
            return [(present[0], encode_table_run(docs))]
        return [(file, encode_table_run(docs.filter(pa.array(files == file)))) for file in present]
