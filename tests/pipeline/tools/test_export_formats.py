"""pileprep export --format hf|litdata|mds|nanogpt, each read back with the library its users train
with (datasets, litdata, MosaicML streaming, numpy memmap as nanoGPT reads it): every token equals
the shards'. Also: byte-identical reruns, the records' sha256, refusals that name the fix."""
import hashlib
import io
import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.tools.export import export
from pipeline.tools.export.mds import _config, write_shard
from tests.pipeline.tools.conftest import manifest_of, run_rows, run_stream, streaming_dataset_class, synthetic_run
from transforms.errors import PileprepError


def _check_record(out, record):
    assert json.loads((out / "export.json").read_text()) == record
    for entry in record["files"]:
        data = (out / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert not [p for p in out.rglob(".tmp-*")]


def test_hf_parquet_loads_with_datasets(real_run, tmp_path, no_network):
    datasets = pytest.importorskip("datasets")
    record = export(str(real_run), str(tmp_path / "hf"), "hf")
    _check_record(tmp_path / "hf", record)
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "hf" / "data" / "*.parquet"), split="train",
                               cache_dir=str(tmp_path / "cache"))
    rows = run_rows(real_run)
    assert ds.column_names == ["input_ids"] and ds.features["input_ids"].length == 2049
    assert np.array_equal(np.asarray(ds.with_format("numpy")["input_ids"]), rows)
    # the folder is a dataset repository: its card's configs name the files
    by_card = datasets.load_dataset(str(tmp_path / "hf"), split="train", cache_dir=str(tmp_path / "cache2"))
    assert by_card.num_rows == len(rows) == record["rows"]
    assert len(record["files"]) == len(manifest_of(real_run)["shards"]) + 1
    listed = datasets.load_dataset("parquet", data_files=[str(tmp_path / "hf" / p) for p in record["data_files"]],
                                   split="train", cache_dir=str(tmp_path / "cache3"))
    assert listed.num_rows == len(rows)


def test_litdata_streams_every_row(real_run, tmp_path):
    pytest.importorskip("litdata")
    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    record = export(str(real_run), str(tmp_path / "ld"), "litdata", chunk_rows=5)  # chunks cross shards (7 rows)
    _check_record(tmp_path / "ld", record)
    rows = run_rows(real_run)
    ds = StreamingDataset(str(tmp_path / "ld"), item_loader=TokensLoader(block_size=2049), shuffle=False)
    assert len(ds) == len(rows) and record["chunks"] == -(-len(rows) // 5)
    got = np.stack([ds[i].numpy() for i in range(len(ds))])
    assert got.dtype == np.uint16 and np.array_equal(got, rows)
    assert np.array_equal(np.concatenate([b.numpy() for b in ds]), rows.reshape(-1))  # iterated in order


@pytest.mark.parametrize("token_dtype", ["int64", "uint16"])
def test_mds_reads_with_streaming(real_run, tmp_path, token_dtype):
    StreamingDataset = streaming_dataset_class()
    record = export(str(real_run), str(tmp_path / "mds"), "mds", token_dtype=token_dtype)
    _check_record(tmp_path / "mds", record)
    rows = run_rows(real_run)
    ds = StreamingDataset(local=str(tmp_path / "mds"), shuffle=False, batch_size=1)
    assert len(ds) == len(rows)
    got = np.stack([np.frombuffer(ds[i]["tokens"], dtype=token_dtype) for i in range(len(ds))])
    assert np.array_equal(got, rows)  # llm-foundry: np.frombuffer(sample["tokens"], token_encoding_type)


def test_mds_shards_are_mdswriters_bytes(tmp_path):
    streaming_dataset_class()
    from streaming.base.format.mds.writer import MDSWriter

    rows = np.random.default_rng(0).integers(0, 50257, (7, 2049)).astype(np.uint16)
    limit = 3 * (8 + 2049 * 8) + 200 + 8
    with MDSWriter(out=str(tmp_path / "theirs"), columns={"tokens": "bytes"}, size_limit=limit) as writer:
        for row in rows:
            writer.write({"tokens": row.astype(np.int64).tobytes()})
    theirs = (tmp_path / "theirs" / "shard.00000.mds").read_bytes()
    n = int(np.frombuffer(theirs[:4], np.uint32)[0])
    config = json.dumps(_config(limit), sort_keys=True).encode()
    ours = io.BytesIO()
    assert write_shard(ours, rows[:n], np.dtype(np.int64), config, block=2) == len(theirs)
    assert 1 <= n < 7 and ours.getvalue() == theirs


def test_mds_multiple_shards_and_small_limit(real_run, tmp_path):
    record = export(str(real_run), str(tmp_path / "m"), "mds", token_dtype="uint16", size_limit=20 * 4200)
    index = json.loads((tmp_path / "m" / "index.json").read_text())
    assert record["shards"] == len(index["shards"]) > 3
    assert sum(s["samples"] for s in index["shards"]) == manifest_of(real_run)["rows"]
    with pytest.raises(PileprepError, match="smaller than one sample"):
        export(str(real_run), str(tmp_path / "n"), "mds", size_limit=100)


def test_nanogpt_holdout_run(real_run, tmp_path):
    val = synthetic_run(tmp_path / "val", shards=2, rows_per_shard=3)
    record = export(str(real_run), str(tmp_path / "ng"), "nanogpt", val=str(val))
    _check_record(tmp_path / "ng", record)
    train = np.memmap(tmp_path / "ng" / "train.bin", dtype=np.uint16, mode="r")  # as nanoGPT's get_batch
    held = np.memmap(tmp_path / "ng" / "val.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(train, run_stream(real_run)) and np.array_equal(held, run_stream(val))
    assert record["train_tokens"] == len(train) and record["val"]["source"] == "run"


def test_nanogpt_seeded_fraction(real_run, tmp_path):
    record = export(str(real_run), str(tmp_path / "ng"), "nanogpt", val_fraction=0.1, seed=3)
    rows = run_rows(real_run)
    val_rows = np.sort(np.random.default_rng(3).choice(len(rows), round(0.1 * len(rows)), replace=False))
    assert record["val"]["val_rows"] == val_rows.tolist()
    is_val = np.isin(np.arange(len(rows)), val_rows)
    last = rows[-1, 2048:]
    want_train = np.concatenate([rows[~is_val, :2048].reshape(-1)] + ([] if is_val[-1] else [last]))
    want_val = np.concatenate([rows[is_val, :2048].reshape(-1)] + ([last] if is_val[-1] else []))
    train = np.memmap(tmp_path / "ng" / "train.bin", dtype=np.uint16, mode="r")
    held = np.memmap(tmp_path / "ng" / "val.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(train, want_train) and np.array_equal(held, want_val)
    assert len(train) + len(held) == manifest_of(real_run)["tokens"]["in_rows"]
    again = export(str(real_run), str(tmp_path / "ng2"), "nanogpt", val_fraction=0.1, seed=3)
    assert again == record and (tmp_path / "ng2" / "val.bin").read_bytes() == bytes(held)


def test_nanogpt_refuses_what_uint16_cannot_hold(tmp_path):
    run = synthetic_run(tmp_path / "run", shards=1, rows_per_shard=4)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["tokenizer"]["vocab_size"] = 100_000
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PileprepError, match="uint16, which holds at most 65,536 ids; export it with --format megatron"):
        export(str(run), str(tmp_path / "o"), "nanogpt")


@pytest.mark.parametrize("fmt", ["hf", "litdata", "mds", "nanogpt"])
def test_directory_exports_are_byte_identical_and_refuse_a_used_directory(tmp_path, fmt, capsys):
    run = synthetic_run(tmp_path / "run", shards=3, rows_per_shard=5)
    first = export(str(run), str(tmp_path / "a"), fmt)
    assert export(str(run), str(tmp_path / "b"), fmt) == first
    for entry in first["files"]:
        assert (tmp_path / "a" / entry["path"]).read_bytes() == (tmp_path / "b" / entry["path"]).read_bytes()
    assert main(["export", "--format", fmt, str(run), str(tmp_path / "a")]) == 2
    assert "is not empty: remove it or choose another output directory" in capsys.readouterr().err
    assert main(["export", "--format", fmt, str(run), str(tmp_path / "c")]) == 0
    assert f"({fmt}):" in capsys.readouterr().out
