"""A run as Hugging Face `datasets`: its packed rows, and its lineage sidecars.

`load_hf` wraps each shard's memory map in Arrow without going through Python lists: the
[rows, 2049] array becomes a FixedSizeList column `input_ids` (one chunk per shard, in shard
order), so row i of the dataset is row i of the run. `load_lineage` reads the sidecars with the
"parquet" builder: it only ever reads local files. Neither switches the process offline, so a
dataset loaded here can be pushed (`load_hf(d).push_to_hub(repo)`); to publish a run as files,
`pileprep export --format hf DIR OUT` writes Parquet (pipeline/tools/export/parquet.py).

    rows = load_hf("out/")            # rows[0]["input_ids"]: 2049 token ids
    lineage = load_lineage("out/")    # id, source, start, end, global_start, global_end
"""
import numpy as np
import pyarrow as pa

from schemas.run import ROW_LEN, load_manifest, open_shard, safe_path
from transforms.errors import PileprepError


def rows_array(rows: np.ndarray) -> pa.FixedSizeListArray:
    """[n, 2049] token ids as Arrow fixed_size_list<dtype>[2049], over the same memory when it is contiguous."""
    # pa.array wraps a contiguous buffer (a memory map's too); no per-token Python objects are made
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(rows).reshape(-1)), ROW_LEN)


def rows_table(run_dir: str) -> pa.Table:
    """The run's rows as an Arrow table with one column, input_ids: fixed_size_list<dtype>[2049]."""
    manifest = load_manifest(run_dir)
    list_type = pa.list_(pa.from_numpy_dtype(np.dtype(manifest["dtype"])), ROW_LEN)
    chunks = []
    for shard in manifest["shards"]:
        rows = open_shard(safe_path(run_dir, shard["path"]), dtype=manifest["dtype"], rows=shard["rows"])
        chunks.append(rows_array(rows))
    return pa.table({"input_ids": pa.chunked_array(chunks, type=list_type)})


def load_hf(run_dir: str):
    """The run's packed rows as a datasets.Dataset with one column, input_ids (2049 ids a row)."""
    import datasets

    return datasets.Dataset(rows_table(run_dir))


def load_lineage(run_dir: str, cache_dir: str | None = None):
    """Every shard's lineage sidecar, concatenated in shard order, as a datasets.Dataset.

    A document that crosses a shard edge has a row in both shards' sidecars, as on disk.
    """
    import datasets

    files = [safe_path(run_dir, s["lineage"]["path"]) for s in load_manifest(run_dir)["shards"]]
    if not files:
        raise PileprepError(f"{run_dir} has no shards, so no lineage to load")
    return datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=cache_dir)
