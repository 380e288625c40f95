"""--reference runs the unoptimized implementations (ftfy.fix_text on every document, HF tokenizers,
datasketch one document at a time); its output must be byte-identical to the default fast run's.
The manifest holds the sha256 of every output file, so equal manifests are equal outputs (but for
its `provenance`, which records the implementations that ran); the shards are compared directly too."""
import hashlib
import json

import pytest

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample
from transforms.gpt2_fast import tokie_usable


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    write_sample(str(root / "in"), SampleConfig(seed=5, documents=400, files=2))
    write_sample(str(root / "holdout"), SampleConfig(seed=6, documents=100, files=1))
    return root


def _run(corpus, name, extra):
    out = corpus / name
    args = ["run", "--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "16",
            "--dedup", "minhash", "--holdout", f"{corpus}/holdout/*"]
    assert main(args + extra) == 0
    files = sorted(str(p.relative_to(out)) for p in out.glob("shards/*"))
    found = {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files}
    manifest = json.loads((out / "manifest.json").read_text())
    found["provenance"] = manifest.pop("provenance")
    found["manifest.json"] = manifest
    return found, out


def test_reference_run_is_byte_identical_to_the_fast_run(corpus):
    fast, out = _run(corpus, "fast", [])
    reference, _ = _run(corpus, "reference", ["--reference"])
    fast_by, reference_by = fast.pop("provenance"), reference.pop("provenance")
    assert reference == fast
    # what each ran, and the fast run's documents cross-checked against the plain path
    assert set(reference_by["normalize"]["paths"]) == {"ftfy"} and reference_by["normalize"]["checked"] == 0
    assert set(reference_by["tokenize"]["paths"]) == {"hf"} and reference_by["check_every"] == 0
    assert set(reference_by["libraries"]) == {"ftfy", "tokenizers"}
    fast_backends = {"tiktoken", "tokie"} if tokie_usable() else {"tiktoken"}
    assert set(fast_by["normalize"]["paths"]) == {"fast"} and set(fast_by["tokenize"]["paths"]) == fast_backends
    assert fast_by["normalize"]["checked"] > 0 and fast_by["tokenize"]["checked"] > 0
    assert set(fast_by["libraries"]) == {"ftfy"} | fast_backends
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(fast) > 2
    # the comparison means something: ftfy changed documents and MinHash removed some
    counts = manifest["counts"]
    assert counts["normalized_changed"] > 0 and counts["documents"]["deduplicated"] > 0, counts["documents"]


def test_reference_selects_the_unoptimized_implementations():
    from pipeline.options import RunConfig
    from transforms.normalizer import fixer
    from transforms.normalize_fast import Fixer
    from transforms.tokenizer import load

    fast, ref = RunConfig(inputs=("x",), output="o"), RunConfig(inputs=("x",), output="o", reference=True)
    assert isinstance(fixer(fast.normalize_config()), Fixer)
    assert not isinstance(fixer(ref.normalize_config()), Fixer)
    assert load(fast.tokenize_config()).backend.startswith("tiktoken") and load(ref.tokenize_config()).backend == "hf"
    assert not fast.dedup_config().minhash.reference and ref.dedup_config().minhash.reference
    assert fast.recorded() == ref.recorded()  # the manifest cannot tell the two apart
