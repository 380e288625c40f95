"""The Pile-shaped benchmark corpus (benchmarks/pile_corpus.py) is deterministic from its seed and
has the make-up its docstring states, checked on a 1 MB build: read back from the files written."""
import io
import json

import pytest
import zstandard

from benchmarks import pile_corpus, pile_sources


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    a = pile_corpus.build(str(tmp_path_factory.mktemp("a")), megabytes=1, seed=0)
    b = pile_corpus.build(str(tmp_path_factory.mktemp("b")), megabytes=1, seed=0)
    return a, b


def _docs(paths):
    for path in paths:
        with open(path, "rb") as f:
            for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8"):
                record = json.loads(line)
                yield record["meta"]["pile_set_name"], record["text"]


def test_same_seed_same_bytes_other_seed_other_bytes(built, tmp_path):
    (_, a), (_, b) = built
    assert a["sha256"] == b["sha256"]
    _, c = pile_corpus.build(str(tmp_path), megabytes=1, seed=1)
    assert c["sha256"] != a["sha256"]


def test_proportions(built):
    (paths, stats), _ = built
    docs = list(_docs(paths))
    assert len(paths) == 4 and len(docs) == stats["documents"]
    size = {}
    for source, text in docs:
        size[source] = size.get(source, 0) + len(text.encode("utf-8"))
    total = sum(size.values())
    assert 0.95e6 <= total <= 1.1e6
    assert set(size) == set(pile_corpus.SUBSETS)  # every subset of the Pile
    for source, share in pile_corpus._shares().items():
        if share >= 0.05:  # the big subsets within 20% of their share
            assert abs(size[source] / total - share) <= 0.2 * share, source
    assert 0.08 <= size["Github"] / total <= 0.12
    prose = [t for s, t in docs if s != "Github"]
    typographic = sum(any(c in t for c in "“”’—–…") for t in prose) / len(prose)
    assert typographic >= 0.5
    assert any(c in "ëöřéç" for t in prose for c in t)
    scripts = {"Cyrillic": (0x400, 0x4FF), "CJK": (0x4E00, 0x9FFF), "Hebrew": (0x590, 0x5FF),
               "Greek": (0x370, 0x3FF)}
    def other_script(t):  # a tenth of its characters outside Latin and punctuation
        return sum(0x370 <= ord(c) < 0x2000 or ord(c) >= 0x3000 for c in t) >= 0.1 * len(t)

    other = sum(len(t.encode("utf-8")) for t in prose if other_script(t))
    assert 0.01 <= other / total <= 0.12
    joined = "".join(prose)
    assert sum(any(lo <= ord(c) <= hi for c in joined) for lo, hi in scripts.values()) >= 2
    pool = "".join(pile_sources.pools()[2])  # and the material has all four
    assert all(any(lo <= ord(c) <= hi for c in pool) for lo, hi in scripts.values())
    lengths = sorted(len(t.encode("utf-8")) for _, t in docs)
    assert lengths[len(lengths) // 2] < 5_000 and lengths[-1] >= 50_000  # many short, a long tail
