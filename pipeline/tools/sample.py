"""Write a small synthetic corpus in the Pile's format, with the problems real Pile files have.

`pileprep sample` and `pileprep demo` need input that looks like the Pile, is tiny, and is the same
on every machine. This writes `documents` JSON lines `{"text": ..., "meta": {"pile_set_name": ...}}`
from all 22 subsets over `files` multi-frame .jsonl.zst files plus extra.jsonl.gz and extra.jsonl,
and plants what the pipeline must cope with: empty and whitespace-only text, mojibake, HTML
entities, NFD accents, exact and near duplicates, Github files over and under the 100,000-character
cut, `Advertisement` and `:::` lines, short documents, extra meta keys and malformed lines. The
summary counts each planted kind, so tests can check that every one was seen and handled.

    summary = write_sample("data/sample", SampleConfig(seed=0, documents=3000, files=4))
"""
import gzip
import io
import os
import random
import unicodedata
from dataclasses import dataclass

import orjson
import zstandard

from pipeline.tools.sample_text import STYLES, VOCAB, WORDS, code, length, sentence
from transforms.errors import ConfigError, PileprepError

PILE_SUBSETS = ("Pile-CC", "PubMed Central", "Books3", "OpenWebText2", "ArXiv", "Github", "FreeLaw", "StackExchange",
                "USPTO Backgrounds", "PubMed Abstracts", "Gutenberg (PG-19)", "OpenSubtitles", "Wikipedia (en)",
                "DM Mathematics", "Ubuntu IRC", "BookCorpus2", "EuroParl", "HackerNews", "YoutubeSubtitles",
                "PhilPapers", "NIH ExPorter", "Enron Emails")
# Percent of the Pile's effective size per subset (Gao et al. 2020, Table 1), used as document
# weights so the sample's mix resembles the real one.
_WEIGHTS = (18.11, 14.40, 12.07, 10.01, 8.96, 7.59, 6.12, 5.13, 3.65, 3.07, 2.17, 1.55, 1.53, 1.24,
            0.88, 0.75, 0.73, 0.62, 0.60, 0.38, 0.30, 0.14)
GITHUB_LIMIT = 100_000  # the Pile drops Github files of this many characters or more
# Planted document kinds: (one per this many documents, at least this many).
_PLAN = {"empty": (500, 1), "whitespace_only": (500, 1), "mojibake": (150, 2), "html_entities": (300, 1),
         "nfd": (300, 1), "exact_duplicate": (100, 2), "near_duplicate": (100, 2),
         "github_oversized": (1000, 1), "github_near_limit": (1000, 1), "advertisement_lines": (200, 1),
         "colon_lines": (200, 2), "short_docs": (100, 2), "extra_meta": (100, 1)}
# Named as transforms.parse.parse_line names its rejections, so planted and rejected counts compare directly.
MALFORMED_KINDS = ("invalid_json", "text_missing", "text_null", "text_not_string", "invalid_utf8", "lone_surrogate",
                   "blank_line")
_MALFORMED_PER = 200  # 0.5% of lines, and at least one of each kind
_ZSTD_LEVEL = 3  # fixed, so compressed bytes repeat too (for one libzstd; decompressed bytes always do)
_FRAME_LINES = 200  # about this many lines per zstd frame; real Pile shards are multi-frame too

# Words whose UTF-8 bytes all exist in cp1252, so decoding them as cp1252 or latin-1 gives the
# mojibake ftfy is built to reverse ("cafÃ©", "itâ€™s"); the first three have accents for NFD.
_SPECIALS = ("café", "naïve", "résumé", "it’s", "‘quoted’", "—", "über", "señor", "fiancée", "…")
_ENTITIES = ("&amp;", "it&#39;s", "caf&eacute;", "&quot;quoted&quot;", "&mdash;", "AT&amp;T")
_WHITESPACE = (" ", "\n", "\n\n", " \t\n", "\u00a0", "   \n  \n")


@dataclass(frozen=True)
class SampleConfig:
    seed: int = 0  # same seed, same bytes: the demo's numbers in the README depend on it
    documents: int = 3000  # about 10 MB of JSON lines and every planted kind many times, in about a second
    files: int = 4  # several .zst shards so per-file reading and ordering are exercised

    def __post_init__(self):
        if not isinstance(self.seed, int):
            raise ConfigError(f"seed={self.seed!r} must be an integer")
        if self.documents < 100:
            raise ConfigError(f"documents={self.documents} is too few: the sample plants about 20 kinds of "
                               "problem document and needs at least 100; pass documents >= 100")
        if self.files < 1:
            raise ConfigError(f"files={self.files} must be at least 1 (the number of .jsonl.zst files)")
        if (self.files + 2) * 10 > self.documents:  # so that every .zst file holds several frames
            raise ConfigError(f"files={self.files} is too many for documents={self.documents}: each file "
                               f"needs 10 documents; pass files <= {self.documents // 10 - 2} or more documents")


@dataclass(frozen=True)
class SampleSummary:
    paths: tuple[str, ...]  # files written, sorted
    documents: int  # lines a reader keeps: UTF-8 JSON whose text is a string (equals config.documents)
    malformed: int  # lines planted as malformed, on top of the documents
    bytes: int  # total uncompressed bytes written
    planted: dict  # kind -> count, for every kind in _PLAN and MALFORMED_KINDS


def _inject(r, text, words, k) -> str:
    """Replace k alphabetic words of text with words (the first always used), keeping word count."""
    tokens = text.split(" ")
    for j, i in enumerate(r.sample([i for i, t in enumerate(tokens) if t.isalpha()], k)):
        tokens[i] = words[0] if j == 0 else r.choice(words)
    return " ".join(tokens)


def _insert_lines(r, text, line, k) -> str:
    parts = text.split("\n\n")
    for _ in range(k):
        parts.insert(r.randrange(1, len(parts) + 1), line(r))
    return "\n\n".join(parts)


def _planted(r, kind, i, sources) -> tuple[str, str]:
    """The (subset, text) of the i-th planted document of this kind."""
    web = r.choice(("Pile-CC", "OpenWebText2", "Wikipedia (en)"))
    prose = lambda: STYLES[web](r, length(r))  # at least 300 characters: never a short doc
    if kind in ("empty", "whitespace_only", "short_docs"):
        text = {"empty": "", "whitespace_only": _WHITESPACE[i % len(_WHITESPACE)]}.get(kind)
        return r.choice(PILE_SUBSETS), sentence(r, WORDS, 3, 14)[:199] if text is None else text
    if kind == "mojibake":  # a whole page decoded with the wrong codec, as scraped web text often is
        return web, _inject(r, prose(), _SPECIALS, 8).encode().decode("latin-1" if i % 3 == 2 else "cp1252")
    if kind == "html_entities":
        return web, _inject(r, prose(), _ENTITIES, 6)
    if kind == "nfd":  # decomposed accents: the same words as NFC text, other code points
        return web, unicodedata.normalize("NFD", _inject(r, prose(), _SPECIALS[:3], 4))
    if kind in ("exact_duplicate", "near_duplicate"):
        subset, text = sources.pop()
        if kind == "near_duplicate":  # three words changed: MinHash must still pair it with its source
            tokens = text.split(" ")
            for j in r.sample([j for j, t in enumerate(tokens) if t.isalpha()], 3):
                tokens[j] = r.choice([w for w in WORDS[:60] if w != tokens[j]])
            text = " ".join(tokens)
        return subset, text
    if kind.startswith("github"):  # near the limit, the last code block overshoots by < 1,000: stays under
        over = r.randrange(1, 60_000) if kind == "github_oversized" else r.randrange(-10_000, -1_000)
        return "Github", code(r, GITHUB_LIMIT + over)
    if kind == "advertisement_lines":  # OpenWebText2's scraped pages kept the ad placeholders
        text = STYLES["OpenWebText2"](r, length(r))
        return "OpenWebText2", _insert_lines(r, text, lambda r: "Advertisement", r.randrange(1, 4))
    if kind == "colon_lines":  # pandoc fenced divs left in the Pile's ArXiv and PubMed Central text
        subset = r.choice(("ArXiv", "PubMed Central"))
        div = lambda r: f"::: {{.{r.choice(('figure', 'table-wrap', 'proof'))}}}\n{sentence(r, VOCAB['sci'])}\n:::"
        return subset, _insert_lines(r, STYLES[subset](r, length(r)), div, r.randrange(1, 3))
    raise AssertionError(f"unknown planted kind {kind}")


def _malformed(r, kind) -> bytes:
    meta = b', "meta": ' + orjson.dumps({"pile_set_name": r.choice(PILE_SUBSETS)}) + b"}"
    text = sentence(r, VOCAB["tech"]).encode("ascii", "replace")  # ascii: cuts fall between characters
    return {"invalid_json": (b'{"text": "' + text + meta)[: len(text) // 2 + 10],
            "text_missing": b'{"contents": "' + text + b'"' + meta,
            "text_null": b'{"text": null' + meta,
            "text_not_string": b'{"text": ' + str(r.randrange(10**6)).encode() + meta,
            "invalid_utf8": b'{"text": "' + text[:9] + b"\xff\xfe\xc3(" + text[9:] + b'"' + meta,  # not UTF-8
            "lone_surrogate": b'{"text": "' + text[:9] + b"\\ud83d" + text[9:] + b'"' + meta,  # half an emoji
            "blank_line": b""}[kind]


def _compress(name: str, data: bytes, frames: int) -> bytes:
    if name.endswith(".zst"):  # equal byte slices, so frames end mid-line and mid-character, like pzstd's
        cctx, step = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True), -(-len(data) // frames)
        return b"".join(cctx.compress(data[i:i + step]) for i in range(0, len(data), step))
    if name.endswith(".gz"):  # mtime 0 and no file name in the header: the same bytes on every machine
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=6, mtime=0) as f:
            f.write(data)
        return buf.getvalue()
    return data


def write_sample(out_dir: str, config: SampleConfig = SampleConfig()) -> SampleSummary:
    """Write the sample corpus into out_dir (created if needed) and say what was planted."""
    r, n = random.Random(config.seed), config.documents
    plan = {kind: max(least, n // per) for kind, (per, least) in _PLAN.items()}
    new = sum(plan.values()) - plan["extra_meta"]  # extra meta goes on regular documents
    subsets = list(PILE_SUBSETS) + r.choices(PILE_SUBSETS, weights=_WEIGHTS, k=n - new - len(PILE_SUBSETS))
    docs = [(s, STYLES[s](r, length(r))) for s in subsets]
    sources = r.sample(docs, plan["exact_duplicate"] + plan["near_duplicate"])
    docs += [_planted(r, kind, i, sources) for kind in _PLAN if kind != "extra_meta" for i in range(plan[kind])]
    records = [{"text": text, "meta": {"pile_set_name": s}} for s, text in docs]
    for i, rec in enumerate(r.sample(records[:len(subsets)], plan["extra_meta"])):
        rec["meta"].update(({"language": "en"}, {"url": f"https://www.example.com/{r.choice(WORDS)}/{i}"},
                            {"source": "sample", "id": i})[i % 3])
    r.shuffle(records)

    names = [f"{i:02d}.jsonl.zst" for i in range(config.files)] + ["extra.jsonl.gz", "extra.jsonl"]
    lines = [orjson.dumps(rec) for rec in records]
    chunks = [lines[len(lines) * i // len(names):len(lines) * (i + 1) // len(names)] for i in range(len(names))]
    count = max(len(MALFORMED_KINDS), n // _MALFORMED_PER)
    malformed = [MALFORMED_KINDS[i % len(MALFORMED_KINDS)] for i in range(count)]
    for i, kind in enumerate(malformed):  # spread over the files, at random places in each
        chunk = chunks[i % len(chunks)]
        chunk.insert(r.randrange(len(chunk) + 1), _malformed(r, kind))

    os.makedirs(out_dir, exist_ok=True)
    stale = sorted(f for f in os.listdir(out_dir) if ".jsonl" in f and f not in names)
    if stale:
        raise PileprepError(f"{out_dir} already holds {', '.join(stale)}, which this sample would not replace "
                            "and a run would read with it: empty the directory or choose another")
    paths, total = [], 0
    for name, chunk in zip(names, chunks):
        data = b"".join(line + b"\n" for line in chunk)
        path, tmp = os.path.join(out_dir, name), os.path.join(out_dir, f".{name.split('.')[0]}.partial")
        with open(tmp, "wb") as f:  # renamed when complete, so no reader sees half a file
            f.write(_compress(name, data, max(2, -(-len(chunk) // _FRAME_LINES))))
        os.replace(tmp, path)
        paths.append(path)
        total += len(data)
    planted = plan | {kind: malformed.count(kind) for kind in MALFORMED_KINDS}
    return SampleSummary(paths=tuple(sorted(paths)), documents=len(records), malformed=len(malformed),
                         bytes=total, planted=planted)
