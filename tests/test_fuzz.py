"""Fuzzing: the line parser, the reader on random byte streams, the rule engine, and verify on
corrupted shards and manifests never fail other than with their documented errors."""
import io
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from transforms.errors import PileprepError
from transforms.rules import apply_rules, load_rules
from transforms.inputs import InputFile
from transforms.parse import parse_line
from transforms.read import read_file

REASONS = {"blank_line", "invalid_utf8", "lone_surrogate", "json_too_deep", "invalid_json", "not_an_object",
           "text_missing", "text_null", "text_not_string", "meta_not_object"}


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_parse_line_returns_fields_or_a_known_reason(raw):
    fields, reason = parse_line(raw)
    if reason is None:
        assert isinstance(fields["text"], str) and isinstance(fields["source"], str)
    else:
        assert reason in REASONS


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["text", "meta", "pile_set_name", "x"]), c, max_size=3),
                    max_leaves=8))
def test_parse_line_on_any_json_value(value):
    fields, reason = parse_line(json.dumps(value).encode())
    assert reason is None or reason in REASONS


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["f.jsonl", "f.jsonl.zst", "f.jsonl.gz"]), st.booleans())
def test_reader_on_random_bytes_counts_or_raises_its_own_error(data, name, allow):
    file = InputFile(name, name, len(data))
    try:
        out = list(read_file(io.BytesIO(data), file, allow_corrupt=allow))
    except PileprepError as e:
        assert not allow and name in e.message and "--allow-corrupt-inputs" in e.message
        return
    summary = out[-1][1]
    assert out[-1][0] == "file"
    assert summary["lines"] == summary["documents"] + summary["malformed"]
    assert sum(kind == "doc" for kind, _ in out) == summary["documents"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["Github", "OpenWebText2", "ArXiv", "PubMed Central", "Pile-CC", "unknown"]),
       st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
                | st.sampled_from(["\n", ":::", "Advertisement", "\nAdvertisement\n", "\n:::x\n"]),
                max_size=30).map("".join))
def test_rule_engine_keeps_or_names_a_rule(source, text):
    rules = load_rules("slimpajama")
    kept, reason, edited, edits = apply_rules(source, text, rules)
    assert kept == (reason is None)
    assert reason is None or reason in {r.name for r in rules}
    assert len(edited) <= len(text) and all(v > 0 for v in edits.values())


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from pipeline.cli import main
    from pipeline.tools.sample import SampleConfig, write_sample

    root = tmp_path_factory.mktemp("fuzzrun")
    write_sample(str(root / "in"), SampleConfig(seed=9, documents=100, files=1))
    assert main(["run", "--input", f"{root}/in/*", "--output", str(root / "out"), "--rows-per-shard", "8",
                 "--direct_running_mode=in_memory"]) == 0
    return root / "out"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_verify_on_corrupted_runs_names_problems_and_never_crashes(small_run, tmp_path_factory, data):
    from pipeline.tools.verify import verify

    copy = tmp_path_factory.mktemp("fz") / "run"
    shutil.copytree(small_run, copy)
    target = data.draw(st.sampled_from(["manifest", "shard", "sidecar"]))
    if target == "manifest":
        raw = bytearray((copy / "manifest.json").read_bytes())
        for _ in range(data.draw(st.integers(1, 5))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        (copy / "manifest.json").write_bytes(bytes(raw))
    else:
        path = sorted(copy.glob("shards/*.npy" if target == "shard" else "shards/*.parquet"))[0]
        raw = bytearray(path.read_bytes())
        cut = data.draw(st.booleans())
        if cut:
            raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
        else:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(raw))
    problems = verify(str(copy))
    # Any change to a shard or sidecar is caught (each edit above changes their bytes). An edit of the
    # manifest may leave it as it was (raw[i] = v evaluates v first: it can write the byte already at i,
    # a space of the indentation) or change only its layout: only "never crashes" holds for it
    if target != "manifest":
        assert problems
    assert all(isinstance(p, str) and p for p in problems)
