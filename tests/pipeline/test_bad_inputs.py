"""The bad-input matrix, through the whole pipeline: each row's documented behaviour, and the
identity read = malformed + filtered + deduplicated + over_budget + packed after every run."""
import gzip
import json

import orjson
import pytest
import zstandard

from pipeline.cli import main

RUN = ["--direct_running_mode=in_memory"]


def doc(text, source="Pile-CC"):
    return orjson.dumps({"text": text, "meta": {"pile_set_name": source}})


def _run(tmp_path, inputs, *extra, name="out"):
    out = tmp_path / name
    code = main(["run", "--output", str(out)] + [a for i in inputs for a in ("--input", str(i))]
                + list(extra) + RUN)
    manifest = json.loads((out / "manifest.json").read_text()) if code == 0 else None
    if manifest:
        d = manifest["counts"]["documents"]
        assert d["read"] == d["malformed"] + d["filtered"] + d["deduplicated"] + d["over_budget"] + d["packed"]
    return code, manifest


def _zst_frames(lines, frames=1, checksum=True) -> list[bytes]:
    data = b"".join(line + b"\n" for line in lines)
    step = max(1, len(data) // frames)
    cctx = zstandard.ZstdCompressor(write_checksum=checksum)
    return [cctx.compress(data[i:i + step]) for i in range(0, len(data), step)]


def _zst(lines, frames=1, checksum=True):
    return b"".join(_zst_frames(lines, frames, checksum))


GOOD = [doc(f"document number {i} " * 20) for i in range(200)]


def test_record_level_rows_are_counted_and_the_run_goes_on(tmp_path):
    lines = [
        b'\xef\xbb\xbf' + doc("starts with a BOM"),                       # 1 BOM: parsed
        doc("crlf line end") + b"\r",                                      # 2 CRLF: parsed
        b'{"text": "cut',                                                  # 3 invalid JSON
        b'{"meta": {"pile_set_name": "ArXiv"}}',                           # 4 text missing
        b'{"text": null, "meta": {"pile_set_name": "ArXiv"}}',             # 5 text null
        b'{"text": 42, "meta": {"pile_set_name": "ArXiv"}}',               # 6 text a number
        b'{"text": ["a"], "meta": {"pile_set_name": "ArXiv"}}',            # 7 text a list
        b'{"text": "no meta at all"}',                                     # 8 meta missing: source unknown, kept
        b'{"text": "meta is a string", "meta": "Pile-CC"}',                # 9 meta not an object
        b'{"text": "bad \xff\xfe utf-8"}',                                 # 10 invalid UTF-8
        b'{"text": "lone \\ud800 surrogate"}',                             # 11 lone surrogate
        doc("NUL \u0000 and \u0007 bell kept as a document"),              # 12 control characters
        b"",                                                               # 13 blank line
        b"[1, 2]",                                                         # 14 not an object
        b'{"text": ' + b"[" * 2000 + b"]" * 2000 + b', "meta": {"pile_set_name": "ArXiv"}}',  # 15 too deep
    ]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n" + doc("final line without newline"))
    code, manifest = _run(tmp_path, [tmp_path / "in.jsonl"])
    assert code == 0
    assert manifest["counts"]["malformed_by_reason"] == {
        "invalid_json": 1, "text_missing": 1, "text_null": 1, "text_not_string": 2, "meta_not_object": 1,
        "invalid_utf8": 1, "lone_surrogate": 1, "blank_line": 1, "not_an_object": 1, "json_too_deep": 1}
    assert manifest["counts"]["documents"]["packed"] == 5  # BOM, CRLF, no meta, controls, final line
    assert manifest["counts"]["by_source"]["unknown"]["packed"] == 1
    rejects = [json.loads(x) for x in (tmp_path / "out/rejects/in.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 15]
    assert (rejects[-1]["reason"], rejects[-1]["source"]) == ("json_too_deep", "ArXiv")
    assert all(set(r) == {"file", "line", "reason", "source", "head"} for r in rejects)


def test_empty_files_give_zero_documents(tmp_path):
    """An empty file of each compression, beside a good one, in one run."""
    empty = {"empty.jsonl": b"", "empty.jsonl.zst": b"", "empty.jsonl.gz": gzip.compress(b"", mtime=0)}
    for name, payload in empty.items():
        (tmp_path / name).write_bytes(payload)
    (tmp_path / "good.jsonl").write_bytes(b"\n".join(GOOD[:3]) + b"\n")
    code, manifest = _run(tmp_path, [tmp_path / name for name in empty] + [tmp_path / "good.jsonl"])
    assert code == 0
    for name in empty:
        entry = next(i for i in manifest["inputs"] if i["name"] == name)
        assert (entry["lines"], entry["documents"], entry["damage"]) == (0, 0, None), name
    assert manifest["counts"]["documents"]["packed"] == 3


def _damaged(kind):
    zst, gz, plain = _zst(GOOD, frames=4), gzip.compress(b"\n".join(GOOD) + b"\n", mtime=0), b"\n".join(GOOD) + b"\n"
    if kind == "truncated.jsonl.zst":
        return zst[: len(zst) * 2 // 3]
    if kind == "corrupt.jsonl.zst":
        middle = len(zst) // 2
        return zst[:middle] + bytes(b ^ 0x5A for b in zst[middle:middle + 64]) + zst[middle + 64:]
    if kind == "truncated.jsonl.gz":
        return gz[: len(gz) * 2 // 3]
    if kind == "corrupt.jsonl.gz":
        middle = len(gz) // 2
        return gz[:middle] + bytes(b ^ 0x5A for b in gz[middle:middle + 64]) + gz[middle + 64:]
    return plain[: len(plain) * 2 // 3]  # truncated.jsonl: the cut line is an invalid_json record


def _damage_offset(kind):
    """Where the damage of _damaged(kind) is: the end of a truncated file, the start of the frame
    (or gzip member) a corruption is in."""
    if kind.startswith("truncated"):
        return len(_damaged(kind))
    if kind == "corrupt.jsonl.zst":
        middle, start = len(_zst(GOOD, frames=4)) // 2, 0
        for frame in _zst_frames(GOOD, frames=4):
            if start + len(frame) > middle:
                assert start > 0  # not the first frame: byte 0 would not tell a fix from the bug
                return start
            start += len(frame)
    return 0  # the one gzip member


DAMAGED = ["truncated.jsonl.zst", "corrupt.jsonl.zst", "truncated.jsonl.gz", "corrupt.jsonl.gz"]


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_compressed_files_stop_the_run(tmp_path, kind, capsys):
    (tmp_path / kind).write_bytes(_damaged(kind))
    code, _ = _run(tmp_path, [tmp_path / kind])
    err = capsys.readouterr().err
    assert code == 2 and f"{kind} is damaged" in err and "at byte" in err and "--allow-corrupt-inputs" in err
    assert "Traceback" not in err
    assert f"at byte {_damage_offset(kind)} of " in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_damaged_compressed_files_are_kept_when_allowed(tmp_path):
    """Every kind of damage in one run, each file kept up to its damage."""
    for kind in DAMAGED:
        (tmp_path / kind).write_bytes(_damaged(kind))
    code, manifest = _run(tmp_path, [tmp_path / kind for kind in DAMAGED], "--allow-corrupt-inputs")
    assert code == 0 and sorted(manifest["damaged_inputs"]) == sorted(str(tmp_path / kind) for kind in DAMAGED)
    for kind in DAMAGED:
        entry = next(i for i in manifest["inputs"] if i["name"] == kind)
        assert entry["damage"]["offset"] == _damage_offset(kind) and entry["documents"] < len(GOOD), kind
    assert manifest["counts"]["documents"]["read"] == sum(entry["lines"] for entry in manifest["inputs"])


@pytest.mark.parametrize("target, what", [("gone.jsonl", "a broken symlink (it points to 'gone.jsonl', "
                                                        "which does not exist)"),
                                          ("link.jsonl", "a symlink loop (it points to 'link.jsonl', "
                                                         "and following the links never ends)")])
def test_a_broken_or_looping_symlink_stops_the_run_before_it_starts(tmp_path, capsys, target, what):
    (tmp_path / "good.jsonl").write_bytes(b"\n".join(GOOD[:3]) + b"\n")
    (tmp_path / "link.jsonl").symlink_to(target)
    pattern = str(tmp_path / "*.jsonl")
    code, _ = _run(tmp_path, [pattern])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"pileprep: error: input {tmp_path}/link.jsonl, matched by {pattern!r}, is {what}: point the "
        f"link at the file, remove it, or change the pattern so it does not match it")
    assert not (tmp_path / "out").exists()  # stopped before the output was prepared


def test_truncated_plain_file_counts_the_cut_line(tmp_path):
    (tmp_path / "truncated.jsonl").write_bytes(_damaged("truncated.jsonl"))
    code, manifest = _run(tmp_path, [tmp_path / "truncated.jsonl"])
    assert code == 0 and manifest["counts"]["malformed_by_reason"] == {"invalid_json": 1}


def test_many_frames_are_read_to_the_end(tmp_path):
    (tmp_path / "frames.jsonl.zst").write_bytes(_zst(GOOD, frames=50, checksum=False))
    code, manifest = _run(tmp_path, [tmp_path / "frames.jsonl.zst"])
    assert code == 0 and manifest["counts"]["documents"]["packed"] == len(GOOD)


def test_same_file_name_in_two_folders_keeps_ids_unique(tmp_path):
    for folder in ("train", "val"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "00.jsonl").write_bytes(b"\n".join(GOOD[:5]) + b"\n")
    code, manifest = _run(tmp_path, [tmp_path / "*" / "00.jsonl"], "--document-files", "1")
    assert code == 0 and manifest["counts"]["documents"]["packed"] == 10
    import pyarrow.parquet as pq

    ids = pq.read_table(tmp_path / "out" / manifest["documents"][0]["path"]).column("id").to_pylist()
    assert len(set(ids)) == 10 and {i.split(":")[0] for i in ids} == {"train/00.jsonl", "val/00.jsonl"}


def test_a_50_mb_document_is_packed_and_a_line_over_the_limit_is_rejected(tmp_path):
    big = "All work and no play makes a dull document. " * (50 * 1024 * 1024 // 45)
    (tmp_path / "big.jsonl").write_bytes(doc(big, "Books3") + b"\n" + doc("small one") + b"\n")
    code, manifest = _run(tmp_path, [tmp_path / "big.jsonl"], "--no-documents")
    assert code == 0 and manifest["counts"]["by_source"]["Books3"]["packed"] == 1
    assert manifest["counts"]["by_source"]["Books3"]["tokens"] > 10_000_000
    code, manifest = _run(tmp_path, [tmp_path / "big.jsonl"], "--no-documents", "--max-line-mb", "40",
                          name="limited")
    assert code == 0 and manifest["counts"]["malformed_by_reason"] == {"line_too_long": 1}
    assert manifest["counts"]["documents"]["packed"] == 1


def test_a_200_mb_line_is_rejected_unparsed_by_default(tmp_path):
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"text": "')
        block = b"x" * (1 << 20)
        for _ in range(200):
            f.write(block)
        f.write(b'"}\n')
        f.write(doc("a normal document after it") + b"\n")
    code, manifest = _run(tmp_path, [path], "--no-documents")
    assert code == 0 and manifest["counts"]["malformed_by_reason"] == {"line_too_long": 1}
    assert manifest["counts"]["documents"]["packed"] == 1
    head = json.loads((tmp_path / "out/rejects/huge.jsonl.rejects.jsonl").read_text())["head"]
    assert head.startswith('{"text": "xxx') and len(head) <= 200
