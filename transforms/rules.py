"""The Pile's filter rules, applied from a declarative rule set (schemas/rules/); Beam-free
(transforms/filter.py is their PTransform; the fused local stage's worker processes apply them directly).

A rule set is data: each rule has a name, a kind, the pile_set_names it applies to, parameters and
its provenance. Rules run in file order; line edits come first in the presets so that a document
emptied by them is then dropped as empty. A dropped document carries the name of the rule that
dropped it; a kept one carries how many lines each edit removed. Both carry `chars_before_filter`,
the length of the text the rules were given (normalized, not yet edited); downstream, `chars` is
the length after the edits and `chars_in` the length as read, before normalization.

    keep, reason, text, edits = apply_rules("Pile-CC", text, load_rules("eleuther"))
"""
import dataclasses
import functools
import json
import os
import re
import string

from schemas import RULES_DIR, SCHEMAS_DIR
from schemas.records import Drop
from transforms.errors import PileprepError

PRESETS = ("eleuther", "slimpajama", "none")
_PUNCT_WS = re.compile("[" + re.escape(string.punctuation) + r"\s]+")


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    applies_to: tuple[str, ...] | None  # None: every source
    params: tuple[tuple[str, object], ...]
    provenance: str

    def param(self, key):
        return dict(self.params)[key]

    def applies(self, source: str) -> bool:
        return self.applies_to is None or source in self.applies_to


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    rules: str = "eleuther"  # a preset (eleuther, slimpajama, none) or a path to a rules JSON file

    def __post_init__(self):
        load_rules(self.rules)  # fail at option time, not on a worker


_REQUIRED = {"remove_lines_equal": "line", "remove_lines_starting_with": "prefix",
             "drop_if_chars_at_least": "chars", "drop_if_chars_below": "chars",
             "drop_if_simplified_chars_below": "chars", "drop_if_blank": None}


@functools.lru_cache(maxsize=1)
def _rules_validator():
    """The rules schema's validator, built once (a run checks its rules several times)."""
    import jsonschema

    with open(os.path.join(SCHEMAS_DIR, "rules.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _read_rule_file(spec: str, seen: tuple = ()) -> list[Rule]:
    path = os.path.join(RULES_DIR, f"{spec}.json") if spec in PRESETS else spec
    if path in seen:
        raise PileprepError(f"rules file {path} extends itself (through {' -> '.join(seen)})")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise PileprepError(f"rules {spec!r} is neither a preset ({', '.join(PRESETS)}) nor an "
                            f"existing file") from None
    except (OSError, ValueError) as e:
        raise PileprepError(f"rules file {path} cannot be read as JSON ({e}): fix its syntax") from None
    import jsonschema

    e = jsonschema.exceptions.best_match(_rules_validator().iter_errors(data))  # as jsonschema.validate
    if e is not None:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise PileprepError(f"rules file {path} is invalid at {where}: {e.message}. "
                            f"See schemas/rules.schema.json and the presets beside it") from None
    rules = _read_rule_file(data["extends"], seen + (path,)) if "extends" in data else []
    for r in data["rules"]:
        key = _REQUIRED[r["kind"]]
        if key is not None and key not in r["params"]:
            raise PileprepError(f"rules file {path}: rule {r['name']!r} of kind {r['kind']} needs "
                                f"params.{key}")
        value = r["params"].get(key)
        if key == "chars" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise PileprepError(f"rules file {path}: rule {r['name']!r}: params.chars must be a whole "
                                f"number >= 0, got {value!r}")
        if key in ("line", "prefix") and (not isinstance(value, str) or (key == "prefix" and not value)):
            raise PileprepError(f"rules file {path}: rule {r['name']!r}: params.{key} must be a "
                                f"{'non-empty ' if key == 'prefix' else ''}string, got {value!r}")
        applies = None if r["applies_to"] == "*" else tuple(r["applies_to"])
        rules.append(Rule(r["name"], r["kind"], applies, tuple(sorted(r["params"].items())),
                          r["provenance"]))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise PileprepError(f"rules file {path}: rule names must be unique, got {names}")
    return rules


def load_rules(spec: str) -> tuple[Rule, ...]:
    return tuple(_read_rule_file(spec))


def simplified_length(text: str) -> int:
    """SlimPajama's measure: characters left after lower-casing and removing punctuation and
    whitespace."""
    return len(_PUNCT_WS.sub("", text.lower()))


def _drops(rule: Rule, text: str) -> bool:
    kind = rule.kind
    if kind == "drop_if_blank":
        return not text.strip()
    if kind == "drop_if_chars_at_least":
        return len(text) >= rule.param("chars")
    if kind == "drop_if_chars_below":
        return len(text) < rule.param("chars")
    if kind == "drop_if_simplified_chars_below":
        return simplified_length(text) < rule.param("chars")
    raise AssertionError(kind)


def _edit(rule: Rule, text: str) -> tuple[str, int]:
    """Remove matching lines; returns the new text and how many lines went."""
    if rule.kind == "remove_lines_equal":
        target = rule.param("line")
        if target not in text:  # fast path: most documents have no such line
            return text, 0
        match = lambda line: line == target  # noqa: E731
    else:
        prefix = rule.param("prefix")
        if prefix not in text:
            return text, 0
        match = lambda line: line.startswith(prefix)  # noqa: E731
    lines = text.split("\n")
    kept = [line for line in lines if not match(line)]
    return "\n".join(kept), len(lines) - len(kept)


def apply_rules(source: str, text: str, rules) -> tuple[bool, str | None, str, dict[str, int]]:
    """(keep, reason, edited text, {edit rule: lines removed}) for one document."""
    edits: dict[str, int] = {}
    for rule in rules:
        if not rule.applies(source):
            continue
        if rule.kind.startswith("remove_lines"):
            text, removed = _edit(rule, text)
            if removed:
                edits[rule.name] = removed
        elif _drops(rule, text):
            return False, rule.name, text, edits
    return True, None, text, edits


def filter_document(doc: dict, rules) -> tuple[dict | None, Drop | None]:
    """(the document after the rules' line edits, with "edits" and "chars_before_filter", None), or
    (None, the Drop record naming the rule that dropped it)."""
    kept, reason, text, edits = apply_rules(doc["source"], doc["text"], rules)
    if not kept:
        return None, Drop(id=doc["id"], source=doc["source"], rule=reason,
                          chars_before_filter=len(doc["text"]), changed=doc.get("changed", False))
    return {**doc, "text": text, "edits": edits, "chars_before_filter": len(doc["text"])}, None


def keep(doc: dict, rules) -> tuple[bool, str | None]:
    """Whether a document survives the rules, and the rule that dropped it if not."""
    kept, reason, _, _ = apply_rules(doc["source"], doc["text"], rules)
    return kept, reason
