"""The normalizer: repair text with ftfy, as Cerebras did to the Pile before filtering (Beam-free;
transforms/normalize.py is its PTransform, and the fused local stage's worker processes use it directly).

`ftfy.fix_text` fixes mojibake, HTML entities in plain text, curly-quote and line-break oddities,
then applies a Unicode normal form: NFC by default (ftfy's own default, and what keeps the text
closest to the source), NFKC as gpt-neo's preprocessing used, or "ftfy" alone with no normal form;
"off" passes text through untouched. Each record says whether its text changed, so the count of
changed documents comes from the data.

    fix = fixer(NormalizeConfig(form="nfc"))              # fix(text) -> text; fix.path

ftfy leaves ~97% of documents alone but reads every line of them at a few MB/s. `fixer` returns
the fast normalizer of `transforms.normalize_fast` (exactly `ftfy.fix_text(text, config)`, calling
ftfy only on the lines it cannot fix itself) once it passed its self-test against ftfy, and plain
ftfy.fix_text otherwise; Normalize cross-checks a sample of documents against ftfy.fix_text.
"""
import dataclasses
import functools
import logging

from transforms.errors import ConfigError, PileprepError
from transforms.normalize_fast import Fixer
from transforms.normalize_tables import FTFY_READ, tables
from transforms.provenance import library_version, normalize_mismatch, stage_events

FORMS = ("nfc", "nfkc", "ftfy", "off")
_LOG = logging.getLogger("pileprep")


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    form: str = "nfc"  # Cerebras-GPT: "cleaned using the ftfy library" with its default NFC
    reference: bool = False  # plain ftfy.fix_text on every document: the unoptimized path, same output

    def __post_init__(self):
        if self.form not in FORMS:
            raise ConfigError(f"unknown normalization {self.form!r}: choose one of {', '.join(FORMS)}")


def _self_test_texts() -> list[str]:
    """Lines each fixer of ftfy acts on, mojibake the heuristic must catch, text it must leave alone
    or fix without ftfy (clean text in other scripts, typographic English), lines whose local fix
    ftfy would fix again (a fullwidth entity, mojibake made by a ligature or width fix), and long
    inputs (one line past ftfy's segment length, many lines, no newline at all)."""
    typographic = "\u201cIt\u2019s \u2018fine\u2019\u201d \u2014 na\u00efve caf\u00e9\u2026 fi\ufb01 \uff21\uff22"
    mojibake = "The caf\u00c3\u00a9 \u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d text"
    clean = "\u0416\u0438\u0437\u043d\u044c \u65e5\u672c\u8a9e \u05e2\u05d1\u05e8\u05d9\u05ea \u0395\u03bb\u03bb\u03ac\u03b4\u03b1"
    prose = "Zo\u00eb\u2019s \u201cDvo\u0159\u00e1k\u201d \u2013 \u00c5ngstr\u00f6m, \u2018caf\u00e9\u2019\u2026 \u00ab\u0412\u0413\u00bb"
    again = ["\uff06amp\uff1b x", "\uff58\u00c3 y", "\ufb01\u00c3 y", "\u00e9\u201dx \u201c", "\uff1cb\uff1e \uff06lt;",
             "\u201ccafe\u0301\u201d", "\u201cq\u201d\r\u00e9", "x\u2019\u00c2 \u201c", "\u0412\u201c\u0421 \u2019"]
    lines = [typographic, mojibake, clean, prose, "a &amp; b &lt;tag&gt; &#233;", "<p>&amp;</p>", "cr\r\nlf\rx",
             "ctrl\x00\x07\x1b[31m\x7f\x85\u2028end", "e\u0301 decomposed", "\ud83d\ude00 ok", "plain ascii"] + again
    texts = lines + ["\n".join(lines * 40), "\n".join(reversed(lines)) * 3, "\r\n".join(lines * 3)]
    texts += [(typographic + " ") * 60, clean * 200, "\n" * 5_000, mojibake * 10 + "\n" + clean * 40,
              (prose + "\n") * 300, "<b>\n" + "\n".join(again + [typographic]) * 5]
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
    t = None if config.reference else tables()
    if t is not None:
        fast = Fixer(ftfy_config, t)
        failed = _self_tested(fast, ftfy_config)
        if not failed:
            return fast
        _LOG.warning("pileprep: the fast normalizer failed its self-test against ftfy %s on %s: using plain "
                     "ftfy.fix_text, same output, several times slower", ftfy.__version__, failed)
    elif not config.reference:
        _LOG.warning("ftfy %s is not a version the fast normalizer was checked against (%s): "
                     "using plain ftfy.fix_text, several times slower", ftfy.__version__, FTFY_READ)
    return _plain(functools.partial(ftfy.fix_text, config=ftfy_config), "ftfy")


_TESTED: dict = {}  # ftfy config -> self-test result: once per process


def _self_tested(fast, ftfy_config) -> str | None:
    if ftfy_config not in _TESTED:
        _TESTED[ftfy_config] = self_test(fast, ftfy_config)
        fast.paths.clear()
    return _TESTED[ftfy_config]


class _plain:
    """A text -> text function with the `path` attribute `Fixer` has."""

    def __init__(self, fix, path: str):
        self.fix, self.path = fix, path

    def __call__(self, text: str) -> str:
        return self.fix(text)


def normalize(text: str, config: NormalizeConfig) -> str:
    return fixer(config)(text)


def fixed(doc: dict, fix, plain=None) -> dict:
    """The document with its text fixed by `fix`, "changed" and "chars_in" (its length as read).
    With `plain` (the cross-check's implementation, for a sampled document), a text fixed otherwise
    by it raises PileprepError naming the document."""
    text = fix(doc["text"])
    if plain is not None and plain(doc["text"]) != text:
        raise PileprepError(normalize_mismatch(doc["id"]))
    return {**doc, "text": text, "changed": text != doc["text"], "chars_in": len(doc["text"])}


def normalize_events(paths: dict, checked: int) -> list:
    """The provenance events of documents fixed per path ({"fast": n, ...}), `checked` of them
    cross-checked (transforms/provenance.py stage_events)."""
    return stage_events("normalize", paths, checked, {} if "off" in paths else {"ftfy": library_version("ftfy")})
