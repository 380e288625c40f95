"""Committing outputs: every file is written under a temporary name, then renamed.

FileSystems.rename works on object stores as well as local disks, so a reader (or `verify`) never
sees a half-written file under its final name. The temporary name is new for every attempt, the
final one is not: two attempts at the same file (a retried or speculative bundle) never write into
each other's temporary, and commit the same bytes under the same name. WriteDocuments puts each
cleaned document in one of N Parquet files chosen by its order key, sorted by that key inside the
file, so the files are byte-identical on every runner; documents cross its shuffle in sorted runs,
one element per batch and file (transforms/document_runs.py), and WriteDocumentRuns writes the
files from runs made elsewhere. WriteRejects writes the malformed lines, one JSONL file per input.

    written = kept | WriteDocuments(out_dir, files=4)   # -> {"path", "rows", "sha256", ...}
    written = runs | WriteDocumentRuns(out_dir, files=4)   # runs: (file, document_batches payload)
"""
import functools
import hashlib
import os
import tempfile
import uuid

import apache_beam as beam
import orjson
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from schemas.records import Committed, WrittenFile
from schemas.run import DOCUMENTS, REJECTS, TMP_PREFIX
from transforms.diskfull import disk_full_is_an_error
from transforms.document_runs import BATCH_CHARS, BATCH_DOCS, document_batches, documents_file, merge_runs, run_file
from transforms.errors import ConfigError
from transforms.grouped import sorted_externally
from transforms.memory import release_memory
from transforms.spill import SpillDoFn, ref_length, sub_ref


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


class _KeyFn(beam.DoFn):
    """record -> (key, record)."""

    def __init__(self, key):
        self.key = key

    def process(self, record):
        yield self.key(record), record


class _CommitGroupFn(beam.DoFn):
    """(key, records) -> one file: the records sorted, encoded and committed; its description."""

    def __init__(self, out_dir: str, relpath, encode, order):
        self.out_dir, self.relpath, self.encode, self.order = out_dir, relpath, encode, order

    def process(self, key_records):
        key, records = key_records
        counted = _Counted()  # read once, sorted in runs on local disk: a buffer of memory
        data = self.encode(counted.count(sorted_externally(records, key=self.order)))  # bytes, or pieces
        info = commit_chunks(self.out_dir, self.relpath(key), [data] if isinstance(data, bytes) else data)
        yield WrittenFile(**info, rows=counted.n)


class _Counted:
    """Counts what passes through count(): the rows of a file written as a stream."""

    def __init__(self):
        self.n = 0

    def count(self, values, size=None):
        """values, passed on; each adds 1, or size(value) (the rows of a table)."""
        for value in values:
            self.n += 1 if size is None else size(value)
            yield value


class WriteGroups(beam.PTransform):
    """Records -> one file per key, records sorted inside (an external sort: a group of any size
    is read once with a bounded buffer), so the bytes never depend on bundling:
    `key(record)` groups, `relpath(key)` names the file, `encode(records)` gives its bytes (or an
    iterator of pieces, `records` being read as the pieces are made). For rare records (rejects,
    removals): each crosses the shuffle on its own, which WriteDocuments' runs avoid."""

    def __init__(self, out_dir: str, *, key, relpath, encode, order):
        super().__init__()
        self.key_fn = _KeyFn(key)
        self.fn = _CommitGroupFn(out_dir, relpath, encode, order)

    def expand(self, records):
        return self.commit(records | "ByKey" >> beam.ParDo(self.key_fn))

    def commit(self, keyed):
        """(key, record) pairs -> one committed file per key."""
        return keyed | "Group" >> beam.GroupByKey() | "Commit" >> beam.ParDo(self.fn)


class _BatchDocumentsFn(SpillDoFn):
    """Docs -> (file, run): a bundle's documents, buffered until they are BATCH_DOCS or hold
    BATCH_CHARS of text and at the bundle's end, then one sorted run per document file
    (document_runs.document_batches); with spill, a run goes to this bundle's spill file and its
    reference replaces it. One element per batch and file, none per document."""

    def __init__(self, out_dir: str, files: int, spill: bool):
        super().__init__(out_dir if spill else None)
        self.files = files
        self.docs, self.chars = [], 0

    def start_bundle(self):
        super().start_bundle()
        self.docs, self.chars = [], 0

    def process(self, doc):
        self.docs.append(doc)
        self.chars += len(doc["text"])
        if len(self.docs) >= BATCH_DOCS or self.chars >= BATCH_CHARS:
            yield from self._send()

    def finish_bundle(self):
        out = [WindowedValue(kv, MIN_TIMESTAMP, [GlobalWindow()]) for kv in self._send()]
        super().finish_bundle()  # closes the spill file: every reference sent is readable
        return out

    def _send(self):
        runs = document_batches(self.docs, self.files)
        self.docs, self.chars = [], 0
        for file, payload in runs:
            yield file, (self.writer.put(payload) if self.writer is not None else payload)


class _CommitRunsFn(SpillDoFn):
    """(file, runs) -> the document file, committed, and its description: the runs merged a slice
    of each at a time (document_runs.merge_runs). Runs are spill references with spill; without,
    their bytes are copied to a temporary file as they come, so one is in memory at a time."""

    def __init__(self, out_dir: str, files: int, spill: bool):
        super().__init__(out_dir if spill else None)
        self.out_dir, self.files = out_dir, files

    def process(self, file_runs):
        file, runs = file_runs
        counted = _Counted()
        with tempfile.TemporaryFile() as copies:
            if self.reader is not None:
                runs = (run_file(functools.partial(_read_ref, self.reader, ref), ref_length(ref)) for ref in runs)
            else:
                runs = (_copy(copies, payload) for payload in runs)
            pieces = documents_file(counted.count(merge_runs(runs), size=len))
            info = commit_chunks(self.out_dir, document_path(file, self.files), pieces)
        release_memory()  # the merge's slices and window: not under the shards' writing
        yield WrittenFile(**info, rows=counted.n)


def _read_ref(reader, ref: bytes, position: int, n: int) -> bytes:
    return reader.get(sub_ref(ref, position, n))


def _copy(tmp, payload: bytes):
    """A run's bytes appended to tmp; a file reading them back from there."""
    offset = tmp.seek(0, os.SEEK_END)
    tmp.write(payload)
    tmp.flush()
    return run_file(functools.partial(_pread, tmp.fileno(), offset), len(payload))


def _pread(fd: int, offset: int, position: int, n: int) -> bytes:
    return os.pread(fd, n, offset + position)


def document_path(file: int, files: int) -> str:
    return f"{DOCUMENTS}/part-{file:05d}-of-{files:05d}.parquet"


class WriteDocumentRuns(beam.PTransform):
    """(file, run) pairs -> one Parquet file per document file that has runs, and its description.
    A run is a document_runs.document_batches payload for file = order_key % files (with spill: a
    reference to it in a spill file of the run's output, transforms/spill.py SpillWriter)."""

    def __init__(self, out_dir: str, *, files: int, spill: bool = False):
        super().__init__()
        if files < 1:
            raise ConfigError(f"document files must be >= 1, got {files}")
        self.fn = _CommitRunsFn(out_dir, files, spill)

    def expand(self, runs):
        return runs | "Group" >> beam.GroupByKey() | "Write" >> beam.ParDo(self.fn)


class WriteDocuments(beam.PTransform):
    """Docs carrying "order_key" -> one Parquet file per order_key % files that has any."""

    def __init__(self, out_dir: str, *, files: int, spill: bool = False):
        super().__init__()
        self.runs = WriteDocumentRuns(out_dir, files=files, spill=spill)
        self.batch_fn = _BatchDocumentsFn(out_dir, files, spill)
        self.fn = self.runs.fn

    def expand(self, docs):
        return docs | "ByFile" >> beam.ParDo(self.batch_fn) | "Runs" >> self.runs


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)


def WriteRejects(out_dir: str) -> WriteGroups:  # noqa: N802 - a PTransform factory
    """Reject records -> one JSONL file per input file that had any, in line order."""
    return WriteGroups(out_dir, key=lambda r: r["file"],
                       relpath=lambda name: f"{REJECTS}/" + name.replace("/", "__") + ".rejects.jsonl",
                       encode=_jsonl, order=lambda r: r["line"])
