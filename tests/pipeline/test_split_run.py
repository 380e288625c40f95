"""Split inputs end to end: a plain .jsonl read as parallel line ranges, and a Parquet file read as
runs of row groups, give the manifest and every file byte for byte as reading each file whole, on
the in-process runner (the fused front for JSON lines) and on --workers 2 (the staged graph)."""
import hashlib
import os
import subprocess
import sys

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline.tools.sample import SampleConfig, write_sample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """all.jsonl: the sample's lines with empty lines, CRLF endings, malformed lines, a line longer
    than many split ranges, and no final newline; all.parquet: its documents in row groups of 8."""
    root = tmp_path_factory.mktemp("split")
    write_sample(str(root / "sample"), SampleConfig(seed=5, documents=300, files=1))
    with open(root / "sample" / "00.jsonl.zst", "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    lines = raw.rstrip(b"\n").split(b"\n")
    out = []
    for i, line in enumerate(lines):
        out.append(line + (b"\r" if i % 13 == 4 else b""))
        if i % 29 == 7:
            out += [b"", b'{"text": "broken']
    out.insert(50, orjson.dumps({"text": "long " * 4000, "meta": {"pile_set_name": "Pile-CC"}}))  # 20 KB
    (root / "in").mkdir()
    (root / "in" / "all.jsonl").write_bytes(b"\n".join(out))
    docs = [_parsed(line) for line in lines]  # the sample's planted bad lines as null texts
    table = pa.table({"text": pa.array([d.get("text") for d in docs], pa.string()),
                      "meta": [orjson.dumps(d.get("meta")).decode() for d in docs]})
    (root / "pq").mkdir()
    pq.write_table(table, str(root / "pq" / "all.parquet"), row_group_size=8)
    return root


def _parsed(line: bytes) -> dict:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) and isinstance(doc.get("text"), str) else {}


def _run(root, name: str, source: str, *extra) -> dict:
    out = root / name
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", str(root / source), "--output", str(out),
           "--rows-per-shard", "64", "--quiet", *extra]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_plain_jsonl_split_in_1_kib_ranges_gives_the_same_bytes(inputs):
    whole = _run(inputs, "whole", "in/all.jsonl", "--split-mb", "1024")
    assert "manifest.json" in whole and any(k.startswith("shards/") for k in whole)
    assert _run(inputs, "split", "in/all.jsonl", "--split-mb", "0.001") == whole  # ~1 KiB: hundreds of ranges
    assert _run(inputs, "split-workers", "in/all.jsonl", "--split-mb", "0.01", "--workers", "2") == whole


def test_parquet_split_in_row_groups_gives_the_same_bytes(inputs):
    assert pq.ParquetFile(str(inputs / "pq" / "all.parquet")).metadata.num_row_groups > 10
    whole = _run(inputs, "pq-whole", "pq/all.parquet", "--split-mb", "1024")
    assert _run(inputs, "pq-split", "pq/all.parquet", "--split-mb", "0.001") == whole  # one run per row group
    assert _run(inputs, "pq-split-workers", "pq/all.parquet", "--split-mb", "0.02", "--workers", "2") == whole


def test_a_killed_split_run_resumes_by_its_ranges(inputs, tmp_path):
    """The fused front's resume keys entries by range start and chunks by first line: a rerun plans
    the same ranges, reuses what the killed run finished, and gives the uninterrupted bytes."""
    from tests.pipeline.test_resume import _cli, _entries, _kill_when

    big = tmp_path / "big.jsonl"
    big.write_bytes(((inputs / "in" / "all.jsonl").read_bytes() + b"\n") * 4)  # ~1.9 MB: ~30 ranges

    def args(out, *extra):
        return ["run", "--input", str(big), "--rows-per-shard", "64", "--split-mb", "0.0625", "--output", str(out),
                *extra]

    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert _kill_when(args(out, "--quiet"), lambda: _entries(out) >= 8)
    rerun = subprocess.run(_cli(args(out)), cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0 and "pileprep: resumed: reused" in rerun.stderr, rerun.stderr[-3000:]
    subprocess.run(_cli(args(fresh, "--quiet")), cwd=ROOT, check=True)
    files = [{str(p.relative_to(o)): p.read_bytes() for p in sorted(o.rglob("*")) if p.is_file()} for o in (out, fresh)]
    assert files[0] == files[1]
