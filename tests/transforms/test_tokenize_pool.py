"""Tokenizer processes: the in-process runner tokenizes with child processes (waiting for them
when they are behind); the ids must be those of the tokenizer in this process, in every path."""
import os
import subprocess
import sys
import textwrap

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that

import transforms.tokenize as tokenize_module
from tests.conftest import local_test_pipeline
from transforms.tokenize import Tokenize
from transforms.tokenizer import TokenizeConfig, load
from transforms.children import ChildFailed, close_pools
from transforms.tokenizer_processes import TokenizerProcesses, tokenizer_pool

TEXTS = ["", "Hello world", "lone \ud800 surrogate", "naïve café 😀 漢字", "<|endoftext|> is text",
         "x" * 100_000, "def f(x):\n\treturn x * 2\n" * 500]


@pytest.fixture
def processes():
    pool = TokenizerProcesses(TokenizeConfig(), 2)
    yield pool
    pool.close()


def test_children_give_the_ids_of_this_process(processes):
    tokenizer = load(TokenizeConfig())
    futures = [processes.submit(TEXTS[i:] + TEXTS[:i], [True] * len(TEXTS)) for i in range(len(TEXTS))]
    for i, future in enumerate(futures):  # batches at once, every text cross-checked
        ids_list, report = future.result(timeout=60)
        assert report["mismatches"] == [] and sum(report["used"].values()) >= len(TEXTS)
        for text, ids in zip(TEXTS[i:] + TEXTS[:i], ids_list):
            assert ids.dtype == np.uint16
            np.testing.assert_array_equal(ids, tokenizer.encode(text))


def test_a_batch_larger_than_the_pipes(processes):
    """A batch of a few MB each way: more than a pipe holds, in both directions at once."""
    tokenizer = load(TokenizeConfig())
    texts = [f"document {i}: " + "the quick brown fox jumps over the lazy dog " * 500 for i in range(200)]
    for text, ids in zip(texts, processes.submit(texts, [False] * len(texts)).result(timeout=120)[0]):
        np.testing.assert_array_equal(ids, tokenizer.encode(text))


def test_a_child_that_dies_is_a_clear_error(processes):
    assert len(processes.submit(["warm up"], [False]).result(timeout=60)[0][0]) == 2
    for proc in processes._procs:
        proc.kill()
        proc.wait()
    with pytest.raises(ChildFailed) as failed:
        processes.submit(["hello"] * 10, [False] * 10).result(timeout=60)
    assert failed.value.code == -9
    assert "was killed (SIGKILL)" in failed.value.explain("d:1") and "run the same command" in failed.value.explain("")
    assert not processes.alive()


def test_a_ctrl_c_while_the_children_import_their_modules_is_left_to_the_parent():
    """Ctrl-C reaches the whole process group: a child still importing its modules (seconds on a busy
    machine) ignores it, as it does once serving, instead of ending with a traceback of its own."""
    import signal
    import time

    pool = TokenizerProcesses(TokenizeConfig(), 2)
    try:
        time.sleep(0.3)  # past the interpreter's start, among the imports
        for proc in pool._procs:
            proc.send_signal(signal.SIGINT)
        assert len(pool.submit(["hello world"], [True]).result(timeout=60)[0][0]) == 2
        assert pool.alive()
    finally:
        pool.close()


def test_a_child_that_fails_is_a_bug_not_a_rerun():
    assert "bug in pileprep" in ChildFailed(1).explain("d:1") and "again" not in ChildFailed(1).explain("d:1")


def test_the_shared_pool_replaces_dead_children():
    try:
        first = tokenizer_pool(TokenizeConfig(), 1)
        first._procs[0].kill()
        first._procs[0].wait()
        second = tokenizer_pool(TokenizeConfig(), 1)
        assert second is not first and second.alive()
        assert len(second.submit(["hello world"], [True]).result(timeout=60)[0][0]) == 2
    finally:
        close_pools()


@pytest.mark.parametrize("batch_chars", [1, 50, 1 << 20])  # 1: every document its own task, children behind
def test_tokenize_with_processes_equals_inline(monkeypatch, batch_chars):
    monkeypatch.setattr(tokenize_module, "POOL_BATCH_CHARS", batch_chars)
    texts = [t for t in TEXTS if "\ud800" not in t]  # ReadPile rejects lone surrogates: none reach Tokenize
    docs = [{"id": f"d:{i}", "text": texts[i % len(texts)] * (1 + i % 3)} for i in range(60)]
    tokenizer = load(TokenizeConfig())
    expected = sorted((d["id"], tokenizer.encode(d["text"]).astype(np.uint16).tobytes()) for d in docs)
    try:
        with local_test_pipeline() as p:
            out = ((p | beam.Create(docs) | Tokenize(TokenizeConfig(), processes=2))["docs"]
                   | beam.Map(lambda d: (d["id"], d["ids"].tobytes())))
            assert_that(out, lambda actual: _equal(sorted(actual), expected))
    finally:
        close_pools()


def _equal(actual, expected):
    assert actual == expected


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """multiprocessing's spawn would re-run such a script in every child; our children never
    import the caller's main module."""
    from pipeline.tools.sample import SampleConfig, write_sample

    write_sample(str(tmp_path / "in"), SampleConfig(seed=3, documents=100, files=1))
    script = tmp_path / "prepare.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from pipeline.options import RunConfig
        from pipeline.run import run
        print("RUN", flush=True)
        run(RunConfig(inputs=({str(tmp_path / "in" / "*")!r},), output={str(tmp_path / "out")!r},
                      tokenize_processes=2, quiet=True), [])
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("RUN") == 1
    assert (tmp_path / "out" / "manifest.json").exists()
