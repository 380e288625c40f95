"""End to end through the `pileprep` CLI: the sample corpus in, shards, documents and manifest out,
checked against an independent reading of the input."""
import gzip
import json
import os

import ftfy
import numpy as np
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample
from transforms.rules import apply_rules, load_rules
from transforms.tokenizer import TokenizeConfig, load

IN_MEMORY = ["--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_sample(str(root), SampleConfig(seed=7, documents=400, files=2))
    return root


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "out"
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(out), "--rows-per-shard", "16"]
                + IN_MEMORY) == 0
    return out


def _read_lines(path):
    raw = open(path, "rb").read()
    if path.endswith(".zst"):
        raw = b"".join(_zstd_frames(raw))
    elif path.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.split(b"\n")[:-1] if raw.endswith(b"\n") else raw.split(b"\n")


def _zstd_frames(raw):
    while raw:
        obj = zstandard.ZstdDecompressor().decompressobj()
        yield obj.decompress(raw)
        raw = obj.unused_data


def _expected(corpus):
    """An independent reading: stdlib json, ftfy, the eleuther line edits and drops."""
    rules = load_rules("eleuther")
    kept, read, malformed = {}, 0, 0
    for name in sorted(os.listdir(corpus)):
        for n, line in enumerate(_read_lines(os.path.join(corpus, name)), start=1):
            read += 1
            try:
                obj = json.loads(line.decode("utf-8"))
                text = obj["text"]
                assert isinstance(text, str)
                text.encode("utf-8")
            except Exception:
                malformed += 1
                continue
            fixed = ftfy.fix_text(text, normalization="NFC")
            ok, _, edited, _ = apply_rules(obj["meta"]["pile_set_name"], fixed, rules)
            if ok:
                kept[f"{name}:{n}"] = edited
    return kept, read, malformed


def test_counts_add_up_and_documents_equal_ftfy_after_rules(corpus, run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    counts = manifest["counts"]
    docs = counts["documents"]
    assert docs["read"] == docs["malformed"] + docs["filtered"] + docs["deduplicated"] + docs["over_budget"] + docs["packed"]
    for source, c in counts["by_source"].items():
        assert c["read"] == c["malformed"] + c["filtered"] + c["deduplicated"] + c["over_budget"] + c["packed"], source
    kept, read, malformed = _expected(str(corpus))
    assert docs["read"] == read and docs["malformed"] == malformed and docs["packed"] == len(kept)
    written = {}
    for f in manifest["documents"]:
        table = pq.read_table(run_dir / f["path"])
        written.update(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    assert written == kept


def test_length_histograms_bin_every_document_before_and_after_the_line_edits(tmp_path):
    edited = "x" * 40 + "\nAdvertisement" * 10  # 180 characters, 40 once the eleuther rules remove the ads
    lines = [{"text": edited, "meta": {"pile_set_name": "OpenWebText2"}},
             {"text": edited, "meta": {"pile_set_name": "OpenWebText2"}},  # the same: deduplicated
             {"text": "Advertisement\nAdvertisement", "meta": {"pile_set_name": "OpenWebText2"}},  # 27, emptied
             {"text": "hello world", "meta": {"pile_set_name": "Pile-CC"}}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    assert main(["run", "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--dedup", "exact"]
                + IN_MEMORY) == 0
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["documents"] == {"read": 4, "malformed": 0, "filtered": 1, "deduplicated": 1, "over_budget": 0,
                                   "packed": 2}
    assert counts["length_histograms"] == {
        "before_filter": [{"min_chars": 8, "max_chars": 15, "documents": 1},  # every document read well
                          {"min_chars": 16, "max_chars": 31, "documents": 1},
                          {"min_chars": 128, "max_chars": 255, "documents": 2}],
        "after_filter": [{"min_chars": 8, "max_chars": 15, "documents": 1},  # those the filters kept
                         {"min_chars": 32, "max_chars": 63, "documents": 2}]}


def test_stream_decodes_to_the_documents_in_lineage_order(corpus, run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    rows = np.concatenate([np.load(run_dir / s["path"], mmap_mode="r", allow_pickle=False)
                           for s in manifest["shards"]])
    stream = np.concatenate([rows[:, :2048].reshape(-1), rows[-1, -1:]])
    lineage = []
    for s in manifest["shards"]:
        t = pq.read_table(run_dir / s["lineage"]["path"]).to_pylist()
        lineage += [r for r in t if not lineage or r["global_start"] > lineage[-1]["global_start"]]
    tokenizer = load(TokenizeConfig())
    kept, _, _ = _expected(str(corpus))
    ends = np.flatnonzero(stream == 50256)
    start, complete = 0, set()
    for rec, end in zip(lineage, ends):
        assert (rec["global_start"], rec["global_end"]) == (start, end)
        assert tokenizer.decode(stream[start:end].tolist()) == kept[rec["id"]]
        start = end + 1
        complete.add(rec["id"])
    assert len(complete) == len(ends)
    # the documents not complete in the rows hold exactly the tail of the last row and the left over
    tail = sum(len(tokenizer.encode(kept[i])) + 1 for i in set(kept) - complete)
    assert tail == (len(stream) - start) + manifest["tokens"]["left_over"]
    assert manifest["tokens"]["in_rows"] == len(stream) == manifest["rows"] * 2048 + 1
    assert manifest["tokens"]["packed"] == sum(len(tokenizer.encode(t)) + 1 for t in kept.values())


def test_verify_passes_then_catches_one_flipped_byte(run_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert main(["verify", str(copy)]) == 0
    shard = copy / "shards" / "shard-00001.npy"
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0x01
    shard.write_bytes(bytes(data))
    assert main(["verify", str(copy)]) == 1
    assert "shard-00001.npy sha256 differs" in capsys.readouterr().out


def test_budget_packs_exact_rows_and_refuses_a_short_input(corpus, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(out), "--token-budget", "20000"]
                + IN_MEMORY) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == manifest["budget"]["rows"] == 10 and manifest["budget"]["met"]
    assert manifest["counts"]["documents"]["over_budget"] > 0
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(tmp_path / "c"),
                 "--model-size", "111M"] + IN_MEMORY) == 2
    err = capsys.readouterr().err
    assert "tokens after filtering but the budget needs 2,221,010,945" in err and "--allow-short" in err
    assert not (tmp_path / "c" / "manifest.json").exists()
    assert not list((tmp_path / "c").glob("shards/*.npy"))


def test_errors_name_the_file_and_the_fix(corpus, tmp_path, capsys):
    assert main(["run", "--input", str(tmp_path / "none*.jsonl"), "--output", str(tmp_path / "o")]) == 2
    assert "matches no file" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    good = (corpus / "00.jsonl.zst").read_bytes()
    (bad / "00.jsonl.zst").write_bytes(good[: len(good) // 2])
    assert main(["run", "--input", str(bad / "*"), "--output", str(tmp_path / "o")] + IN_MEMORY) == 2
    err = capsys.readouterr().err
    assert "00.jsonl.zst is damaged" in err and "--allow-corrupt-inputs" in err and "Traceback" not in err
    assert main(["run", "--input", str(bad / "*"), "--output", str(tmp_path / "o"), "--overwrite",
                 "--allow-corrupt-inputs"] + IN_MEMORY) == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["damaged_inputs"] == [str(bad / "00.jsonl.zst")]
    assert manifest["counts"]["documents"]["packed"] > 0
    assert main(["run", "--input", str(bad / "*"), "--output", str(tmp_path / "o")] + IN_MEMORY) == 2
    assert "is not empty" in capsys.readouterr().err


def test_budget_command_reproduces_the_card(capsys):
    assert main(["budget", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["111M", "256M", "590M", "1.3B", "2.7B", "6.7B", "13B"]
    assert [r["steps"] for r in rows] == [9037, 9468, 21836, 24334, 49041, 62522, 174335]


def test_help_everywhere(capsys):
    for command in ([], ["run"], ["sample"], ["demo"], ["budget"], ["verify"], ["inspect"]):
        with pytest.raises(SystemExit) as e:
            main(command + ["--help"])
        assert e.value.code == 0
    assert "--model-size" in capsys.readouterr().out


def test_overwrite_replaces_a_run_without_mixing_shards(corpus, run_dir, tmp_path):
    import shutil

    out = tmp_path / "ow"
    shutil.copytree(run_dir, out)
    assert len(list(out.glob("shards/*.npy"))) > 1
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(out), "--overwrite",
                 "--rows-per-shard", "100000"] + IN_MEMORY) == 0
    assert [p.name for p in out.glob("shards/*.npy")] == ["shard-00000.npy"]
    assert main(["verify", str(out)]) == 0
    (out / "mine.txt").write_text("not ours")
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(out), "--overwrite"] + IN_MEMORY) == 2


def test_plain_file_read_as_parallel_ranges_gives_the_same_output(corpus, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    lines = []
    for name in sorted(os.listdir(corpus)):
        lines += _read_lines(os.path.join(corpus, name))
    (plain / "all.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    outs = []
    for split in ("1024", "0.05"):
        out = tmp_path / f"split-{split}"
        assert main(["run", "--input", str(plain / "all.jsonl"), "--output", str(out), "--split-mb", split,
                     "--rows-per-shard", "64"] + IN_MEMORY) == 0
        outs.append(out)
    whole, split = (json.loads((o / "manifest.json").read_text()) for o in outs)
    assert split["inputs"] == whole["inputs"] and split["counts"] == whole["counts"]
    assert split["shards"] == whole["shards"] and split["documents"] == whole["documents"]


def test_any_tokenizer_json_and_its_dtype(tmp_path):
    """A tokenizer.json of 70,000 ids packs uint32 shards with its own <|endoftext|> as EOS."""
    from tests.transforms.test_tokenize import _write_tokenizer

    path = _write_tokenizer(tmp_path / "tokenizer.json", vocab_size=70_000)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": " ".join(["hello world"] * 300 + [f"w{i}" for i in range(3, 900)])})
                           + "\n" for _ in range(4)))
    out = tmp_path / "out"
    assert main(["run", "--input", str(src), "--output", str(out), "--tokenizer", path] + IN_MEMORY) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dtype"] == manifest["tokenizer"]["dtype"] == "uint32"
    assert manifest["tokenizer"]["vocab_size"] == 70_000 and manifest["tokenizer"]["eos_id"] == 69_999
    rows = np.load(out / manifest["shards"][0]["path"], mmap_mode="r", allow_pickle=False)
    assert rows.dtype == np.uint32 and 69_999 in rows
    assert main(["run", "--input", str(src), "--output", str(tmp_path / "o2"), "--tokenizer", path,
                 "--eos-id", "1"] + IN_MEMORY) == 0
    assert json.loads((tmp_path / "o2" / "manifest.json").read_text())["tokenizer"]["eos_id"] == 1


@pytest.mark.parametrize("option, message", [
    (["--dedup", "minhash", "--minhash-threshold", "2"],
     "threshold must be a Jaccard similarity strictly between 0 and 1, got 2.0"),
    (["--seed", "-1"], "--seed must be in [0, 2**63), got -1"),
    (["--model-size", "7B"], "unknown Cerebras-GPT size '7B': choose one of 111M"),
    (["--document-files", "0"], "--document-files must be >= 1, got 0"),
    (["--eos-id", "60000"], "eos_id 60000 is outside the vocabulary of gpt2 (size 50257)"),
    (["--runner", "NoSuchRunner"], "Unexpected pipeline runner: NoSuchRunner"),
])
def test_a_bad_option_value_is_one_line_and_exit_2(corpus, tmp_path, capsys, option, message):
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(tmp_path / "o")] + option + IN_MEMORY) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bug in pileprep" not in err
    assert err.splitlines()[-1].startswith(f"pileprep: error: {message}")
    assert main(["sample", "--output", str(tmp_path / "s"), "--documents", "5"]) == 2
    assert capsys.readouterr().err.startswith("pileprep: error: documents=5 is too few")


def test_config_errors_are_still_value_errors_for_library_callers():
    from pipeline.options import RunConfig
    from transforms.errors import ConfigError

    with pytest.raises(ValueError, match="--seed must be in") as info:
        RunConfig(inputs=("x",), output="o", seed=-1)
    assert type(info.value) is ConfigError and str(info.value) == "--seed must be in [0, 2**63), got -1"


def test_an_internal_value_error_is_a_bug_with_its_traceback_and_exit_1(corpus, tmp_path, capsys, monkeypatch):
    import transforms.pack as pack

    def broken(self, *args):
        raise ValueError("internal: a stage met a value it cannot handle")
        yield

    monkeypatch.setattr(pack._PlaceRangeFn, "process", broken)  # run by every graph
    assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(tmp_path / "o")] + IN_MEMORY) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert "ValueError: internal: a stage met a value it cannot handle" in err
    assert "pileprep: error:" not in err
    assert err.splitlines()[-1].startswith("pileprep: this is a bug in pileprep") and "report it" in err
    assert not (tmp_path / "o" / "manifest.json").exists()


@pytest.mark.parametrize("args, workers, sure", [([], None, True), ([], 1, True), ([], 2, False),
                                                 (["--runner=DirectRunner"], None, False),
                                                 (["--direct_running_mode", "in_memory"], None, False),
                                                 (["--direct_num_workers=1"], None, False), (["--project=p"], None, True)])
def test_the_in_process_runner_is_told_without_beam_only_when_sure(args, workers, sure):
    from pipeline.runners import in_process, make_pipeline, surely_in_process

    assert surely_in_process(args, workers) == sure
    if sure:
        assert in_process(make_pipeline(args, workers=workers))


def test_the_default_run_starts_its_workers_once_and_before_beam(corpus, tmp_path, monkeypatch):
    """pipeline/run.py starts the fused stage's workers before making the pipeline (Beam's import):
    they load while the graph is built, which finds them started; a run with Beam options starts
    them when the graph is built."""
    from pipeline import runners
    from transforms import children, prepare_processes

    events = []
    start, make = prepare_processes.PrepareProcesses.__init__, runners.make_pipeline
    monkeypatch.setattr(prepare_processes.PrepareProcesses, "__init__",
                        lambda self, *a: (events.append("workers"), start(self, *a))[1])
    monkeypatch.setattr(runners, "make_pipeline", lambda *a, **k: (events.append("pipeline"), make(*a, **k))[1])
    for beam_args, expected in (([], ["workers", "pipeline"]), (IN_MEMORY, ["pipeline", "workers"])):
        children.close_pools()
        events.clear()
        out = tmp_path / f"out-{len(beam_args)}"
        assert main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(out), "--quiet"] + beam_args) == 0
        assert events == expected
    assert (tmp_path / "out-0" / "manifest.json").read_bytes() == (tmp_path / "out-1" / "manifest.json").read_bytes()
