"""Parquet files and `datasets` save_to_disk directories as ReadPile inputs."""
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.columnar import iter_rows, saved_dataset_files
from transforms.errors import PileprepError
from transforms.inputs import InputFile, match_inputs
from transforms.read import read_file


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
