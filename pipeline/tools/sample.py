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
import bisect
import gzip
import io
import os
import random
import unicodedata
from dataclasses import dataclass

import orjson
import zstandard

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
# Quantiles of a log-normal length (median 1,800 characters, sigma 1) clipped to [300, 20,000],
# written out rather than computed with math.exp so that no libm difference can change a length.
_QUANTILES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
_LENGTHS = (300, 500, 776, 1069, 1398, 1800, 2319, 3032, 4177, 6484, 9318, 20000)
_ZSTD_LEVEL = 3  # fixed, so compressed bytes repeat too (for one libzstd; decompressed bytes always do)
_FRAME_LINES = 200  # about this many lines per zstd frame; real Pile shards are multi-frame too

_WORDS = tuple("""the of and to in a is that for it as was with be by on not he this are or his from at which
but have an they you were her she there been one all we their has would when if so no more out up into them can
only other new some could time these two may then do first any now such like our over man even most made after
also did many before must through back years where much your way well down should because each just those people
how too little state good very make world still own see men work long get here between both life being under
never day same another know while last might us great old year off come since against go came right used take
three city river market government family school company history water music story house country system problem
report question project morning evening light small large early public local general important different
following possible café résumé""".split())
_DOMAINS = {
    "sci": "model data energy field theory equation function parameter results method analysis distribution "
           "spectrum quantum particle density matrix operator boundary limit estimate approximation simulation "
           "temperature phase transition symmetry lattice observed",
    "med": "patients cells expression protein clinical treatment disease tissue receptor gene mice cohort risk "
           "therapy infection samples levels increased reduced associated tumor dose response study trial "
           "outcomes blood plasma signaling pathway",
    "law": "court plaintiff defendant appeal district judgment evidence trial statute motion jury counsel claim "
           "contract order section pursuant testimony affirmed reversed remand petitioner respondent "
           "jurisdiction sentence conviction liability damages",
    "tech": "server file install package version error kernel driver network config ubuntu apt boot disk user "
            "password terminal command update upgrade build compile library python script function memory "
            "browser window screen startup code test release bug",
    "phil": "argument knowledge belief truth moral reason account concept experience mind objection claim "
            "premise theory normative epistemic virtue agent justification consciousness",
    "eu": "Parliament Commission Council Member States report proposal directive citizens policy European Union "
          "amendment vote agreement budget rights framework regulation debate",
}
# Domain words three times over, so a paragraph reads as its field with ordinary words between.
_V = {k: _WORDS + tuple(v.split()) * 3 for k, v in _DOMAINS.items()} | {"web": _WORDS}
_NAMES = tuple("Smith Johnson Williams Brown Jones Miller Davis Garcia Wilson Anderson Taylor Moore Martin Jackson "
               "Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright".split())
_IDENT = tuple("value count index buffer result total offset length node item key data size name "
               "path config state cache token items left right parent child start end".split())
_VERBS = tuple("get set load parse build update compute find read write check reset".split())
_PY = ('def {f}_{n}({a}, {b}=None):\n    """{s}"""\n    {v} = []\n    for i in range({a}):\n'
       '        if i % {k} == 0:\n            {v}.append(i * {k})\n    return {v}\n',
       'class {C}:\n    """{s}"""\n\n    def __init__(self, {a}, {b}):\n        self.{a} = {a}\n'
       '        self.{b} = {b}\n\n    def {f}(self):\n        return self.{a} + {k} * self.{b}\n')
_C = ('static int {f}_{n}(int {a}, int {b})\n{{\n    /* {s} */\n    int {v} = {a} * {k};\n'
      '    if ({v} > {b})\n        return {v} - {b};\n    return {v} + {k};\n}}\n',
      'struct {n} {{\n    int {a};\n    char *{b};\n    size_t {v};  /* {s} */\n}};\n')
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


def _length(r: random.Random) -> int:
    u = r.random()
    i = bisect.bisect_right(_QUANTILES, u)
    p0, p1, l0, l1 = _QUANTILES[i - 1], _QUANTILES[i], _LENGTHS[i - 1], _LENGTHS[i]
    return int(l0 + (l1 - l0) * (u - p0) / (p1 - p0))


def _sentence(r, vocab, lo=6, hi=22) -> str:
    words = r.choices(vocab, k=r.randrange(lo, hi))
    if len(words) > 8 and r.random() < 0.4:
        words[r.randrange(3, len(words) - 3)] += ","
    return words[0].capitalize() + " " + " ".join(words[1:]) + r.choice("....?")


def _paragraph(r, vocab) -> str:
    return " ".join(_sentence(r, vocab) for _ in range(r.randrange(3, 8)))


def _title(r, vocab, lo=3, hi=9) -> str:
    return " ".join(w.capitalize() for w in r.choices(vocab, k=r.randrange(lo, hi)))


def _fill(target, head, block, sep="\n\n") -> str:
    """head, then blocks joined by sep until the text has at least target characters."""
    text = head + block()
    while len(text) < target:
        text += sep + block()
    return text


def _prose(vocab, head):
    return lambda r, target: _fill(target, head(r), lambda: _paragraph(r, _V[vocab]))


def _lines(line):
    return lambda r, target: _fill(target, "", lambda: line(r), "\n")


def _code(r, target) -> str:
    python = r.random() < 0.6
    def block():
        a, b, v, n = r.sample(_IDENT, 4)
        return r.choice(_PY if python else _C).format(f=r.choice(_VERBS), n=n, a=a, b=b, v=v,
                                                      k=r.randrange(2, 64), C=n.capitalize() + "Handler",
                                                      s=_sentence(r, _V["tech"], 4, 12))
    head = "import os\nimport sys\n\n\n" if python else "#include <stdio.h>\n#include <stdlib.h>\n\n"
    return _fill(target, head, block)


def _arxiv(r, target) -> str:
    def block():
        x, g, i = r.random(), r.choice(("alpha", "beta", "gamma", "sigma")), r.choice("ijkn")
        if x < 0.15:
            return f"\\section{{{_title(r, _V['sci'], 1, 4)}}}"
        if x < 0.35:
            return (f"\\begin{{equation}}\n  f(x) = \\sum_{{{i}=1}}^{{N}} \\{g}_{i} x_{i}^{{{r.randrange(2, 5)}}}"
                    f"\n  \\label{{eq:{r.randrange(1, 30)}}}\n\\end{{equation}}")
        return _paragraph(r, _V["sci"]) + f" For ${i} \\leq {r.randrange(2, 9)}$ see \\cite{{ref{r.randrange(50)}}}."
    return _fill(target, "\\section{Introduction}\n\n", block)


def _pmc(r, target) -> str:
    def block():
        if r.random() < 0.2:
            h = r.choice(("Methods", "Results", "Discussion", "Statistical analysis", "Conclusions"))
            return f"{h}\n{'=' * len(h)}"
        return _paragraph(r, _V["med"]) + f" \\[[@B{r.randrange(1, 60)}]\\]"
    return _fill(target, "Introduction {#sec1}\n====================\n\n", block)


def _irc(r, target) -> str:
    nicks, clock = [r.choice(_WORDS) + str(r.randrange(100)) for _ in range(4)], [r.randrange(1440)]
    def line():
        clock[0] = (clock[0] + r.randrange(3)) % 1440
        said = " ".join(r.choices(_V["tech"], k=r.randrange(2, 12)))
        return f"[{clock[0] // 60:02d}:{clock[0] % 60:02d}] <{r.choice(nicks)}> {said}"
    return _fill(target, "", line, "\n")


def _math(r) -> str:  # DM Mathematics: a question line, then its exact answer
    a, b, x = r.randrange(1, 99) * r.choice((-1, 1)), r.randrange(-999, 1000), r.randrange(-20, 21)
    return r.choice((f"What is {a} + {b}?\n{a + b}", f"Calculate {a}*{b}.\n{a * b}",
                     f"Solve {a}*x + {b} = {a * x + b} for x.\n{x}",
                     f"Let f(t) = {a}*t + {b}. What is f({x})?\n{a * x + b}"))


def _email(r, target) -> str:
    a, b = r.choice(_NAMES).lower(), r.choice(_NAMES).lower()
    head = (f"Message-ID: <{r.randrange(10**7, 10**8)}.{r.randrange(10**15, 10**16)}.JavaMail.evans@thyme>\n"
            f"Date: {r.choice(('Mon', 'Tue', 'Wed', 'Thu', 'Fri'))}, {r.randrange(1, 29)} "
            f"{r.choice(('Jan', 'Mar', 'May', 'Oct'))} {r.randrange(1999, 2003)} {r.randrange(24):02d}:"
            f"{r.randrange(60):02d}:{r.randrange(60):02d} -0700 (PDT)\nFrom: {a}@enron.com\nTo: {b}@enron.com\n"
            f"Subject: {_title(r, _WORDS)}\nMime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
    return _fill(target, head, lambda: _paragraph(r, _WORDS))


def _law(r, target) -> str:
    p, d = r.sample(_NAMES, 2)
    head = (f"{r.randrange(100, 999)} F.3d {r.randrange(1, 1500)}\n\nUNITED STATES COURT OF APPEALS,\n"
            f"{r.choice(('FIRST', 'FIFTH', 'NINTH'))} CIRCUIT.\n\n{p.upper()}, Plaintiff-Appellant,\nv.\n"
            f"{d.upper()}, Defendant-Appellee.\n\nNo. {r.randrange(90, 100)}-{r.randrange(1000, 9999)}.\n\nOPINION\n\n")
    def block():
        cite = f" See {r.choice(_NAMES)} v. {r.choice(_NAMES)}, {r.randrange(100, 600)} U.S. {r.randrange(900)}."
        return _paragraph(r, _V["law"]) + (cite if r.random() < 0.5 else "")
    return _fill(target, head, block)


_STYLES = {
    "Pile-CC": _prose("web", lambda r: _title(r, _WORDS) + "\n\n"),
    "PubMed Central": _pmc,
    "Books3": _prose("web", lambda r: f"CHAPTER {r.randrange(1, 40)}\n\n"),
    "OpenWebText2": _prose("web", lambda r: _title(r, _WORDS) + "\n\n"),
    "ArXiv": _arxiv,
    "Github": _code,
    "FreeLaw": _law,
    "StackExchange": lambda r, t: _fill(t, f"Q:\n\n{_title(r, _V['tech'])}?\n\n{_paragraph(r, _V['tech'])}\n\n",
                                        lambda: "A:\n\n" + _paragraph(r, _V["tech"])),
    "USPTO Backgrounds": _prose("sci", lambda r: "BACKGROUND OF THE INVENTION\n\n1. Field of the Invention\n\n"
                                "The present invention relates to " + _sentence(r, _V["sci"])[:-1].lower()
                                + ".\n\n2. Description of the Related Art\n\n"),
    "PubMed Abstracts": _prose("med", lambda r: _title(r, _V["med"]) + ".\n\n"),
    "Gutenberg (PG-19)": _prose("web", lambda r: f"CHAPTER {r.choice(('I', 'II', 'III', 'IV', 'IX'))}.\n\n"),
    "OpenSubtitles": _lines(lambda r: ("- " if r.random() < 0.3 else "") + _sentence(r, _WORDS, 2, 9)),
    "Wikipedia (en)": _prose("web", lambda r: _title(r, _WORDS, 1, 3) + "\n\n"),
    "DM Mathematics": _lines(_math),
    "Ubuntu IRC": _irc,
    "BookCorpus2": _prose("web", lambda r: f"Chapter {r.randrange(1, 30)}\n\n"),
    "EuroParl": _prose("eu", lambda r: r.choice(("Mr President, ", "Madam President, ", "Commissioner, "))),
    "HackerNews": lambda r, t: _fill(t, _title(r, _V["tech"]) + "\n\n", lambda: f"~{r.choice(_WORDS)}"
                                     f"{r.randrange(1, 999)}\n" + _paragraph(r, _V["tech"])),
    "YoutubeSubtitles": _lines(lambda r: " ".join(r.choices(_WORDS, k=r.randrange(3, 10)))),
    "PhilPapers": _prose("phil", lambda r: "Abstract\n\n"),
    "NIH ExPorter": _prose("med", lambda r: _title(r, _V["med"]) + "\n\n"),
    "Enron Emails": _email,
}


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
    prose = lambda: _STYLES[web](r, _length(r))  # at least 300 characters: never a short doc
    if kind in ("empty", "whitespace_only", "short_docs"):
        text = {"empty": "", "whitespace_only": _WHITESPACE[i % len(_WHITESPACE)]}.get(kind)
        return r.choice(PILE_SUBSETS), _sentence(r, _WORDS, 3, 14)[:199] if text is None else text
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
                tokens[j] = r.choice([w for w in _WORDS[:60] if w != tokens[j]])
            text = " ".join(tokens)
        return subset, text
    if kind.startswith("github"):  # near the limit, the last code block overshoots by < 1,000: stays under
        over = r.randrange(1, 60_000) if kind == "github_oversized" else r.randrange(-10_000, -1_000)
        return "Github", _code(r, GITHUB_LIMIT + over)
    if kind == "advertisement_lines":  # OpenWebText2's scraped pages kept the ad placeholders
        text = _STYLES["OpenWebText2"](r, _length(r))
        return "OpenWebText2", _insert_lines(r, text, lambda r: "Advertisement", r.randrange(1, 4))
    if kind == "colon_lines":  # pandoc fenced divs left in the Pile's ArXiv and PubMed Central text
        subset = r.choice(("ArXiv", "PubMed Central"))
        div = lambda r: f"::: {{.{r.choice(('figure', 'table-wrap', 'proof'))}}}\n{_sentence(r, _V['sci'])}\n:::"
        return subset, _insert_lines(r, _STYLES[subset](r, _length(r)), div, r.randrange(1, 3))
    raise AssertionError(f"unknown planted kind {kind}")


def _malformed(r, kind) -> bytes:
    meta = b', "meta": ' + orjson.dumps({"pile_set_name": r.choice(PILE_SUBSETS)}) + b"}"
    text = _sentence(r, _V["tech"]).encode("ascii", "replace")  # ascii: cuts fall between characters
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
    docs = [(s, _STYLES[s](r, _length(r))) for s in subsets]
    sources = r.sample(docs, plan["exact_duplicate"] + plan["near_duplicate"])
    docs += [_planted(r, kind, i, sources) for kind in _PLAN if kind != "extra_meta" for i in range(plan[kind])]
    records = [{"text": text, "meta": {"pile_set_name": s}} for s, text in docs]
    for i, rec in enumerate(r.sample(records[:len(subsets)], plan["extra_meta"])):
        rec["meta"].update(({"language": "en"}, {"url": f"https://www.example.com/{r.choice(_WORDS)}/{i}"},
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
