"""Tests for transforms.write: committing a file under a temporary name per attempt."""
import hashlib

from transforms.write import TMP_PREFIX, commit_chunks, remove_temporaries, temporary_name

DATA = [b"\x93NUMPY header ", b"first rows ", b"last rows"]  # one shard, as its pieces


def test_temporary_names_are_new_per_attempt_beside_a_deterministic_final_name():
    names = {temporary_name("gs://bucket/out/shards/shard-00000.npy") for _ in range(100)}
    assert len(names) == 100
    for name in names:
        folder, _, base = name.rpartition("/")
        assert folder == "gs://bucket/out/shards" and base.startswith(TMP_PREFIX + "shard-00000.npy.")
    assert temporary_name("manifest.json").startswith(".tmp-manifest.json.")


def test_two_attempts_at_one_file_at_once_commit_the_same_bytes(tmp_path):
    """A retried (or speculative) bundle writes the file while the first attempt still does. With
    one temporary name per file the second truncated the first's file, renamed it away with its
    own bytes, and the first then failed to rename a file that was gone."""
    shards = tmp_path / "shards"
    seen = {}

    def attempt(name, during=None):
        def pieces():
            for i, piece in enumerate(DATA):
                yield piece
                if i == 0:  # the temporary is open: note its name, let the other attempt run
                    seen[name] = [p.name for p in shards.iterdir() if p.name.startswith(TMP_PREFIX)]
                    if during:
                        during()
        return commit_chunks(str(tmp_path), "shards/shard-00000.npy", pieces())

    second = {}
    first = attempt("first", during=lambda: second.update(attempt("second")))
    assert len(seen["first"]) == 1 and len(seen["second"]) == 2  # both temporaries at once
    assert set(seen["first"]) < set(seen["second"])
    expected = {"path": "shards/shard-00000.npy", "bytes": len(b"".join(DATA)),
                "sha256": hashlib.sha256(b"".join(DATA)).hexdigest()}
    assert first == second == expected
    assert [p.name for p in shards.iterdir()] == ["shard-00000.npy"]  # no temporary left
    assert (shards / "shard-00000.npy").read_bytes() == b"".join(DATA)


def test_remove_temporaries_deletes_what_failed_attempts_left(tmp_path):
    for path in ["manifest.json", "shards/shard-00000.npy", "documents/part-00000-of-00001.parquet"]:
        commit_chunks(str(tmp_path), path, [b"whole"])
    left = [tmp_path / "shards" / temporary_name("shard-00001.npy"),
            tmp_path / "dedup" / temporary_name("removed-exact.parquet"),
            tmp_path / temporary_name("manifest.json")]
    for path in left:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half")
    assert remove_temporaries(str(tmp_path)) == sorted(str(p) for p in left)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "documents/part-00000-of-00001.parquet", "manifest.json", "shards/shard-00000.npy"]
    assert remove_temporaries(str(tmp_path)) == []


def removals_case(folder: str):
    """WriteRemovals' commit step on one key's values: 10^6 records in no order."""
    import random

    import pyarrow.parquet  # noqa: F401  the writer imports it on first use: loaded here, before the measurement

    from tests.transforms.test_grouped import MILLION
    from transforms.dedup import WriteRemovals

    order = list(range(MILLION))
    random.Random(2).shuffle(order)
    record = {"source": "Pile-CC", "kind": "exact", "cause": "f:0", "similarity": 1.0, "chars": 9,
              "changed": False, "edits": {}, "chars_before_filter": 9}
    fn = WriteRemovals(folder).fn
    key = ("exact", 0, 1)
    return (lambda group: list(fn.process((key, group)))), ({**record, "id": f"f:{i:07d}"} for i in order)


def test_a_group_of_a_million_removals_is_written_sorted_in_bounded_memory(tmp_path):
    """The commit step of WriteRemovals on one key's values, a one-pass iterable of 10^6 records
    in no order: an external sort and row groups keep its memory flat."""
    import pyarrow.parquet as pq

    from tests.transforms.test_grouped import LIMIT_MB, MILLION, peak_mb

    peak, written = peak_mb(removals_case, str(tmp_path))
    assert peak < LIMIT_MB, f"{peak:.1f} MB"
    [info] = written
    assert info["path"] == "dedup/removed-exact-00000-of-00001.parquet" and info["rows"] == MILLION
    ids = pq.read_table(tmp_path / info["path"], columns=["id"]).column("id").to_pylist()
    assert ids == [f"f:{i:07d}" for i in range(MILLION)]
