"""The fused local stage (transforms/prepare.py): chunking, the worker's per-document path against
the staged graph's functions, the worker processes, and whole runs byte-identical to the staged graph."""
import dataclasses
import hashlib
import json

import pytest

from pipeline.options import RunConfig
from pipeline.run import run
from pipeline.tools.sample import SampleConfig, write_sample
from transforms import prepare, prepare_read
from transforms.children import ChildFailed
from transforms.document_runs import merge_runs
from transforms.errors import PileprepError
from transforms.inputs import ReadConfig, match_inputs
from transforms.normalizer import NormalizeConfig, fixer
from transforms.pack_batches import decode
from transforms.parse import parse_line
from transforms.prepare_read import chunks
from transforms.prepare_processes import PrepareProcesses
from transforms.prepare_work import PrepareSetup, Work, split_chunk
from transforms.provenance import CheckConfig
from transforms.rules import apply_rules, load_rules
from transforms.streams import Damage, split_lines
from transforms.tokenizer import Tokenizer, TokenizeConfig, load

SETUP = PrepareSetup(normalize=NormalizeConfig(), check=CheckConfig(every=1), rules=load_rules("eleuther"),
                     tokenize=TokenizeConfig(), range_bits=4, dtype="uint16", seed=3, max_line_bytes=4 << 20,
                     document_files=3)


def _line(text, source="Pile-CC") -> bytes:
    return json.dumps({"text": text, "meta": {"pile_set_name": source}}).encode()


LONG = ["x" * 3_000_000, " " * 400_000, "\u201cQuoted\u201d caf\u00e9 \u2014 " * 50_000, "word " * 300_000]
LINES = [_line("Hello \u201cworld\u201d"), b"not json", b"", _line(""), _line("\u0416\u0438\u0437\u043d\u044c " * 30),
         _line("a\r\nb\u2028c"), b'{"text": "\\ud800 lone"}', _line("Sponsored\nreal text", "OpenWebText2"),
         b"\xef\xbb\xbf" + _line("bom"), b'{"text": 5}', _line("x" * 5_000_000)] + [_line(t) for t in LONG]


def _blocks(data: bytes, size: int):
    return (data[i:i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("tail", [b"", b"\n", b"last line without newline", b"\n\n"])
@pytest.mark.parametrize("block", [1, 7, 1000, 1 << 20])
def test_chunks_are_whole_lines_whatever_the_blocks(tail, block):
    data = b"\n".join([b"a" * 10, b"", b"bb" * 3000, b"c"] * 40) + tail
    for size in (1, 100, 5000, 1 << 30):
        pieces = list(chunks(_blocks(data, block), size))
        assert b"".join(pieces) == data
        assert all(p.endswith(b"\n") for p in pieces[:-1])
        lines = [line for p in pieces for line in split_chunk(p)]
        assert lines == list(split_lines(_blocks(data, block)))


def test_a_line_longer_than_a_chunk_is_joined_once():
    data = b"y" * (50 << 20) + b"\nshort\n"
    pieces = list(chunks(_blocks(data, 1 << 16), 1 << 20))
    assert [len(p) for p in pieces] == [len(data)]  # cut once, at the last newline it holds


def test_damage_keeps_the_whole_lines_before_it():
    def blocks():
        yield b"one\ntwo\nthr"
        yield b"ee\nfou"
        raise Damage(123, "truncated")

    got = []
    with pytest.raises(Damage):
        for piece in chunks(blocks(), 1 << 20):
            got.append(piece)
    assert got == [b"one\ntwo\nthree\n"]


def _staged(line: bytes, number: int, tokenizer: Tokenizer):
    """What the staged graph's functions make of one line: reject reason, drop rule, or the kept text and ids."""
    fields, reason = (None, "line_too_long") if len(line) > SETUP.max_line_bytes else parse_line(line)
    if reason:
        return ("reject", reason)
    text = fixer(SETUP.normalize)(fields["text"])
    kept, rule, edited, edits = apply_rules(fields["source"], text, SETUP.rules)
    if not kept:
        return ("drop", rule)
    return ("kept", edited, sum(edits.values()), text != fields["text"], tokenizer.encode(edited).tolist())


def test_the_worker_does_what_the_staged_functions_do():
    work, tokenizer = Work(SETUP.normalize, SETUP.tokenize), load(TokenizeConfig())
    answer = work.chunk(SETUP, "f.jsonl", 10, b"\n".join(LINES) + b"\n")
    assert answer["lines"] == len(LINES)
    rejects = {r["line"]: ("reject", r["reason"]) for r in answer["rejects"]}
    drops = {int(d["id"].split(":")[1]): ("drop", d["rule"]) for d in answer["drops"]}
    ended = answer["ended"] + work.flush("")["ended"]
    ids = {}
    for _, payload, _ in [b for e in ended for b in e["batches"]]:
        table, tokens = decode(payload, "uint16")
        at = 0
        for doc_id, n in zip(table.column("id").to_pylist(), table.column("n").to_pylist()):
            ids[doc_id], at = tokens[at:at + n].tolist(), at + n
    runs = [(file, run) for e in ended for file, run in e["runs"]]
    rows = [row for file, run in runs for table in merge_runs([run]) for row in table.to_pylist()]
    assert all(row["order_key"] % 3 == file for file, run in runs for table in merge_runs([run])
               for row in table.to_pylist())
    kept = {int(r["id"].split(":")[1]): ("kept", r["text"], r["lines_removed"], r["normalized"], ids[r["id"]]) for r in rows}
    got = {**rejects, **drops, **kept}
    assert len(got) == len(LINES) == len(rejects) + len(drops) + len(kept) and len(ids) == len(kept)
    for number, line in enumerate(LINES, 11):
        assert got[number] == _staged(line, number, tokenizer), number
    assert answer["documents"] == len(drops) + len(kept)
    assert answer["normalize_checked"] == answer["documents"] and answer["tokenize_checked"] == len(kept)


def test_a_cross_check_mismatch_names_the_document(monkeypatch):
    real = Tokenizer.tokenize_many
    monkeypatch.setattr(Tokenizer, "tokenize_many", lambda self, texts: [(ids[:-1], b) for ids, b in real(self, texts)])
    with pytest.raises(PileprepError, match=r"document f:2 gets other token ids"):
        Work(SETUP.normalize, SETUP.tokenize).chunk(SETUP, "f", 1, _line("some text") + b"\n")


def test_worker_processes_answer_and_flush_each_once():
    pool = PrepareProcesses(SETUP.normalize, SETUP.tokenize, 2)
    try:
        futures = [pool.submit_chunk(SETUP, "f", i * 100, b"\n".join(LINES[:8]) + b"\n", ("f", i), "b")
                   for i in range(6)]
        answers = [f.result(timeout=120) for f in futures]
        assert [len(a["rejects"]) for a in answers] == [len(answers[0]["rejects"])] * 6
        flushed = pool.flush("b")
        assert len(flushed) == 2 and len({a["pid"] for a in flushed}) == 2
        ended = [e for a in answers + flushed for e in a["ended"]]
        rows = sum(decode(p, "uint16")[0].num_rows for e in ended for _, p, _ in e["batches"])
        documents = sum(t.num_rows for e in ended for _, run in e["runs"] for t in merge_runs([run]))
        assert rows == documents == 6 * (answers[0]["documents"] - len(answers[0]["drops"])) > 0
        reject = pool.submit_chunk(SETUP, "f", 0, b'{"text": "\\ud800"}\n').result(timeout=60)["rejects"][0]
        assert reject["reason"] == "lone_surrogate"
        for proc in pool._procs:
            proc.kill()
            proc.wait()
        with pytest.raises(ChildFailed) as failed:
            pool.submit_chunk(SETUP, "f", 0, LINES[0]).result(timeout=60)
        assert "worker process was killed (SIGKILL) while preparing" in failed.value.explain("lines 1 to 2 of f")
    finally:
        pool.close()


def _digests(out) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    return {"manifest": hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest(),
            "documents": manifest["counts"]["documents"]}


@pytest.mark.parametrize("chunk_bytes", [1, 3000])
def test_fused_and_staged_runs_are_byte_identical(tmp_path, monkeypatch, chunk_bytes):
    """The sample's planted problems (malformed lines, mojibake, rule hits, a damaged file kept
    with --allow-corrupt-inputs is in test_read) through both fronts: every output's sha256 is in
    the manifest, so equal manifests are equal runs. Tiny chunks: many tasks, answers out of order."""
    write_sample(str(tmp_path / "in"), SampleConfig(seed=5, documents=300, files=2))
    monkeypatch.setattr(prepare, "CHUNK_BYTES", chunk_bytes)
    digests = []
    for fused in (True, False):
        out = tmp_path / f"out-{fused}"
        config = RunConfig(inputs=(f"{tmp_path}/in/*",), output=str(out), rows_per_shard=8, quiet=True,
                           tokenize_processes=2, fused=fused)
        manifest = run(config, ["--direct_running_mode=in_memory"])
        assert manifest["counts"]["documents"]["malformed"] > 0 and manifest["counts"]["documents"]["filtered"] > 0
        digests.append((json.dumps(manifest, sort_keys=True).replace(str(out), "OUT"), _digests(out)["documents"]))
    assert digests[0] == digests[1]


def test_a_budget_and_no_documents_fused_equals_staged(tmp_path):
    write_sample(str(tmp_path / "in"), SampleConfig(seed=6, documents=200, files=1))
    manifests = []
    for fused in (True, False):
        out = tmp_path / f"out-{fused}"
        config = RunConfig(inputs=(f"{tmp_path}/in/*",), output=str(out), rows_per_shard=4, quiet=True,
                           token_budget=20_000, write_documents=False, tokenize_processes=2, fused=fused)
        manifests.append(json.dumps(run(config, ["--direct_running_mode=in_memory"]), sort_keys=True).replace(str(out), "OUT"))
    assert manifests[0] == manifests[1]


@pytest.mark.parametrize("head_chunks", [0, 1, 10**6])
def test_the_head_start_changes_no_byte(tmp_path, monkeypatch, head_chunks):
    """The head start stopped before its first chunk (0), in the middle of the first input (1 per
    worker, small chunks), or free to read every input before the runner reaches Prepare; a file
    truncated mid-stream (kept with --allow-corrupt-inputs) among them: the manifest of the staged graph."""
    write_sample(str(tmp_path / "in"), SampleConfig(seed=7, documents=300, files=3))
    damaged = sorted((tmp_path / "in").glob("*.zst"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-40])
    monkeypatch.setattr(prepare, "CHUNK_BYTES", 3000)
    monkeypatch.setattr(prepare_read, "HEAD_START_CHUNKS", head_chunks)
    manifests = []
    for fused in (True, False):
        out = tmp_path / f"out-{fused}"
        config = RunConfig(inputs=(f"{tmp_path}/in/*",), output=str(out), rows_per_shard=8, quiet=True,
                           allow_corrupt_inputs=True, tokenize_processes=2, fused=fused)
        manifest = run(config, ["--direct_running_mode=in_memory"])
        assert [f["name"] for f in manifest["inputs"] if f.get("damage")] == [damaged.name]
        manifests.append(json.dumps(manifest, sort_keys=True).replace(str(out), "OUT"))
    assert manifests[0] == manifests[1]


def _documents(outputs) -> list:
    """The (id, tokens) of the kept documents in a bundle's Pack batches (inline payloads)."""
    ids = []
    for value in outputs:
        value = getattr(value, "value", value)
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], tuple):
            table, tokens = decode(value[1][0], "uint16")
            ids += list(zip(table.column("id").to_pylist(), table.column("n").to_pylist()))
    return sorted(ids)


def test_inputs_the_head_start_read_for_a_later_bundle_are_finished_in_the_first(tmp_path, monkeypatch):
    """Should the runner split Prepare's work into bundles, what the head start cut of an input
    another bundle gets is read to its end in the first bundle (the workers' epochs of its token
    hold it), and the later bundle emits nothing more of it: the same documents, once."""
    write_sample(str(tmp_path / "in"), SampleConfig(seed=8, documents=200, files=2))
    files = match_inputs([f"{tmp_path}/in/*"])
    items = [(tuple(f), 0, None, 0) for f in files]
    read = ReadConfig((f"{tmp_path}/in/*",))
    setup = dataclasses.replace(SETUP, document_files=0)
    outputs = {}
    monkeypatch.setattr(prepare_read, "HEAD_START_CHUNKS", 10**6)
    for head in ("", "test-head"):
        config = prepare.PrepareConfig(read, setup, processes=2, chunk_bytes=5000, head_start=head)
        prepare.Prepare(config, files)
        if head:
            prepare._HEAD_STARTS[head]._thread.join(timeout=120)  # every input cut before the DoFn starts
        fn = prepare._PrepareFn(config)
        fn.setup()
        fn.start_bundle()
        first = list(fn.process(items[0])) + list(fn.finish_bundle())
        fn.start_bundle()
        second = [v for item in items[1:] for v in fn.process(item)] + list(fn.finish_bundle())
        summaries = [v.value.value for v in first + second if getattr(v, "tag", None) == "files"]
        assert sorted(s["name"] for s in summaries) == sorted(f.name for f in files)  # each once
        if head:
            assert _documents(second) == [] and [s for s in second if getattr(s, "tag", None) == "files"] == []
        outputs[head] = _documents(first + second)
        fn.teardown()
    assert outputs["test-head"] == outputs[""] and len(outputs[""]) > 100
