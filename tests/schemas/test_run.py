"""schemas/run.py, the run format, without Beam: names, the .npy header, paths, the manifest, shards."""
import io
import json
import os

import numpy as np
import pytest

from schemas import run
from transforms.errors import PileprepError


def test_names_are_the_ones_pack_has_always_written():
    assert run.shard_name(7) == "shards/shard-00007.npy"
    assert run.lineage_name(7) == "shards/shard-00007.lineage.parquet"
    assert (run.SEQ_LEN, run.ROW_LEN, run.MANIFEST) == (2048, 2049, "manifest.json")
    assert run.ours("dedup") and run.ours(".tmp-spill") and not run.ours("notes.txt")


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
@pytest.mark.parametrize("rows", [0, 1, 4097])
def test_header_and_rows_are_np_save(dtype, rows):
    """A shard is npy_header followed by its rows' bytes: exactly what np.save writes."""
    array = (np.arange(rows * run.ROW_LEN) % 50257).astype(dtype).reshape(rows, run.ROW_LEN)
    expected = io.BytesIO()
    np.save(expected, array, allow_pickle=False)
    assert run.npy_header(array.shape, dtype) + array.tobytes() == expected.getvalue()
    f = io.BytesIO(expected.getvalue())
    assert run.read_npy_header(f) == ((rows, run.ROW_LEN), np.dtype(dtype))
    assert f.tell() == len(run.npy_header(array.shape, dtype))  # left at the first data byte


@pytest.mark.parametrize("array, message", [
    (np.array([{"a": 1}], dtype=object), "not integer token ids"),
    (np.zeros((2, 3), dtype=np.float32), "not integer token ids"),
    (np.asfortranarray(np.zeros((2, 3), dtype=np.uint16)), "Fortran order"),
])
def test_header_of_anything_but_c_ordered_integers_is_refused(array, message):
    f = io.BytesIO()
    np.save(f, array, allow_pickle=True)
    f.seek(0)
    with pytest.raises(ValueError, match=message):
        run.read_npy_header(f)


def test_safe_path_keeps_paths_inside_the_run(tmp_path):
    (tmp_path / "run" / "shards").mkdir(parents=True)
    (tmp_path / "outside.npy").write_bytes(b"x")
    os.symlink(tmp_path / "outside.npy", tmp_path / "run" / "shards" / "link.npy")
    directory = str(tmp_path / "run")
    assert run.safe_path(directory, "shards/a.npy") == os.path.realpath(tmp_path / "run" / "shards" / "a.npy")
    for bad in ["../outside.npy", "/etc/passwd", "shards/link.npy", "gs://b/x", "a\\b", "", None, 3]:
        with pytest.raises(PileprepError, match="leaves .* refused"):
            run.safe_path(directory, bad)


def test_load_manifest_refuses_a_missing_or_damaged_manifest(tmp_path):
    with pytest.raises(PileprepError, match="has no manifest.json: the run did not complete"):
        run.load_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(PileprepError, match="cannot be read as JSON"):
        run.load_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"rows": 3}))
    assert run.load_manifest(str(tmp_path)) == {"rows": 3}
    assert any("schema_version" in p for p in run.schema_problems({"rows": 3}))


def test_open_shard_maps_the_rows_and_checks_them(tmp_path):
    path = str(tmp_path / "s.npy")
    np.save(path, np.ones((3, run.ROW_LEN), dtype=np.uint16))
    rows = run.open_shard(path, dtype="uint16", rows=3)
    assert isinstance(rows, np.memmap) and not rows.flags.writeable and rows.shape == (3, 2049)
    with pytest.raises(PileprepError, match=r"holds uint16 \(3, 2049\), the manifest says uint32 \(3, 2049\)"):
        run.open_shard(path, dtype="uint32", rows=3)
    with pytest.raises(PileprepError, match=r"the manifest says uint16 \(4, 2049\)"):
        run.open_shard(path, dtype="uint16", rows=4)
    np.save(path, np.array([None]), allow_pickle=True)
    with pytest.raises(PileprepError, match="without pickle"):
        run.open_shard(path, dtype="uint16")
    with pytest.raises(PileprepError, match="not on a local disk"):
        run.open_shard("gs://bucket/run/shards/shard-00000.npy", dtype="uint16")


def test_importing_the_format_does_not_import_beam():
    import subprocess
    import sys

    code = "import sys; import schemas.run; assert not any(m.startswith('apache_beam') for m in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
