"""pileprep export --format litdata DIR OUT: a run's rows in LitData's optimized format, as litgpt streams it.

OUT/chunk-0-00000.bin ... and OUT/index.json, the layout `litdata.optimize(..., item_loader=
TokensLoader())` writes: each item is one row of 2049 token ids as a headerless tensor of the run's
dtype ("no_header_tensor", torch.uint16 = LitData's dtype index 20, int32 = 15); a chunk is
num_items (uint32), num_items + 1 offsets from the chunk's start (uint32), then the items. A chunk
holds whole rows only, so `TokensLoader(block_size=2049)` reads row i as block i:
`litdata.StreamingDataset("OUT", item_loader=TokensLoader(block_size=2049), shuffle=False)[i]` is row i.
litgpt's pretraining data modules read exactly this (`block_size = max_seq_length + 1`). Written
here without litdata (no timestamps: `updated_at` "0" makes litdata key its cache on the path), a
chunk at a time, so memory holds one chunk.

    export_litdata("out/", "litdata/")   # -> record of OUT/export.json
"""
import json
import os

import numpy as np

from pipeline.tools.export.stream import (RECORD, base_record, prepare_dir, regroup, row_blocks, seal,
                                          tmp_path, write_record)
from schemas.run import ROW_LEN, load_manifest
from transforms.errors import PileprepError

CHUNK_ROWS = 8192  # 32 MiB of uint16 a chunk; litgpt's own preparation uses chunks of 8192 blocks too
# litdata.constants._TORCH_DTYPES_MAPPING: the index that names the dtype in "no_header_tensor:N"
_DTYPE_INDEX = {"uint16": 20, "uint32": 15}  # uint32 ids (< 2**31) are written as int32, as torch has no uint32 loader
_STORE = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<i4")}


def chunk_bytes(rows: np.ndarray, dtype: np.dtype) -> bytes:
    """One LitData chunk of the given rows: header (count, offsets from the chunk's start), then rows."""
    n, item = len(rows), ROW_LEN * dtype.itemsize
    header = 4 * (n + 2)
    offsets = header + item * np.arange(n + 1, dtype=np.int64)
    if offsets[-1] >= 2**32:
        raise PileprepError(f"a LitData chunk of {n} rows passes 4 GiB: pass a smaller --chunk-rows")
    return np.uint32(n).tobytes() + offsets.astype("<u4").tobytes() + rows.astype(dtype, copy=False).tobytes()


def export_litdata(run_dir: str, out_dir: str, *, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Write OUT/chunk-0-NNNNN.bin, OUT/index.json and OUT/export.json; return the record."""
    if chunk_rows < 1:
        raise PileprepError(f"--chunk-rows must be at least 1, got {chunk_rows}")
    manifest = load_manifest(run_dir)
    dtype = _STORE[manifest["dtype"]]
    prepare_dir(out_dir)
    chunks, files = [], []
    for k, rows in enumerate(regroup(row_blocks(run_dir, manifest), chunk_rows)):
        name = f"chunk-0-{k:05d}.bin"
        path = os.path.join(out_dir, name)
        data = chunk_bytes(rows, dtype)
        with open(tmp_path(path), "wb") as f:
            f.write(data)
        files.append(seal(tmp_path(path), path, root=out_dir))
        chunks.append({"chunk_bytes": len(data), "chunk_size": len(rows), "dim": len(rows) * ROW_LEN,
                       "filename": name})
    config = {"chunk_bytes": None, "chunk_size": chunk_rows * ROW_LEN, "compression": None,
              "compression_batch_size": None, "compression_level": None, "ipc_compression": None, "types": "tensor",
              "data_format": [f"no_header_tensor:{_DTYPE_INDEX[manifest['dtype']]}"],
              "data_spec": json.dumps([1, {"type": None, "context": None, "children_spec": []}]),
              "encryption": None, "item_loader": "TokensLoader"}
    index = os.path.join(out_dir, "index.json")
    with open(tmp_path(index), "w", encoding="utf-8") as f:
        json.dump({"chunks": chunks, "config": config, "updated_at": "0"}, f, sort_keys=True)
    files.append(seal(tmp_path(index), index, root=out_dir))
    record = {**base_record("litdata", run_dir, manifest), "dtype": str(np.dtype(dtype.str[1:])),
              "rows": manifest["rows"], "tokens": manifest["rows"] * ROW_LEN, "block_size": ROW_LEN,
              "chunks": len(chunks), "files": files}
    return write_record(os.path.join(out_dir, RECORD), record)


def describe(record: dict, run_dir: str) -> str:
    return (f"{record['rows']:,} rows of {record['block_size']} {record['dtype']} ids in {record['chunks']} "
            f"chunks: StreamingDataset(OUT, item_loader=TokensLoader(block_size={record['block_size']}))")
