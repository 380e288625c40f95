"""Spill files: payloads written by one bundle, read back by reference, and their failure modes."""
import os

import pytest

from transforms.errors import PileprepError
from transforms.spill import SPILL_DIR, SpillReader, SpillWriter, remove, spill_folder, sub_ref


def test_round_trip_across_bundles_and_files(tmp_path):
    folder = spill_folder(str(tmp_path))
    assert folder.endswith(SPILL_DIR)
    refs = []
    for bundle in range(3):
        with SpillWriter(folder) as w:
            refs += [(w.put(f"b{bundle}-{i}".encode() * i), f"b{bundle}-{i}".encode() * i) for i in range(50)]
    assert len(os.listdir(folder)) == 3  # one file per bundle
    assert all(len(ref) == 28 for ref, _ in refs)
    reader = SpillReader(folder, max_open=2)  # fewer handles than files: the oldest is closed
    for ref, data in refs + refs[::-1]:
        assert reader.get(ref) == data
    assert len(reader._open) <= 2
    reader.close()


def test_a_writer_without_payloads_makes_no_file(tmp_path):
    SpillWriter(spill_folder(str(tmp_path))).close()
    assert not os.path.exists(spill_folder(str(tmp_path)))


def test_sub_ref_reads_a_slice(tmp_path):
    folder = spill_folder(str(tmp_path))
    with SpillWriter(folder) as w:
        w.put(b"skip")
        ref = w.put(b"0123456789")
    reader = SpillReader(folder)
    assert reader.get(sub_ref(ref, 3, 4)) == b"3456"
    assert reader.get(sub_ref(ref, 10, 0)) == b""
    with pytest.raises(ValueError, match="not inside"):
        sub_ref(ref, 8, 3)


def test_a_cut_spill_file_is_a_clear_error(tmp_path):
    folder = spill_folder(str(tmp_path))
    with SpillWriter(folder) as w:
        ref = w.put(b"x" * 100)
    (path,) = [os.path.join(folder, f) for f in os.listdir(folder)]
    with open(path, "r+b") as f:
        f.truncate(50)
    with pytest.raises(PileprepError, match="ends before byte 100.*rerun"):
        SpillReader(folder).get(ref)


def test_remove(tmp_path):
    with SpillWriter(spill_folder(str(tmp_path))) as w:
        w.put(b"data")
    remove(str(tmp_path))
    assert not os.path.exists(spill_folder(str(tmp_path)))
    remove(str(tmp_path))  # nothing left: no error
