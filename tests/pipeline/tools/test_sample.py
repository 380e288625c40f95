"""Tests for pipeline.tools.sample: the synthetic Pile corpus is deterministic and holds what it says it planted.

Every count is recovered from the files themselves (decompressed, split into lines, parsed) and compared
with the summary, so a planted kind that silently stopped appearing fails here, not in a pipeline test.
"""
import collections
import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unicodedata

import ftfy
import pytest
import zstandard
from hypothesis import given, settings, strategies as st

from pipeline.tools.sample import GITHUB_LIMIT, MALFORMED_KINDS, PILE_SUBSETS, SampleConfig, SampleSummary, \
    write_sample
from transforms.errors import PileprepError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SMALL = SampleConfig(seed=7, documents=300, files=2)
THE_PILE = {
    "Pile-CC", "PubMed Central", "Books3", "OpenWebText2", "ArXiv", "Github", "FreeLaw", "StackExchange",
    "USPTO Backgrounds", "PubMed Abstracts", "Gutenberg (PG-19)", "OpenSubtitles", "Wikipedia (en)",
    "DM Mathematics", "Ubuntu IRC", "BookCorpus2", "EuroParl", "HackerNews", "YoutubeSubtitles", "PhilPapers",
    "NIH ExPorter", "Enron Emails",
}
DOCUMENT_KINDS = ["empty", "whitespace_only", "mojibake", "html_entities", "nfd", "exact_duplicate",
                  "near_duplicate", "github_oversized", "github_near_limit", "advertisement_lines", "colon_lines",
                  "short_docs", "extra_meta"]
MOJIBAKE = re.compile("Ã|â€|[\x80-\x9f]")
ENTITY = re.compile(r"&(?:amp|quot|#39|eacute|mdash);")


def zstd_frames(raw: bytes) -> list[bytes]:
    """The decompressed content of each concatenated zstd frame, in order."""
    frames = []
    while raw:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        frames.append(dobj.decompress(raw))
        raw = dobj.unused_data
    return frames


def decompress(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".zst"):
        return b"".join(zstd_frames(raw))
    return gzip.decompress(raw) if path.endswith(".gz") else raw


def classify(line: bytes):
    """('document', record) for a well-formed line, else (malformed kind, None). Uses the standard
    library's json, not orjson as the writer does, so the two cannot agree on a mistake."""
    if not line.strip():
        return "blank_line", None
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "invalid_utf8", None
    except json.JSONDecodeError:
        return "invalid_json", None
    if "text" not in record:
        return "text_missing", None
    if record["text"] is None:
        return "text_null", None
    if not isinstance(record["text"], str):
        return "text_not_string", None
    try:
        record["text"].encode("utf-8")
    except UnicodeEncodeError:  # json accepts a lone surrogate escape; no UTF-8 text can hold one
        return "lone_surrogate", None
    return "document", record


def read_corpus(summary: SampleSummary):
    """(documents, Counter of malformed kinds, {file name: malformed kinds in it}, uncompressed bytes)."""
    docs, malformed, per_file, size = [], collections.Counter(), {}, 0
    for path in summary.paths:
        data = decompress(path)
        size += len(data)
        assert data.endswith(b"\n") and b"\r" not in data, path
        per_file[os.path.basename(path)] = kinds = []
        for line in data[:-1].split(b"\n"):
            kind, record = classify(line)
            if record is None:
                kinds.append(kind)
                malformed[kind] += 1
            else:
                docs.append(record)
    return docs, malformed, per_file, size


def token_differences(a: list[str], b: list[str], most: int) -> int:
    diff = 0
    for x, y in zip(a, b):
        diff += x != y
        if diff > most:
            break
    return diff


def detect(docs) -> tuple[dict, list[int]]:
    """Each planted kind counted from the text alone, and the word differences of same-length pairs."""
    texts = [d["text"] for d in docs]
    subset = [d["meta"]["pile_set_name"] for d in docs]
    lines = [t.split("\n") for t in texts]
    copies = collections.Counter(t for t in texts if t.strip())
    groups = collections.defaultdict(set)  # near-duplicates keep their subset and word count
    for s, t in zip(subset, texts):
        if len(t.split()) >= 20:  # short documents of a few words differ in a few by chance
            groups[s, len(t.split())].add(t)
    near = []
    for group in groups.values():
        group = sorted(group)
        for i, a in enumerate(group):
            near += [token_differences(a.split(), b.split(), 10) for b in group[i + 1:]]
    return {
        "empty": sum(t == "" for t in texts),
        "whitespace_only": sum(bool(t) and not t.strip() for t in texts),
        "mojibake": sum(bool(MOJIBAKE.search(t)) for t in texts),
        "html_entities": sum(bool(ENTITY.search(t)) for t in texts),
        "nfd": sum(unicodedata.normalize("NFC", t) != t for t in texts),
        "exact_duplicate": sum(c - 1 for c in copies.values()),
        "near_duplicate": sum(1 <= d <= 10 for d in near),
        "github_oversized": sum(s == "Github" and len(t) >= GITHUB_LIMIT for s, t in zip(subset, texts)),
        "github_near_limit": sum(s == "Github" and 90_000 <= len(t) < GITHUB_LIMIT for s, t in zip(subset, texts)),
        "advertisement_lines": sum("Advertisement" in ls for ls in lines),
        "colon_lines": sum(any(line.startswith(":::") for line in ls) for ls in lines),
        "short_docs": sum(bool(t.strip()) and len(t) < 200 for t in texts),
        "extra_meta": sum(set(d["meta"]) != {"pile_set_name"} for d in docs),
    }, near


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    summary = write_sample(str(tmp_path_factory.mktemp("sample")))
    return summary, *read_corpus(summary)


def test_default_corpus_has_the_promised_files_and_counts(corpus):
    summary, docs, malformed, per_file, size = corpus
    assert [os.path.basename(p) for p in summary.paths] == [
        "00.jsonl.zst", "01.jsonl.zst", "02.jsonl.zst", "03.jsonl.zst", "extra.jsonl", "extra.jsonl.gz"]
    assert summary.documents == len(docs) == SampleConfig().documents == 3000
    assert summary.malformed == sum(malformed.values()) == 15
    assert summary.bytes == size and 5e6 <= size <= 15e6
    assert all(kinds for kinds in per_file.values())  # malformed lines reach every file


def test_every_pile_subset_appears_with_its_exact_name(corpus):
    _, docs, *_ = corpus
    assert len(PILE_SUBSETS) == 22 and set(PILE_SUBSETS) == THE_PILE
    assert {d["meta"]["pile_set_name"] for d in docs} == THE_PILE
    counts = collections.Counter(d["meta"]["pile_set_name"] for d in docs)
    assert counts.most_common(1)[0][0] == "Pile-CC"  # the Pile's mix: Pile-CC is the largest subset


def test_every_planted_kind_is_present_as_counted(corpus):
    summary, docs, malformed, *_ = corpus
    found, near = detect(docs)
    assert list(summary.planted) == DOCUMENT_KINDS + list(MALFORMED_KINDS)
    assert found == {k: summary.planted[k] for k in DOCUMENT_KINDS}
    assert dict(malformed) == {k: summary.planted[k] for k in MALFORMED_KINDS}
    assert all(count > 0 for count in summary.planted.values())
    assert sorted(d for d in near if d <= 10) == [3] * summary.planted["near_duplicate"]


def test_text_problems_are_ones_ftfy_repairs(corpus):
    _, docs, *_ = corpus
    texts = [d["text"] for d in docs]
    for text in filter(MOJIBAKE.search, texts):
        fixed = ftfy.fix_text(text)
        assert not MOJIBAKE.search(fixed) and re.search("café|naïve|résumé", fixed), text[:200]
    for text in filter(ENTITY.search, texts):
        assert not ENTITY.search(ftfy.fix_text(text))
    nfd = [t for t in texts if unicodedata.normalize("NFC", t) != t]
    assert nfd and all(unicodedata.is_normalized("NFC", ftfy.fix_text(t)) for t in nfd)


def test_planted_lines_are_in_the_right_subsets(corpus):
    _, docs, *_ = corpus
    def subsets(predicate):
        return {d["meta"]["pile_set_name"] for d in docs if predicate(d["text"].split("\n"))}
    assert subsets(lambda ls: "Advertisement" in ls) == {"OpenWebText2"}
    assert subsets(lambda ls: any(line.startswith(":::") for line in ls)) <= {"ArXiv", "PubMed Central"}
    lengths = sorted(len(d["text"]) for d in docs if d["meta"]["pile_set_name"] == "Github")
    assert lengths[-1] >= GITHUB_LIMIT and any(90_000 <= n < GITHUB_LIMIT for n in lengths)
    assert max(len(d["text"]) for d in docs if d["meta"]["pile_set_name"] != "Github") < 30_000


def test_zst_files_are_multi_frame_and_frames_split_lines(corpus):
    summary, *_ = corpus
    mid_line = 0
    for path in summary.paths:
        if path.endswith(".zst"):
            with open(path, "rb") as f:
                raw = f.read()
            frames = zstd_frames(raw)
            assert len(frames) >= 2, path
            # a reader that stops after the first frame sees only part of the file
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True)
            assert reader.read() == b"".join(frames)
            mid_line += sum(not frame.endswith(b"\n") for frame in frames[:-1])
    assert mid_line > 0  # so readers must carry a partial line (and character) across frames


def test_malformed_kinds_are_named_as_the_reader_rejects_them(corpus):
    from transforms.parse import parse_line

    summary, *_ = corpus
    for path in summary.paths:
        for line in decompress(path)[:-1].split(b"\n"):
            kind, _ = classify(line)
            assert (parse_line(line)[1] or "document") == kind, line[:200]


def test_gzip_header_has_no_time_or_name(corpus):
    summary, *_ = corpus
    with open(next(p for p in summary.paths if p.endswith(".gz")), "rb") as f:
        header = f.read(10)
    assert header[:3] == b"\x1f\x8b\x08" and header[3] == 0 and header[4:8] == b"\0\0\0\0"


def _files(summary):
    out = {}
    for path in summary.paths:
        with open(path, "rb") as f:
            out[os.path.basename(path)] = f.read()
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first, again = write_sample(str(tmp_path / "a"), SMALL), write_sample(str(tmp_path / "b"), SMALL)
    other = write_sample(str(tmp_path / "c"), dataclasses.replace(SMALL, seed=8))
    assert _files(first) == _files(again)
    assert dataclasses.replace(first, paths=()) == dataclasses.replace(again, paths=())
    assert all(a != b for a, b in zip(_files(first).values(), _files(other).values()))


def test_bytes_do_not_depend_on_hash_randomisation(tmp_path):
    script = ("import sys; from pipeline.tools.sample import SampleConfig, write_sample; "
              "write_sample(sys.argv[1], SampleConfig(seed=3, documents=200, files=1))")
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=ROOT)
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True, env=env, cwd=ROOT)
    names = sorted(os.listdir(tmp_path / "1"))
    assert names == sorted(os.listdir(tmp_path / "2")) == ["00.jsonl.zst", "extra.jsonl", "extra.jsonl.gz"]
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_content_is_pinned(tmp_path):
    # The demo's numbers in the README come from this generator: a change to the text it writes (a new
    # Python's random, an edited template) must be deliberate. Update the digest when it is.
    summary = write_sample(str(tmp_path), SampleConfig(seed=0, documents=100, files=1))
    digest = hashlib.sha256(b"".join(decompress(p) for p in summary.paths)).hexdigest()
    assert digest == PINNED_DIGEST


PINNED_DIGEST = "8b81488f19e60a2fe641695c19d9cbac54128f241e9dbe09908e48f402d6d52b"


def test_rewriting_a_directory_replaces_files_and_leaves_no_partials(tmp_path):
    write_sample(str(tmp_path), SMALL)
    summary = write_sample(str(tmp_path), SMALL)
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in summary.paths)


def test_stale_shards_in_the_output_directory_are_refused(tmp_path):
    write_sample(str(tmp_path), SampleConfig(documents=300, files=3))
    with pytest.raises(PileprepError, match="02.jsonl.zst.*empty the directory"):
        write_sample(str(tmp_path), SMALL)


@pytest.mark.parametrize("kwargs, message", [
    ({"documents": 99}, "documents=99 is too few.*documents >= 100"),
    ({"files": 0}, "files=0 must be at least 1"),
    ({"documents": 100, "files": 9}, "files=9 is too many for documents=100.*files <= 8"),
    ({"seed": "0"}, "seed='0' must be an integer"),
])
def test_invalid_config_is_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SampleConfig(**kwargs)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SampleConfig().seed = 1


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32), documents=st.integers(100, 400), files=st.integers(1, 3))
def test_summary_matches_the_files_for_any_config(seed, documents, files):
    with tempfile.TemporaryDirectory() as out:
        summary = write_sample(out, SampleConfig(seed=seed, documents=documents, files=files))
        docs, malformed, _, size = read_corpus(summary)
    found, _ = detect(docs)
    assert len(summary.paths) == files + 2 and summary.bytes == size
    assert summary.documents == len(docs) == documents
    assert summary.malformed == sum(malformed.values()) and dict(malformed) == {
        k: summary.planted[k] for k in MALFORMED_KINDS}
    assert found == {k: summary.planted[k] for k in DOCUMENT_KINDS}
    assert {d["meta"]["pile_set_name"] for d in docs} == THE_PILE
