"""Deduplication through the whole pipeline: counts add up, the removed set is the same on
in-memory and multi-process runs, and holdout documents never reach the shards."""
import hashlib
import json
import shutil

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("dedup")
    write_sample(str(root / "in"), SampleConfig(seed=2, documents=1000, files=2))
    return root


def _command(corpus, *extra) -> list[str]:
    """A --dedup minhash run of the corpus with extra.jsonl as holdout (it is also a training input
    here: every one of its documents goes as holdout), without its --output. Two connected-component
    rounds, not 12: the final pass completes what they leave (tests/transforms/test_components.py
    checks the rounds), and each run builds and runs 160 steps fewer."""
    return ["run", "--input", f"{corpus}/in/*.jsonl*", "--dedup", "minhash", "--dedup-max-rounds", "2",
            "--rows-per-shard", "64", "--holdout", f"{corpus}/in/extra.jsonl", *extra]


def _run(corpus, name, *extra):
    out = corpus / name
    assert main(_command(corpus, *extra) + ["--output", str(out)]) == 0
    return out, json.loads((out / "manifest.json").read_text())


def _removed(out, manifest):
    ids = {}
    for f in manifest["dedup"]["files"]:
        for r in pq.read_table(out / f["path"]).to_pylist():
            ids[r["id"]] = (r["kind"], r["cause"])
    return ids


@pytest.fixture(scope="module")
def dedup_run(corpus):
    """The in-process run, its payloads through spill files (as local runs do by default): the
    output every other run here is compared with, and the command that made it."""
    command = _command(corpus, "--spill", "on", "--direct_running_mode=in_memory")
    out = corpus / "spill-on"
    assert main(command + ["--output", str(out)]) == 0
    return out, json.loads((out / "manifest.json").read_text()), command


def test_minhash_run_counts_add_up_and_match_across_runners(corpus, dedup_run):
    a, ma, _ = dedup_run
    b, mb = _run(corpus, "mp", "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    d = ma["counts"]["documents"]
    assert d["read"] == d["malformed"] + d["filtered"] + d["deduplicated"] + d["over_budget"] + d["packed"]
    kinds = ma["counts"]["deduplicated_by_kind"]
    assert kinds.get("exact", 0) > 0 and kinds.get("near", 0) > 0  # the sample plants both
    assert _removed(a, ma) == _removed(b, mb) and len(_removed(a, ma)) == d["deduplicated"]
    for name in ["manifest.json"] + [s["path"] for s in ma["shards"]] + [f["path"] for f in ma["dedup"]["files"]]:
        assert hashlib.sha256((a / name).read_bytes()).hexdigest() == hashlib.sha256((b / name).read_bytes()).hexdigest()
    # removed documents never reach the lineage of any shard
    packed = set()
    for s in ma["shards"]:
        packed |= set(pq.read_table(a / s["lineage"]["path"]).column("id").to_pylist())
    assert not packed & set(_removed(a, ma))


def test_holdout_documents_are_removed_and_never_packed(dedup_run):
    out, manifest, _ = dedup_run
    assert manifest["holdout_inputs"][0]["name"] == "extra.jsonl"
    assert manifest["dedup"]["holdout"] is True
    kinds = manifest["counts"]["deduplicated_by_kind"]
    removed = _removed(out, manifest)
    assert kinds.get("holdout", 0) > 0
    assert all(cause.startswith("extra.jsonl:") for kind, cause in removed.values() if kind == "holdout")
    assert sum(kinds.values()) == len(removed)


def test_spilling_changes_no_byte(corpus, dedup_run):
    """Local runs pass tokens and texts through the shuffles by reference (spill files); a run that
    shuffles them whole writes the same bytes, and no spill file outlives the run."""
    a, ma, _ = dedup_run
    b, mb = _run(corpus, "spill-off", "--spill", "off", "--direct_running_mode=in_memory")
    assert ma["counts"]["documents"]["deduplicated"] > 0
    files = (["manifest.json"] + [s["path"] for s in ma["shards"]] + [s["lineage"]["path"] for s in ma["shards"]]
             + [f["path"] for f in ma["dedup"]["files"]] + [f["path"] for f in ma["documents"]])
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # a successful run leaves its outputs and no temporary (spill files, .tmp- names) anywhere
    assert not any(p.name.startswith(".tmp") for p in a.rglob("*"))
    assert sorted(p.name for p in a.iterdir()) == ["dedup", "documents", "manifest.json", "rejects", "shards"]


def _files(directory, under=("shards", "dedup", "documents")):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for part in under for p in sorted((directory / part).rglob("*")) if p.is_file()}


def test_every_entry_pileprep_writes_is_one_overwrite_may_remove(dedup_run, tmp_path):
    from pipeline.tools.report import write_report
    from schemas.run import ours
    from transforms.spill import SPILL_DIR

    out = tmp_path / "run"
    shutil.copytree(dedup_run[0], out)
    write_report(str(out))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["dedup", "documents", "manifest.json", "rejects", "report.html", "shards"]
    assert all(ours(n) for n in names + [SPILL_DIR, ".tmp-manifest.json", ".tmp-report.html"])
    assert not ours("notes.txt") and not ours("train")


def test_overwrite_replaces_a_complete_dedup_run_and_its_report(dedup_run, tmp_path):
    from pipeline.tools.report import write_report

    original, _, command = dedup_run
    out = tmp_path / "run"
    shutil.copytree(original, out)
    write_report(str(out))
    assert main(command + ["--output", str(out)]) == 2  # not without --overwrite
    assert main(command + ["--output", str(out), "--overwrite"]) == 0
    assert not (out / "report.html").exists()  # it described the old run
    assert _files(out) == _files(original) and main(["verify", str(out)]) == 0


def test_an_interrupted_dedup_run_is_replaced_by_rerunning(dedup_run, tmp_path, capsys):
    original, _, command = dedup_run
    out = tmp_path / "run"
    shutil.copytree(original, out)
    (out / "manifest.json").unlink()  # killed before the manifest: what it left, temporaries too
    (out / "dedup" / "removed-near-00000-of-00001.parquet").unlink()
    (out / ".tmp-spill").mkdir()
    (out / ".tmp-spill" / "0123abcd").write_bytes(b"payload")
    (out / ".tmp-manifest.json").write_text("{")
    (out / ".tmp-report.html").write_text("<html>")
    assert main(command + ["--output", str(out)]) == 0
    assert "holds an incomplete run" in capsys.readouterr().err
    assert _files(out) == _files(original) and main(["verify", str(out)]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


def test_removal_files_are_listed_sharded_and_checked_by_verify(dedup_run, tmp_path, capsys):
    original, _, _ = dedup_run
    manifest = json.loads((original / "manifest.json").read_text())
    listed = sorted(f["path"] for f in manifest["dedup"]["files"])
    assert listed == sorted(str(p.relative_to(original)) for p in (original / "dedup").iterdir())
    assert listed and all(p.endswith("-00000-of-00001.parquet") for p in listed)  # a small run: one a kind
    for f in manifest["dedup"]["files"]:
        ids = pq.read_table(original / f["path"], columns=["id"]).column("id").to_pylist()
        assert ids == sorted(ids) and len(ids) == f["rows"]
    out = tmp_path / "run"
    shutil.copytree(original, out)
    damaged = out / listed[0]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"?")
    assert main(["verify", str(out)]) != 0
    assert f"removal file {listed[0]} sha256 differs" in capsys.readouterr().out


def test_a_directory_with_a_foreign_file_is_still_refused(dedup_run, tmp_path, capsys):
    from pipeline.tools.report import write_report

    original, _, command = dedup_run
    out = tmp_path / "run"
    shutil.copytree(original, out)
    write_report(str(out))
    (out / "notes.txt").write_text("mine")
    before = _files(out, under=(".",))
    assert main(command + ["--output", str(out), "--overwrite"]) == 2
    assert "files pileprep did not write (notes.txt)" in capsys.readouterr().err
    assert _files(out, under=(".",)) == before  # nothing removed
    (out / "manifest.json").unlink()  # nor when the run it holds is incomplete
    assert main(command + ["--output", str(out)]) == 2
    assert (out / "notes.txt").exists() and (out / "dedup").exists()
