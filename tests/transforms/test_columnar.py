"""Parquet files and `datasets` save_to_disk directories as ReadPile inputs."""
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.columnar import iter_rows, plan_row_groups, row_group_runs, run_bytes, saved_dataset_files
from transforms.errors import PileprepError
from transforms.inputs import InputFile, match_inputs
from transforms.read import ReadConfig, ReadPile, read_file


def _parquet(table) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    return buf


def test_parquet_rows_with_meta_struct_json_and_column():
    table = pa.table({
        "text": ["one", None, "three", "four"],
        "meta": [{"pile_set_name": "ArXiv"}, {"pile_set_name": "Github"}, None, {"pile_set_name": None}],
        "pile_set_name": [None, None, "Pile-CC", None],
    })
    rows = list(iter_rows(_parquet(table), "parquet", "x.parquet"))
    assert [(f.get("text"), f["source"], r) for f, r, _ in rows] == [
        ("one", "ArXiv", None), (None, "Github", "text_null"), ("three", "Pile-CC", None),
        ("four", "unknown", None)]
    table = pa.table({"text": ["a"], "meta": [json.dumps({"pile_set_name": "FreeLaw"})]})
    assert list(iter_rows(_parquet(table), "parquet", "y.parquet"))[0][0] == {"text": "a", "source": "FreeLaw"}


def test_non_string_text_is_rejected_and_missing_column_is_an_error():
    rows = list(iter_rows(_parquet(pa.table({"text": [1, 2]})), "parquet", "n.parquet"))
    assert [r for _, r, _ in rows] == ["text_not_string"] * 2
    with pytest.raises(PileprepError, match="z.parquet has no 'text' column"):
        list(iter_rows(_parquet(pa.table({"body": ["a"]})), "parquet", "z.parquet"))
    with pytest.raises(PileprepError, match="cannot be read as parquet"):
        list(iter_rows(io.BytesIO(b"not parquet at all"), "parquet", "bad.parquet"))


def test_save_to_disk_directory_is_read_through_its_arrow_files(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"],
                                     "meta": [{"pile_set_name": "EuroParl"}] * 3})
    ds.save_to_disk(str(tmp_path / "ds"))
    files = match_inputs([str(tmp_path / "ds")])
    assert [f.name for f in files] == ["data-00000-of-00001.arrow"]
    assert saved_dataset_files(str(tmp_path)) is None
    with open(files[0].path, "rb") as fh:
        out = list(read_file(fh, files[0], allow_corrupt=False))
    docs = [r for kind, r in out if kind == "doc"]
    assert [(d["id"], d["text"], d["source"]) for d in docs] == [
        ("data-00000-of-00001.arrow:1", "a", "EuroParl"), ("data-00000-of-00001.arrow:2", "b", "EuroParl"),
        ("data-00000-of-00001.arrow:3", "c", "EuroParl")]
    assert out[-1] == ("file", {"path": files[0].path, "name": files[0].name, "bytes": files[0].size,
                                "lines": 3, "documents": 3, "malformed": 0, "damage": None})


def test_arrow_file_format_also_reads(tmp_path):
    table = pa.table({"text": ["x", "y"]})
    path = tmp_path / "t.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    with open(path, "rb") as fh:
        out = list(read_file(fh, InputFile(str(path), "t.arrow", path.stat().st_size), allow_corrupt=False))
    assert [r["text"] for kind, r in out if kind == "doc"] == ["x", "y"]


# --- splitting by row groups -------------------------------------------------------------------

@pytest.mark.parametrize("sizes, split_bytes, runs", [
    ([10, 10, 10, 10], 20, [(0, 2, 0), (2, 4, 6)]),
    ([10, 10, 10], 25, [(0, 3, 0)]),  # the last run takes what is left
    ([50, 5, 5, 50], 20, [(0, 1, 0), (1, 4, 3)]),  # a row group larger than the split: a run alone
    ([7], 1, [(0, 1, 0)]),
    ([], 20, []),
])
def test_row_group_runs(sizes, split_bytes, runs):
    assert row_group_runs(sizes, [3] * len(sizes), split_bytes) == runs


def _groups_file(path, rows: int, group_rows: int):
    """A Parquet file of `rows` rows (a null text every 7th) in row groups of group_rows."""
    texts = [None if i % 7 == 3 else f"document {i} " + "w" * (i % 50) for i in range(rows)]
    table = pa.table({"text": pa.array(texts, pa.string()),
                      "meta": [{"pile_set_name": ["ArXiv", "Github"][i % 2]} for i in range(rows)]})
    pq.write_table(table, str(path), row_group_size=group_rows)
    return InputFile(str(path), path.name, path.stat().st_size)


def _read(file: InputFile, start=0, end=None, first_line=0) -> list:
    with open(file.path, "rb") as fh:
        groups = None if end is None else range(start, end)
        return list(read_file(fh, file, allow_corrupt=False, seed=3, first_line=first_line, row_groups=groups))


@pytest.mark.parametrize("rows, group_rows, split_bytes", [(100, 9, 600), (100, 9, 1), (100, 100, 1), (0, 5, 1)])
def test_row_group_runs_read_apart_give_the_rows_of_the_whole_file(tmp_path, rows, group_rows, split_bytes):
    file = _groups_file(tmp_path / "g.parquet", rows, group_rows)
    with open(file.path, "rb") as fh:
        runs = plan_row_groups(fh, file.path, split_bytes)
    groups = pq.ParquetFile(file.path).metadata.num_row_groups
    assert [a for a, _, _ in runs] + [groups] == [0] + [b for _, b, _ in runs]  # consecutive, covering
    whole = _read(file)
    parts, lines, spans = [], 0, []
    for start, end, first_row in runs:
        out = _read(file, start, end, first_row)
        parts += out[:-1]
        lines += out[-1][1]["lines"]
        with open(file.path, "rb") as fh:
            spans.append(run_bytes(fh, start, end, file.size))
    assert parts == whole[:-1] and lines == whole[-1][1]["lines"] == rows
    if runs:
        assert spans[0][0] == 0 and spans[-1][1] == file.size  # progress: the runs add up to the file
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    if split_bytes == 1:
        assert len(runs) == groups


def test_read_pile_splits_a_large_parquet_file_with_the_same_records(pipeline, tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    file = _groups_file(tmp_path / "g.parquet", 60, 8)
    small = _groups_file(tmp_path / "s.parquet", 3, 8)
    expected = {kind: [r for f in (file, small) for k, r in _read(f) if k == kind] for kind in ("doc", "reject")}
    read = pipeline | ReadPile(ReadConfig((str(tmp_path / "*.parquet"),), seed=3, split_bytes=1, reshuffle=False),
                               files=[file, small])
    assert_that(read["docs"], equal_to(expected["doc"]), label="Docs")
    assert_that(read["rejects"], equal_to(expected["reject"]), label="Rejects")
    lines = read["files"] | "Lines" >> beam.Map(lambda f: (f["name"], f["lines"]))
    assert_that(lines, equal_to([("g.parquet", 8)] * 7 + [("g.parquet", 4), ("s.parquet", 3)]), label="Files")
    pipeline.run().wait_until_finish()
