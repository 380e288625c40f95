"""The fast normalizer against plain ftfy.fix_text, in MB/s of UTF-8, on three kinds of text.

(a) typographic English: prose lines from /usr/share/doc and vim's manuals, typeset (curly quotes
and apostrophes, em dashes, ellipses, some accented names); (b) clean text in other scripts
(Cyrillic, Greek, Hebrew, Arabic, Thai, Chinese, Japanese, Korean): the lines of chardet's test
files that ftfy leaves alone, tags stripped; (c) the same English prose, plain ASCII. Each text is
cut into documents of about 4 KB; both fixers run on the same documents, in turn, best of a few
rounds, and their outputs are compared.

    python -m benchmarks.bench_normalize [--mb 4] [--rounds 3] [--form nfc]
"""
import argparse
import glob
import gzip
import html
import os
import re
import sys
import time

import ftfy

from transforms.normalizer import NormalizeConfig, fixer

CHARDET_TESTS = ["/usr/lib/google-cloud-sdk/platform/gsutil/third_party/chardet/tests"]
SCRIPTS = {  # chardet test directory -> codec: one directory per script of the Pile's other languages
    "KOI8-R": "koi8-r", "windows-1251-russian": "windows-1251", "iso-8859-5-bulgarian": "iso-8859-5",
    "iso-8859-7-greek": "iso-8859-7", "windows-1255-hebrew": "windows-1255",
    "windows-1256-arabic": "windows-1256", "TIS-620": "tis-620", "GB2312": "gb2312", "Big5": "big5",
    "SHIFT_JIS": "shift_jis", "EUC-JP": "euc-jp", "EUC-KR": "euc-kr", "utf-8": "utf-8"}
NAMES = ["Zo\u00eb", "caf\u00e9", "Dvo\u0159\u00e1k", "Bront\u00eb", "na\u00efve", "Mu\u00f1oz", "G\u00f6del",
         "Fran\u00e7ois", "Ern\u0151", "\u00c5ngstr\u00f6m", "Sm\u00f8rgrav", "Pe\u00f1a", "Jos\u00e9"]
_TAG = re.compile(r"<[^>]*>")


def _english_lines(limit: int = 40_000) -> list[str]:
    """Distinct prose lines (mostly letters and spaces) of vim's manuals and /usr/share/doc, ASCII."""
    paths = sorted(glob.glob("/usr/share/vim/vim*/doc/*.txt")) + sorted(
        p for p in glob.glob("/usr/share/doc/**/*", recursive=True) if os.path.isfile(p))
    lines = []
    for path in paths:
        if len(lines) >= 2 * limit:
            break
        try:
            with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
                text = f.read(400_000).decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        for line in text.splitlines():
            letters = sum(c.isalpha() or c == " " for c in line)
            if line.isascii() and len(line) >= 40 and letters >= 0.85 * len(line):
                lines.append(" ".join(line.split()) + "\n")
    return list(dict.fromkeys(lines))[:limit]


def typeset(line: str, i: int) -> str:
    """Straight quotes curled, apostrophes, dashes and ellipses typeset, an accented name now and then."""
    line = line.replace("...", "\u2026").replace("--", "\u2014").replace(" - ", " \u2013 ")
    line = re.sub(r"(\w)'(\w)", "\\1\u2019\\2", line)
    line = re.sub(r"'([^']*)'", "\u2018\\1\u2019", line)
    line = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", line)
    words = line.split(" ")
    if i % 2 == 0 and len(words) > 4:
        words[len(words) // 2] = NAMES[i % len(NAMES)]
    if i % 3 == 0:
        words.insert(1, "\u201cit\u2019s\u201d")
    return " ".join(words)


def _foreign_lines() -> list[str]:
    """Lines of chardet's test files in non-Latin scripts that ftfy.fix_text leaves alone."""
    roots = [r for r in CHARDET_TESTS if os.path.isdir(r)]
    if not roots:
        sys.exit("chardet's test files are not on this machine: set CHARDET_TESTS in "
                 "benchmarks/bench_normalize.py to their directory (pip download chardet --no-binary :all:)")
    lines = []
    for directory, codec in SCRIPTS.items():
        for path in sorted(glob.glob(os.path.join(roots[0], directory, "*"))):
            with open(path, "rb") as f:
                text = f.read().decode(codec, errors="replace")
            for line in _TAG.sub(" ", html.unescape(text)).splitlines():
                line = " ".join(line.split()) + "\n"
                if len(line) >= 20 and sum(not c.isascii() for c in line) >= 0.4 * len(line) \
                        and "\ufffd" not in line and ftfy.fix_text(line) == line:
                    lines.append(line)
    return lines


def documents(lines: list[str], mb: float, doc_bytes: int = 4096) -> list[str]:
    """`lines` repeated to about `mb` MB of UTF-8, cut into documents of about doc_bytes."""
    docs, current, size, total, i = [], [], 0, 0, 0
    while total < mb * 1e6:
        line = lines[i % len(lines)]
        current.append(line)
        size += len(line.encode())
        i += 1
        if size >= doc_bytes:
            docs.append("".join(current))
            total += size
            current, size = [], 0
    return docs


def _rates(fast, plain, docs, rounds: int) -> tuple[float, float]:
    """MB/s of each fixer, best of `rounds`, the two timed in turn (a shared machine's load falls
    on both alike); exits if their outputs differ."""
    megabytes = sum(len(d.encode()) for d in docs) / 1e6
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        outputs = []
        for i, fix in enumerate((fast, plain)):
            start = time.perf_counter()
            outputs.append([fix(d) for d in docs])
            best[i] = min(best[i], time.perf_counter() - start)
        if outputs[0] != outputs[1]:
            sys.exit("the fast normalizer's output differs from ftfy.fix_text's: a bug")
    return megabytes / best[0], megabytes / best[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0, help="MB of each kind of text")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--form", default="nfc", choices=["nfc", "nfkc", "ftfy"])
    args = parser.parse_args(argv)
    english = _english_lines()
    kinds = {"typographic English": [typeset(line, i) for i, line in enumerate(english)],
             "clean non-English": _foreign_lines(), "plain ASCII prose": english}
    fast = fixer(NormalizeConfig(args.form))
    plain = fixer(NormalizeConfig(args.form, reference=True))
    print(f"ftfy {ftfy.__version__}, form {args.form}, {args.mb:g} MB of each, best of {args.rounds}")
    print(f"{'text':<22}{'lines':>8}{'fast MB/s':>11}{'ftfy MB/s':>11}{'ratio':>8}  paths")
    for name, lines in kinds.items():
        docs = documents(lines, args.mb)
        fast.paths.clear()
        fast_rate, plain_rate = _rates(fast, plain, docs, args.rounds)
        paths = ", ".join(f"{k} {v // args.rounds}" for k, v in sorted(fast.paths.items()))
        print(f"{name:<22}{len(lines):>8,}{fast_rate:>11.1f}{plain_rate:>11.1f}{fast_rate / plain_rate:>7.1f}x  {paths}")


if __name__ == "__main__":
    main()
