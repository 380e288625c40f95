"""The fast normalizer: exactly `ftfy.fix_text(text, config)`, calling ftfy only on the lines it must.

fix_text fixes each line (its "segment") on its own with fix_and_explain, which loops until the
line stops changing over: unescape_html (off from the first line holding '<'), fix_encoding (the
identity unless ftfy's mojibake heuristic matches the line), the fixers that replace characters
one by one (C1 controls, ligatures, width, quotes, line breaks, surrogates, terminal escapes,
control characters: `LOCAL_STEPS`), then the normal form. So a line L is

- left alone when it holds no character those fixers act on, no HTML entity that would decode,
  no match of the heuristic, and is in the normal form: every step is the identity on it;
- fixed here, as L2 = normal_form(local_steps(L)), when it holds no entity that would decode and
  no match of the heuristic (the first pass is then L -> L2), no line break the fixers would add
  inside it, and L2 is left alone by the rule above (the second pass returns L2 unchanged);
- handed to fix_and_explain otherwise.

The local steps and the normal form run once over all the lines fixed here, joined: none of them
reaches across a '\\n' (tested), and a document whose line count they change goes to ftfy.

    fix = Fixer(..., ...)    # an ftfy.TextFixerConfig, transforms.normalize_tables.tables()
    fixed = fix(text)        # == ftfy.fix_text(text, fix.config); fix.paths counts the paths taken
"""
import bisect
import collections
import itertools
import re
import unicodedata

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class Fixer:
    """`ftfy.fix_text(text, ftfy_config)`, with ftfy called only on the lines it might change.

    `paths` counts documents returned without a change ("unchanged"), changed here alone
    ("local"), with ftfy on some lines ("lines"), and handed to ftfy whole ("whole": a line too
    long for ftfy's segmenting)."""

    def __init__(self, ftfy_config, tables):
        self.config, self.t = ftfy_config, tables
        self.keep_entities = ftfy_config._replace(unescape_html=False)  # fix_text after a '<'
        self.form, self.max_len = ftfy_config.normalization, ftfy_config.max_decode_length
        self.steps = [(fix, needs) for name, fix, needs in tables["local_steps"] if getattr(ftfy_config, name)]
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
        lt = text.find("<")
        html_end = n if lt < 0 else text.rfind("\n", 0, lt) + 1  # from this line on, no unescaping
        local, hard = self._classify(text, html_end)
        if not local and not hard:
            self.paths["unchanged"] += 1
            return text
        fixed = self._fix_local(text, sorted(local), html_end) if local else {}
        self.paths["local" if len(fixed) == len(local) and not hard else "lines"] += 1
        out, cursor = [], 0
        for a in sorted(local | hard):
            b = text.find("\n", a) + 1 or n
            line = fixed.get(a)
            if line is None:
                config = self.config if a < html_end else self.keep_entities
                line = t["fix_line"](text[a:b], config).text
            out += [text[cursor:a], line]
            cursor = b
        out.append(text[cursor:])
        return "".join(out)

    def _classify(self, text: str, html_end: int) -> tuple[set[int], set[int]]:
        """Start offsets of the lines to fix here and of those to hand to ftfy; every other line
        ftfy returns as it is."""
        t = self.t
        local = _lines_with(t["acts"], text)
        hard = {_line_start(text, q) for q in self._entities(text, html_end)}
        hard |= _lines_with(t["breaks"], text)
        if not text.isascii():
            hard |= self._bad_lines(text)
            if self.form and not unicodedata.is_normalized(self.form, text):
                local |= self._unnormalized(text)
        return local - hard, hard

    def _entities(self, text: str, end: int) -> list[int]:
        """Offsets, before `end`, of the HTML entities unescape_html would decode."""
        if text.find("&", 0, end) < 0:
            return []
        unescape = self.t["unescape"]
        return [m.start() for m in self.t["entity"].finditer(text, 0, end) if unescape(m.group()) != m.group()]

    def _unnormalized(self, text: str) -> set[int]:
        """Start offsets of the lines not in the normal form. A normal form never reaches across
        a line break ("\\n" is a starter that composes with nothing), so checking lines suffices."""
        out, n = set(), len(text)
        m = _NON_ASCII.search(text)
        while m:
            a = _line_start(text, m.start())
            b = text.find("\n", m.start()) + 1 or n
            if not unicodedata.is_normalized(self.form, text[a:b]):
                out.add(a)
            m = _NON_ASCII.search(text, b)
        return out

    def _bad_lines(self, text: str) -> set[int]:
        """Start offsets of the lines ftfy's mojibake heuristic may match (all it matches)."""
        return self.t["badness"].lines(text)

    def _fix_local(self, text: str, starts: list[int], html_end: int) -> dict[int, str]:
        """The lines starting at `starts` fixed by the local steps and the normal form, by start
        offset; a line whose result ftfy would change again is left out (ftfy fixes it)."""
        n = len(text)
        ends = [text.find("\n", a) + 1 or n for a in starts]
        chunk = "".join([text[a:b] for a, b in zip(starts, ends)])
        fixed = chunk
        for step, needs in self.steps:
            if needs is None or needs.search(fixed):  # a translation table's keys: else it is the identity
                fixed = step(fixed)
        if self.form:
            fixed = unicodedata.normalize(self.form, fixed)
        lines = fixed.split("\n")
        lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
        if len(lines) != len(starts):
            return {}
        offsets = list(itertools.accumulate(map(len, lines), initial=0))
        again = [m.start() for m in self.t["acts"].finditer(fixed)]
        again += [q for q in self._entities(fixed, len(fixed))
                  if starts[bisect.bisect_right(offsets, q) - 1] < html_end]
        again += sorted(self._bad_lines(fixed)) if not fixed.isascii() else []
        failed = {bisect.bisect_right(offsets, q) - 1 for q in again}
        return {a: line for i, (a, line) in enumerate(zip(starts, lines)) if i not in failed}


def _line_start(text: str, q: int) -> int:
    return text.rfind("\n", 0, q) + 1


def _lines_with(rx, text: str) -> set[int]:
    """Start offsets of the lines holding a match of `rx` (whose matches hold no '\\n')."""
    out, n = set(), len(text)
    m = rx.search(text)
    while m:
        out.add(_line_start(text, m.start()))
        m = rx.search(text, text.find("\n", m.start()) + 1 or n)
    return out
