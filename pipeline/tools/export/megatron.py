"""pileprep export --format megatron DIR OUT: a run's documents as a Megatron-LM / GPT-NeoX indexed dataset.

Writes OUT.bin and OUT.idx (the "mmap" MMIDIDX format, version 1) with one sequence per document,
in stream order, and OUT.export.json (counts, sha256). Convention: each sequence is the document's
token ids followed by its EOS, so the .bin is exactly the run's token stream from its first token
up to the EOS of the last document that ends inside the packed rows. The document cut by the end
of the last row (its EOS is not in the shards) and documents wholly in the left-over tokens are
not exported, and are counted.

Token spans come from the lineage sidecars (global_start, global_end = EOS position), read one
sidecar at a time; the index arrays go through temporary files, the tokens come from the shards a
block of rows at a time: memory does not grow with the run.

    export_megatron("out/", "megatron/pile_text_document")  # -> .bin + .idx + .export.json
"""
import os
import shutil
import struct

import numpy as np
import pyarrow.parquet as pq

from pipeline.tools.export.stream import base_record, seal, stream_tokens, tmp_path, write_record
from schemas.run import load_manifest, safe_path
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


def document_spans(run_dir: str, manifest: dict | None = None):
    """Yield (global_start, global_end) arrays of the documents with tokens in the rows, one
    sidecar at a time, in stream order.

    A document that crosses a shard edge is in both shards' sidecars; it is yielded once. The
    spans must tile the stream from token 0: document k + 1 starts right after document k's EOS.
    """
    manifest = manifest or load_manifest(run_dir)
    next_start = 0
    for shard in manifest["shards"]:
        table = pq.read_table(safe_path(run_dir, shard["lineage"]["path"]), columns=["global_start", "global_end"])
        start, end = table.column("global_start").to_numpy(), table.column("global_end").to_numpy()
        new = start >= next_start  # the document continued from the previous shard is not new
        start, end = start[new], end[new]
        if len(start) and (start[0] != next_start or np.any(start[1:] != end[:-1] + 1) or np.any(end < start)):
            raise PileprepError(f"the lineage sidecars of {run_dir} do not tile the token stream "
                                "(a document does not start right after the previous EOS): "
                                f"run pileprep verify {run_dir} and re-run if it reports damage")
        if len(start):
            next_start = int(end[-1]) + 1
            yield start, end


def _write_index_arrays(run_dir, manifest, itemsize, sizes_path, pointers_path) -> tuple[int, int, int]:
    """Write the sizes (int32) and pointers (int64) of the whole documents to two files; return
    (documents, tokens, partial)."""
    in_rows = manifest["tokens"]["in_rows"]
    documents = tokens = partial = 0
    with open(sizes_path, "wb") as sizes_f, open(pointers_path, "wb") as pointers_f:
        for start, end in document_spans(run_dir, manifest):
            whole = end < in_rows  # the EOS is inside the rows
            partial += int(len(end) - whole.sum())
            sizes = (end[whole] - start[whole] + 1).astype(np.int64)  # ids + EOS
            pointers = (tokens + np.concatenate([[0], np.cumsum(sizes)[:-1]])) * itemsize
            sizes_f.write(sizes.astype(np.int32).tobytes())
            pointers_f.write(pointers.astype(np.int64).tobytes())
            documents, tokens = documents + len(sizes), tokens + int(sizes.sum())
    return documents, tokens, partial


def _copy_into(f, path: str) -> None:
    with open(path, "rb") as src:
        shutil.copyfileobj(src, f, 1 << 20)
    os.remove(path)


def export_megatron(run_dir: str, out_prefix: str) -> dict:
    """Write out_prefix.bin, .idx and .export.json; return the record (also what was left out)."""
    manifest = load_manifest(run_dir)
    dtype = _BIN_DTYPE[manifest["dtype"]]
    code = DTYPE_CODES[dtype]
    root = os.path.dirname(os.path.abspath(out_prefix))
    os.makedirs(root, exist_ok=True)
    bin_path, idx_path = out_prefix + ".bin", out_prefix + ".idx"
    sizes_tmp, pointers_tmp = tmp_path(out_prefix + ".sizes"), tmp_path(out_prefix + ".pointers")
    documents, tokens, partial = _write_index_arrays(run_dir, manifest, dtype.itemsize, sizes_tmp, pointers_tmp)
    written = 0
    with open(tmp_path(bin_path), "wb") as f:
        for chunk in stream_tokens(run_dir, manifest, 0, tokens):
            f.write(chunk.astype(dtype, copy=False).tobytes())
            written += len(chunk)
    if written != tokens:
        raise PileprepError(f"read {written} tokens from the shards of {run_dir}, the lineage says "
                            f"{tokens}: run pileprep verify {run_dir}")
    with open(tmp_path(idx_path), "wb") as f:
        f.write(MAGIC + struct.pack("<QBQQ", VERSION, code, documents, documents + 1))
        _copy_into(f, sizes_tmp)
        _copy_into(f, pointers_tmp)
        for d0 in range(0, documents + 1, 1 << 20):  # document_indices: one sequence per document
            f.write(np.arange(d0, min(d0 + (1 << 20), documents + 1), dtype=np.int64).tobytes())
    files = [seal(tmp_path(bin_path), bin_path, root=root), seal(tmp_path(idx_path), idx_path, root=root)]
    packed = manifest["counts"]["documents"]["packed"]
    record = {**base_record("megatron", run_dir, manifest), "dtype": dtype.name, "dtype_code": code,
              "documents": documents, "tokens": tokens, "partial": partial,
              "left_over": packed - documents - partial, "files": files}
    return write_record(out_prefix + ".export.json", record)


def describe(record: dict, run_dir: str) -> str:
    return (f"{record['documents']:,} documents, {record['tokens']:,} tokens ({record['dtype']}, Megatron "
            f"dtype code {record['dtype_code']}), each document ending with its EOS\n"
            f"not exported: {record['partial']} document cut by the end of the last row, "
            f"{record['left_over']:,} wholly in the {run_dir} run's left-over tokens")
