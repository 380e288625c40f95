"""pileprep export --format megatron: read back with a reader written here from the MMIDIDX format
description alone and with megatron-core's own IndexedDataset, the documents equal the shards'
token stream split after each EOS."""
import argparse
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.tools.export import add_parser, cmd_export, export_megatron, stream_tokens
from tests.pipeline.tools.conftest import manifest_of, run_stream

EOS = 50256
# Megatron-LM DType / GPT-NeoX dtypes: the codes a reader must understand for pileprep's shards
CODES = {4: np.int32, 8: np.uint16}


@pytest.fixture
def run(real_run):
    return real_run


_manifest, _stream = manifest_of, run_stream


def _read_megatron(prefix):
    idx = Path(f"{prefix}.idx").read_bytes()
    magic, version, code, n_seq, n_doc = struct.unpack("<9sQBQQ", idx[:34])
    assert (magic, version) == (b"MMIDIDX\x00\x00", 1)
    sizes = np.frombuffer(idx, np.int32, n_seq, 34)
    pointers = np.frombuffer(idx, np.int64, n_seq, 34 + 4 * n_seq)
    doc_idx = np.frombuffer(idx, np.int64, n_doc, 34 + 12 * n_seq)
    assert len(idx) == 34 + 12 * n_seq + 8 * n_doc  # nothing after the document index
    data = Path(f"{prefix}.bin").read_bytes()
    dtype = np.dtype(CODES[code])
    docs = [np.frombuffer(data, dtype, int(n), int(p)) for n, p in zip(sizes, pointers)]
    return code, sizes, pointers, doc_idx, docs, len(data)


def test_round_trip_equals_the_stream_split_after_each_eos(run, tmp_path):
    exported = export_megatron(str(run), str(tmp_path / "m" / "pile_text_document"))
    code, sizes, pointers, doc_idx, docs, nbytes = _read_megatron(tmp_path / "m" / "pile_text_document")
    stream = _stream(run)
    ends = np.flatnonzero(stream == EOS)
    expected = np.split(stream, ends + 1)[:-1]  # the tail after the last EOS is a cut document
    assert len(expected) > 50 and len(docs) == len(expected) == exported["documents"]
    for got, want in zip(docs, expected):
        assert got.tolist() == want.tolist() and got[-1] == EOS and EOS not in got[:-1]
    assert code == 8 and exported["dtype"] == "uint16" and exported["dtype_code"] == 8
    assert doc_idx.tolist() == list(range(len(docs) + 1))  # count written as len(doc_idx), as Megatron does
    assert pointers.tolist() == (np.concatenate([[0], np.cumsum(sizes)[:-1]]) * 2).tolist()
    assert nbytes == 2 * int(sizes.sum()) == 2 * exported["tokens"]
    assert exported["tokens"] == int(ends[-1]) + 1


def test_counts_match_the_lineage(run, tmp_path):
    manifest = _manifest(run)
    assert len(manifest["shards"]) > 3
    lineage = [r for s in manifest["shards"] for r in pq.read_table(run / s["lineage"]["path"]).to_pylist()]
    unique = {r["id"]: r for r in lineage}
    assert len(unique) < len(lineage)  # some documents cross a shard edge and are in two sidecars
    in_rows = manifest["tokens"]["in_rows"]
    whole = sorted((r for r in unique.values() if r["global_end"] < in_rows), key=lambda r: r["global_start"])
    exported = export_megatron(str(run), str(tmp_path / "p"))
    _, sizes, *_ = _read_megatron(tmp_path / "p")
    assert sizes.tolist() == [r["global_end"] - r["global_start"] + 1 for r in whole]
    assert exported["partial"] == len(unique) - len(whole) == 1
    assert exported["documents"] + exported["partial"] + exported["left_over"] == manifest["counts"]["documents"]["packed"]


@pytest.mark.parametrize("block_rows", [1, 3, 1000])
def test_stream_tokens_gives_any_span(run, block_rows):
    manifest, stream = _manifest(run), _stream(run)
    rng = np.random.default_rng(0)
    n = len(stream)
    spans = [(0, n), (n - 1, n), (0, 1), (2047, 2050), (7 * 2048 - 1, 7 * 2048 + 2)]
    spans += [tuple(sorted(rng.integers(0, n + 1, 2))) for _ in range(20)]
    for begin, end in spans:
        got = list(stream_tokens(str(run), manifest, int(begin), int(end), block_rows=block_rows))
        got = np.concatenate(got) if got else np.zeros(0, stream.dtype)
        assert got.tolist() == stream[begin:end].tolist(), (begin, end)


def test_cli_hook(run, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", "--format", "megatron", str(run), str(tmp_path / "out")])
    assert cmd_export(args, []) == 0
    printed = capsys.readouterr().out
    assert "Megatron dtype code 8" in printed and "1 document cut by the end of the last row" in printed
    assert (tmp_path / "out.bin").exists() and (tmp_path / "out.idx").exists()
    assert main(["export", str(tmp_path), str(tmp_path / "x")]) == 2  # load_manifest's user error
    assert "no manifest.json" in capsys.readouterr().err


def _expected_documents(run):
    stream = run_stream(run)
    return np.split(stream, np.flatnonzero(stream == EOS) + 1)[:-1]


def test_megatron_core_indexed_dataset_reads_every_document(run, tmp_path):
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    export_megatron(str(run), str(tmp_path / "pile_text_document"))
    dataset = indexed.IndexedDataset(str(tmp_path / "pile_text_document"))
    expected = _expected_documents(run)
    assert len(dataset) == len(expected)
    assert dataset.sequence_lengths.tolist() == [len(d) for d in expected]
    assert dataset.document_indices.tolist() == list(range(len(expected) + 1))
    for k, want in enumerate(expected):
        assert dataset[k].dtype == np.uint16 and dataset[k].tolist() == want.tolist()
    assert dataset.get(3, offset=2, length=5).tolist() == expected[3][2:7].tolist()


def test_record_and_determinism(run, tmp_path):
    first = export_megatron(str(run), str(tmp_path / "a" / "x"))
    second = export_megatron(str(run), str(tmp_path / "b" / "x"))
    assert json.loads((tmp_path / "a" / "x.export.json").read_text()) == first == second
    for entry in first["files"]:
        data = (tmp_path / "a" / entry["path"]).read_bytes()
        assert (tmp_path / "b" / entry["path"]).read_bytes() == data
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.bin", "x.export.json", "x.idx"]
