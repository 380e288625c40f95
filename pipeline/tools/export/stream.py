"""What every export shares: the run's tokens read a block at a time, and files sealed when complete.

Exports never load a shard whole: `row_blocks` and `stream_tokens` read the memory-mapped shards
(schemas/run.py open_shard) a block of rows at a time, so an export's memory is a few blocks
whatever the size of the run. Every file is written under a `.tmp-` name and renamed by `seal`,
which hashes it; `write_record` writes the export's JSON record last, so its presence means the
export is complete.

    for first_row, rows in row_blocks("out/", manifest, 1024): ...   # [<= 1024, 2049] arrays
    entry = seal("OUT/.tmp-x.bin", "OUT/x.bin", root="OUT")           # {"path", "bytes", "sha256"}
"""
import hashlib
import json
import os

import numpy as np

from schemas.run import TMP_PREFIX, open_shard, safe_path
from transforms.errors import PileprepError

BLOCK_ROWS = 4096  # rows per read: 16 MiB of uint16, whatever the shard's size
RECORD = "export.json"  # beside a directory export's files: what was written, from which run
_HASH_BLOCK = 1 << 20  # read to hash: 1 MiB at a time


def manifest_sha256(run_dir: str) -> str:
    """The sha256 of the run's manifest.json: it names every shard's sha256, so it names the run."""
    with open(safe_path(run_dir, "manifest.json"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def row_blocks(run_dir: str, manifest: dict, block_rows: int = BLOCK_ROWS):
    """Yield (first row index, rows [<= block_rows, 2049]) over the whole run, in order.

    A block never crosses a shard: it is a slice of a memory map, copied only by the caller. The
    map is opened again for each block, so the pages read are released with the block (a map kept
    open a whole shard would hold up to a shard's pages: 268 MB at 65,536 rows).
    """
    first = 0
    for shard in manifest["shards"]:
        n, path = shard["rows"], safe_path(run_dir, shard["path"])
        for r0 in range(0, n, block_rows):
            yield first + r0, open_shard(path, dtype=manifest["dtype"], rows=n)[r0:r0 + block_rows]
        first += n


def regroup(blocks, size: int):
    """The rows of `blocks` ((first, rows) pairs) in groups of exactly `size` rows, the last one
    shorter: memory holds at most one group and one block."""
    pending, held = [], 0
    for _, rows in blocks:
        while len(rows):
            take = min(size - held, len(rows))
            pending.append(rows[:take])
            held, rows = held + take, rows[take:]
            if held == size:
                yield np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield np.concatenate(pending)


def stream_tokens(run_dir: str, manifest: dict, begin: int, end: int, block_rows: int = BLOCK_ROWS):
    """Yield the run's stream tokens [begin, end) in order, as arrays of at most block_rows rows.

    Shard k holds stream tokens [stream_start, stream_start + 2048 rows + 1); its last token is
    the next shard's first, so it is taken from the next shard except after the last shard.
    """
    seq, shards = manifest["seq_len"], manifest["shards"]
    for k, shard in enumerate(shards):
        s0, n = shard["stream_start"], shard["rows"]
        lo = max(begin - s0, 0)
        hi = min(end - s0, n * seq + (1 if k == len(shards) - 1 else 0))
        if lo >= hi:
            continue
        path = safe_path(run_dir, shard["path"])
        # rows r0..r1-1 give tokens [2048 r0, 2048 r1); the final row also gives token 2048 n
        for r0 in range(min(lo // seq, n - 1), min(-(-hi // seq), n), block_rows):
            r1 = min(r0 + block_rows, n)
            rows = open_shard(path, dtype=manifest["dtype"], rows=n)  # a map a block: see row_blocks
            flat = rows[r0:r1, :seq].reshape(-1)
            if r1 == n:
                flat = np.concatenate([flat, rows[n - 1, seq:]])
            base = r0 * seq
            yield flat[max(lo - base, 0):hi - base]


def prepare_dir(out_dir: str) -> None:
    """Create out_dir, refusing one that holds anything: an export never mixes with other files."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise PileprepError(f"{out_dir} is a file: give a directory for this format's output")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise PileprepError(f"{out_dir} is not empty: remove it or choose another output directory")
    os.makedirs(out_dir, exist_ok=True)


def tmp_path(path: str) -> str:
    """The temporary name of `path` while it is written (same directory: the rename is atomic)."""
    head, tail = os.path.split(path)
    return os.path.join(head, TMP_PREFIX + tail)


def seal(tmp: str, path: str, *, root: str) -> dict:
    """Rename the finished tmp file to path; its record entry (path relative to root, bytes, sha256)."""
    sha, size = hashlib.sha256(), 0
    with open(tmp, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            sha.update(block)
            size += len(block)
    os.replace(tmp, path)
    return {"path": os.path.relpath(path, root).replace(os.sep, "/"), "bytes": size, "sha256": sha.hexdigest()}


def write_record(path: str, record: dict) -> dict:
    """Write the export's JSON record (sorted keys: the same export gives the same bytes), last."""
    tmp = tmp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return record


def base_record(fmt: str, run_dir: str, manifest: dict) -> dict:
    """The fields every export's record starts with: what it is and which run it came from."""
    return {"format": fmt, "run_manifest_sha256": manifest_sha256(run_dir), "run_rows": manifest["rows"],
            "run_dtype": manifest["dtype"], "row_len": manifest["row_len"],
            "eos_id": manifest.get("tokenizer", {}).get("eos_id")}
