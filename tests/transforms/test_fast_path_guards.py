"""The fast paths prove themselves at run time: a self-test on load turns a wrong fast path off
(with a warning, same output), and the sampled cross-check fails a run whose fast path differs from
the plain implementation on a document, naming it."""
import io
import json
import logging

import numpy as np
import pytest

from pipeline.options import RunConfig
from pipeline.run import run
from pipeline.tools.sample import SampleConfig, write_sample
from transforms import gpt2_fast, normalizer as nm, normalize_fast, normalize_tables, tokenizer as tk
from transforms.errors import find_message
from transforms.provenance import CheckConfig
from transforms.tokenizer import TokenizeConfig, Tokenizer
from transforms.children import U64 as _U64, frame as _frame, read_frame as _read_frame
from transforms.tokenizer_processes import _serve


def test_a_tokie_that_fails_its_self_test_is_not_used(monkeypatch, caplog):
    if not gpt2_fast.tokie_usable():
        pytest.skip("tokie is not used on this platform")
    monkeypatch.setattr(tk, "tokie_safe", lambda text: True)  # tokie's known divergences reach it
    tok = Tokenizer(TokenizeConfig())
    with caplog.at_level(logging.WARNING, logger="pileprep"):
        tok.prepare()
    assert tok._tokie is None and tok.backend == "tiktoken"
    assert "failed its self-test" in caplog.text
    ids, backends = tok.tokenize("a\t'll b")
    assert ids.tolist() == tok.plain_ids("a\t'll b").tolist() and backends == ("tiktoken",)


def test_a_sound_tokie_passes_its_self_test():
    tok = Tokenizer(TokenizeConfig())
    tok.prepare()
    assert tok.backend == ("tiktoken+tokie" if gpt2_fast.tokie_usable() else "tiktoken")
    assert gpt2_fast.self_test(tok) is None


def test_a_fast_normalizer_that_fails_its_self_test_is_not_used(monkeypatch, caplog):
    import ftfy

    monkeypatch.setattr(nm, "_TESTED", {})
    monkeypatch.setattr(normalize_fast.Fixer, "__call__", lambda self, text: text)  # fixes nothing
    with caplog.at_level(logging.WARNING, logger="pileprep"):
        fix = nm.fixer(nm.NormalizeConfig())
    assert fix.path == "ftfy" and "failed its self-test" in caplog.text
    assert fix("caf\u00c3\u00a9") == ftfy.fix_text("caf\u00c3\u00a9") == "caf\u00e9"


def test_a_sound_fast_normalizer_passes_its_self_test():
    import ftfy

    fast = normalize_fast.Fixer(ftfy.TextFixerConfig(normalization="NFC"), normalize_tables.tables())
    assert nm.self_test(fast, fast.config) is None
    assert nm.fixer(nm.NormalizeConfig()).path == "fast"


def test_the_sample_is_seeded_and_about_one_in_n():
    ids = [f"{i:02d}.jsonl.zst:{n}" for i in range(3) for n in range(20_000)]
    check = CheckConfig(every=100, seed=7)
    picked = [d for d in ids if check.sampled(d)]
    assert 0.008 < len(picked) / len(ids) < 0.012
    assert picked == [d for d in ids if CheckConfig(every=100, seed=7).sampled(d)]
    assert picked != [d for d in ids if CheckConfig(every=100, seed=8).sampled(d)]
    assert not any(CheckConfig(every=0).sampled(d) for d in ids[:1000])
    assert all(CheckConfig(every=1).sampled(d) for d in ids[:1000])
    with pytest.raises(ValueError, match="check-every"):
        CheckConfig(every=-1)


def test_a_tokenizer_child_reports_a_mismatch(monkeypatch):
    """The child's loop, fed through in-memory pipes: a checked text whose fast ids differ from
    the plain ones is reported by its index; an unchecked one is not."""
    real = Tokenizer.tokenize_many

    def wrong_on_planted(self, texts):
        return [((ids[::-1].copy() if "planted" in text else ids), backends)
                for text, (ids, backends) in zip(texts, real(self, texts))]

    monkeypatch.setattr(Tokenizer, "tokenize_many", wrong_on_planted)
    texts, checks = ["fine text", "a planted bug here", "planted but unchecked", "ok"], [1, 1, 0, 1]
    request = _frame(json.dumps({"tokenizer": "gpt2", "eos_id": None, "backend": "auto", "content": None}).encode())
    request += _U64.pack(len(texts)) + _frame(bytes(checks)) + b"".join(_frame(t.encode()) for t in texts)
    stdout = io.BytesIO()
    _serve(io.BytesIO(request), stdout)
    stdout.seek(0)
    ids = [np.frombuffer(_read_frame(stdout), dtype=np.uint16) for _ in texts]
    report = json.loads(_read_frame(stdout))
    assert report["mismatches"] == [1] and len(ids[0]) == 2
    assert sum(report["used"].values()) == len(texts)


@pytest.fixture
def corpus(tmp_path):
    write_sample(str(tmp_path / "in"), SampleConfig(seed=2, documents=100, files=1))
    return tmp_path


def _run_fails(corpus, **options) -> str:
    config = RunConfig(inputs=(f"{corpus}/in/*",), output=str(corpus / "out"), check_every=1,
                       tokenize_processes=0, quiet=True, **options)
    with pytest.raises(Exception) as failed:
        run(config, ["--direct_running_mode=in_memory"])
    message = find_message(failed.value)
    assert message is not None, failed.value
    assert not (corpus / "out" / "manifest.json").exists()
    return message


def test_a_run_whose_fast_tokenizer_differs_fails_naming_the_document(corpus, monkeypatch):
    real = Tokenizer.tokenize

    def one_id_short(self, text):
        ids, backends = real(self, text)
        return ids[:-1], backends

    monkeypatch.setattr(Tokenizer, "tokenize", one_id_short)
    message = _run_fails(corpus)
    assert "gets other token ids from the fast tokenizer" in message and ".jsonl.zst:" in message
    assert "--reference" in message


def test_a_run_whose_fast_normalizer_differs_fails_naming_the_document(corpus, monkeypatch):
    real = normalize_fast.Fixer.__call__
    monkeypatch.setattr(nm, "_TESTED", {})
    monkeypatch.setattr(nm, "self_test", lambda fix, config: None)  # as if it had passed
    monkeypatch.setattr(normalize_fast.Fixer, "__call__", lambda self, text: real(self, text) + " ")
    message = _run_fails(corpus)
    assert "normalized differently by the fast normalizer" in message and ".jsonl.zst:" in message


def test_check_every_zero_checks_nothing(corpus):
    config = RunConfig(inputs=(f"{corpus}/in/*",), output=str(corpus / "out"), check_every=0,
                       quiet=True)
    manifest = run(config, ["--direct_running_mode=in_memory"])
    provenance = manifest["provenance"]
    assert provenance["check_every"] == 0
    assert provenance["normalize"]["checked"] == provenance["tokenize"]["checked"] == 0
    assert sum(provenance["normalize"]["paths"].values()) == manifest["counts"]["documents"]["read"] - manifest[
        "counts"]["documents"]["malformed"]
    with pytest.raises(ValueError):
        RunConfig(inputs=("x",), output="o", check_every=-2)
