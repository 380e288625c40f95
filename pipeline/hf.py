"""A run as Hugging Face `datasets`: its packed rows, and its lineage sidecars.

`load_hf` wraps each shard's memory map in Arrow without going through Python lists: the
[rows, 2049] array becomes a FixedSizeList column `input_ids` (one chunk per shard, in shard
order), so row i of the dataset is row i of the run. `load_lineage` reads the sidecars with the
"parquet" builder, offline: it only ever reads local files.

    rows = load_hf("out/")            # rows[0]["input_ids"]: 2049 token ids
    lineage = load_lineage("out/")    # id, source, start, end, global_start, global_end
"""
import os

import numpy as np
import pyarrow as pa

from pipeline.verify import load_manifest, safe_path
from transforms.errors import PileprepError


def _offline():
    # read by datasets / huggingface_hub at import: set before the first import in this process
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"


def _path(run_dir: str, relpath: str) -> str:
    path = safe_path(run_dir, relpath)
    if path is None:
        raise PileprepError(f"{relpath!r} leaves {run_dir}: refused (run pileprep verify {run_dir})")
    return path


def rows_table(run_dir: str) -> pa.Table:
    """The run's rows as an Arrow table with one column, input_ids: fixed_size_list<dtype>[2049]."""
    manifest = load_manifest(run_dir)
    row_len, dtype = manifest["row_len"], np.dtype(manifest["dtype"])
    list_type = pa.list_(pa.from_numpy_dtype(dtype), row_len)
    chunks = []
    for shard in manifest["shards"]:
        rows = np.load(_path(run_dir, shard["path"]), mmap_mode="r", allow_pickle=False)
        if rows.dtype != dtype or rows.ndim != 2 or rows.shape[1] != row_len:
            raise PileprepError(f"shard {shard['path']} holds {rows.dtype} {rows.shape}, the manifest "
                                f"says {dtype} (rows, {row_len}): run pileprep verify {run_dir}")
        # pa.array wraps the contiguous memory map's buffer; no per-token Python objects are made
        values = pa.array(np.asarray(rows).reshape(-1))
        chunks.append(pa.FixedSizeListArray.from_arrays(values, row_len))
    return pa.table({"input_ids": pa.chunked_array(chunks, type=list_type)})


def load_hf(run_dir: str):
    """The run's packed rows as a datasets.Dataset with one column, input_ids (2049 ids a row)."""
    _offline()
    import datasets

    return datasets.Dataset(rows_table(run_dir))


def load_lineage(run_dir: str, cache_dir: str | None = None):
    """Every shard's lineage sidecar, concatenated in shard order, as a datasets.Dataset.

    A document that crosses a shard edge has a row in both shards' sidecars, as on disk.
    """
    _offline()
    import datasets

    files = [_path(run_dir, s["lineage"]["path"]) for s in load_manifest(run_dir)["shards"]]
    if not files:
        raise PileprepError(f"{run_dir} has no shards, so no lineage to load")
    return datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=cache_dir)
