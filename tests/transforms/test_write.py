"""Tests for transforms.write: committing a file under a temporary name per attempt."""
import hashlib

import pytest

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


def _documents(n: int, seed: int) -> list[dict]:
    from tests.transforms.test_document_runs import make_docs

    return make_docs(n, seed=seed)


def _written_files(out, files: int) -> dict[int, bytes]:
    folder = out / "documents"
    return {int(p.name[5:10]): p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


@pytest.mark.parametrize("spill", [False, True])
def test_write_documents_writes_the_bytes_of_one_sorted_list_per_file(tmp_path, monkeypatch, spill):
    """Several bundles, runs of at most 23 documents (many per file), files left empty by the
    order keys, unicode and equal order keys: every file has the bytes the per-document writer
    gave (reference_parquet, its code), and its description says so."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from tests.transforms.test_document_runs import reference_parquet
    from transforms import write

    monkeypatch.setattr(write, "BATCH_DOCS", 23)
    docs = [d for d in _documents(1500, seed=5) if d["order_key"] % 9 not in (2, 6)]
    expected = {b: reference_parquet([d for d in docs if d["order_key"] % 9 == b]) for b in range(9)
                if b not in (2, 6)}
    options = PipelineOptions(["--direct_num_workers=3", "--direct_running_mode=multi_threading"])
    with TestPipeline(runner=FnApiRunner(), options=options) as p:
        written = (p | beam.Create(docs) | beam.Reshuffle()
                   | write.WriteDocuments(str(tmp_path), files=9, spill=spill))
        assert_that(written, equal_to([
            {"path": f"documents/part-{b:05d}-of-00009.parquet", "bytes": len(data),
             "sha256": hashlib.sha256(data).hexdigest(), "rows": sum(d["order_key"] % 9 == b for d in docs)}
            for b, data in expected.items()]))
    assert _written_files(tmp_path, 9) == expected


@pytest.mark.parametrize("spill", [False, True])
def test_write_document_runs_commits_runs_made_elsewhere(tmp_path, spill):
    """Runs from document_batches (as a stage that batches documents itself makes them), handed
    over as payloads or, with spill, as references to them in spill files: the same files."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from tests.conftest import local_test_pipeline
    from tests.transforms.test_document_runs import reference_parquet
    from transforms.document_runs import document_batches
    from transforms.spill import SpillWriter, spill_folder
    from transforms.write import WriteDocumentRuns

    docs = _documents(700, seed=6)
    runs = [run for start in range(0, len(docs), 50) for run in document_batches(docs[start:start + 50], 4)]
    if spill:
        with SpillWriter(spill_folder(str(tmp_path))) as writer:
            runs = [(file, writer.put(payload)) for file, payload in runs]
    with local_test_pipeline() as p:
        written = p | beam.Create(runs) | WriteDocumentRuns(str(tmp_path), files=4, spill=spill)
        assert_that(written | beam.Map(lambda w: (w["path"], w["rows"])), equal_to([
            (f"documents/part-{b:05d}-of-00004.parquet", sum(d["order_key"] % 4 == b for d in docs))
            for b in range(4)]))
    assert _written_files(tmp_path, 4) == {
        b: reference_parquet([d for d in docs if d["order_key"] % 4 == b]) for b in range(4)}


def test_document_files_must_be_at_least_one():
    from transforms.errors import ConfigError
    from transforms.write import WriteDocumentRuns, WriteDocuments

    for transform in (WriteDocuments, WriteDocumentRuns):
        with pytest.raises(ConfigError, match="document files must be >= 1, got 0"):
            transform("out", files=0)


def test_the_commit_of_a_file_with_hundreds_of_runs_holds_one_payload_at_a_time(tmp_path):
    """Without spill (a distributed runner), a file's runs come as bytes in a one-pass iterable:
    each is copied to a temporary file as it comes, so memory does not grow with the runs."""
    from tests.transforms.test_document_runs import _peak_mb, make_docs, reference_parquet
    from tests.transforms.test_grouped import OnePass
    from transforms.document_runs import FAN_IN, encode_run
    from transforms.write import WriteDocuments

    template = make_docs(200, seed=7, text=(400, 600))

    def run(r: int) -> list[dict]:
        return [{**d, "id": f"{d['id']}.{r}", "order_key": (d["order_key"] ^ (r << 20)) // 3 * 3} for d in template]

    fn = WriteDocuments(str(tmp_path), files=3).fn
    peaks = {}
    for runs in (FAN_IN, 3 * FAN_IN):  # merges of FAN_IN runs, then a merge of their results
        group = OnePass(encode_run(run(r)) for r in range(runs))
        peaks[runs], [info] = _peak_mb(lambda: list(fn.process((0, group))))
        assert group.done and info["rows"] == 200 * runs
    assert peaks[3 * FAN_IN] < 64 and peaks[3 * FAN_IN] < 1.25 * peaks[FAN_IN] + 4, peaks
    docs = [d for r in range(3 * FAN_IN) for d in run(r)]
    assert (tmp_path / info["path"]).read_bytes() == reference_parquet(docs)
