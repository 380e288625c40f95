"""Committing outputs: every file is written under a temporary name, then renamed.

FileSystems.rename works on object stores as well as local disks, so a reader (or `verify`) never
sees a half-written file under its final name. The temporary name is new for every attempt, the
final one is not: two attempts at the same file (a retried or speculative bundle) never write into
each other's temporary, and commit the same bytes under the same name. WriteDocuments puts each
cleaned document in one of N Parquet files chosen by its order key, sorted by that key inside the
file, so the files are byte-identical on every runner. WriteRejects writes the malformed lines, one
JSONL file per input.

    written = kept | WriteDocuments(out_dir, files=4)   # -> {"path", "rows", "sha256", ...}
"""
import hashlib
import os
import uuid

import apache_beam as beam
import orjson

from schemas.records import Committed, WrittenFile
from schemas.run import DOCUMENTS, REJECTS, TMP_PREFIX
from transforms.diskfull import disk_full_is_an_error
from transforms.errors import ConfigError
from transforms.grouped import sorted_externally
from transforms.spill import SpillDoFn


def join(directory: str, *parts: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(directory, *parts)


def commit_bytes(directory: str, relpath: str, data: bytes) -> Committed:
    """Write data to directory/relpath atomically; returns its description for the manifest."""
    return commit_chunks(directory, relpath, [data])


def commit_chunks(directory: str, relpath: str, chunks) -> Committed:
    """commit_bytes of b"".join(chunks), written piece by piece (a shard is never whole in memory)."""
    from apache_beam.io.filesystems import FileSystems

    final = join(directory, relpath)
    tmp = temporary_name(final)
    digest, size = hashlib.sha256(), 0
    try:
        with disk_full_is_an_error(final.rpartition("/")[0] or ".", relpath), FileSystems.create(tmp) as f:
            for chunk in chunks:
                f.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except BaseException:
        _discard(tmp)  # give the space back; what cannot be removed a rerun removes (a .tmp- name)
        raise
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])
    return Committed(path=relpath, bytes=size, sha256=digest.hexdigest())


def _discard(path: str):
    from apache_beam.io.filesystems import FileSystems

    try:
        FileSystems.delete([path])
    except Exception:
        pass


def temporary_name(final: str) -> str:
    """Where `final` is written before its rename: `.tmp-<name>.<uuid4>` beside it. Unique per
    attempt because a runner may run two attempts at one file at once (Dataflow retries a bundle
    whose worker looked lost, and may still hear from that worker): with one shared name, the
    second would truncate the first's file, and the first rename away the second's bytes."""
    folder, _, name = final.rpartition("/")
    tmp = f"{TMP_PREFIX}{name}.{uuid.uuid4().hex}"
    return f"{folder}/{tmp}" if folder else tmp


def remove_temporaries(out_dir: str) -> list[str]:
    """Delete the temporaries under out_dir and return their paths: once every output is committed
    they are what failed attempts left (a retry writes under a new name, so nothing renames them)."""
    from apache_beam.io.filesystems import FileSystems

    found = FileSystems.match([join(out_dir, "**")])[0].metadata_list
    stale = sorted(m.path for m in found if os.path.basename(m.path).startswith(TMP_PREFIX))
    if stale:
        FileSystems.delete(stale)
    return stale


def documents_table(docs: list[dict]):
    import pyarrow as pa

    from schemas.arrow import DOCUMENTS

    cols = {
        "id": [d["id"] for d in docs], "source": [d["source"] for d in docs],
        "text": [d["text"] for d in docs], "order_key": [d["order_key"] for d in docs],
        "chars_in": [d.get("chars_in", len(d["text"])) for d in docs],
        "chars": [len(d["text"]) for d in docs],
        "normalized": [bool(d.get("changed", False)) for d in docs],
        "lines_removed": [sum(d.get("edits", {}).values()) for d in docs],
    }
    return pa.table(cols, schema=DOCUMENTS)


DOCUMENT_BATCH_ROWS = 1024  # documents per Parquet row group: a file is written a batch at a time
DOCUMENT_BATCH_CHARS = 64 << 20  # ... or fewer, when they hold this much text


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


def _batches(docs, rows: int, chars: int):
    batch, size = [], 0
    for doc in docs:
        batch.append(doc)
        size += len(doc["text"])
        if len(batch) >= rows or size >= chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def documents_parquet(docs):
    """The documents' Parquet file, in pieces: one row group per batch of documents (1,024, or
    fewer holding 64 MB of text), so a file of any size is written with one batch in memory."""
    import pyarrow.parquet as pq

    from schemas.arrow import DOCUMENTS

    sink = Chunks()
    with pq.ParquetWriter(sink, DOCUMENTS, compression="zstd") as writer:
        for batch in _batches(docs, DOCUMENT_BATCH_ROWS, DOCUMENT_BATCH_CHARS):
            writer.write_table(documents_table(batch))
            yield from sink.drain()
    yield from sink.drain()


class _KeyFn(SpillDoFn):
    """record -> (key, record); with spill, (key, (order, reference)) and the record, as JSON, in
    this bundle's spill file (transforms/spill.py): the shuffle carries only the reference."""

    def __init__(self, out_dir: str, key, order, spill: bool):
        super().__init__(out_dir if spill else None)
        self.key, self.order = key, order

    def process(self, record):
        if self.writer is None:
            yield self.key(record), record
        else:
            yield self.key(record), (self.order(record), self.writer.put(orjson.dumps(record)))


class _CommitGroupFn(SpillDoFn):
    """(key, records) -> one file: the records sorted, encoded and committed; its description."""

    def __init__(self, out_dir: str, relpath, encode, order, spill: bool):
        super().__init__(out_dir if spill else None)
        self.out_dir, self.relpath, self.encode, self.order = out_dir, relpath, encode, order

    def process(self, key_records):
        key, records = key_records
        counted = _Counted()
        if self.reader is None:  # read once, sorted in runs on local disk: a buffer of memory
            records = counted.count(sorted_externally(records, key=self.order))
        else:  # (order, reference) pairs: sort, then read the records back in that order, lazily
            refs = (ref for _, ref in sorted_externally(records, key=_first))
            records = (orjson.loads(self.reader.get(ref)) for ref in counted.count(refs))
        data = self.encode(records)  # bytes, or pieces of them
        info = commit_chunks(self.out_dir, self.relpath(key), [data] if isinstance(data, bytes) else data)
        yield WrittenFile(**info, rows=counted.n)


class _Counted:
    """Counts what passes through count(): the rows of a file written as a stream."""

    def __init__(self):
        self.n = 0

    def count(self, values):
        for value in values:
            self.n += 1
            yield value


def _first(pair):
    return pair[0]


class WriteGroups(beam.PTransform):
    """Records -> one file per key, records sorted inside (an external sort: a group of any size
    is read once with a bounded buffer), so the bytes never depend on bundling:
    `key(record)` groups, `relpath(key)` names the file, `encode(records)` gives its bytes (or an
    iterator of pieces; with spill, `records` is then read back as the pieces are made). With
    `spill` (local runners), the records wait in spill files and only references are shuffled."""

    def __init__(self, out_dir: str, *, key, relpath, encode, order, spill: bool = False):
        super().__init__()
        self.key_fn = _KeyFn(out_dir, key, order, spill)
        self.fn = _CommitGroupFn(out_dir, relpath, encode, order, spill)

    def expand(self, records):
        return self.commit(records | "ByKey" >> beam.ParDo(self.key_fn))

    def commit(self, keyed):
        """(key, record) pairs -> one committed file per key."""
        return keyed | "Group" >> beam.GroupByKey() | "Commit" >> beam.ParDo(self.fn)


def _document_order(doc: dict):
    return doc["order_key"], doc["id"]


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)


def WriteDocuments(out_dir: str, *, files: int, spill: bool = False) -> WriteGroups:  # noqa: N802
    """Docs carrying "order_key" -> one Parquet file per order_key % files (a PTransform factory)."""
    if files < 1:
        raise ConfigError(f"document files must be >= 1, got {files}")
    return WriteGroups(out_dir, key=lambda d: d["order_key"] % files,
                       relpath=lambda b: f"{DOCUMENTS}/part-{b:05d}-of-{files:05d}.parquet",
                       encode=documents_parquet, order=_document_order,
                       spill=spill)


def WriteRejects(out_dir: str) -> WriteGroups:  # noqa: N802 - a PTransform factory
    """Reject records -> one JSONL file per input file that had any, in line order."""
    return WriteGroups(out_dir, key=lambda r: r["file"],
                       relpath=lambda name: f"{REJECTS}/" + name.replace("/", "__") + ".rejects.jsonl",
                       encode=_jsonl, order=lambda r: r["line"])
