"""Crashes, reruns and the network: a killed run leaves nothing that looks complete, the same
command afterwards gives the clean run's bytes, and a run needs no network at all."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample
from tests.conftest import refuse_network


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    write_sample(str(root / "in"), SampleConfig(seed=5, documents=1500, files=3))
    return root


def _digests(directory):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _command(corpus, out):
    return ["run", "--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "50"]


@pytest.fixture(scope="module")
def clean(corpus):
    """The digests of the uninterrupted run every test here compares with, made with the network
    refused (test_run_needs_no_network)."""
    out = corpus / "clean"
    with pytest.MonkeyPatch.context() as monkeypatch:
        refuse_network(monkeypatch)
        assert main(_command(corpus, out) + ["--direct_running_mode=in_memory"]) == 0
    return _digests(out)


def test_killed_run_leaves_nothing_complete_and_rerun_matches_a_clean_run(corpus, clean, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli"] + _command(corpus, out),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob("documents/*")) and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its worker processes
    proc.wait()
    assert not (out / "manifest.json").exists()
    # every file under a final name is complete: shards open and have whole rows
    import numpy as np

    for shard in out.glob("shards/shard-*.npy"):
        assert np.load(shard, mmap_mode="r", allow_pickle=False).shape[1] == 2049
    assert main(_command(corpus, out)) == 0  # the same command again, no --overwrite needed
    assert _digests(out) == clean


def test_run_needs_no_network(clean):
    """The clean run was made with every socket connection refused."""
    assert "manifest.json" in clean and any(name.startswith("shards/") for name in clean)


def test_exception_after_n_documents_leaves_no_complete_looking_output(corpus, clean, tmp_path, monkeypatch,
                                                                       capsys):
    import transforms.pack as pack

    out = tmp_path / "failed"
    original, calls = pack._WriteShardFn.process, {"n": 0}

    def failing(self, shard_frags, plan_):
        calls["n"] += 1
        if calls["n"] == 3:  # after two shards were committed
            raise RuntimeError("injected failure while writing shards")
        yield from original(self, shard_frags, plan_)

    monkeypatch.setattr(pack._WriteShardFn, "process", failing)
    assert main(_command(corpus, out) + ["--direct_running_mode=in_memory"]) == 1  # a bug: traceback, exit 1
    assert "RuntimeError: injected failure" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()
    monkeypatch.setattr(pack._WriteShardFn, "process", original)
    assert main(_command(corpus, out) + ["--direct_running_mode=in_memory"]) == 0
    assert _digests(out) == clean


def test_ctrl_c_is_a_short_message_not_a_traceback(tmp_path):
    """Ctrl-C reaches the whole process group (the run and its tokenizer processes): exit 130 with
    one line, no traceback from the runner or a child, and nothing that looks complete."""
    import json

    words = "the quick brown fox jumps over the lazy dog while seven wizards quietly judge boxing".split()
    # line i is the words from word i % 15 on: 15 distinct lines, made once
    lines = [json.dumps({"text": " ".join(words[(i + k) % len(words)] for k in range(2000)),
                         "meta": {"pile_set_name": "Pile-CC"}}) + "\n" for i in range(len(words))]
    with open(tmp_path / "big.jsonl", "w") as f:
        for i in range(8000):  # ~100 MB: still running 2 s after it starts on any machine
            f.write(lines[i % len(words)])
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--input", str(tmp_path / "big.jsonl"),
                             "--output", str(tmp_path / "out"), "--no-documents", "--progress-every", "0.2"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # Ctrl-C's default action, even when this test runs with SIGINT ignored
                            # (a shell's background job): an ignored signal is inherited, and Python
                            # then installs no KeyboardInterrupt
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = proc.stderr.readline()  # "pileprep: reading ...": the pipeline is being built and run
    assert "reading" in line
    while "tokenizing" not in line:  # the workers are at it: Ctrl-C in the middle of the work
        line = proc.stderr.readline()
        assert line, "the run ended before it was interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, rest
    assert "pileprep: interrupted" in rest and "Traceback" not in rest, rest
    assert not (tmp_path / "out" / "manifest.json").exists()
