"""pileprep verify DIR: check a run's outputs against its manifest, and name every problem.

Re-hashes every shard, sidecar, document and rejects file; reads each shard's .npy header without
pickle and checks dtype, shape, the one-token overlap between consecutive rows (also across
shards), token counts and the budget; refuses paths that leave DIR (.., absolute, symlinks out).
DIR may be local or on any file system Beam knows (gs://, s3://, ...): every file is read once
(schemas/run.py open_file), as a stream of blocks, so a 268 MB shard is never held whole.

    problems = verify("out/")   # [] when the run is intact
    problems = verify("gs://bucket/out/590M")
"""
import functools
import hashlib

import numpy as np

from schemas.run import (MANIFEST, ROW_LEN, SEQ_LEN, exists, load_manifest, manifest_problems, open_file,
                         read_npy_header, safe_path)
from transforms.display import PATH_CHARS, printable
from transforms.errors import PileprepError


BLOCK_BYTES = 16 << 20  # what a check holds of a shard at once: 4,096 rows of uint16


def read_exactly(f, n: int) -> bytes:
    """n bytes from f, fewer only at its end (an object store's stream may return less than asked)."""
    parts = []
    while n > 0:
        data = f.read(min(n, BLOCK_BYTES))
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


class _Hashed:
    """A file object's reader that hashes and counts every byte read through it."""

    def __init__(self, f):
        self.f, self.sha256, self.size = f, hashlib.sha256(), 0

    def read(self, n: int) -> bytes:
        data = read_exactly(self.f, n)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self):
        while self.read(BLOCK_BYTES):
            pass


def row_blocks(f, dtype: np.dtype, rows: int):
    """Blocks of [k, ROW_LEN] rows read from f after read_npy_header, at most BLOCK_BYTES each; stops
    early (with fewer rows in all) when the stream ends."""
    per_block = max(1, BLOCK_BYTES // (ROW_LEN * dtype.itemsize))
    row_bytes = ROW_LEN * dtype.itemsize
    while rows > 0:
        data = read_exactly(f, min(rows, per_block) * row_bytes)
        whole = len(data) // row_bytes  # a cut file's last, partial row is left out
        block = np.frombuffer(data, dtype, count=whole * ROW_LEN).reshape(whole, ROW_LEN)
        if len(block):
            yield block
        if len(block) < min(rows, per_block):
            return
        rows -= len(block)


def _shard_problems(f, *, entry, manifest, previous_last) -> tuple[list[str], int | None]:
    """Problems of the shard read from f, and its last token (the next shard's first)."""
    name, vocab = _shown(entry["path"]), manifest["tokenizer"]["vocab_size"]
    try:
        shape, dtype = read_npy_header(f)
    except Exception as e:  # a corrupt header, a pickled object array
        return [f"shard {name} does not read as a .npy array of token ids without pickle ({e})"], None
    found = []
    if str(dtype) != manifest["dtype"]:
        found.append(f"shard {name} has dtype {dtype}, manifest says {manifest['dtype']}")
    if len(shape) != 2 or shape[1] != ROW_LEN or shape[0] != entry["rows"]:
        return found + [f"shard {name} has shape {shape}, manifest says ({entry['rows']}, {ROW_LEN})"], None
    last, seen, top = previous_last, 0, 0
    for block in row_blocks(f, dtype, shape[0]):
        if last is not None and block[0, 0] != last:  # the row before this block, or the shard before
            found.append(f"shard {name}: row {seen - 1} does not end with row {seen}'s first token" if seen
                         else f"shard {name}: its first token is not the previous shard's last token")
        bad = np.flatnonzero(block[:-1, -1] != block[1:, 0])
        if len(bad):
            row = seen + int(bad[0])
            found.append(f"shard {name}: row {row} does not end with row {row + 1}'s first token")
        top = max(top, int(block.max()))
        last, seen = int(block[-1, -1]), seen + len(block)
    if seen < shape[0]:
        found.append(f"shard {name} ends after {seen} of its {shape[0]} rows (truncated)")
    if top >= vocab:
        found.append(f"shard {name} holds token ids beyond the vocabulary ({vocab})")
    return found, last


def _shown(relpath) -> str:
    """A path from the manifest, as a message shows it: whatever its characters, one short line."""
    return printable(relpath, PATH_CHARS)


def _check_file(directory, entry, what, problems, read=None):
    """Hash the file the entry describes and compare it with the entry. `read(reader)`, if given,
    reads the file first (the same pass feeds the hash): its result is returned, or True without
    one; None when the file is refused or missing."""
    try:
        path = safe_path(directory, entry.get("path"))
    except PileprepError:
        problems.append(f"{what} path {_shown(repr(entry.get('path')))} leaves {directory}: refused")
        return None
    if not exists(path):
        problems.append(f"{what} {_shown(entry['path'])} is missing")
        return None
    with open_file(path) as f:
        reader = _Hashed(f)
        result = read(reader) if read is not None else True
        reader.drain()
    if reader.size != entry.get("bytes"):
        problems.append(f"{what} {_shown(entry['path'])} has {reader.size} bytes, manifest says {entry.get('bytes')}")
    elif reader.sha256.hexdigest() != entry.get("sha256"):
        problems.append(f"{what} {_shown(entry['path'])} sha256 differs from the manifest (corrupted or replaced)")
    return result


def verify(directory: str) -> list[str]:
    try:
        manifest = load_manifest(directory)
    except PileprepError as e:  # none (the run did not complete), or not JSON
        return [e.message]
    except OSError as e:
        return [f"{MANIFEST} cannot be read ({e})"]
    problems = list(manifest_problems(manifest))
    if problems:
        return problems
    previous_last, rows = None, 0
    for entry in manifest["shards"]:
        read = functools.partial(_shard_problems, entry=entry, manifest=manifest, previous_last=previous_last)
        checked = _check_file(directory, entry, "shard", problems, read)
        _check_file(directory, entry["lineage"], "lineage sidecar", problems)
        if checked is None:
            previous_last = None  # nothing to compare the next shard's first token with
            continue
        found, previous_last = checked
        problems += found
        rows += entry["rows"]
        last = entry is manifest["shards"][-1]
        if entry["tokens"] != entry["rows"] * SEQ_LEN + (1 if last else 0):
            problems.append(f"shard {_shown(entry['path'])}: {entry['tokens']} tokens do not match "
                            f"{entry['rows']} rows")
    if rows != manifest["rows"]:
        problems.append(f"shards hold {rows} rows, manifest says {manifest['rows']}")
    for entry in manifest["documents"]:
        _check_file(directory, entry, "document file", problems)
    for entry in manifest["rejects"]:
        _check_file(directory, entry, "rejects file", problems)
    for entry in (manifest.get("dedup") or {}).get("files", []):
        _check_file(directory, entry, "removal file", problems)
    return problems
