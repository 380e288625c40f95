"""Spill: move a bulky payload past a shuffle by reference, through files in the output's folder.

Beam's local runner (the FnApiRunner behind the DirectRunner) holds every shuffle in the launcher's
memory, decoded, until the next stage has read all of it: a run's peak memory would grow with its
input, about 9 bytes per byte of text. So, on a local run, the payloads that used to cross the two
big shuffles (a document's tokens on their way into shards, its text on its way into the document
files) are appended to a spill file instead, one per bundle, and only a 28-byte reference crosses
the shuffle; the stage after it reads the payloads back. Distributed runners keep their shuffle
outside the workers' memory, so they do not spill (random reads from an object store would cost
more than the shuffle).

Spill files are named by a random id: a retried bundle writes a new file and the failed attempt's
file is never referenced. They live in `<output>/.tmp-spill/`, which the manifest step removes just
before it writes the manifest (and an interrupted run's copy goes with the rest of it on rerun).
Nothing in the outputs depends on the spill files' names or on how payloads were bundled.
StowText and RestoreText do this for whole documents around a shuffle (ReadPile's spreading,
Deduplicate's grouping): the shuffle carries the document less its text, plus the reference.

    with SpillWriter(folder) as w:          # one per bundle
        ref = w.put(b"payload")             # 28 bytes: file id, offset, length
    SpillReader(folder).get(ref)            # b"payload"
"""
import hashlib
import os
import struct
import uuid

import apache_beam as beam

from schemas.records import TEXT_CHARS, TEXT_HASH, TEXT_REF
from schemas.run import TMP_PREFIX
from transforms.diskfull import disk_full_is_an_error, raise_if_full

SPILL_DIR = TMP_PREFIX + "spill"  # under the run's output; a temporary name, so a complete run has none
_REF = struct.Struct("<16sQI")  # file id (uuid4 bytes), offset, length


def spill_folder(out_dir: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(out_dir, SPILL_DIR)


def _local(path: str) -> bool:
    return "://" not in path


class SpillWriter:
    """Appends payloads to one new file in `folder`; created on the first put, closed by close()."""

    def __init__(self, folder: str):
        self.folder = folder
        self._file = None
        self._id = b""
        self._offset = 0

    def put(self, data: bytes) -> bytes:
        try:
            if self._file is None:
                self._open()
            self._file.write(data)
        except OSError as e:
            raise_if_full(e, self.folder, "a spill file")
            raise
        ref = _REF.pack(self._id, self._offset, len(data))
        self._offset += len(data)
        return ref

    def _open(self):
        from apache_beam.io.filesystems import FileSystems

        self._id = uuid.uuid4().bytes
        path = FileSystems.join(self.folder, self._id.hex())
        if _local(path):
            os.makedirs(self.folder, exist_ok=True)
            self._file = open(path, "wb")
        else:
            self._file = FileSystems.create(path)
        self._offset = 0

    def close(self):
        """Flush and close: every reference handed out is readable once this returns."""
        if self._file is not None:
            file, self._file = self._file, None
            with disk_full_is_an_error(self.folder, "a spill file"):
                file.close()  # the buffer's last bytes are written here

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def sub_ref(ref: bytes, start: int, length: int) -> bytes:
    """The reference to bytes [start, start + length) of a referenced payload."""
    file_id, offset, size = _REF.unpack(ref)
    if start < 0 or length < 0 or start + length > size:
        raise ValueError(f"bytes [{start}, {start + length}) are not inside a payload of {size}")
    return _REF.pack(file_id, offset + start, length)


class SpillReader:
    """Reads payloads back by reference, keeping a few files open."""

    def __init__(self, folder: str, max_open: int = 64):
        self.folder = folder
        self.max_open = max_open
        self._open = {}  # file id -> (local fd or None, file object or None), oldest first

    def get(self, ref: bytes) -> bytes:
        file_id, offset, length = _REF.unpack(ref)
        fd, stream = self._handle(file_id)
        if fd is not None:
            data = os.pread(fd, length, offset)
        else:
            stream.seek(offset)
            data = stream.read(length)
        if len(data) != length:
            self._cut(file_id, offset + length)
        return data

    def get_into(self, ref: bytes, out: memoryview) -> None:
        """get(ref) written straight into `out` (of its length): no bytes object in between, so
        assembling a shard from many documents' tokens leaves no freed blocks behind it."""
        file_id, offset, length = _REF.unpack(ref)
        if len(out) != length:
            raise ValueError(f"a buffer of {len(out)} bytes for a payload of {length}")
        fd, _ = self._handle(file_id)
        if fd is None:  # an object store: read, then copy
            out[:] = self.get(ref)
            return
        done = 0
        while done < length:
            n = os.preadv(fd, [out[done:]], offset + done)
            if n <= 0:
                self._cut(file_id, offset + length)
            done += n

    def _handle(self, file_id: bytes):
        handle = self._open.pop(file_id, None)  # re-inserted last: least recently used goes first
        if handle is None:
            from apache_beam.io.filesystems import FileSystems

            path = FileSystems.join(self.folder, file_id.hex())
            handle = (os.open(path, os.O_RDONLY), None) if _local(path) else (None, FileSystems.open(path))
            while len(self._open) >= self.max_open:
                self._close(self._open.pop(next(iter(self._open))))
        self._open[file_id] = handle
        return handle

    def _cut(self, file_id: bytes, end: int):
        from transforms.errors import PileprepError

        raise PileprepError(f"spill file {file_id.hex()} in {self.folder} ends before byte "
                            f"{end}: a temporary file was removed or cut during the run; rerun")

    @staticmethod
    def _close(handle):
        fd, stream = handle
        if fd is not None:
            os.close(fd)
        else:
            stream.close()

    def close(self):
        while self._open:
            self._close(self._open.pop(next(iter(self._open))))


def ref_length(ref: bytes) -> int:
    """The length in bytes of the payload a reference points to."""
    return _REF.unpack(ref)[2]


def remove(out_dir: str):
    """Delete the run's spill folder, if any (on an object store: every file under its prefix,
    as a "folder" there is no object of its own)."""
    from apache_beam.io.filesystems import FileSystems

    folder = spill_folder(out_dir)
    if _local(folder):
        if os.path.isdir(folder):
            FileSystems.delete([folder])
        return
    files = [m.path for m in FileSystems.match([folder.rstrip("/") + "/*"])[0].metadata_list]
    if files:
        FileSystems.delete(files)


# A document whose text waits in a spill file while a shuffle moves it: a stub, the document less
# its text plus the text's reference, length and (for dedup) sha256.


class SpillDoFn(beam.DoFn):
    """A DoFn that spills: with `spill_out` (the run's output folder) it has `self.writer`, a
    SpillWriter per bundle (its file made on the first put, closed before the runner commits the
    bundle's output), and `self.reader`, a SpillReader from setup to teardown; without, both are None."""

    def __init__(self, spill_out: str | None):
        self.spill_out = spill_out
        self.reader = self.writer = None

    def setup(self):
        self.reader = SpillReader(spill_folder(self.spill_out)) if self.spill_out else None

    def start_bundle(self):
        self.writer = SpillWriter(spill_folder(self.spill_out)) if self.spill_out else None

    def finish_bundle(self):
        if self.writer is not None:
            self.writer.close()

    def teardown(self):
        if self.reader is not None:
            self.reader.close()


class StowText(SpillDoFn):
    """doc -> its stub: the text goes to this bundle's spill file (with digest: and its sha256)."""

    def __init__(self, out_dir: str, digest: bool = False):
        super().__init__(out_dir)
        self.digest = digest

    def process(self, doc):
        stub = {k: v for k, v in doc.items() if k != "text"}
        data = doc["text"].encode("utf-8", "surrogatepass")
        stub[TEXT_REF], stub[TEXT_CHARS] = self.writer.put(data), len(doc["text"])
        if self.digest:
            stub[TEXT_HASH] = hashlib.sha256(data).digest()
        yield stub


class RestoreText(SpillDoFn):
    """stub -> the document it stands for, text read back: equal to the one StowText was given."""

    def process(self, stub):
        yield restore_text(stub, self.reader)


def restore_text(doc: dict, reader) -> dict:
    """The document a stub stands for (a document that is no stub is returned as it is)."""
    if TEXT_REF not in doc:
        return doc
    text = reader.get(doc[TEXT_REF]).decode("utf-8", "surrogatepass")
    return {**{k: v for k, v in doc.items() if k not in (TEXT_REF, TEXT_CHARS, TEXT_HASH)}, "text": text}
