"""load_hf and load_lineage on a small real run: the same rows and lineage as the files, offline."""
import json
import os
import socket

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.tools.hf import load_hf, load_lineage, rows_table


@pytest.fixture
def run(real_run):
    return real_run


def _manifest(run):
    return json.loads((run / "manifest.json").read_text())


def test_rows_are_the_shards_rows_in_order(run):
    manifest = _manifest(run)
    expected = np.concatenate([np.load(run / s["path"]) for s in manifest["shards"]])
    ds = load_hf(str(run))
    assert ds.num_rows == manifest["rows"] == len(expected) and ds.column_names == ["input_ids"]
    assert ds.features["input_ids"].length == 2049
    first, last = ds[0]["input_ids"], ds[ds.num_rows - 1]["input_ids"]
    assert len(first) == 2049 and all(isinstance(t, int) for t in first[:10])
    assert first == expected[0].tolist() and last == expected[-1].tolist()
    assert np.array_equal(np.asarray(ds.with_format("numpy")["input_ids"]), expected)


def test_one_arrow_chunk_per_shard_over_the_shards_values(run):
    manifest = _manifest(run)
    column = rows_table(str(run)).column("input_ids")
    assert column.num_chunks == len(manifest["shards"]) > 1
    assert column.type == pa.list_(pa.uint16(), 2049)
    for chunk, shard in zip(column.chunks, manifest["shards"]):
        assert len(chunk) == shard["rows"] and chunk.values.type == pa.uint16()


def test_lineage_loads_offline_and_equals_the_sidecars(run, tmp_path, no_network):
    manifest = _manifest(run)
    lineage = load_lineage(str(run), cache_dir=str(tmp_path / "cache"))
    expected = pa.concat_tables([pq.read_table(run / s["lineage"]["path"]) for s in manifest["shards"]])
    assert lineage.column_names == ["id", "source", "start", "end", "global_start", "global_end"]
    assert lineage.num_rows == expected.num_rows
    assert lineage.to_dict() == expected.to_pydict()
    with pytest.raises(OSError, match="network access attempted"):
        socket.create_connection(("example.org", 443))  # the guard was in place all along


def test_load_hf_offline(run, no_network):
    assert load_hf(str(run)).num_rows == _manifest(run)["rows"]


def test_no_process_wide_offline_switch(run, monkeypatch, tmp_path):
    """load_hf(d).push_to_hub(...) must be able to reach the hub: pileprep never sets the switches
    (this directory's conftest sets them for the tests only)."""
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name)
    load_hf(str(run))
    load_lineage(str(run), cache_dir=str(tmp_path / "cache"))
    assert "HF_HUB_OFFLINE" not in os.environ and "HF_DATASETS_OFFLINE" not in os.environ
