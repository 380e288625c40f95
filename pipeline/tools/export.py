"""pileprep export --format megatron DIR OUT: a run's documents as a Megatron-LM / GPT-NeoX indexed dataset.

Writes OUT.bin and OUT.idx (the "mmap" MMIDIDX format, version 1) with one sequence per document,
in stream order. Convention: each sequence is the document's token ids followed by its EOS, so
the .bin is exactly the run's token stream from its first token up to the EOS of the last document
that ends inside the packed rows. The document cut by the end of the last row (its EOS is not in
the shards) and documents wholly in the left-over tokens are not exported, and are counted.

Token spans come from the lineage sidecars (global_start, global_end = EOS position); the tokens
come from the shards, read as memory maps a block of rows at a time, never loaded whole.

    export_megatron("out/", "megatron/pile_text_document")  # -> .bin + .idx
"""
import os
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from schemas.run import load_manifest, open_shard, safe_path
from transforms.errors import PileprepError

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
# Dtype codes of Megatron-LM's DType enum (megatron/core/datasets/indexed_dataset.py: uint8 1,
# int8 2, int16 3, int32 4, int64 5, float64 6, float32 7, uint16 8). GPT-NeoX's `dtypes` dict
# (megatron/data/indexed_dataset.py) agrees on 1-5 and 8 and differs only on the float codes.
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3,
               np.dtype(np.int32): 4, np.dtype(np.int64): 5, np.dtype(np.uint16): 8}
# Neither knows uint32: uint32 shards are written as int32, which both pick for vocabularies of
# 65,500 ids and more (optimal_dtype / __best_fitting_dtype); token ids stay far below 2**31.
_BIN_DTYPE = {"uint16": np.dtype(np.uint16), "uint32": np.dtype(np.int32)}
_BLOCK_ROWS = 4096  # rows per read: 16 MiB of uint16, whatever the shard's size


@dataclass(frozen=True)
class Exported:
    """What export_megatron wrote and what it left out."""

    bin_path: str
    idx_path: str
    dtype: str  # of the .bin
    dtype_code: int  # Megatron's code for it, in the .idx header
    documents: int  # sequences written, one per document
    tokens: int  # in the .bin, EOS included
    partial: int  # documents started in the rows whose EOS lies past the last row (0 or 1)
    left_over: int  # packed documents with no token in the rows at all


def document_spans(run_dir: str, manifest: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(global_start, global_end) of every document with tokens in the rows, in stream order.

    A document that crosses a shard edge is in both shards' sidecars; it is counted once. The
    spans must tile the stream from token 0: document k + 1 starts right after document k's EOS.
    """
    manifest = manifest or load_manifest(run_dir)
    starts, ends = [], []
    for shard in manifest["shards"]:
        table = pq.read_table(safe_path(run_dir, shard["lineage"]["path"]), columns=["global_start", "global_end"])
        starts.append(table.column("global_start").to_numpy())
        ends.append(table.column("global_end").to_numpy())
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    start, end = np.concatenate(starts), np.concatenate(ends)
    start, first = np.unique(start, return_index=True)
    end = end[first]
    if len(start) and (start[0] != 0 or np.any(start[1:] != end[:-1] + 1) or np.any(end < start)):
        raise PileprepError(f"the lineage sidecars of {run_dir} do not tile the token stream "
                            "(a document does not start right after the previous EOS): "
                            f"run pileprep verify {run_dir} and re-run if it reports damage")
    return start, end


def stream_tokens(run_dir: str, manifest: dict, begin: int, end: int, block_rows: int = _BLOCK_ROWS):
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
        rows = open_shard(safe_path(run_dir, shard["path"]), dtype=manifest["dtype"], rows=n)
        # rows r0..r1-1 give tokens [2048 r0, 2048 r1); the final row also gives token 2048 n
        for r0 in range(min(lo // seq, n - 1), min(-(-hi // seq), n), block_rows):
            r1 = min(r0 + block_rows, n)
            flat = rows[r0:r1, :seq].reshape(-1)
            if r1 == n:
                flat = np.concatenate([flat, rows[n - 1, seq:]])
            base = r0 * seq
            yield flat[max(lo - base, 0):hi - base]
        del rows


def export_megatron(run_dir: str, out_prefix: str) -> Exported:
    """Write out_prefix.bin and out_prefix.idx; return what was written and what was left out."""
    manifest = load_manifest(run_dir)
    dtype = _BIN_DTYPE[manifest["dtype"]]
    code = DTYPE_CODES[dtype]
    start, end = document_spans(run_dir, manifest)
    in_rows = manifest["tokens"]["in_rows"]
    whole = end < in_rows  # the EOS is inside the rows
    partial = int(len(end) - whole.sum())
    start, end = start[whole], end[whole]
    sizes = (end - start + 1).astype(np.int32)  # ids + EOS
    pointers = np.zeros(len(sizes), np.int64)
    np.cumsum(sizes[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)  # one sequence per document

    os.makedirs(os.path.dirname(os.path.abspath(out_prefix)), exist_ok=True)
    bin_path, idx_path = out_prefix + ".bin", out_prefix + ".idx"
    written = 0
    with open(bin_path + ".tmp", "wb") as f:
        if len(sizes):
            for chunk in stream_tokens(run_dir, manifest, int(start[0]), int(end[-1]) + 1):
                f.write(chunk.astype(dtype, copy=False).tobytes())
                written += len(chunk)
    if written != int(sizes.sum(dtype=np.int64)):
        raise PileprepError(f"read {written} tokens from the shards of {run_dir}, the lineage says "
                            f"{int(sizes.sum())}: run pileprep verify {run_dir}")
    with open(idx_path + ".tmp", "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", VERSION))
        f.write(struct.pack("<B", code))
        f.write(struct.pack("<Q", len(sizes)))  # sequences
        f.write(struct.pack("<Q", len(doc_idx)))  # as Megatron writes it: len(document_indices) = n + 1
        f.write(sizes.tobytes())
        f.write(pointers.tobytes())
        f.write(doc_idx.tobytes())
    os.replace(bin_path + ".tmp", bin_path)
    os.replace(idx_path + ".tmp", idx_path)
    packed = manifest["counts"]["documents"]["packed"]
    return Exported(bin_path, idx_path, dtype.name, code, len(sizes), written, partial,
                    packed - len(whole))


def add_parser(subparsers):
    p = subparsers.add_parser("export", help="write a run's documents in another trainer's format",
                              description="--format megatron: OUT.bin + OUT.idx, a Megatron-LM / GPT-NeoX "
                                          "indexed dataset (MMIDIDX v1), one sequence per document, "
                                          "each ending with its EOS.")
    p.add_argument("--format", default="megatron", choices=("megatron",), help="(default: megatron)")
    p.add_argument("dir", metavar="DIR", help="a completed pileprep run")
    p.add_argument("out", metavar="OUT", help="output prefix: writes OUT.bin and OUT.idx")
    return p


def cmd_export(args, _beam_args) -> int:
    e = export_megatron(args.dir, args.out)
    print(f"wrote {e.bin_path} and {e.idx_path}: {e.documents:,} documents, {e.tokens:,} tokens "
          f"({e.dtype}, Megatron dtype code {e.dtype_code}), each document ending with its EOS")
    print(f"not exported: {e.partial} document cut by the end of the last row, "
          f"{e.left_over:,} wholly in the {args.dir} run's left-over tokens")
    return 0
