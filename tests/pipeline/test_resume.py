"""Resume (transforms/resume.py): entries round-trip and are trusted only when they match; a run
killed with SIGKILL at several points, then run again with the same command, gives the bytes of an
uninterrupted run, reusing what the killed run finished; a changed input or option is never mixed in.
The killed runs are processes of their own; the reruns and the runs they are compared with run in
this process, as `main` (what the `pileprep` command calls)."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample
from transforms.resume import RESUME_DIR, chunk_key, link, read_entries, select, write_entry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_an_entry_round_trips_and_its_payloads_read_as_spill(tmp_path):
    from transforms.spill import SpillReader

    folder, spill = str(tmp_path / "resume"), str(tmp_path / "spill")
    chunks = {chunk_key(0, b"a\n"): {"documents": 1}, chunk_key(1, b"b\n"): {"documents": 2}}
    batches, runs = write_entry(folder, spill, "fp", ("f", 10, 0), chunks,
                                [(3, b"payload-3", 7), (9, b"nine", 2)], [(0, b"run zero"), (2, b"run two")])
    [entry] = read_entries(folder, "fp")[("f", 10, 0)]
    assert entry.chunks == chunks and entry.batches == batches and entry.runs == runs
    assert [(rng, tokens) for rng, _, tokens in batches] == [(3, 7), (9, 2)] and [f for f, _ in runs] == [0, 2]
    reader = SpillReader(spill)
    assert [reader.get(ref) for _, ref, _ in batches] + [reader.get(ref) for _, ref in runs] == [
        b"payload-3", b"nine", b"run zero", b"run two"]
    os.remove(os.path.join(spill, entry.file_id.hex()))
    link(entry, spill)  # a rerun's spill folder: linked again
    assert SpillReader(spill).get(runs[1][1]) == b"run two"
    assert select([entry], set(chunks) | {chunk_key(2, b"c\n")}) == ([entry], [])
    assert select([entry], {chunk_key(0, b"a\n")}) == ([], [entry])  # one of its chunks is gone: never used
    assert select([entry, entry], set(chunks)) == ([entry], [entry])  # overlapping work: a chunk is used once


def test_other_runs_entries_and_half_written_files_are_deleted(tmp_path):
    folder, spill = str(tmp_path / "resume"), str(tmp_path / "spill")
    write_entry(folder, spill, "old options", ("f", 1, 0), {chunk_key(0, b"x"): {}}, [], [])
    open(os.path.join(folder, ".tmp-deadbeef"), "wb").write(b"half")
    open(os.path.join(folder, "0" * 32 + ".entry"), "wb").write(b"PPRESUM1garbage")
    assert read_entries(folder, "new options") == {}
    assert os.listdir(folder) == []


def _args(*args) -> list[str]:
    """The arguments of a quiet `pileprep run`."""
    return ["run", *args, "--quiet"]


def _cli(args: list[str]) -> list[str]:
    """The command line of `pileprep` with these arguments, in a process of its own."""
    return [sys.executable, "-m", "pipeline.cli", *args]


def _manifest(out) -> str:
    return (out / "manifest.json").read_text().replace(str(out), "OUT")


# Installed in the killed run only: the commit of an output whose path starts with $PILEPREP_TEST_SLOW
# marks $PILEPREP_TEST_MARK, then waits, so that the kill lands while that output is being written
_HOOK = """
import os, time
import transforms.write as write
commit = write.commit_chunks
def slow(directory, relpath, chunks):
    if relpath.startswith(os.environ["PILEPREP_TEST_SLOW"]):
        open(os.environ["PILEPREP_TEST_MARK"], "w").close()
        time.sleep(5)
    return commit(directory, relpath, chunks)
write.commit_chunks = slow
"""


def _kill_when(args, ready, timeout=300, env=None) -> bool:
    """Start `pileprep args` in its own process group and SIGKILL the group once ready() (or it ended first)."""
    proc = subprocess.Popen(_cli(args), cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    finished = proc.poll() is not None
    if not finished:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return not finished


def _entries(out) -> int:
    folder = out / RESUME_DIR
    return sum(name.endswith(".entry") for name in os.listdir(folder)) if folder.is_dir() else 0


def _writing_shards(out) -> bool:
    return (out / "shards").is_dir() and any(p.name.startswith(".tmp-") for p in (out / "shards").iterdir())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    write_sample(str(root / "in"), SampleConfig(seed=11, documents=1200, files=6))
    return root


@pytest.fixture(scope="module")
def uninterrupted(corpus):
    out = corpus / "whole"
    assert main(_args("--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "64")) == 0
    return _manifest(out)


def _rerun(args, capsys, caplog) -> str:
    """Runs `pileprep args` (not quiet) in this process; what it wrote to stderr, its log included
    (in a process of its own the log goes to stderr; here pytest's handler holds it)."""
    capsys.readouterr()
    caplog.clear()
    assert main([a for a in args if a != "--quiet"]) == 0
    return capsys.readouterr().err + caplog.text


def _slowed(tmp_path, what: str) -> tuple[dict, object]:
    """The environment of a run whose commits of `what` wait, and the file marking that one began."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_HOOK)
    mark = tmp_path / "mark"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), ROOT]), "PILEPREP_TEST_SLOW": what,
           "PILEPREP_TEST_MARK": str(mark)}
    return env, mark


@pytest.mark.parametrize("point", ["first entry", "half the entries", "writing shards", "writing the manifest",
                                   "random"])
def test_killed_then_rerun_gives_the_uninterrupted_bytes(corpus, uninterrupted, tmp_path, capsys, caplog, point):
    out = tmp_path / "out"
    cmd = _args("--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "64")
    started, env = time.monotonic(), None
    if point.startswith("writing"):
        env, mark = _slowed(tmp_path, "shards/" if point == "writing shards" else "manifest.json")
        ready = mark.exists
    else:
        after = random.Random(7).uniform(1, 4)  # the run takes ~5-10 s here
        ready = {"first entry": lambda: _entries(out) >= 1, "half the entries": lambda: _entries(out) >= 4,
                 "random": lambda: time.monotonic() - started > after}[point]
    killed = _kill_when(cmd, ready, env=env)
    assert killed or point == "random"
    assert not (out / "manifest.json").exists() or not killed
    if not killed:  # it finished first: complete, not to be resumed
        assert _manifest(out) == uninterrupted
        return
    err = _rerun(cmd, capsys, caplog)
    if point != "random":
        assert "resuming it" in err
    if point in ("half the entries", "writing shards", "writing the manifest"):
        assert "pileprep: resumed: reused" in err, err
    assert _manifest(out) == uninterrupted
    assert not (out / RESUME_DIR).exists() and not (out / ".tmp-spill").exists()


def test_a_changed_input_is_redone_and_changed_options_reuse_nothing(corpus, tmp_path, capsys, caplog):
    import shutil

    inputs = tmp_path / "in"
    shutil.copytree(corpus / "in", inputs)

    def cmd(out, *extra):
        return _args("--input", f"{inputs}/*", "--output", str(out), "--rows-per-shard", "64", *extra)

    out = tmp_path / "out"
    assert _kill_when(cmd(out), lambda: _entries(out) >= 4)
    write_sample(str(tmp_path / "other"), SampleConfig(seed=12, documents=200, files=1))
    shutil.copy(next((tmp_path / "other").iterdir()), sorted(inputs.iterdir())[0])  # same name, other lines
    assert main(cmd(out)) == 0
    assert main(cmd(tmp_path / "fresh")) == 0
    assert _manifest(out) == _manifest(tmp_path / "fresh")

    other = tmp_path / "other-options"
    assert _kill_when(cmd(other), lambda: _entries(other) >= 4)
    err = _rerun(cmd(other, "--rules", "slimpajama"), capsys, caplog)
    assert "resuming it" in err and "resumed: reused" not in err, err
    assert main(cmd(tmp_path / "fresh-other", "--rules", "slimpajama")) == 0
    assert _manifest(other) == _manifest(tmp_path / "fresh-other")
    assert json.loads((other / "manifest.json").read_text())["options"]["rules"] == "slimpajama"


@pytest.mark.parametrize("head_chunks", [0, 10**6])
def test_the_head_start_or_the_step_itself_reuses_the_entries(corpus, uninterrupted, tmp_path, monkeypatch, caplog,
                                                               head_chunks):
    """A rerun reuses an input's finished chunks wherever its reading starts: in the launcher's head
    start (which reaches every input here) or in Prepare's DoFn (a head start stopped at once)."""
    from transforms import prepare_read

    out = tmp_path / "out"
    cmd = _args("--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "64")
    assert _kill_when(cmd, lambda: _entries(out) >= 4)
    monkeypatch.setattr(prepare_read, "HEAD_START_CHUNKS", head_chunks)
    caplog.clear()
    assert main(cmd) == 0
    assert "pileprep: resumed: reused" in caplog.text
    assert _manifest(out) == uninterrupted
    assert not (out / RESUME_DIR).exists() and not (out / ".tmp-spill").exists()
