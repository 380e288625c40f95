"""pipeline/disk.py and a full disk end to end: a run that cannot fit is refused before it starts;
one that fills the disk stops with one message naming the directory and the space still needed,
leaves no manifest, and the same command afterwards completes and leaves no temporaries."""
import builtins
import os
import re
import shutil
from collections import namedtuple

import pytest

from pipeline import disk
from tests.conftest import FullFile
from pipeline.cli import main
from pipeline.disk import Need, check_disk, estimate, size
from pipeline.options import RunConfig
from pipeline.tools.sample import SampleConfig, write_sample
from transforms.errors import PileprepError
from transforms.inputs import InputFile

IN_MEMORY = ["--direct_running_mode=in_memory"]
MB = 10**6


def _config(**kwargs):
    return RunConfig(**{"inputs": ("x",), "output": "/data/out", "spill": True, "reshuffle": False, **kwargs})


ZST = [InputFile("/pile/00.jsonl.zst", "00.jsonl.zst", 100 * MB)]


def test_estimate_of_a_default_local_run():
    need = estimate(_config(), ZST)  # 400 MB of text, 160 M tokens of 2 bytes
    assert need.parts == {"spill files (in .tmp-spill until the end)": 420 * MB + 640 * MB,
                          "shards": 320 * MB, "document files": 120 * MB}
    assert need.low == (1.05 * 75 + 2 * 15 * 2 + 2 * 15 + 0.3 * 75) * MB  # 150 MB of text, half kept, 0.2 tok/B
    assert need.describe() == (
        "spill files (in .tmp-spill until the end) 1.1 GB; shards 320.0 MB; document files 120.0 MB; estimated "
        "from 100.0 MB of compressed input taken as 4x as much text, 400.0 MB of text in all, 0.4 tokens per "
        "byte of text, 2 bytes per token")


def test_estimate_follows_the_options():
    plain = [InputFile("/pile/00.jsonl", "00.jsonl", 400 * MB)]
    assert estimate(_config(), plain).total == estimate(_config(), ZST).total  # the same text
    budget = estimate(_config(token_budget=10_000_000), ZST)
    assert budget.parts["shards"] == 4883 * 2049 * 2  # the budget in whole rows of 2049 tokens
    no_docs = estimate(_config(write_documents=False), ZST)
    assert no_docs.total == (640 + 320) * MB
    assert estimate(_config(dedup="minhash"), ZST).total == estimate(_config(), ZST).total + 400 * MB
    assert estimate(_config(reshuffle=True), ZST).total == estimate(_config(), ZST).total + 400 * MB
    assert estimate(_config(spill=False), ZST).parts["spill files (in .tmp-spill until the end)"] == 0
    assert estimate(_config(tokenizer="tok.json"), ZST).parts["shards"] == 640 * MB  # maybe uint32
    fused = estimate(_config(fused=True), ZST)  # its resume entries hold the kept texts once more
    assert fused.parts["finished work kept for a rerun (in .tmp-resume until the end)"] == 420 * MB
    assert fused.total == estimate(_config(), ZST).total + 420 * MB


def test_sizes():
    assert [size(n) for n in (512, 3.2e6, 1.05e9, 6.8e12)] == ["0.5 kB", "3.2 MB", "1.1 GB", "6.8 TB"]


Usage = namedtuple("Usage", "total used free")


def test_a_run_that_cannot_fit_is_refused_naming_the_directory_the_need_and_the_fix(tmp_path, monkeypatch):
    need = Need({"shards": 3 * MB}, 2 * MB, "estimated from x")
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(0, 0, MB))
    out = tmp_path / "out"
    with pytest.raises(PileprepError) as info:
        check_disk(_config(output=str(out)), need)
    assert info.value.message == (
        f"not enough disk for this run in {out}: it needs about 3.0 MB there (shards 3.0 MB; estimated from x), "
        f"at least 2.0 MB however the input turns out, and 1.0 MB is free: free space there, choose another "
        f"--output on a larger disk, or make the run smaller (--token-budget or --model-size, --no-documents, "
        f"fewer --input files)")
    (out / "shards").mkdir(parents=True)
    (out / "shards" / "shard-00000.npy").write_bytes(b"x" * (MB + 1))  # replaced by the run: it counts
    check_disk(_config(output=str(out)), need)  # 2 MB: only a warning


def test_a_run_that_may_not_fit_is_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(0, 0, 2 * MB))
    check_disk(_config(output=str(tmp_path / "o")), Need({"shards": 3 * MB}, MB, "estimated from x"))
    assert capsys.readouterr().err == (
        f"pileprep: warning: this run may need about 3.0 MB in {tmp_path / 'o'} (shards 3.0 MB; estimated from "
        f"x) and 2.0 MB is free; if the disk fills up, the run stops with a message and leaves no manifest\n")
    check_disk(_config(output="gs://b/o"), Need({"shards": 3 * MB}, 3 * MB, "x"))  # an object store: no check


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk")
    write_sample(str(root), SampleConfig(seed=3, documents=400, files=2))
    return root


def _run(corpus, out, *extra):
    return main(["run", "--input", f"{corpus}/*.jsonl*", "--output", str(out), "--rows-per-shard", "16",
                 *extra] + IN_MEMORY)


def _temporaries(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob(".tmp-*"))


def test_the_cli_refuses_before_starting(corpus, tmp_path, monkeypatch, capsys):
    import tempfile

    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(0, 0, 1000))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert _run(corpus, tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pileprep: error: not enough disk for this run in {tmp_path / 'o'}: it needs about ")
    assert "1.0 kB is free: free space there" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before anything was written
    assert list((tmp_path / "tmp").iterdir()) == []  # nor Beam's temporary folder left behind


def _fill_up(monkeypatch, room, only=""):
    """Writes of spill files and committed outputs (those whose name holds `only`) take from `room`."""
    from apache_beam.io.filesystems import FileSystems

    from transforms import spill

    def filling(opener):
        return lambda path, *a, **k: FullFile(opener(path, *a, **k), room) if only in path else opener(path, *a, **k)

    monkeypatch.setattr(spill, "open", filling(builtins.open), raising=False)
    monkeypatch.setattr(FileSystems, "create", filling(FileSystems.create))


def test_a_full_disk_while_spilling_is_one_message_and_leaves_nothing_complete(corpus, tmp_path, monkeypatch,
                                                                                 capsys):
    out = tmp_path / "out"
    _fill_up(monkeypatch, {"left": 200_000})
    frees = iter([10**10])  # at launch; none once the disk has filled
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(0, 0, next(frees, 0)))
    # the staged graph spills in this process (the fused stage's workers write theirs: see
    # test_a_full_disk_while_keeping_work_for_a_rerun)
    assert _run(corpus, out, "--quiet", "--dedup", "exact") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pileprep: error: no space left in {out}/.tmp-spill (its file system is full) while "
                          f"writing a spill file: free space there, or choose another --output on a larger disk; "
                          f"the same command then replaces this incomplete run (its .tmp- files and any outputs "
                          f"already written). This run needs about "), err
    assert re.search(r"\. This run needs about ([\d.]+) MB there \(spill files .*; 0\.0 kB is free and the "
                     r"incomplete run holds ([\d.]+) [kM]B: free at least ([\d.]+) MB more$", err.strip()), err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert not (out / "manifest.json").exists()
    assert all(p.name.startswith(".tmp-") or p.parent.name.startswith(".tmp-") or p.suffix in (".npy", ".parquet")
               for p in out.rglob("*") if p.is_file())
    monkeypatch.undo()  # space freed: the same command replaces the incomplete run
    assert _run(corpus, out, "--quiet", "--dedup", "exact") == 0
    assert _temporaries(out) == []


def test_a_full_disk_while_keeping_work_for_a_rerun(tmp_path, monkeypatch):
    """A resume entry (written by the fused stage's workers) that meets a full disk: the run's
    disk-full message, about the resume folder, and no partial entry under any name."""
    from transforms import resume

    room = {"left": 1000}
    monkeypatch.setattr(resume, "open", lambda path, mode: FullFile(builtins.open(path, mode), room), raising=False)
    folder = tmp_path / "out" / resume.RESUME_DIR
    with pytest.raises(PileprepError, match=f"no space left in {folder} .* while writing the finished work kept"):
        resume.write_entry(str(folder), str(tmp_path / "spill"), "fp", ("f", 1, 0), {}, [(0, b"x" * 5000, 1)], [])
    assert os.listdir(folder) == []


def test_a_full_disk_while_writing_the_manifest_over_a_previous_run(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert _run(corpus, out, "--quiet") == 0
    _fill_up(monkeypatch, {"left": 100}, only=".tmp-manifest.json")
    assert _run(corpus, out, "--overwrite", "--quiet") == 2
    err = capsys.readouterr().err
    assert f"pileprep: error: no space left in {out} (its file system is full) while writing manifest.json: " in err
    assert "Traceback" not in err
    assert not (out / "manifest.json").exists()  # the old one was removed first, the new one never committed
    # the manifest's temporary is removed, the spill folder went before it; the finished work stays
    # for the rerun (transforms/resume.py), which reuses it and then removes it
    assert _temporaries(out) == [".tmp-resume"]
    monkeypatch.undo()
    assert _run(corpus, out, "--quiet") == 0
    assert "resuming it" in capsys.readouterr().err and _temporaries(out) == []


def test_the_space_a_run_needs_is_counted_in_the_outputs_file_system(tmp_path):
    free, previous = disk.available(str(tmp_path / "not" / "yet"))
    assert free == shutil.disk_usage(tmp_path).free and previous == 0
