"""verify and inspect on a small real run: intact, tampered, and manifests that point outside."""
import json
import os
import shutil

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.tools.verify import verify
from schemas.run import safe_path
from tests.conftest import sample_run
from transforms.errors import PileprepError


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
    with pytest.raises(PileprepError, match="leaves .*refused"):
        safe_path(str(copy), "shards/shard-00000.npy")


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


@pytest.fixture
def memfs():
    """A file system for the scheme memfs://, backed by a dict, registered for this test only (Beam
    finds file systems among FileSystem's subclasses by scheme()). Its streams return at most 4 KB
    a read, as an object store's may, and record the largest read asked of them."""
    import gc
    import io
    import time

    from apache_beam.io.filesystem import BeamIOError, FileMetadata, FileSystem

    store, largest = {}, {}

    class _Stream(io.RawIOBase):
        def __init__(self, path):
            self.path, self.data, self.pos = path, store[path], 0

        def readable(self):
            return True

        def read(self, n=-1):
            asked = len(self.data) if n is None or n < 0 else n
            largest[self.path] = max(largest.get(self.path, 0), asked)
            n = len(self.data) - self.pos if n is None or n < 0 else min(n, 4096)
            out = self.data[self.pos:self.pos + n]
            self.pos += len(out)
            return out

        def readinto(self, buffer):
            data = self.read(len(buffer))
            buffer[:len(data)] = data
            return len(data)

    class _Created(io.BytesIO):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def close(self):
            store[self.path] = self.getvalue()
            super().close()

    class MemFileSystem(FileSystem):
        @classmethod
        def scheme(cls):
            return "memfs"

        def join(self, basepath, *paths):
            return "/".join([basepath.rstrip("/")] + [p.strip("/") for p in paths])

        def split(self, path):
            head, _, tail = path.rpartition("/")
            return head, tail

        def mkdirs(self, path):
            pass

        def has_dirs(self):
            return False

        def _list(self, dir_or_prefix):
            for path, data in sorted(store.items()):
                if path.startswith(dir_or_prefix):
                    yield FileMetadata(path, len(data))

        def create(self, path, mime_type=None, compression_type=None):
            return _Created(path)

        def open(self, path, mime_type=None, compression_type=None):
            if path not in store:
                raise BeamIOError(f"no such object {path}")
            return _Stream(path)

        def copy(self, sources, destinations):
            for s, d in zip(sources, destinations):
                store[d] = store[s]

        def rename(self, sources, destinations):
            for s, d in zip(sources, destinations):
                store[d] = store.pop(s)

        def exists(self, path):
            return path in store

        def size(self, path):
            return len(store[path])

        def last_updated(self, path):
            return time.time()

        def checksum(self, path):
            return str(len(store[path]))

        def metadata(self, path):
            return FileMetadata(path, len(store[path]))

        def delete(self, paths):
            for p in paths:
                store.pop(p)

    yield store, largest
    del MemFileSystem  # gone from FileSystem.__subclasses__() once collected
    gc.collect()


def _upload(local, store, prefix="memfs://bucket/run"):
    for p in sorted(local.rglob("*")):
        if p.is_file():
            store[f"{prefix}/{p.relative_to(local)}"] = p.read_bytes()
    return prefix


def test_verify_reads_a_run_on_another_file_system(run, memfs, monkeypatch, capsys):
    import pipeline.tools.verify as verify_module

    store, largest = memfs
    url = _upload(run, store)
    # blocks of 3 rows: the overlap is checked across block edges as well as inside them
    monkeypatch.setattr(verify_module, "BLOCK_BYTES", 3 * 2049 * 2)
    assert verify(url) == []
    shards = [p for p in largest if p.endswith(".npy")]
    assert shards and len(largest) == len(store)  # every file was read
    assert max(size for path, size in largest.items() if not path.endswith("manifest.json")) <= 3 * 2049 * 2
    assert main(["verify", url]) == 0 and "OK" in capsys.readouterr().out
    assert "did not complete" in verify("memfs://bucket/nothing")[0]


def test_verify_finds_a_corrupted_shard_on_another_file_system(run, memfs, monkeypatch, capsys):
    import hashlib

    import pipeline.tools.verify as verify_module

    store, _ = memfs
    url = _upload(run, store)
    monkeypatch.setattr(verify_module, "BLOCK_BYTES", 3 * 2049 * 2)
    shard = f"{url}/shards/shard-00000.npy"
    good = store[shard]
    header = len(good) - 20 * 2049 * 2  # 20 rows of uint16 follow the .npy header
    flipped = bytearray(good)
    flipped[header + (3 * 2049 - 1) * 2] ^= 1  # the last token of row 2, at the end of the first block
    store[shard] = bytes(flipped)
    assert any("shard-00000.npy" in p and "sha256 differs" in p for p in verify(url))
    manifest = json.loads(store[f"{url}/manifest.json"])
    manifest["shards"][0]["sha256"] = hashlib.sha256(store[shard]).hexdigest()  # a consistent forgery
    store[f"{url}/manifest.json"] = json.dumps(manifest).encode()
    assert verify(url) == ["shard shards/shard-00000.npy: row 2 does not end with row 3's first token"]
    store[shard] = good[:header + 5 * 2049 * 2 + 7]  # cut short inside row 5
    found = verify(url)
    assert any("has 20" in p and "bytes, manifest says" in p for p in found)
    assert any("ends after 5 of its 20 rows (truncated)" in p for p in found)
    assert main(["verify", url]) == 1 and "FAIL: shard" in capsys.readouterr().out


def test_inspect_reads_a_run_on_another_file_system(run, memfs, capsys):
    store, _ = memfs
    url = _upload(run, store)
    assert main(["inspect", str(run), "--decode", "2"]) == 0
    local = capsys.readouterr().out
    assert main(["inspect", url, "--decode", "2"]) == 0
    assert capsys.readouterr().out == local and "--- row 1 (2049 tokens" in local


def test_a_manifest_that_is_not_json_is_the_users_to_fix_not_a_bug(copy, capsys):
    (copy / "manifest.json").write_bytes(b'{"schema_version": 1, "rows": \xff')
    assert verify(str(copy)) == [
        "manifest.json cannot be read as JSON ('utf-8' codec can't decode byte 0xff in position 30: invalid "
        "start byte): copy the run again, or rerun it"]
    assert main(["inspect", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pileprep: error: manifest.json cannot be read as JSON") and "Traceback" not in err
