"""verify and inspect on a small real run: intact, tampered, and manifests that point outside."""
import json
import os
import shutil

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.verify import safe_path, verify
from tests.conftest import sample_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return sample_run(tmp_path_factory.mktemp("v"), seed=3, documents=150, rows_per_shard=20)


@pytest.fixture
def copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _edit_manifest(directory, change):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_intact_run_verifies(run):
    assert verify(str(run)) == []


def test_missing_manifest_means_incomplete(copy):
    os.remove(copy / "manifest.json")
    assert "did not complete" in verify(str(copy))[0]


def test_shard_path_leaving_the_directory_is_refused(copy):
    _edit_manifest(copy, lambda m: m["shards"][0].update(path="../escape.npy"))
    assert any("does not match" in p or "leaves" in p or "should not be valid" in p for p in verify(str(copy)))
    _edit_manifest(copy, lambda m: m["shards"][0].update(path="/etc/passwd"))
    assert verify(str(copy))


def test_symlink_out_of_the_directory_is_refused(copy, tmp_path):
    outside = tmp_path / "outside.npy"
    shutil.copy(copy / "shards" / "shard-00000.npy", outside)
    os.remove(copy / "shards" / "shard-00000.npy")
    os.symlink(outside, copy / "shards" / "shard-00000.npy")
    assert any("leaves" in p for p in verify(str(copy)))
    assert safe_path(str(copy), "shards/shard-00000.npy") is None


def test_wrong_dtype_and_broken_overlap_are_named(copy):
    shard = copy / "shards" / "shard-00000.npy"
    rows = np.load(shard)
    np.save(shard, rows.astype(np.uint32))
    found = verify(str(copy))
    assert any("dtype uint32" in p for p in found) and any("sha256" in p or "bytes" in p for p in found)
    bad = rows.copy()
    bad[0, -1] ^= 1
    np.save(shard, bad)
    _edit_manifest(copy, lambda m: m["shards"][0].update(
        sha256=__import__("hashlib").sha256(shard.read_bytes()).hexdigest()))
    assert any("does not end with row 1's first token" in p for p in verify(str(copy)))


def test_manifest_that_does_not_add_up_is_refused(copy):
    _edit_manifest(copy, lambda m: m["counts"]["documents"].update(read=m["counts"]["documents"]["read"] + 1))
    assert any("read" in p for p in verify(str(copy)))


def test_inspect_prints_summary_and_decodes_rows(run, capsys):
    assert main(["inspect", str(run), "--decode", "1"]) == 0
    out = capsys.readouterr().out
    assert "pileprep run summary" in out and "--- row 0 (2049 tokens" in out and "shard-00000.npy" in out


def test_unreadable_inputs_exit_2_with_the_path(tmp_path, capsys):
    os.symlink(tmp_path / "missing", tmp_path / "broken.jsonl")
    assert main(["run", "--input", str(tmp_path / "broken.jsonl"), "--output", str(tmp_path / "o")]) == 2
    assert "broken.jsonl" in capsys.readouterr().err
    (tmp_path / "adir").mkdir()
    assert main(["run", "--input", str(tmp_path / "adir"), "--output", str(tmp_path / "o2"),
                 "--direct_running_mode=in_memory"]) == 2
    assert "cannot open input file" in capsys.readouterr().err
