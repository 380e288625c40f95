"""pileprep export --format hf DIR OUT: a run's rows as Parquet, a Hugging Face dataset repository.

OUT/data/train-00000-of-0000N.parquet, one file per shard of the run, each row a column
`input_ids` of 2049 token ids (Arrow fixed_size_list of the run's dtype), in row order; row
groups of 1024 rows, written as they are read, so memory holds one row group. OUT/README.md is a
dataset card whose `configs` name the files, so the folder itself is a dataset repository:

    import datasets
    ds = datasets.load_dataset("parquet", data_files="OUT/data/*.parquet", split="train")
    ds.push_to_hub("me/pile-gpt2-2049")        # or: hf upload me/pile-gpt2-2049 OUT --repo-type dataset

    export_parquet("out/", "hf/")              # -> record of OUT/export.json
"""
import os

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.tools.export.stream import RECORD, base_record, prepare_dir, row_blocks, seal, tmp_path, write_record
from pipeline.tools.hf import rows_array
from schemas.run import ROW_LEN, load_manifest

ROW_GROUP = 1024  # rows a row group: 4 MiB of uint16, the unit a reader seeks to
DATA = "data"

_CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---
# {rows:,} rows of {row_len} GPT-2 token ids

Prepared with pileprep from the EleutherAI Pile: each row is `input_ids`, {row_len} token ids
({dtype}); consecutive rows share one token, so `x = row[:-1]`, `y = row[1:]` makes every token a
target exactly once. Tokenizer: {tokenizer}, EOS {eos}. Source run manifest sha256: `{sha}`.
"""


def export_parquet(run_dir: str, out_dir: str) -> dict:
    """Write OUT/data/*.parquet, OUT/README.md and OUT/export.json; return the record."""
    manifest = load_manifest(run_dir)
    prepare_dir(out_dir)
    os.makedirs(os.path.join(out_dir, DATA))
    schema = pa.schema([("input_ids", pa.list_(pa.from_numpy_dtype(manifest["dtype"]), ROW_LEN))])
    shards, files = manifest["shards"], []
    blocks = row_blocks(run_dir, manifest, ROW_GROUP)
    for k, shard in enumerate(shards):
        path = os.path.join(out_dir, DATA, f"train-{k:05d}-of-{len(shards):05d}.parquet")
        # no dictionary: 4x faster on token ids (44 vs 11 MB/s measured), 1.24x vs 1.03x the .npy size
        with pq.ParquetWriter(tmp_path(path), schema, compression="zstd", use_dictionary=False) as writer:
            for _ in range(-(-shard["rows"] // ROW_GROUP)):  # row_blocks never crosses a shard
                _, rows = next(blocks)
                writer.write_table(pa.table([rows_array(rows)], schema=schema))
        files.append(seal(tmp_path(path), path, root=out_dir))
    record = base_record("hf", run_dir, manifest)
    card = os.path.join(out_dir, "README.md")
    with open(tmp_path(card), "w", encoding="utf-8") as f:
        f.write(_CARD.format(rows=manifest["rows"], row_len=ROW_LEN, dtype=manifest["dtype"],
                             tokenizer=manifest.get("tokenizer", {}).get("name"), eos=record["eos_id"],
                             sha=record["run_manifest_sha256"]))
    files.append(seal(tmp_path(card), card, root=out_dir))
    record.update(rows=manifest["rows"], tokens=manifest["rows"] * ROW_LEN, column="input_ids", files=files,
                  data_files=[f["path"] for f in files[:-1]])  # for load_dataset("parquet", data_files=...)
    return write_record(os.path.join(out_dir, RECORD), record)


def describe(record: dict, run_dir: str) -> str:
    return (f"{record['rows']:,} rows of {record['row_len']} ids in {len(record['files']) - 1} Parquet files "
            f"(column input_ids) and a dataset card: load_dataset('parquet', data_files=OUT/data/*.parquet)")
