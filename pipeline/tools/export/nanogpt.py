"""pileprep export --format nanogpt DIR OUT: a run as nanoGPT's train.bin and val.bin.

Flat uint16 token streams, read by nanoGPT's train.py with `np.memmap(path, dtype=np.uint16,
mode="r")`. Without --val, train.bin is the run's whole token stream (every row's 2048 inputs,
then the final token) and val.bin a holdout; where the holdout comes from:

- `--val DIR`, a held-out run (e.g. `pileprep run` on pile/val.jsonl.zst): val.bin is its whole
  stream and train.bin this run's whole stream;
- else a seeded fraction of rows (`--val-fraction`, default 0.0005 as nanoGPT's openwebtext
  prepare.py; `--seed`): `max(1, round(fraction x rows))` rows chosen by
  `np.random.default_rng(seed).choice(rows, k, replace=False)`; each row gives its first 2048
  ids to its split, and the run's final token goes with the last row. Every token of the run is
  in exactly one file; the chosen rows are listed in export.json (`val_rows`).

uint16 holds GPT-2's 50,257 ids; a run of another dtype or a vocabulary above 65,536 is refused.

    export_nanogpt("out/", "nanogpt/", val_fraction=0.0005, seed=0)   # -> record of OUT/export.json
"""
import os

import numpy as np

from pipeline.tools.export.stream import (RECORD, base_record, manifest_sha256, prepare_dir, row_blocks, seal, stream_tokens,
                                          tmp_path, write_record)
from schemas.run import load_manifest
from transforms.errors import PileprepError

VAL_FRACTION = 0.0005  # nanoGPT's data/openwebtext/prepare.py: test_size=0.0005


def _check_uint16(run_dir: str, manifest: dict) -> None:
    vocab = manifest.get("tokenizer", {}).get("vocab_size", 0)
    if manifest["dtype"] != "uint16" or vocab > 65536:
        raise PileprepError(f"{run_dir} holds {manifest['dtype']} ids of a {vocab:,}-id vocabulary: nanoGPT's "
                            f".bin files are uint16, which holds at most 65,536 ids; export it with "
                            f"--format megatron or hf instead")


def _write_stream(run_dir: str, manifest: dict, path: str) -> int:
    with open(path, "wb") as f:
        n = 0
        for chunk in stream_tokens(run_dir, manifest, 0, manifest["tokens"]["in_rows"]):
            f.write(chunk.astype("<u2", copy=False).tobytes())
            n += len(chunk)
    return n


def _write_split(run_dir: str, manifest: dict, val_rows: np.ndarray, train_path: str, val_path: str) -> tuple:
    seq, total = manifest["seq_len"], manifest["rows"]
    counts = [0, 0]
    with open(train_path, "wb") as train_f, open(val_path, "wb") as val_f:
        for first, rows in row_blocks(run_dir, manifest):
            is_val = np.isin(np.arange(first, first + len(rows)), val_rows)
            for flag, f in ((False, train_f), (True, val_f)):
                part = rows[is_val == flag, :seq]
                f.write(part.astype("<u2", copy=False).tobytes())
                counts[flag] += part.size
                if first + len(rows) == total and is_val[-1] == flag:  # the run's final token
                    f.write(rows[-1, seq:].astype("<u2").tobytes())
                    counts[flag] += 1
    return counts[0], counts[1]


def export_nanogpt(run_dir: str, out_dir: str, *, val: str | None = None, val_fraction: float = VAL_FRACTION,
                   seed: int = 0) -> dict:
    """Write OUT/train.bin, OUT/val.bin and OUT/export.json; return the record."""
    manifest = load_manifest(run_dir)
    _check_uint16(run_dir, manifest)
    if val is None and not 0 < val_fraction < 1:
        raise PileprepError(f"--val-fraction must be between 0 and 1 (exclusive), got {val_fraction}; "
                            "or give a held-out run with --val DIR")
    val_manifest = load_manifest(val) if val is not None else None
    if val_manifest is not None:
        _check_uint16(val, val_manifest)
    prepare_dir(out_dir)
    train_path, val_path = os.path.join(out_dir, "train.bin"), os.path.join(out_dir, "val.bin")
    record = base_record("nanogpt", run_dir, manifest)
    if val_manifest is not None:
        train_tokens = _write_stream(run_dir, manifest, tmp_path(train_path))
        val_tokens = _write_stream(val, val_manifest, tmp_path(val_path))
        record["val"] = {"source": "run", "run_manifest_sha256": manifest_sha256(val)}
    else:
        k = max(1, round(val_fraction * manifest["rows"]))
        if k >= manifest["rows"]:
            raise PileprepError(f"{run_dir} has {manifest['rows']} rows: too few to hold out {k}; "
                                "give a held-out run with --val DIR")
        val_rows = np.sort(np.random.default_rng(seed).choice(manifest["rows"], k, replace=False))
        train_tokens, val_tokens = _write_split(run_dir, manifest, val_rows, tmp_path(train_path), tmp_path(val_path))
        record["val"] = {"source": "fraction", "fraction": val_fraction, "seed": seed, "val_rows": val_rows.tolist()}
    files = [seal(tmp_path(train_path), train_path, root=out_dir), seal(tmp_path(val_path), val_path, root=out_dir)]
    record.update(dtype="uint16", train_tokens=train_tokens, val_tokens=val_tokens, files=files)
    return write_record(os.path.join(out_dir, RECORD), record)


def describe(record: dict, run_dir: str) -> str:
    return (f"train.bin {record['train_tokens']:,} and val.bin {record['val_tokens']:,} uint16 tokens "
            f"(val from {record['val']['source']}): np.memmap(path, dtype=np.uint16, mode='r')")
