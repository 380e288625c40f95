"""pileprep export --format mds DIR OUT: a run's rows as MosaicML Streaming (MDS) shards for llm-foundry.

OUT/shard.00000.mds ... and OUT/index.json, byte for byte what `streaming.MDSWriter(columns=
{"tokens": "bytes"})` writes (tested against it): one sample a row, `tokens` = the row's 2049 ids
as raw bytes, as llm-foundry's convert_dataset_json / convert_dataset_hf write them. Their dtype
is what llm-foundry's text dataloader must be told (`token_encoding_type`): int64 by default, its
default; `--token-dtype uint16` is 4x smaller. llm-foundry reads `tokens[:max_seq_len]`: with
max_seq_len 2048 each row gives its 2048 inputs and the next row starts where it stopped.

An MDS shard is num_samples (uint32), num_samples + 1 offsets (uint32), the writer's config as
sorted JSON, then the samples (each: its size as uint32, then its bytes); a shard takes samples
while it stays within size_limit (MDSWriter's rule). Written here without `streaming`, 256
samples at a time, so memory holds one shard's rows (16 MiB of uint16 by default) and a block.

    export_mds("out/", "mds/", token_dtype="int64")   # -> record of OUT/export.json
"""
import json
import os

import numpy as np

from pipeline.tools.export.stream import (RECORD, base_record, prepare_dir, regroup, row_blocks, seal,
                                          tmp_path, write_record)
from schemas.run import ROW_LEN, load_manifest
from transforms.errors import PileprepError

SIZE_LIMIT = 1 << 26  # bytes a shard: MDSWriter's default (64 MiB)
TOKEN_DTYPES = ("int64", "int32", "uint16")  # llm-foundry's token_encoding_type values that hold GPT-2 ids
_COLUMNS = {"column_encodings": ["bytes"], "column_names": ["tokens"], "column_sizes": [None]}


def _config(size_limit: int) -> dict:
    return {**_COLUMNS, "compression": None, "format": "mds", "hashes": [], "size_limit": size_limit, "version": 2}


def write_shard(f, rows: np.ndarray, dtype: np.dtype, config_data: bytes, block: int = 256) -> int:
    """Write one MDS shard of the rows (one sample each) to f, `block` samples at a time; its size."""
    item = ROW_LEN * dtype.itemsize
    n = len(rows)
    offsets = 4 + 4 * (n + 1) + len(config_data) + (4 + item) * np.arange(n + 1, dtype=np.int64)
    f.write(np.uint32(n).tobytes() + offsets.astype("<u4").tobytes() + config_data)
    size = np.frombuffer(np.uint32(item).tobytes(), np.uint8)
    for r0 in range(0, n, block):
        part = rows[r0:r0 + block]
        samples = np.empty((len(part), 4 + item), np.uint8)
        samples[:, :4] = size
        samples[:, 4:] = part.astype(dtype.newbyteorder("<")).view(np.uint8).reshape(len(part), item)
        f.write(samples.data)
    return int(offsets[-1])


def export_mds(run_dir: str, out_dir: str, *, token_dtype: str = "int64", size_limit: int = SIZE_LIMIT) -> dict:
    """Write OUT/shard.NNNNN.mds, OUT/index.json and OUT/export.json; return the record."""
    if token_dtype not in TOKEN_DTYPES:
        raise PileprepError(f"--token-dtype {token_dtype!r}: choose one of {', '.join(TOKEN_DTYPES)}")
    manifest = load_manifest(run_dir)
    vocab = manifest.get("tokenizer", {}).get("vocab_size", 0)
    if token_dtype == "uint16" and (manifest["dtype"] != "uint16" or vocab > 65536):
        raise PileprepError(f"the run's ids are {manifest['dtype']} (vocabulary {vocab:,}): uint16 cannot hold "
                            f"them, pass --token-dtype int32 or int64")
    dtype = np.dtype(token_dtype)
    config = _config(size_limit)
    config_data = json.dumps(config, sort_keys=True).encode()
    per_shard = (size_limit - 8 - len(config_data)) // (4 + 4 + ROW_LEN * dtype.itemsize)
    if per_shard < 1:
        raise PileprepError(f"--size-limit {size_limit} is smaller than one sample: give at least "
                            f"{8 + len(config_data) + 8 + ROW_LEN * dtype.itemsize} bytes")
    prepare_dir(out_dir)
    shards, files = [], []
    for k, rows in enumerate(regroup(row_blocks(run_dir, manifest), per_shard)):
        name = f"shard.{k:05d}.mds"
        path = os.path.join(out_dir, name)
        with open(tmp_path(path), "wb") as f:
            size = write_shard(f, rows, dtype, config_data)
        files.append(seal(tmp_path(path), path, root=out_dir))
        shards.append({**config, "raw_data": {"basename": name, "bytes": size, "hashes": {}},
                       "samples": len(rows), "zip_data": None})
    index = os.path.join(out_dir, "index.json")
    with open(tmp_path(index), "w", encoding="utf-8") as f:
        json.dump({"shards": shards, "version": 2}, f, sort_keys=True)
    files.append(seal(tmp_path(index), index, root=out_dir))
    record = {**base_record("mds", run_dir, manifest), "token_encoding_type": token_dtype, "column": "tokens",
              "rows": manifest["rows"], "tokens": manifest["rows"] * ROW_LEN, "shards": len(shards), "files": files}
    return write_record(os.path.join(out_dir, RECORD), record)


def describe(record: dict, run_dir: str) -> str:
    return (f"{record['rows']:,} samples of {record['row_len']} ids ({record['token_encoding_type']} bytes in "
            f"`tokens`) in {record['shards']} MDS shards: llm-foundry token_encoding_type: "
            f"{record['token_encoding_type']}")
