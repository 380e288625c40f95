"""Strings from the input, made safe to show on a terminal.

A document's source (`meta.pile_set_name`), an input file's name or a document id is whatever the
input says. An escape sequence in one would recolour or clear the user's terminal, a newline would
forge a line of the summary, a bidi override would reorder what follows it, a lone surrogate (a
file name that is not UTF-8) would make print() raise, and a 5,000-character name would push every
column off the screen. So what reaches the terminal goes through `printable`; what reaches the
manifest, the rejects and the document files stays exactly as read.

    printable("Pile-CC\x1b[2J")          # 'Pile-CC\\x1b[2J'
    printable("a/" * 200, PATH_CHARS)    # cut to 240 characters, ending in "..."
"""

NAME_CHARS = 40  # a column of the summary: the Pile's longest source name has 17 characters
PATH_CHARS = 240  # a file path or document id quoted in a message: long gs:// paths still fit whole
ELLIPSIS = "..."  # ASCII: a terminal that is not UTF-8 shows it too
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}  # as Python writes them: the ones a reader knows


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text, limit: int | None = NAME_CHARS, keep: str = "") -> str:
    """`text` with every character str.isprintable() refuses (C0 and C1 controls, DEL, bidi and
    other format characters, separators other than the space, lone surrogates, unassigned code
    points) written as a visible escape such as \\x1b or \\n, except those in `keep`; then, if
    longer than `limit` characters, cut (never inside an escape) and ended with "..."."""
    text = str(text)
    head = text if limit is None else text[:limit + 1]  # each character shows as one or more
    if head.isprintable() and (limit is None or len(head) <= limit):
        return head
    pieces = [ch if ch.isprintable() or ch in keep else _escape(ch) for ch in head]
    if limit is None or (len(text) <= limit and sum(map(len, pieces)) <= limit):
        return "".join(pieces)
    out, size = [], 0
    for piece in pieces:
        if size + len(piece) > limit - len(ELLIPSIS):
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + ELLIPSIS
