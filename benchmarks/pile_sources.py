"""The raw material of the Pile-shaped corpus (benchmarks/pile_corpus.py), all from this machine's
files: English prose, Python sources and real text in other scripts, plus the typesetting that
gives the prose the Pile's typographic punctuation and accented names.

    english, code, foreign = pools()           # lists of texts, each in sorted path order
    typeset(text, random.Random(0))             # "don't" -> "don’t", "a -- b" -> "a — b", ...

English: /usr/share/doc (READMEs, manuals, licences, changelogs), vim's manuals and the Python
reference's topics (pydoc_data). Code: the Python standard library. Other scripts: chardet's
multilingual test files (shipped inside gsutil here, each decoded from the legacy encoding its
folder names, markup removed), CPython's CJK codec test texts and the translated man pages. Every
text is what is on disk, decoded and cleaned: no generated code points.
"""
import functools
import glob
import gzip
import html
import os
import re
import sysconfig

from benchmarks.corpus import MAX_DOC_BYTES, _groups, _source_of

CHARDET_TESTS = sorted(glob.glob("/usr/lib/google-cloud-sdk/platform/gsutil/third_party/chardet/tests")
                       + glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "chardet", "tests")))
CJK_TESTS = os.path.join(sysconfig.get_paths()["stdlib"], "test", "cjkencodings")
MAN = "/usr/share/man"
# chardet's test folders name the encoding, some with the language after it
_CODEC = {"ibm855": "cp855", "ibm866": "cp866", "maccyrillic": "mac-cyrillic", "macroman": "mac-roman"}
_TAG = re.compile(r"<[^>]*>|<!\[CDATA\[|\]\]>")
_GROFF = re.compile(r"\\f(\[[^\]]*\]|\(..|.)|\\\*(\(..|.)|\\\(..|\\[&|^%]")
# Names and words that Pile text spells with accents; the ASCII word a text has becomes one of them
ACCENTED = ["Zoë", "Brontë", "Dvořák", "Gödel", "Müller", "José", "François", "Łukasz", "Ångström",
            "Søren", "Chloë", "Renée", "Núñez", "Čapek", "Erdős", "Poincaré", "Dostoyevsky", "Şahin"]
_WORDS = {"naive": "naïve", "cafe": "café", "resume": "résumé", "role": "rôle", "facade": "façade",
          "cliche": "cliché", "fiance": "fiancé", "deja": "déjà", "elite": "élite", "regime": "régime"}


def _read(path: str, limit: int = 8 * MAX_DOC_BYTES) -> bytes | None:
    try:
        if os.path.islink(path) or not os.path.isfile(path):
            return None
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            return f.read(limit)
    except (OSError, EOFError):
        return None


def _utf8(data: bytes | None) -> str | None:
    try:
        text = data.decode("utf-8") if data else None
    except UnicodeDecodeError:
        return None
    return text if text and text.strip() and "\x00" not in text else None


def english() -> list[str]:
    """Prose: every UTF-8 text file of /usr/share/doc and vim's manuals that is not code."""
    from pydoc_data.topics import topics

    _, vim_doc, _, doc_a, doc_b = _groups()
    paths = [p for p in vim_doc + doc_a + doc_b if _source_of(p.removesuffix(".gz")) != "Github"]
    texts = [t for t in map(_utf8, map(_read, paths)) if t]
    return texts + [topics[k] for k in sorted(topics)]


def code() -> list[str]:
    """Python standard library sources, whole files."""
    return [t for t in map(_utf8, map(_read, _groups()[0])) if t]


def _chardet_text(path: str) -> str | None:
    folder = os.path.basename(os.path.dirname(path)).lower()
    if folder in ("ascii", "utf-8"):  # English test pages, and a folder of deliberately mixed ones
        return None
    codec = _CODEC.get(folder, folder)
    data = _read(path)
    for candidate in (codec, "-".join(codec.split("-")[:-1]), "-".join(codec.split("-")[:-2])):
        try:
            text = data.decode(candidate)
            break
        except (LookupError, UnicodeDecodeError, AttributeError):
            continue
    else:
        return None
    text = html.unescape(_TAG.sub(" ", text)).lstrip("\ufeff")
    lines = (" ".join(line.split()) for line in text.splitlines())
    text = "\n".join(line for line in lines if line)
    return text if len(text) > 200 else None


def _man_text(path: str) -> str | None:
    text = _utf8(_read(path))
    if text is None:
        return None
    out = []
    for line in text.splitlines():
        if line.startswith((".\\\"", "'\\\"")):
            continue
        if line.startswith((".", "'")):  # a macro: keep its words (.SH NAME), drop its name
            line = line.partition(" ")[2].replace('"', "")
        line = _GROFF.sub("", line).replace("\\-", "-").replace("\\e", "\\")
        if line.strip():
            out.append(line)
    return "\n".join(out)


def foreign() -> list[str]:
    """Real text in other scripts: Cyrillic, Greek, Hebrew, Arabic, CJK, Thai, Central European."""
    chardet = sorted(p for root in CHARDET_TESTS for p in glob.glob(os.path.join(root, "*", "*")))
    cjk = sorted(glob.glob(os.path.join(CJK_TESTS, "*-utf8.txt")))
    man = sorted(p for lang in glob.glob(os.path.join(MAN, "*")) if not re.match(r"(man\d|en)", os.path.basename(lang))
                 for p in glob.glob(os.path.join(lang, "man*", "*")))
    texts = [*map(_chardet_text, chardet), *map(_utf8, map(_read, cjk)), *map(_man_text, man)]
    return [t for t in texts if t and not t.isascii()]


@functools.lru_cache(maxsize=1)
def pools() -> tuple[list[str], list[str], list[str]]:
    """(English, code, other scripts); a missing source fails with what to install."""
    found = english(), code(), foreign()
    need = ("English prose: /usr/share/doc and /usr/share/vim (apt-get install vim-runtime)",
            f"Python sources: {sysconfig.get_paths()['stdlib']}",
            f"text in other scripts: {CHARDET_TESTS or 'chardet tests'}, {CJK_TESTS} or translated "
            f"man pages in {MAN}/<lang> (apt-get install manpages-ru, ...)")
    missing = [what for texts, what in zip(found, need) if sum(map(len, texts)) < 1_000_000]
    if missing:
        raise FileNotFoundError("the Pile-shaped corpus is built from this machine's files, and these "
                                "are missing or under 1 MB: " + "; ".join(missing))
    return found


_RULES = [  # (pattern, replacement): the typesetting a Pile web page or book already has
    (re.compile(r'"([^"\n]{1,300}?)"'), "“\\1”"),
    (re.compile(r"(\w)'(\w)"), "\\1’\\2"),
    (re.compile(r"(^|[\s(])'([^'\n]{1,120}?)'(?=[\s.,;:!?)]|$)", re.M), "\\1‘\\2’"),
    (re.compile(r"\.\.\."), "…"),
    (re.compile(r"\b(\d+)-(\d+)\b"), "\\1–\\2"),
]
_DASH = re.compile(r"(\w)(?: -- |--| - )(\w)")
_NAME = re.compile(r"\b[A-Z][a-z]{3,}\b")
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b")


def typeset(text: str, rng) -> str:
    """Curly quotes and apostrophes, em and en dashes, ellipses, accented names (about one
    capitalised word in 40) and words, as a copy-edited text has them."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = _DASH.sub(lambda m: m[1] + ("—" if rng.random() < 0.7 else " – ") + m[2], text)
    text = _WORD.sub(lambda m: _WORDS[m[1]], text)
    return _NAME.sub(lambda m: rng.choice(ACCENTED) if rng.random() < 0.025 else m[0], text)
