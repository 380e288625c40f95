"""Normalize: repair text with ftfy, as Cerebras did to the Pile before filtering.

`ftfy.fix_text` fixes mojibake, HTML entities in plain text, curly-quote and line-break oddities,
then applies a Unicode normal form: NFC by default (ftfy's own default, and what keeps the text
closest to the source), NFKC as gpt-neo's preprocessing used, or "ftfy" alone with no normal form;
"off" passes text through untouched. Each record says whether its text changed, so the count of
changed documents comes from the data.

    docs | Normalize(NormalizeConfig(form="nfc"))          # ["docs"], ["provenance"]

ftfy leaves ~97% of documents alone but reads every line of them at a few MB/s. The fixer returns
exactly `ftfy.fix_text(text, config)` while calling ftfy only on the lines it might change: fix_text
fixes each line (its "segment") on its own, and a line is provably left alone when it holds no
character any fixer acts on, no HTML entity that would decode, no character of ftfy's mojibake
heuristic (or no match of the heuristic itself), and it is already in the normal form.
"""
import collections
import dataclasses
import functools
import logging
import re
import sys
import unicodedata

import apache_beam as beam

from transforms.errors import ConfigError, PileprepError
from transforms.provenance import PROVENANCE, CheckConfig, bundle_outputs, library_version, stage_events

if sys.version_info >= (3, 11):
    from re import _parser as _sre_parser  # the stdlib's regex parser and its opcode constants
else:  # 3.10 has no re._parser; 3.11+ warns DeprecationWarning on importing sre_parse
    import sre_parse as _sre_parser

FORMS = ("nfc", "nfkc", "ftfy", "off")
_FTFY_READ = ("6.3",)  # ftfy versions whose fix_and_explain this fast path was derived from
_LOG = logging.getLogger("pileprep")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    form: str = "nfc"  # Cerebras-GPT: "cleaned using the ftfy library" with its default NFC
    reference: bool = False  # plain ftfy.fix_text on every document: the unoptimized path, same output

    def __post_init__(self):
        if self.form not in FORMS:
            raise ConfigError(f"unknown normalization {self.form!r}: choose one of {', '.join(FORMS)}")


def _class(codepoints) -> re.Pattern:
    """A regex matching any one of the code points (lone surrogates included)."""
    runs: list[list[int]] = []
    for c in sorted(codepoints):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in runs) + "]")


def _members(items) -> set[int] | None:
    """The code points of a parsed [...] class, or None when it is negated or uses \\s, \\w..."""
    _parser = _sre_parser

    out = set()
    for op, av in items:
        if op is _parser.LITERAL:
            out.add(av)
        elif op is _parser.RANGE:
            out.update(range(av[0], av[1] + 1))
        else:
            return None
    return out


def _walk(node, found: set[int]) -> bool:
    """Collect the code points of every literal and positive class; False on a construct (lookaround,
    backreference, \\b, $) that would make a match depend on text outside it."""
    p = _sre_parser

    for op, av in node:
        if op is p.LITERAL:
            found.add(av)
        elif op is p.IN:
            found.update(_members(av) or ())
        elif op is p.BRANCH:
            if not all(_walk(b, found) for b in av[1]):
                return False
        elif op is p.SUBPATTERN:
            if av[1] & re.IGNORECASE or not _walk(av[-1], found):
                return False
        elif op in (p.MAX_REPEAT, p.MIN_REPEAT):
            if not _walk(av[2], found):
                return False
        elif not (op in (p.NOT_LITERAL, p.ANY) or (op is p.AT and av is p.AT_BEGINNING)):
            return False
    return True


def _requires(node, chars: set[int]) -> bool:
    """Whether every match of the parsed sequence contains a character of `chars`."""
    p = _sre_parser

    for op, av in node:
        if (op is p.LITERAL and av in chars
                or op is p.IN and (m := _members(av)) is not None and m <= chars
                or op is p.BRANCH and all(_requires(b, chars) for b in av[1])
                or op is p.SUBPATTERN and _requires(av[-1], chars)
                or op in (p.MAX_REPEAT, p.MIN_REPEAT) and av[0] >= 1 and _requires(av[2], chars)):
            return True
    return False


@functools.cache
def _tables():
    """Regexes derived from the installed ftfy's own data, or None when they cannot be trusted."""
    import ftfy
    from ftfy import chardata, fixes
    from ftfy.badness import BADNESS_RE
    _parser = _sre_parser

    if not ftfy.__version__.startswith(_FTFY_READ) or BADNESS_RE.flags & re.IGNORECASE:
        return None
    acts = set(chardata.CONTROL_CHARS) | set(chardata.LIGATURES) | set(chardata.WIDTH_MAP)
    acts |= set(map(ord, "\r\x85\u2028\u2029"))  # fix_line_breaks (literals in its body)
    for rx in (chardata.C1_CONTROL_RE, chardata.SINGLE_QUOTE_RE, chardata.DOUBLE_QUOTE_RE,
               fixes.SURROGATE_RE):
        members = _members(_parser.parse(rx.pattern, rx.flags)[0][1])
        if members is None:
            return None
        acts |= members
    tree = _parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    found: set[int] = set()
    if not _walk(tree, found):
        return None
    suspicious = {c for c in found if c > 0x7F}  # every non-ASCII character the heuristic names
    if not _requires(tree, suspicious):  # then a line without them cannot look like mojibake
        return None
    return {
        "acts_ascii": _class(c for c in acts if c < 0x80),
        "acts": _class(acts),
        "suspicious": _class(suspicious),
        # ftfy applies BADNESS_RE to each line, where ^ is the line start: MULTILINE says the same
        "badness": re.compile(BADNESS_RE.pattern, BADNESS_RE.flags | re.MULTILINE),
        "width": tree.getwidth()[1],  # the longest match, so a window around a character suffices
        "entity": chardata.HTML_ENTITY_RE,
        "unescape": fixes.unescape_html,
        "fix_text": ftfy.fix_text,
        "fix_line": ftfy.fix_and_explain,
    }


class _Fixer:
    """`ftfy.fix_text(text, ftfy_config)`, with ftfy called only on the lines it might change.

    `paths` counts documents returned without calling ftfy ("unchanged"), with ftfy on some lines
    ("lines"), and handed to ftfy whole ("whole": a line too long for ftfy's segmenting)."""

    def __init__(self, ftfy_config, tables):
        self.config, self.t = ftfy_config, tables
        self.keep_entities = ftfy_config._replace(unescape_html=False)  # fix_text after a '<'
        self.form, self.max_len = ftfy_config.normalization, ftfy_config.max_decode_length
        self.paths = collections.Counter()
        self.path = "fast"

    def __call__(self, text: str) -> str:
        t = self.t
        if text.isascii() and "&" not in text and t["acts_ascii"].search(text) is None:
            self.paths["unchanged"] += 1
            return text
        n = len(text)
        if n >= self.max_len and max(map(len, text.split("\n"))) + 1 > self.max_len:
            self.paths["whole"] += 1
            return t["fix_text"](text, self.config)
        starts = self._suspect_lines(text)
        if not starts:
            self.paths["unchanged"] += 1
            return text
        self.paths["lines"] += 1
        lt = text.find("<")
        html_end = n if lt < 0 else text.rfind("\n", 0, lt) + 1  # from this line on, no unescaping
        out, cursor = [], 0
        for a in sorted(starts):
            b = text.find("\n", a) + 1 or n
            config = self.config if a < html_end else self.keep_entities
            out += [text[cursor:a], t["fix_line"](text[a:b], config).text]
            cursor = b
        out.append(text[cursor:])
        return "".join(out)

    def _suspect_lines(self, text: str) -> set[int]:
        """Start offsets of the lines ftfy might change; every other line it returns as is."""
        t, n = self.t, len(text)
        marks = [m.start() for m in t["acts"].finditer(text)]
        lt = text.find("<")
        html_end = n if lt < 0 else text.rfind("\n", 0, lt) + 1
        if text.find("&", 0, html_end) >= 0:
            unescape = t["unescape"]
            marks += [m.start() for m in t["entity"].finditer(text, 0, html_end)
                      if unescape(m.group()) != m.group()]
        starts = {text.rfind("\n", 0, q) + 1 for q in marks}
        if text.isascii():
            return starts
        if self.form and not unicodedata.is_normalized(self.form, text):
            # A normal form never reaches across a line break ("\n" is a starter that composes
            # with nothing), so the text is normalized exactly when each of its lines is.
            m = _NON_ASCII.search(text)
            while m:
                a = text.rfind("\n", 0, m.start()) + 1
                b = text.find("\n", m.start()) + 1 or n
                if not unicodedata.is_normalized(self.form, text[a:b]):
                    starts.add(a)
                m = _NON_ASCII.search(text, b)
        find = t["suspicious"].search
        m = find(text)
        while m:
            a = text.rfind("\n", 0, m.start()) + 1
            b = text.find("\n", m.start()) + 1 or n
            if a not in starts and self._looks_bad(text, m.start(), b):
                starts.add(a)
            m = find(text, b)
        return starts

    def _looks_bad(self, text: str, q: int, b: int) -> bool:
        """Whether ftfy's badness heuristic may match the line ending at b, whose suspicious
        characters start at q: searched in windows around each of them, or whole when dense."""
        t, w = self.t, self.t["width"]
        a = text.rfind("\n", 0, q) + 1
        if b - a < 64:
            return t["badness"].search(text, a, b) is not None
        start, end, windows = max(a, q - w + 1), min(b, q + w), 1
        for m in t["suspicious"].finditer(text, q + 1, b):
            p = m.start()
            if p - w + 1 > end:
                if t["badness"].search(text, start, end):
                    return True
                start, windows = p - w + 1, windows + 1
                if windows * 32 > b - a:
                    return t["badness"].search(text, a, b) is not None
            end = min(b, p + w)
        return t["badness"].search(text, start, end) is not None


def _self_test_texts() -> list[str]:
    """Lines each fixer of ftfy acts on, mojibake the heuristic must catch, text it must leave alone
    (clean text in other scripts, typographic English), and long inputs (one line past ftfy's
    segment length, many lines, no newline at all)."""
    typographic = "\u201cIt\u2019s \u2018fine\u2019\u201d \u2014 na\u00efve caf\u00e9\u2026 fi\ufb01 \uff21\uff22"
    mojibake = "The caf\u00c3\u00a9 \u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d text"
    clean = "\u0416\u0438\u0437\u043d\u044c \u65e5\u672c\u8a9e \u05e2\u05d1\u05e8\u05d9\u05ea \u0395\u03bb\u03bb\u03ac\u03b4\u03b1"
    lines = [typographic, mojibake, clean, "a &amp; b &lt;tag&gt; &#233;", "<p>&amp;</p>", "cr\r\nlf\rx",
             "ctrl\x00\x07\x1b[31m\x7f\x85\u2028end", "e\u0301 decomposed", "\ud83d\ude00 ok", "plain ascii"]
    texts = lines + ["\n".join(lines * 40), "\n".join(reversed(lines)) * 3]
    texts += [(typographic + " ") * 60, clean * 200, "\n" * 5_000, mojibake * 10 + "\n" + clean * 40]
    return texts


def self_test(fix, ftfy_config) -> str | None:
    """The first text on which fix differs from ftfy.fix_text, described; None if none."""
    import ftfy

    for text in _self_test_texts():
        if fix(text) != ftfy.fix_text(text, ftfy_config):
            return f"{text[:40]!r}... ({len(text):,} characters)"
    return None


def fixer(config: NormalizeConfig):
    """A text -> text function for this config (built once per worker): the fast path after it
    passed its self-test, else ftfy.fix_text. Its `path` says which ("fast", "ftfy" or "off")."""
    if config.form == "off":
        return _plain(lambda text: text, "off")
    import ftfy

    ftfy_config = ftfy.TextFixerConfig(normalization={"nfc": "NFC", "nfkc": "NFKC"}.get(config.form))
    tables = None if config.reference else _tables()
    if tables is not None:
        fast = _Fixer(ftfy_config, tables)
        failed = _self_tested(fast, ftfy_config)
        if not failed:
            return fast
        _LOG.warning("pileprep: the fast normalizer failed its self-test against ftfy %s on %s: using plain "
                     "ftfy.fix_text, same output, several times slower", ftfy.__version__, failed)
    elif not config.reference:
        _LOG.warning("ftfy %s is not a version the fast normalizer was checked against (%s): "
                     "using plain ftfy.fix_text, several times slower", ftfy.__version__, _FTFY_READ)
    return _plain(functools.partial(ftfy.fix_text, config=ftfy_config), "ftfy")


_TESTED: dict = {}  # ftfy config -> self-test result: once per process


def _self_tested(fast, ftfy_config) -> str | None:
    if ftfy_config not in _TESTED:
        _TESTED[ftfy_config] = self_test(fast, ftfy_config)
        fast.paths.clear()
    return _TESTED[ftfy_config]


class _plain:
    """A text -> text function with the `path` attribute `_Fixer` has."""

    def __init__(self, fix, path: str):
        self.fix, self.path = fix, path

    def __call__(self, text: str) -> str:
        return self.fix(text)


def normalize(text: str, config: NormalizeConfig) -> str:
    return fixer(config)(text)


class _NormalizeFn(beam.DoFn):
    """Fixes each document; the documents `check` samples are fixed by ftfy.fix_text too, and a
    difference fails the run, naming the document."""

    def __init__(self, config: NormalizeConfig, check: CheckConfig = CheckConfig()):
        self.config, self.check = config, check

    def setup(self):
        self.fix = fixer(self.config)
        self.plain = None if self.fix.path != "fast" else fixer(dataclasses.replace(self.config, reference=True))

    def start_bundle(self):
        self.documents = self.checked = 0

    def process(self, doc):
        text = self.fix(doc["text"])
        self.documents += 1
        if self.plain is not None and self.check.sampled(doc["id"]):
            self.checked += 1
            if self.plain(doc["text"]) != text:
                raise PileprepError(
                    f"document {doc['id']} is normalized differently by the fast normalizer than by "
                    f"ftfy.fix_text: a bug in pileprep's fast path. Run with --reference to use the plain "
                    f"implementations, and please report this document")
        yield {**doc, "text": text, "changed": text != doc["text"], "chars_in": len(doc["text"])}

    def finish_bundle(self):
        libraries = {} if self.fix.path == "off" else {"ftfy": library_version("ftfy")}
        yield from bundle_outputs(stage_events("normalize", {self.fix.path: self.documents}, self.checked, libraries))


class Normalize(beam.PTransform):
    """Document dicts -> {"docs": the same dicts with fixed text, "changed" and "chars_in",
    "provenance": `Event`s of the paths that fixed them}."""

    def __init__(self, config: NormalizeConfig, check: CheckConfig = CheckConfig()):
        super().__init__()
        self.config, self.check = config, check

    def expand(self, docs):
        return docs | "FixText" >> beam.ParDo(_NormalizeFn(self.config, self.check)).with_outputs(
            PROVENANCE, main="docs")
