"""--reference runs the unoptimized implementations (ftfy.fix_text on every document, HF tokenizers,
datasketch one document at a time); its output must be byte-identical to the default fast run's.
The manifest holds the sha256 of every output file, so equal manifests are equal outputs; the shards
are compared directly too."""
import hashlib
import json

import pytest

from pipeline.cli import main
from pipeline.sample import SampleConfig, write_sample


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
    files = ["manifest.json"] + sorted(str(p.relative_to(out)) for p in out.glob("shards/*"))
    return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files}, out


def test_reference_run_is_byte_identical_to_the_fast_run(corpus):
    fast, out = _run(corpus, "fast", [])
    reference, _ = _run(corpus, "reference", ["--reference"])
    assert reference == fast
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(fast) > 2
    # the comparison means something: ftfy changed documents and MinHash removed some
    counts = manifest["counts"]
    assert counts["normalized_changed"] > 0 and counts["documents"]["deduplicated"] > 0, counts["documents"]


def test_reference_selects_the_unoptimized_implementations():
    from pipeline.options import RunConfig
    from transforms.normalize import _Fixer, fixer
    from transforms.tokenizer import load

    fast, ref = RunConfig(inputs=("x",), output="o"), RunConfig(inputs=("x",), output="o", reference=True)
    assert isinstance(fixer(fast.normalize_config()), _Fixer)
    assert not isinstance(fixer(ref.normalize_config()), _Fixer)
    assert load(fast.tokenize_config()).backend.startswith("tiktoken") and load(ref.tokenize_config()).backend == "hf"
    assert not fast.dedup_config().minhash.reference and ref.dedup_config().minhash.reference
    assert fast.recorded() == ref.recorded()  # the manifest cannot tell the two apart
