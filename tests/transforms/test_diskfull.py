"""A full disk while writing becomes a PileprepError naming the directory and the fix, wherever the
write is: a spill file, a committed output, an external sort's temporary file."""
import builtins
import errno
import os
import tempfile

import pytest
from apache_beam.io.filesystem import BeamIOError

from tests.conftest import FullFile
from transforms import grouped, spill
from transforms.diskfull import NO_SPACE, disk_full_message, out_of_space
from transforms.errors import PileprepError, find_message
from transforms.write import commit_chunks

FULL = OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_found_however_it_was_wrapped():
    assert out_of_space(FULL) == errno.ENOSPC
    assert out_of_space(OSError(errno.EDQUOT, "Disk quota exceeded")) == errno.EDQUOT
    try:
        try:
            raise FULL
        except OSError as e:
            raise RuntimeError("a runner's wrapping") from e
    except RuntimeError as wrapped:
        assert out_of_space(wrapped) == errno.ENOSPC
    assert out_of_space(BeamIOError("Rename operation failed", {"a": FULL})) == errno.ENOSPC
    assert out_of_space(OSError(errno.EACCES, "Permission denied")) is None
    assert out_of_space(ValueError("no")) is None


def test_the_message_names_the_directory_what_and_the_fix():
    assert disk_full_message("/data/out/shards", "shards/shard-00003.npy", FULL) == (
        "no space left in /data/out/shards (its file system is full) while writing shards/shard-00003.npy: "
        "free space there, or choose another --output on a larger disk; the same command then replaces this "
        "incomplete run (its .tmp- files and any outputs already written)")
    quota = disk_full_message("/o", "a spill file", OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert quota.startswith(f"{NO_SPACE} /o (its disk quota is used up) while writing a spill file: ")


def test_a_spill_file_that_fills_the_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "open", lambda path, mode: FullFile(builtins.open(path, mode), {"left": 10}), raising=False)
    writer = spill.SpillWriter(spill.spill_folder(str(tmp_path)))
    writer.put(b"0123456789")
    with pytest.raises(PileprepError) as info:
        writer.put(b"x")
    assert info.value.message.startswith(f"no space left in {tmp_path}/.tmp-spill (its file system is full) "
                                         f"while writing a spill file: free space there")
    assert find_message(RuntimeError(str(info.value))) == info.value.message  # through a runner's wrapping


def test_a_commit_that_fills_the_disk_leaves_no_temporary(tmp_path, monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    create = FileSystems.create
    monkeypatch.setattr(FileSystems, "create", lambda path, *a, **k: FullFile(create(path, *a, **k), {"left": 5}))
    with pytest.raises(PileprepError, match=f"^<<pileprep>>no space left in {tmp_path}/shards .* while writing "
                                            f"shards/shard-00000.npy: "):
        commit_chunks(str(tmp_path), "shards/shard-00000.npy", [b"abc", b"def"])
    assert os.listdir(tmp_path / "shards") == []  # the partial temporary is removed


def test_an_external_sort_that_fills_the_temporary_directory(monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(grouped.pickle, "dump", full)
    with pytest.raises(PileprepError) as info:
        list(grouped.sorted_externally(range(50), key=lambda v: -v, run=10))
    assert info.value.message.startswith(f"no space left in {os.path.abspath(tempfile.gettempdir())} ")
    assert info.value.message.endswith("free space there, or set TMPDIR to a directory on a larger disk")
