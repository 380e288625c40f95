"""Resuming a killed local run: the fused stage's finished work, kept in files a rerun can trust.

A worker process (transforms/prepare_work.py) ends an *epoch* when Pack's buffers fill, when the
parent moves on to another input (file or line range) and at the end of the parent's bundle: it
writes one entry file holding the epoch's chunks' results (rejects, drops, counts), Pack's batches
and WriteDocuments' sorted runs of their documents. The file is written under a temporary name and
renamed, so an entry either exists whole or not at all; its batches and runs are then read where
they lie, as a spill file (it is hard-linked into the run's spill folder under its id).

An entry is recognised by its `fingerprint` (everything that shapes the fused stage's output: the
setup, the chunk size, the tokenizer's files, pileprep's version) and by the keys of its chunks:
input name, size and line range start, the chunk's first line, length and xxh64. A rerun cuts
its inputs into the same chunks (the cut depends only on the bytes) and uses an entry only when
all its chunks are among them; anything else is deleted, never mixed in. The folder is removed
once the manifest is committed (a kill while it is written still resumes), and by --overwrite.

    write_entry(folder, spill, fingerprint, item, chunks, batches, runs)   # -> (batches, runs) as references
    entries = read_entries(folder, fingerprint)                            # {item key: [Entry, ...]}
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pickle
import struct
import uuid

import xxhash

from schemas.run import TMP_PREFIX
from transforms.diskfull import disk_full_is_an_error

RESUME_DIR = TMP_PREFIX + "resume"  # under the run's output
_MAGIC = b"PPRESUM1"
_HEADER = struct.Struct("<8sQ")  # magic, bytes of the pickled meta that follows
_REF = struct.Struct("<16sQI")  # as transforms/spill.py's references: file id, offset, length


def fingerprint(*parts) -> str:
    """A digest of the reprs of what shapes the output (frozen dataclasses' reprs list every field)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("pileprep")
    except PackageNotFoundError:
        ours = "unknown"
    return hashlib.sha256(repr((ours,) + parts).encode()).hexdigest()


def chunk_key(first_line: int, data: bytes) -> tuple:
    """A chunk's identity within its input: where it starts, its length and an xxh64 of its bytes."""
    return first_line, len(data), xxhash.xxh64_intdigest(data)


@dataclasses.dataclass
class Entry:
    path: str
    file_id: bytes
    item: tuple  # (input name, input size, line range start)
    chunks: dict  # chunk key -> that chunk's results (Work.chunk's answer less its batches)
    batches: list  # Pack's: [(range, spill reference, stream tokens)]
    runs: list  # WriteDocuments': [(file, spill reference)]


def write_entry(folder: str, spill: str, key: str, item: tuple, chunks: dict, batches: list,
                runs: list) -> tuple[list, list]:
    """Write an entry and link it into the spill folder; returns Pack's batches as (range, spill
    reference, stream tokens) and WriteDocuments' runs as (file, spill reference)."""
    file_id = uuid.uuid4().bytes
    layout, offset, payloads = {"batches": [], "runs": []}, 0, []
    for name, items in (("batches", batches), ("runs", [(f, p, None) for f, p in runs])):
        for tag, payload, tokens in items:
            layout[name].append((tag, offset, len(payload), tokens))
            payloads.append(payload)
            offset += len(payload)
    meta = pickle.dumps({"fingerprint": key, "item": item, "chunks": chunks, **layout}, protocol=5)
    os.makedirs(folder, exist_ok=True)
    os.makedirs(spill, exist_ok=True)
    final = os.path.join(folder, file_id.hex() + ".entry")
    tmp = os.path.join(folder, TMP_PREFIX + file_id.hex())
    with disk_full_is_an_error(folder, "the finished work kept for a rerun"):
        try:
            with open(tmp, "wb") as f:
                f.write(_HEADER.pack(_MAGIC, len(meta)))
                f.write(meta)
                for payload in payloads:
                    f.write(payload)
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(tmp)  # never a partial entry left behind, even under its temporary name
            raise
        os.replace(tmp, final)  # whole or absent
        os.link(final, os.path.join(spill, file_id.hex()))
    entry = _entry(final, file_id, _HEADER.size + len(meta), {"item": item, "chunks": chunks, **layout})
    return entry.batches, entry.runs


def read_entries(folder: str, key: str) -> dict:
    """The folder's entries written with this fingerprint, by item; any other file is deleted."""
    found: dict = {}
    if not os.path.isdir(folder):
        return found
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        entry = _read(path, key) if name.endswith(".entry") else None
        if entry is None:
            os.remove(path)  # a half-written temporary, or another run's work: never mixed in
            continue
        found.setdefault(entry.item, []).append(entry)
    return found


def _read(path: str, key: str) -> Entry | None:
    try:
        with open(path, "rb") as f:
            magic, size = _HEADER.unpack(f.read(_HEADER.size))
            if magic != _MAGIC:
                return None
            meta = pickle.loads(f.read(size))
    except (OSError, struct.error, EOFError, pickle.UnpicklingError, ValueError):
        return None
    if meta.get("fingerprint") != key:
        return None
    return _entry(path, bytes.fromhex(os.path.basename(path)[:-len(".entry")]), _HEADER.size + size, meta)


def _entry(path: str, file_id: bytes, start: int, meta: dict) -> Entry:
    def ref(offset, length):
        return _REF.pack(file_id, start + offset, length)

    return Entry(path, file_id, tuple(meta["item"]), meta["chunks"],
                 [(rng, ref(off, length), tokens) for rng, off, length, tokens in meta["batches"]],
                 [(file, ref(off, length)) for file, off, length, _ in meta["runs"]])


def link(entry: Entry, spill: str) -> None:
    """Make the entry's batches readable as a spill file of this run."""
    os.makedirs(spill, exist_ok=True)
    target = os.path.join(spill, entry.file_id.hex())
    if not os.path.exists(target):
        os.link(entry.path, target)


def select(entries: list, keys: set) -> tuple[list, list]:
    """(the entries to reuse, the rest): those all of whose chunks are among `keys` (an input's
    chunks as cut now) and share none with an entry taken before them; a chunk is reused once."""
    chosen, rejected, taken = [], [], set()
    for entry in entries:
        mine = set(entry.chunks)
        if mine <= keys and not mine & taken:
            chosen.append(entry)
            taken |= mine
        else:
            rejected.append(entry)
    return chosen, rejected


def remove(out_dir: str) -> None:
    """Delete the resume folder (local outputs only: the fused stage runs only on local runs)."""
    import shutil

    folder = os.path.join(out_dir, RESUME_DIR)
    if "://" not in out_dir and os.path.isdir(folder):
        shutil.rmtree(folder)
