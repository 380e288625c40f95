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

from schemas.run import ROW_LEN, load_manifest, open_shard, safe_path
from transforms.errors import PileprepError


def _offline():
    # read by datasets / huggingface_hub at import: set before the first import in this process
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"


def rows_table(run_dir: str) -> pa.Table:
    """The run's rows as an Arrow table with one column, input_ids: fixed_size_list<dtype>[2049]."""
    manifest = load_manifest(run_dir)
    list_type = pa.list_(pa.from_numpy_dtype(np.dtype(manifest["dtype"])), ROW_LEN)
    chunks = []
    for shard in manifest["shards"]:
        rows = open_shard(safe_path(run_dir, shard["path"]), dtype=manifest["dtype"], rows=shard["rows"])
        # pa.array wraps the contiguous memory map's buffer; no per-token Python objects are made
        values = pa.array(np.asarray(rows).reshape(-1))
        chunks.append(pa.FixedSizeListArray.from_arrays(values, ROW_LEN))
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

    files = [safe_path(run_dir, s["lineage"]["path"]) for s in load_manifest(run_dir)["shards"]]
    if not files:
        raise PileprepError(f"{run_dir} has no shards, so no lineage to load")
    return datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=cache_dir)
