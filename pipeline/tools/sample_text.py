"""The text of the synthetic sample: documents in the style of each of the Pile's 22 subsets.

Word lists per field, templates for code, LaTeX, Enron headers and court opinions, and a length
drawn from a fixed log-normal table: all from one random.Random, so the same seed gives the same
text on every machine (pipeline/tools/sample.py writes it out, with the planted problems).

    text = STYLES["ArXiv"](random.Random(0), 2000)   # at least 2,000 characters of ArXiv-like text
"""
import bisect
import random

# Quantiles of a log-normal length (median 1,800 characters, sigma 1) clipped to [300, 20,000],
# written out rather than computed with math.exp so that no libm difference can change a length.
_QUANTILES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
_LENGTHS = (300, 500, 776, 1069, 1398, 1800, 2319, 3032, 4177, 6484, 9318, 20000)
WORDS = tuple("""the of and to in a is that for it as was with be by on not he this are or his from at which
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
VOCAB = {k: WORDS + tuple(v.split()) * 3 for k, v in _DOMAINS.items()} | {"web": WORDS}
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
def length(r: random.Random) -> int:
    u = r.random()
    i = bisect.bisect_right(_QUANTILES, u)
    p0, p1, l0, l1 = _QUANTILES[i - 1], _QUANTILES[i], _LENGTHS[i - 1], _LENGTHS[i]
    return int(l0 + (l1 - l0) * (u - p0) / (p1 - p0))


def sentence(r, vocab, lo=6, hi=22) -> str:
    words = r.choices(vocab, k=r.randrange(lo, hi))
    if len(words) > 8 and r.random() < 0.4:
        words[r.randrange(3, len(words) - 3)] += ","
    return words[0].capitalize() + " " + " ".join(words[1:]) + r.choice("....?")


def _paragraph(r, vocab) -> str:
    return " ".join(sentence(r, vocab) for _ in range(r.randrange(3, 8)))


def _title(r, vocab, lo=3, hi=9) -> str:
    return " ".join(w.capitalize() for w in r.choices(vocab, k=r.randrange(lo, hi)))


def _fill(target, head, block, sep="\n\n") -> str:
    """head, then blocks joined by sep until the text has at least target characters."""
    text = head + block()
    while len(text) < target:
        text += sep + block()
    return text


def _prose(vocab, head):
    return lambda r, target: _fill(target, head(r), lambda: _paragraph(r, VOCAB[vocab]))


def _lines(line):
    return lambda r, target: _fill(target, "", lambda: line(r), "\n")


def code(r, target) -> str:
    python = r.random() < 0.6
    def block():
        a, b, v, n = r.sample(_IDENT, 4)
        return r.choice(_PY if python else _C).format(f=r.choice(_VERBS), n=n, a=a, b=b, v=v,
                                                      k=r.randrange(2, 64), C=n.capitalize() + "Handler",
                                                      s=sentence(r, VOCAB["tech"], 4, 12))
    head = "import os\nimport sys\n\n\n" if python else "#include <stdio.h>\n#include <stdlib.h>\n\n"
    return _fill(target, head, block)


def _arxiv(r, target) -> str:
    def block():
        x, g, i = r.random(), r.choice(("alpha", "beta", "gamma", "sigma")), r.choice("ijkn")
        if x < 0.15:
            return f"\\section{{{_title(r, VOCAB['sci'], 1, 4)}}}"
        if x < 0.35:
            return (f"\\begin{{equation}}\n  f(x) = \\sum_{{{i}=1}}^{{N}} \\{g}_{i} x_{i}^{{{r.randrange(2, 5)}}}"
                    f"\n  \\label{{eq:{r.randrange(1, 30)}}}\n\\end{{equation}}")
        return _paragraph(r, VOCAB["sci"]) + f" For ${i} \\leq {r.randrange(2, 9)}$ see \\cite{{ref{r.randrange(50)}}}."
    return _fill(target, "\\section{Introduction}\n\n", block)


def _pmc(r, target) -> str:
    def block():
        if r.random() < 0.2:
            h = r.choice(("Methods", "Results", "Discussion", "Statistical analysis", "Conclusions"))
            return f"{h}\n{'=' * len(h)}"
        return _paragraph(r, VOCAB["med"]) + f" \\[[@B{r.randrange(1, 60)}]\\]"
    return _fill(target, "Introduction {#sec1}\n====================\n\n", block)


def _irc(r, target) -> str:
    nicks, clock = [r.choice(WORDS) + str(r.randrange(100)) for _ in range(4)], [r.randrange(1440)]
    def line():
        clock[0] = (clock[0] + r.randrange(3)) % 1440
        said = " ".join(r.choices(VOCAB["tech"], k=r.randrange(2, 12)))
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
            f"Subject: {_title(r, WORDS)}\nMime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
    return _fill(target, head, lambda: _paragraph(r, WORDS))


def _law(r, target) -> str:
    p, d = r.sample(_NAMES, 2)
    head = (f"{r.randrange(100, 999)} F.3d {r.randrange(1, 1500)}\n\nUNITED STATES COURT OF APPEALS,\n"
            f"{r.choice(('FIRST', 'FIFTH', 'NINTH'))} CIRCUIT.\n\n{p.upper()}, Plaintiff-Appellant,\nv.\n"
            f"{d.upper()}, Defendant-Appellee.\n\nNo. {r.randrange(90, 100)}-{r.randrange(1000, 9999)}.\n\nOPINION\n\n")
    def block():
        cite = f" See {r.choice(_NAMES)} v. {r.choice(_NAMES)}, {r.randrange(100, 600)} U.S. {r.randrange(900)}."
        return _paragraph(r, VOCAB["law"]) + (cite if r.random() < 0.5 else "")
    return _fill(target, head, block)


STYLES = {
    "Pile-CC": _prose("web", lambda r: _title(r, WORDS) + "\n\n"),
    "PubMed Central": _pmc,
    "Books3": _prose("web", lambda r: f"CHAPTER {r.randrange(1, 40)}\n\n"),
    "OpenWebText2": _prose("web", lambda r: _title(r, WORDS) + "\n\n"),
    "ArXiv": _arxiv,
    "Github": code,
    "FreeLaw": _law,
    "StackExchange": lambda r, t: _fill(t, f"Q:\n\n{_title(r, VOCAB['tech'])}?\n\n{_paragraph(r, VOCAB['tech'])}\n\n",
                                        lambda: "A:\n\n" + _paragraph(r, VOCAB["tech"])),
    "USPTO Backgrounds": _prose("sci", lambda r: "BACKGROUND OF THE INVENTION\n\n1. Field of the Invention\n\n"
                                "The present invention relates to " + sentence(r, VOCAB["sci"])[:-1].lower()
                                + ".\n\n2. Description of the Related Art\n\n"),
    "PubMed Abstracts": _prose("med", lambda r: _title(r, VOCAB["med"]) + ".\n\n"),
    "Gutenberg (PG-19)": _prose("web", lambda r: f"CHAPTER {r.choice(('I', 'II', 'III', 'IV', 'IX'))}.\n\n"),
    "OpenSubtitles": _lines(lambda r: ("- " if r.random() < 0.3 else "") + sentence(r, WORDS, 2, 9)),
    "Wikipedia (en)": _prose("web", lambda r: _title(r, WORDS, 1, 3) + "\n\n"),
    "DM Mathematics": _lines(_math),
    "Ubuntu IRC": _irc,
    "BookCorpus2": _prose("web", lambda r: f"Chapter {r.randrange(1, 30)}\n\n"),
    "EuroParl": _prose("eu", lambda r: r.choice(("Mr President, ", "Madam President, ", "Commissioner, "))),
    "HackerNews": lambda r, t: _fill(t, _title(r, VOCAB["tech"]) + "\n\n", lambda: f"~{r.choice(WORDS)}"
                                     f"{r.randrange(1, 999)}\n" + _paragraph(r, VOCAB["tech"])),
    "YoutubeSubtitles": _lines(lambda r: " ".join(r.choices(WORDS, k=r.randrange(3, 10)))),
    "PhilPapers": _prose("phil", lambda r: "Abstract\n\n"),
    "NIH ExPorter": _prose("med", lambda r: _title(r, VOCAB["med"]) + "\n\n"),
    "Enron Emails": _email,
}
