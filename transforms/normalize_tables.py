"""What ftfy can act on, derived from the installed ftfy's own regexes and tables, for the fast normalizer.

`tables()` parses ftfy's regexes with the standard library's regex parser and returns the character
classes every fixer acts on, the fixers that replace characters one by one (in the order
`fix_and_explain` applies them), and `Badness`: ftfy's mojibake heuristic rebuilt to be searched
over a whole document at once, stopping only at the few characters that can start a match. It
returns None when the installed ftfy is not shaped as this derivation assumes (another version,
a construct of the heuristic that looks beyond its match), and the fast normalizer is then not used.

    t = tables()   # None, or {"acts": re.Pattern, "badness": Badness, "local_steps": [...], ...}
"""
import functools
import re
import sys
import unicodedata

if sys.version_info >= (3, 11):
    from re import _parser as _sre_parser  # the stdlib's regex parser and its opcode constants
else:  # 3.10 has no re._parser; 3.11+ warns DeprecationWarning on importing sre_parse
    import sre_parse as _sre_parser

FTFY_READ = ("6.3",)  # ftfy versions whose fix_and_explain this fast path was derived from
# fix_and_explain's character-by-character fixers, in its order: checked against its code below
LOCAL_STEPS = ("fix_c1_controls", "fix_latin_ligatures", "fix_character_width", "uncurl_quotes",
               "fix_line_breaks", "fix_surrogates", "remove_terminal_escapes", "remove_control_chars")
_P = _sre_parser
_CATEGORIES = {_P.CATEGORY_SPACE: r"\s", _P.CATEGORY_NOT_SPACE: r"\S", _P.CATEGORY_WORD: r"\w",
               _P.CATEGORY_NOT_WORD: r"\W", _P.CATEGORY_DIGIT: r"\d", _P.CATEGORY_NOT_DIGIT: r"\D"}


def char_class(codepoints) -> re.Pattern:
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
    out = set()
    for op, av in items:
        if op is _P.LITERAL:
            out.add(av)
        elif op is _P.RANGE:
            out.update(range(av[0], av[1] + 1))
        else:
            return None
    return out


def _walk(node, found: set[int]) -> bool:
    """Collect the code points of every literal and positive class; False on a construct (lookaround,
    backreference, \\b, $) that would make a match depend on text outside it."""
    for op, av in node:
        if op is _P.LITERAL:
            found.add(av)
        elif op is _P.IN:
            found.update(_members(av) or ())
        elif op is _P.BRANCH:
            if not all(_walk(b, found) for b in av[1]):
                return False
        elif op is _P.SUBPATTERN:
            if av[1] & re.IGNORECASE or not _walk(av[-1], found):
                return False
        elif op in (_P.MAX_REPEAT, _P.MIN_REPEAT):
            if not _walk(av[2], found):
                return False
        elif not (op in (_P.NOT_LITERAL, _P.ANY) or (op is _P.AT and av is _P.AT_BEGINNING)):
            return False
    return True


def _required(branch, named: set[int]) -> list[tuple[int, frozenset[int]]]:
    """(position, class) of the items of the parsed sequence every match holds a character of: its
    single characters that are a literal or a positive class of named characters only."""
    out = []
    for k, (op, av) in enumerate(branch):
        if op is _P.LITERAL and av in named:
            out.append((k, frozenset([av])))
        elif op is _P.IN and (m := _members(av)) is not None and m <= named:
            out.append((k, frozenset(m)))
    return out


def _pattern(node) -> str:
    """Regex source for a parsed sequence (the constructs `_walk` accepts, no groups)."""
    out = []
    for op, av in node:
        if op is _P.LITERAL:
            out.append(f"\\U{av:08x}")
        elif op is _P.NOT_LITERAL:
            out.append(f"[^\\U{av:08x}]")
        elif op is _P.ANY:
            out.append(".")
        elif op is _P.AT:
            out.append("^")
        elif op is _P.IN:
            out.append("[" + "".join(_class_item(o, a) for o, a in av) + "]")
        elif op is _P.MAX_REPEAT and len(av[2]) == 1:
            out.append(_pattern(av[2]) + "{%d,%s}" % (av[0], "" if av[1] == _P.MAXREPEAT else av[1]))
        else:
            raise ValueError(f"no source for {op}")
    return "".join(out)


def _class_item(op, av) -> str:
    if op is _P.NEGATE:
        return "^"
    if op is _P.LITERAL:
        return f"\\U{av:08x}"
    if op is _P.RANGE:
        return f"\\U{av[0]:08x}-\\U{av[1]:08x}"
    return _CATEGORIES[av]  # KeyError: a category this derivation does not know


class Badness:
    """ftfy's mojibake heuristic (BADNESS_RE) as one regex that only stops at gate characters.

    Each branch of BADNESS_RE has a gate: the class, among those every match of it holds a
    character of, with the fewest letters (letters make most of clean text). The branch `P G S`
    (items before the gate, the gate, after it) becomes `(?<=P.)S` after a character of G, so
    `[gates](?:(?<=[G1])(?:(?<=P1.)S1|...)|(?<=[G2])(?:...)|...)` matches at the gate character of
    each match of BADNESS_RE, and the regex engine skips from one gate character to the next.
    Searched over a whole document (^ at each line start), a match may reach across a line
    break where ftfy's, searched line by line, cannot: `lines` names every line a match touches,
    which includes every line BADNESS_RE matches (a match it hides overlaps the one found)."""

    def __init__(self, regex: re.Pattern, gates: re.Pattern):
        self.regex, self.gates = regex, gates

    def lines(self, text: str) -> set[int]:
        """Start offsets of the lines of `text` (split at '\\n') the heuristic may match."""
        out = set()
        for m in self.regex.finditer(text):
            a, end = m.start(), m.end()
            while True:
                a = text.rfind("\n", 0, a) + 1
                out.add(a)
                a = text.find("\n", a, end) + 1
                if not a:
                    break
        return out


def _letters(codepoints) -> tuple[int, int, int]:
    """Cased letters, lower-case letters and size of a class: the gate is the smallest."""
    categories = [unicodedata.category(chr(c)) for c in codepoints]
    return sum(c in ("Lu", "Ll") for c in categories), categories.count("Ll"), len(categories)


def _badness(BADNESS_RE) -> Badness | None:
    """BADNESS_RE rebuilt gate first (see Badness) from its parse, each branch checked to parse
    back the same; None if a branch requires no named character or cannot be rebuilt."""
    tree = _P.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    found: set[int] = set()
    if BADNESS_RE.flags & re.IGNORECASE or not _walk(tree, found):
        return None
    named = {c for c in found if c > 0x7F}  # every non-ASCII character the heuristic names
    if len(tree.data) != 1 or tree.data[0][0] is not _P.BRANCH:
        return None
    by_gate: dict[frozenset[int], list[str]] = {}  # gate -> its branches' rest, gate first
    for branch in tree.data[0][1][1]:
        required = _required(branch, named)
        if not required:
            return None
        k, gate = min(required, key=lambda r: _letters(r[1]))
        items = list(branch.data)
        try:
            if repr(_P.parse(_pattern(items)).data) != repr(branch.data):
                return None
            for before in _expand(items[:k]):  # a lookbehind has a fixed width: x? becomes two
                rest = _pattern(items[k + 1:])
                by_gate.setdefault(gate, []).append(f"(?<={_pattern(before)}.){rest}" if before else rest)
        except (ValueError, KeyError):
            return None
    # after a gate character: which gate's class holds it (a one-character look back), then its branches
    alternatives = [f"(?<={char_class(g).pattern})(?:{'|'.join(rests)})" for g, rests in by_gate.items()]
    gate_class = char_class(set().union(*by_gate)).pattern
    try:  # MULTILINE: ftfy searches each line apart, where ^ is the line start
        regex = re.compile(gate_class + "(?:" + "|".join(alternatives) + ")", re.MULTILINE)
    except re.error:  # a lookbehind of variable width
        return None
    return Badness(regex, re.compile(gate_class))


def _expand(items: list) -> list[list]:
    """The item lists an optional single item (x?) stands for, as one without it and one with."""
    for k, (op, av) in enumerate(items):
        if op is _P.MAX_REPEAT and (av[0], av[1]) == (0, 1) and len(av[2]) == 1:
            return [items[:k] + rest for rest in _expand(items[k + 1:])] + \
                   [items[:k] + [av[2][0]] + rest for rest in _expand(items[k + 1:])]
    return [items]


def _local_steps(fixers, chardata) -> list:
    """(name, fixer, the class of characters it changes or None) for each of LOCAL_STEPS: the three
    that are `text.translate(table)` are the identity on text without a key of their table."""
    tables = {"fix_latin_ligatures": chardata.LIGATURES, "fix_character_width": chardata.WIDTH_MAP,
              "remove_control_chars": chardata.CONTROL_CHARS}
    return [(name, fixers[name], char_class(tables[name]) if name in tables else None) for name in LOCAL_STEPS]


@functools.cache
def tables():
    """Regexes derived from the installed ftfy's own data, or None when they cannot be trusted."""
    import ftfy
    from ftfy import chardata, fixes
    from ftfy.badness import BADNESS_RE

    if not ftfy.__version__.startswith(FTFY_READ) or LOCAL_STEPS not in ftfy.fix_and_explain.__code__.co_consts:
        return None
    acts = set(chardata.CONTROL_CHARS) | set(chardata.LIGATURES) | set(chardata.WIDTH_MAP)
    acts |= set(map(ord, "\r\x85\u2028\u2029"))  # fix_line_breaks (literals in its body)
    for rx in (chardata.C1_CONTROL_RE, chardata.SINGLE_QUOTE_RE, chardata.DOUBLE_QUOTE_RE,
               fixes.SURROGATE_RE):
        members = _members(_P.parse(rx.pattern, rx.flags)[0][1])
        if members is None:
            return None
        acts |= members
    badness = _badness(BADNESS_RE)
    if badness is None:
        return None
    return {
        "acts_ascii": char_class(c for c in acts if c < 0x80),
        "acts": char_class(acts),
        # line breaks fix_line_breaks would add inside a line (all but the \r of \r\n): that line
        # goes to ftfy; a class first, so the regex engine skips to its characters
        "breaks": re.compile("[\r\x85\u2028\u2029](?!(?<=\r)\n)"),
        "badness": badness,
        "local_steps": _local_steps(ftfy.FIXERS, chardata),
        "entity": chardata.HTML_ENTITY_RE,
        "unescape": fixes.unescape_html,
        "fix_text": ftfy.fix_text,
        "fix_line": ftfy.fix_and_explain,
    }
