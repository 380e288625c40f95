"""A Pile-shaped benchmark corpus (DESIGN.md §8), made from this machine's files, deterministic from a seed.

The Pile's subsets in the proportions of its paper (Gao et al. 2020, table 1: bytes per subset,
epochs included), except Github, which is 10% (Python standard library sources, whole files) with
the rest scaled to 90%. Each prose document is a stretch of this machine's English text
(benchmarks/pile_sources.py) of a length drawn from a log-normal per subset (medians from the
paper's mean document sizes: a couple of KB for web text, hundreds of KB for books and IRC logs, so
many short documents and a long tail past 100 KB), typeset as a published text is (curly quotes,
apostrophes, dashes, ellipses, accented names); some documents of the web, subtitle and EuroParl
subsets are real text in other scripts instead. Documents of all subsets are shuffled together.

    paths, stats = build(out_dir, megabytes=100, seed=0)   # out_dir/00.jsonl.zst ... 03.jsonl.zst
    python -m benchmarks.pile_corpus DIR [--mb 100] [--seed 0]   # build it and print its profile
"""
import argparse
import bisect
import hashlib
import itertools
import json
import math
import random
import sys

from benchmarks import corpus, pile_sources

# name: (share of bytes in the Pile %, median document bytes, log-normal sigma, share of documents
# in other scripts, share of documents typeset); "code" documents are whole Python files.
SUBSETS = {
    "Pile-CC": (18.11, 2_500, 1.0, 0.05, 0.8),
    "PubMed Central": (14.40, 25_000, 0.8, 0.0, 0.9),
    "Books3": (12.07, 300_000, 0.7, 0.0, 0.95),
    "OpenWebText2": (10.01, 2_500, 1.0, 0.03, 0.8),
    "ArXiv": (8.96, 35_000, 0.7, 0.0, 0.6),
    "Github": (10.0, "code", 0, 0.0, 0.0),
    "FreeLaw": (6.12, 8_000, 1.1, 0.0, 0.9),
    "StackExchange": (5.13, 1_500, 1.0, 0.0, 0.5),
    "USPTO Backgrounds": (3.65, 3_000, 0.7, 0.0, 0.7),
    "PubMed Abstracts": (3.07, 1_200, 0.5, 0.0, 0.9),
    "Gutenberg (PG-19)": (2.17, 300_000, 0.6, 0.0, 0.95),
    "OpenSubtitles": (1.55, 25_000, 0.7, 0.3, 0.9),
    "Wikipedia (en)": (1.53, 1_500, 1.1, 0.05, 0.9),
    "DM Mathematics": (1.24, 8_000, 0.5, 0.0, 0.0),
    "Ubuntu IRC": (0.88, 100_000, 0.8, 0.0, 0.3),
    "BookCorpus2": (0.75, 250_000, 0.6, 0.0, 0.95),
    "EuroParl": (0.73, 50_000, 0.7, 0.9, 0.9),
    "HackerNews": (0.62, 2_000, 1.0, 0.0, 0.5),
    "YoutubeSubtitles": (0.60, 10_000, 0.8, 0.3, 0.5),
    "PhilPapers": (0.38, 50_000, 0.7, 0.0, 0.9),
    "NIH ExPorter": (0.30, 2_000, 0.5, 0.0, 0.9),
    "Enron Emails": (0.14, 1_000, 1.0, 0.0, 0.5),
}
CODE_SHARE = 10.0
MIN_DOC, MAX_DOC = 64, corpus.MAX_DOC_BYTES


def _shares() -> dict[str, float]:
    """Fractions of the corpus's bytes: Github 10%, the rest in the paper's proportions."""
    prose = sum(v[0] for k, v in SUBSETS.items() if v[1] != "code")
    return {k: (CODE_SHARE if v[1] == "code" else v[0] * (100 - CODE_SHARE) / prose) / 100
            for k, v in SUBSETS.items()}


class _Pool:
    """Texts from which documents are cut: from a line start in a text drawn by its length, on
    into the texts after it when the document is longer."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.ends = list(itertools.accumulate(map(len, texts)))

    def cut(self, rng: random.Random, size: int) -> str:
        """About `size` characters, ending at a line end."""
        i = bisect.bisect_right(self.ends, rng.randrange(self.ends[-1]))
        text = self.texts[i]
        start = text.find("\n", rng.randrange(len(text))) + 1
        pieces = []
        while start + size >= len(text):
            pieces.append(text[start:])
            size -= len(text) - start
            i = (i + 1) % len(self.texts)
            text, start = self.texts[i], 0
        end = text.find("\n", start + size)
        pieces.append(text[start:end if end >= 0 else None])
        return "\n\n".join(p.strip("\n") for p in pieces if p.strip()) or text


def documents(megabytes: float, seed: int = 0) -> list[tuple[str, str, str]]:
    """(source, text, kind) of about `megabytes` of UTF-8 in the proportions of SUBSETS, shuffled;
    kind is "code", "other scripts", "typeset" or "plain" (English as it is on disk)."""
    rng = random.Random(seed)
    english, code, other = pile_sources.pools()
    english, other = _Pool(english), _Pool(other)
    code = sorted(code)
    rng.shuffle(code)
    docs = []
    for source, share in _shares().items():
        median, sigma, foreign, typeset = SUBSETS[source][1:]
        goal, size = share * megabytes * 1e6, 0
        while size < goal:
            if median == "code":
                text, kind = code[len(docs) % len(code)], "code"
            else:
                n = int(min(MAX_DOC, max(MIN_DOC, rng.lognormvariate(math.log(median), sigma))))
                n = max(MIN_DOC, min(n, int(goal - size)))  # the last one fits the subset's share
                if rng.random() < foreign:
                    text, kind = other.cut(rng, n), "other scripts"
                else:
                    text, kind = english.cut(rng, n), "plain"
                    if rng.random() < typeset:
                        text, kind = pile_sources.typeset(text, rng), "typeset"
            size += len(text.encode("utf-8"))
            docs.append((source, text, kind))
    rng.shuffle(docs)
    return docs


def build(out_dir: str, megabytes: float = 100.0, seed: int = 0) -> tuple[list[str], dict]:
    """Write the corpus (reusing an identical one already there); returns its paths and stats,
    the stats holding the measured profile."""
    recipe = hashlib.sha256(json.dumps([SUBSETS, CODE_SHARE, MIN_DOC, MAX_DOC]).encode()).hexdigest()[:16]
    key = {"corpus": "pile", "megabytes": megabytes, "seed": seed, "recipe": recipe}  # a new recipe rebuilds
    found = corpus.cached(out_dir, key)
    if found:
        return found
    docs = documents(megabytes, seed)
    return corpus.write(out_dir, ((source, text) for source, text, _ in docs), {**key, "profile": profile(docs)})


def profile(docs: list[tuple[str, str, str]]) -> dict:
    """What the corpus is made of, measured: shares of bytes by subset and kind of text, and the
    document length distribution."""
    sized = [(source, len(text.encode("utf-8")), len(text), kind) for source, text, kind in docs]
    total = sum(n for _, n, _, _ in sized)
    by_source: dict[str, int] = {}
    by_kind = dict.fromkeys(("plain", "typeset", "other scripts", "code"), 0)
    for source, n, _, kind in sized:
        by_source[source] = by_source.get(source, 0) + n
        by_kind[kind] += n
    sizes = sorted(n for _, n, _, _ in sized)
    big = [n for n in sizes if n >= 100_000]
    pct = lambda q: sizes[min(len(sizes) - 1, int(q * len(sizes)))]  # noqa: E731
    return {"documents": len(docs), "text_bytes": total,
            "kind_bytes": {k: round(v / total, 4) for k, v in by_kind.items()},
            "non_ascii_bytes": round(sum(n - chars for _, n, chars, _ in sized) / total, 4),
            "source_bytes": {k: round(v / total, 4) for k, v in sorted(by_source.items(), key=lambda kv: -kv[1])},
            "doc_bytes": {"p10": pct(0.1), "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": sizes[-1]},
            "docs_100kb_plus": len(big), "bytes_in_docs_100kb_plus": round(sum(big) / total, 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pile_corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="where to write 00.jsonl.zst ... and corpus.json")
    parser.add_argument("--mb", type=float, default=100.0, help="MB of text (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of every choice (default 0)")
    args = parser.parse_args(argv)
    paths, stats = build(args.dir, args.mb, args.seed)
    print(json.dumps({k: v for k, v in stats.items() if k != "by_source"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
