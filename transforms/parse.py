"""One Pile JSON line to its fields, or to the reason it is malformed (a Reject record).

A good line is an object with a string "text"; its source is meta.pile_set_name ("unknown" when
missing). Every other line gets a reason of its own, so the rejects file and the counts say what
was wrong: blank_line, invalid_utf8, lone_surrogate, json_too_deep, invalid_json, not_an_object,
text_missing, text_null, text_not_string, meta_not_object (and line_too_long, decided by ReadPile
before parsing).

    fields, reason = parse_line(b'{"text": "hi", "meta": {"pile_set_name": "Pile-CC"}}')
"""
import re

import orjson

from schemas.records import Reject

HEAD_BYTES = 200  # how much of a rejected line the rejects file keeps
UNKNOWN_SOURCE = "unknown"  # source of a line whose meta.pile_set_name is missing or unreadable
_BOM = b"\xef\xbb\xbf"
# orjson's message for arrays and objects nested deeper than 1024 levels (its own reader; builds
# that fall back to serde_json say "recursion limit exceeded")
_TOO_DEEP = ("depth limit exceeded", "recursion limit exceeded")
# "meta": {"pile_set_name": "NAME" as the Pile writes it: pile_set_name first, NAME without escapes
_META = re.compile(rb'"meta"\s*:\s*\{\s*"pile_set_name"\s*:\s*"([^"\\\x00-\x1f]{1,200})"')


def parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """(fields, None) for a good line, (None or partial fields, reason) for a malformed one.

    fields: {"text": str, "source": str}. Reasons (besides line_too_long, decided before parsing):
    blank_line, invalid_utf8, lone_surrogate, json_too_deep (nested deeper than 1024 levels),
    invalid_json, not_an_object, text_missing, text_null, text_not_string, meta_not_object."""
    if raw.endswith(b"\r"):  # CRLF files
        raw = raw[:-1]
    if raw.startswith(_BOM):
        raw = raw[3:]
    if not raw.strip():
        return None, "blank_line"
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "not valid UTF-8" in msg:
            return None, "invalid_utf8"
        if "surrogate" in msg:
            return None, "lone_surrogate"
        if any(m in msg for m in _TOO_DEEP):
            return {"source": _source_of_deep_line(raw)}, "json_too_deep"
        return None, "invalid_json"
    if not isinstance(obj, dict):
        return None, "not_an_object"
    meta = obj.get("meta")
    source = UNKNOWN_SOURCE
    if isinstance(meta, dict):
        name = meta.get("pile_set_name")
        if isinstance(name, str) and name:
            source = name
    fields = {"source": source}
    if meta is not None and not isinstance(meta, dict):
        return fields, "meta_not_object"
    if "text" not in obj:
        return fields, "text_missing"
    text = obj["text"]
    if text is None:
        return fields, "text_null"
    if not isinstance(text, str):
        return fields, "text_not_string"
    fields["text"] = text
    return fields, None


def parse_limited(raw: bytes, max_line_bytes: int) -> tuple[dict | None, str | None, bytes]:
    """parse_line's (fields, reason) and the line, except that a line longer than max_line_bytes is
    never parsed (a runaway line must not stall a worker): (None, "line_too_long", its head)."""
    if len(raw) > max_line_bytes:
        return None, "line_too_long", raw[:HEAD_BYTES]
    fields, reason = parse_line(raw)
    return fields, reason, raw


def _source_of_deep_line(raw: bytes) -> str:
    """meta.pile_set_name of a line orjson refused as nested too deep, or UNKNOWN_SOURCE.

    No parser here accepts the line, so a regex finds it: one linear pass, for rare lines already
    in memory. A match preceded by "{" or "," starts a real "meta" key (inside a JSON string its
    quotes would be escaped), but it may be a "meta" nested in some other value, and the line may
    be broken after the depth orjson stopped at: so the source is taken only when every match
    names the same one. A meta whose pile_set_name is not its first key is not found (its other
    values could be nested arbitrarily): such a line stays `unknown`."""
    names = set()
    for match in _META.finditer(raw):
        i = match.start() - 1
        while i >= 0 and raw[i] in b" \t\r\n":
            i -= 1
        if i >= 0 and raw[i] in b"{,":
            names.add(match.group(1))
    if len(names) != 1:
        return UNKNOWN_SOURCE
    try:
        return names.pop().decode("utf-8")
    except UnicodeDecodeError:
        return UNKNOWN_SOURCE


def _head(raw: bytes) -> str:
    """At most HEAD_BYTES bytes, cut at a character boundary, invalid bytes shown escaped."""
    cut = HEAD_BYTES
    if len(raw) > cut:
        while cut > HEAD_BYTES - 3 and (raw[cut] & 0xC0) == 0x80:  # inside a UTF-8 sequence
            cut -= 1
    return raw[:cut].decode("utf-8", "backslashreplace")


def reject_record(name: str, line: int, reason: str, raw: bytes, fields: dict | None) -> Reject:
    """The Reject of a line; its source is the one its (partial) fields name, else UNKNOWN_SOURCE."""
    return Reject(file=name, line=line, reason=reason, source=fields["source"] if fields else UNKNOWN_SOURCE,
                  head=_head(raw))
