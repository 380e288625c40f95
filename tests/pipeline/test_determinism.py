"""Same input and options, byte-identical output whatever the machine: a run pinned to one core
(os.sched_setaffinity: what tokie, Beam and our tokenizer processes size themselves by) equals a
run on two, and both equal --reference (the plain ftfy and HF tokenizers), on a corpus of long and
adversarial documents, including one tiktoken's regex gives up on."""
import hashlib
import json
import os
import subprocess
import sys

import orjson
import pytest

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample
from tests.transforms.test_long_documents import CLEAN, PROSE, _noise

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIKTOKEN_GIVES_UP = "\u00a0" + " " * 10**6 + "x"  # as "\\n" * 10**6, on which ftfy alone takes 11 s


def _adversarial() -> list[str]:
    ascii_prose = "The quick brown fox's 12,345 jumps -- over the lazy dog.\n" * 2_000
    return [
        "\n" * 10_000, "\n" * 12_000 + "x", " " * 15_000 + "x", _noise(200_000), "0123456789" * 5_000,
        "[" + ",".join(f'{{"id":{i}}}' for i in range(3_000)) + "]",
        "\u00e9" + ascii_prose + "\u00fc" + _noise(20_000), (PROSE + CLEAN + "\n") * 400, PROSE * 500,
        ("x\t's " * 500 + "\n") * 10, ("line \x0b\x0c\n" + "plain words " * 900) * 3,
        "caf\u00c3\u00a9 \u00e2\u20ac\u0153q\u00e2\u20ac\u009d\n" * 300, "<|endoftext|>" * 2_000,
        TIKTOKEN_GIVES_UP,
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    write_sample(str(root / "in"), SampleConfig(seed=11, documents=300, files=1))
    with open(root / "in" / "long.jsonl", "wb") as f:
        for text in _adversarial():
            f.write(orjson.dumps({"text": text, "meta": {"pile_set_name": "Pile-CC"}}) + b"\n")
    return root


def _run(corpus, name: str, cores: set[int] | None, *extra) -> dict:
    """A run pinned to `cores` in a process of its own (its worker processes inherit the pinning),
    or, without cores, in this process on every core it has."""
    out = corpus / name
    args = ["run", "--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "64", "--check-every", "5",
            "--quiet", *extra]
    if cores:
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=600, preexec_fn=lambda: os.sched_setaffinity(0, cores))
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        assert main(args) == 0
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    found = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    found["manifest.json"] = (out / "manifest.json").read_bytes()
    return found


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to compare with one")
def test_one_core_two_cores_and_reference_give_the_same_bytes(corpus):
    one = _run(corpus, "one-core", {min(os.sched_getaffinity(0))})
    two = _run(corpus, "two-cores", None)
    assert one == two  # the manifest (provenance included) and every shard, sidecar and document file
    manifest = json.loads(two.pop("manifest.json"))
    reference = _run(corpus, "reference", None, "--reference")
    reference_manifest = json.loads(reference.pop("manifest.json"))
    assert reference == two
    assert {k: v for k, v in reference_manifest.items() if k != "provenance"} == {
        k: v for k, v in manifest.items() if k != "provenance"}
    # the comparison means something: the long documents were packed, tiktoken's failure among them
    # (tokenized by HF tokenizers, as the plain path does), and the fast paths were checked
    assert manifest["counts"]["tokens_packed"] > 1_000_000
    assert manifest["provenance"]["tokenize"]["paths"].get("hf", 0) >= 1
    assert manifest["provenance"]["tokenize"]["checked"] > 10 and manifest["provenance"]["normalize"]["checked"] > 10
