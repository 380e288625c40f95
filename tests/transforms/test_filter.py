"""Tests for transforms.filter: the rule presets, user rule files, apply_rules/keep and FilterDocuments."""
import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, strategies as st

from transforms.errors import PileprepError
from transforms.filter import FilterDocuments
from transforms.rules import PRESETS, FilterConfig, Rule, apply_rules, keep, load_rules, simplified_length

ELEUTHER = load_rules("eleuther")
SLIMPAJAMA = load_rules("slimpajama")
ELEUTHER_NAMES = ["owt2_advertisement_lines", "latex_colon_lines", "github_oversized", "empty_document"]


# --- presets ---------------------------------------------------------------------------------

def test_presets_load_in_order():
    assert PRESETS == ("eleuther", "slimpajama", "none")
    assert [r.name for r in ELEUTHER] == ELEUTHER_NAMES
    assert [r.name for r in SLIMPAJAMA] == ELEUTHER_NAMES + ["short_document"]
    assert load_rules("none") == ()
    assert SLIMPAJAMA[:4] == ELEUTHER


def test_eleuther_rules_exactly():
    assert [(r.name, r.kind, r.applies_to, r.params) for r in ELEUTHER] == [
        ("owt2_advertisement_lines", "remove_lines_equal", ("OpenWebText2",), (("line", "Advertisement"),)),
        ("latex_colon_lines", "remove_lines_starting_with", ("ArXiv", "PubMed Central"), (("prefix", ":::"),)),
        ("github_oversized", "drop_if_chars_at_least", ("Github",), (("chars", 100000),)),
        ("empty_document", "drop_if_blank", None, ()),
    ]
    assert all(r.provenance for r in SLIMPAJAMA)
    short = SLIMPAJAMA[4]
    assert (short.kind, short.applies_to, short.param("chars")) == ("drop_if_simplified_chars_below", None, 200)


def test_rule_applies():
    owt2, _, _, empty = ELEUTHER
    assert owt2.applies("OpenWebText2") and not owt2.applies("Pile-CC") and not owt2.applies("openwebtext2")
    assert empty.applies("anything") and empty.applies("unknown")


def test_filter_config():
    assert FilterConfig().rules == "eleuther"
    for preset in PRESETS:
        assert FilterConfig(preset).rules == preset
    with pytest.raises(PileprepError) as info:
        FilterConfig("nope")
    assert info.value.message == "rules 'nope' is neither a preset (eleuther, slimpajama, none) nor an existing file"


# --- apply_rules -----------------------------------------------------------------------------

OWT2_DOC = "Title\nAdvertisement\nBody text.\nAdvertisement.\n Advertisement\nAdvertisement \nAdvertisement"


def test_owt2_advertisement_lines_removed():
    assert apply_rules("OpenWebText2", OWT2_DOC, ELEUTHER) == (
        True, None, "Title\nBody text.\nAdvertisement.\n Advertisement\nAdvertisement ",
        {"owt2_advertisement_lines": 2})


@pytest.mark.parametrize("source", ["Pile-CC", "ArXiv", "Github", "unknown"])
def test_owt2_rule_only_for_openwebtext2(source):
    assert apply_rules(source, OWT2_DOC, ELEUTHER) == (True, None, OWT2_DOC, {})


LATEX_DOC = "Intro\n::: {.theorem}\nA theorem.\n:::\n :::indented\nEnd\n::::"


@pytest.mark.parametrize("source", ["ArXiv", "PubMed Central"])
def test_latex_colon_lines_removed(source):
    assert apply_rules(source, LATEX_DOC, ELEUTHER) == (
        True, None, "Intro\nA theorem.\n :::indented\nEnd", {"latex_colon_lines": 3})


@pytest.mark.parametrize("source", ["Pile-CC", "OpenWebText2", "PubMed Abstracts"])
def test_latex_colon_lines_kept_elsewhere(source):
    assert apply_rules(source, LATEX_DOC, ELEUTHER) == (True, None, LATEX_DOC, {})


def test_github_oversized():
    assert apply_rules("Github", "x" * 100000, ELEUTHER) == (False, "github_oversized", "x" * 100000, {})
    assert apply_rules("Github", "x" * 99999, ELEUTHER) == (True, None, "x" * 99999, {})
    assert apply_rules("Pile-CC", "x" * 100000, ELEUTHER) == (True, None, "x" * 100000, {})
    assert apply_rules("Github", "\u00e9" * 100000, ELEUTHER)[:2] == (False, "github_oversized")  # chars, not bytes
    assert apply_rules("Github", "\u00e9" * 99999, ELEUTHER)[:2] == (True, None)


@pytest.mark.parametrize("text", ["", "  \n\t", "\n", "\u3000\u00a0"])
@pytest.mark.parametrize("source", ["Pile-CC", "Github", "unknown"])
def test_empty_document(source, text):
    assert apply_rules(source, text, ELEUTHER) == (False, "empty_document", text, {})


def test_emptied_by_line_edits_is_dropped_as_empty():
    assert apply_rules("OpenWebText2", "Advertisement\nAdvertisement", ELEUTHER) == (
        False, "empty_document", "", {"owt2_advertisement_lines": 2})
    assert apply_rules("ArXiv", ":::\n \n:::x", ELEUTHER) == (
        False, "empty_document", " ", {"latex_colon_lines": 2})
    assert apply_rules("OpenWebText2", "Advertisement\nok", ELEUTHER) == (
        True, None, "ok", {"owt2_advertisement_lines": 1})


def test_none_preset_keeps_everything():
    for source, text in [("Github", "x" * 100000), ("Pile-CC", ""), ("OpenWebText2", OWT2_DOC)]:
        assert apply_rules(source, text, load_rules("none")) == (True, None, text, {})


def test_simplified_length():
    assert simplified_length("") == 0
    assert simplified_length("Hello, World! 123") == 13
    assert simplified_length(" \t\n.,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") == 0
    assert simplified_length("A\u2014B \u00c9t\u00e9") == 6  # only ASCII punctuation goes; the dash stays


def mixed(letters: int) -> str:
    """`letters` letters with punctuation, spaces, tabs and newlines between them."""
    fillers = [", ", ".", " ", "!\n", "\t", "--", "'"]
    return "".join("Ab"[i % 2] + fillers[i % len(fillers)] for i in range(letters))


def test_slimpajama_short_document():
    assert simplified_length(mixed(199)) == 199 and simplified_length(mixed(200)) == 200
    assert apply_rules("Pile-CC", mixed(199), SLIMPAJAMA) == (False, "short_document", mixed(199), {})
    assert apply_rules("Pile-CC", mixed(200), SLIMPAJAMA) == (True, None, mixed(200), {})
    assert apply_rules("Pile-CC", mixed(199), ELEUTHER) == (True, None, mixed(199), {})
    # earlier rules win: the name of the first rule that drops is the reason
    assert apply_rules("Pile-CC", " \n", SLIMPAJAMA)[:2] == (False, "empty_document")
    assert apply_rules("Github", "x" * 100000, SLIMPAJAMA)[:2] == (False, "github_oversized")


def test_slimpajama_counts_after_line_edits():
    text = "Advertisement\n" * 50 + "x" * 199
    assert apply_rules("OpenWebText2", text, SLIMPAJAMA) == (
        False, "short_document", "x" * 199, {"owt2_advertisement_lines": 50})
    assert apply_rules("Pile-CC", text, SLIMPAJAMA) == (True, None, text, {})


@given(st.text(), st.sampled_from(["OpenWebText2", "ArXiv", "PubMed Central", "Github", "Pile-CC"]))
def test_kept_documents_are_never_blank(text, source):
    kept, reason, edited, edits = apply_rules(source, text, ELEUTHER)
    assert kept == (reason is None)
    if kept:
        assert edited.strip()
    else:
        assert reason in ELEUTHER_NAMES
    assert len(edited.split("\n")) + sum(edits.values()) == len(text.split("\n"))


def test_keep():
    assert keep({"id": "a:1", "source": "Github", "text": "x" * 100000}, ELEUTHER) == (False, "github_oversized")
    assert keep({"source": "Pile-CC", "text": "hi"}, ELEUTHER) == (True, None)
    assert keep({"source": "Pile-CC", "text": "hi"}, SLIMPAJAMA) == (False, "short_document")
    assert keep({"source": "OpenWebText2", "text": "Advertisement"}, ELEUTHER) == (False, "empty_document")
    assert keep({"source": "Pile-CC", "text": ""}, load_rules("none")) == (True, None)


# --- user rule files -------------------------------------------------------------------------

def rule(name, kind, params, applies_to="*"):
    return {"name": name, "kind": kind, "applies_to": applies_to, "params": params, "provenance": "a test"}


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_user_rules_file(tmp_path):
    path = write(tmp_path, "mine.json", {"name": "mine", "description": "eleuther and two more", "extends": "eleuther",
                                          "rules": [rule("too_short", "drop_if_chars_below", {"chars": 5}, ["Pile-CC"]),
                                                    rule("nav", "remove_lines_starting_with", {"prefix": "Home |"})]})
    rules = load_rules(path)
    assert rules[:4] == ELEUTHER
    assert rules[4:] == (Rule("too_short", "drop_if_chars_below", ("Pile-CC",), (("chars", 5),), "a test"),
                         Rule("nav", "remove_lines_starting_with", None, (("prefix", "Home |"),), "a test"))
    assert FilterConfig(path).rules == path
    assert apply_rules("Pile-CC", "abcd", rules) == (False, "too_short", "abcd", {})
    assert apply_rules("Github", "abcd", rules) == (True, None, "abcd", {})
    assert apply_rules("Pile-CC", "Home | News\nabc", rules) == (True, None, "abc", {"nav": 1})
    assert apply_rules("Github", "Home | News", rules) == (True, None, "", {"nav": 1})  # edits after the blank check


def test_user_rules_file_extending_a_user_file(tmp_path):
    base = write(tmp_path, "base.json", {"name": "base", "rules": [rule("tiny", "drop_if_chars_below", {"chars": 2})]})
    top = write(tmp_path, "top.json", {"name": "top", "extends": base,
                                        "rules": [rule("drop_ads", "remove_lines_equal", {"line": "Ad"})]})
    assert [r.name for r in load_rules(top)] == ["tiny", "drop_ads"]
    assert apply_rules("x", "Ad\nAd", load_rules(top)) == (True, None, "", {"drop_ads": 2})


@pytest.mark.parametrize("name, content, message", [
    ("syntax.json", '{"name": "x", "rules": [}',
     "rules file {path} cannot be read as JSON (Expecting value: line 1 column 25 (char 24)): fix its syntax"),
    ("kind.json", {"name": "x", "rules": [rule("r", "drop_if_weird", {})]},
     "rules file {path} is invalid at rules/0/kind: 'drop_if_weird' is not one of ['remove_lines_equal', "
     "'remove_lines_starting_with', 'drop_if_chars_at_least', 'drop_if_chars_below', 'drop_if_blank', "
     "'drop_if_simplified_chars_below']. See schemas/rules.schema.json and the presets beside it"),
    ("param.json", {"name": "x", "rules": [rule("r", "remove_lines_equal", {"prefix": "Ad"})]},
     "rules file {path}: rule 'r' of kind remove_lines_equal needs params.line"),
    ("chars.json", {"name": "x", "rules": [rule("r", "drop_if_simplified_chars_below", {})]},
     "rules file {path}: rule 'r' of kind drop_if_simplified_chars_below needs params.chars"),
    ("params.json", {"name": "x", "rules": [{k: v for k, v in rule("r", "drop_if_blank", {}).items() if k != "params"}]},
     "rules file {path} is invalid at rules/0: 'params' is a required property. "
     "See schemas/rules.schema.json and the presets beside it"),
    ("norules.json", {"name": "x"},
     "rules file {path} is invalid at (top level): 'rules' is a required property. "
     "See schemas/rules.schema.json and the presets beside it"),
    ("dup.json", {"name": "x", "rules": [rule("a", "drop_if_blank", {}), rule("a", "drop_if_blank", {})]},
     "rules file {path}: rule names must be unique, got ['a', 'a']"),
    ("dupext.json", {"name": "x", "extends": "eleuther", "rules": [rule("empty_document", "drop_if_blank", {})]},
     "rules file {path}: rule names must be unique, got ['owt2_advertisement_lines', 'latex_colon_lines', "
     "'github_oversized', 'empty_document', 'empty_document']"),
])
def test_invalid_user_rules_file(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(PileprepError) as info:
        load_rules(path)
    assert info.value.message == message.format(path=path)
    with pytest.raises(PileprepError):
        FilterConfig(path)


def test_rules_file_extending_itself(tmp_path):
    path = str(tmp_path / "self.json")
    write(tmp_path, "self.json", {"name": "self", "extends": path, "rules": []})
    with pytest.raises(PileprepError) as info:
        load_rules(path)
    assert info.value.message == f"rules file {path} extends itself (through {path})"


def test_rules_files_extending_each_other(tmp_path):
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    write(tmp_path, "a.json", {"name": "a", "extends": b, "rules": []})
    write(tmp_path, "b.json", {"name": "b", "extends": a, "rules": []})
    with pytest.raises(PileprepError) as info:
        FilterConfig(a)
    assert info.value.message == f"rules file {a} extends itself (through {a} -> {b})"


def test_rules_file_extending_a_missing_file(tmp_path):
    path = write(tmp_path, "x.json", {"name": "x", "extends": str(tmp_path / "gone.json"), "rules": []})
    with pytest.raises(PileprepError, match="gone.json.* is neither a preset"):
        load_rules(path)


@pytest.mark.parametrize("kind, params", [
    ("drop_if_chars_below", {"chars": "200"}),
    ("remove_lines_equal", {"line": 5}),
])
def test_rule_params_of_the_wrong_type_fail_at_load(tmp_path, kind, params):
    # FilterConfig validates "at option time, not on a worker": a wrong type must not pass and then
    # raise a TypeError inside a DoFn on the first document
    path = write(tmp_path, "typed.json", {"name": "x", "rules": [rule("r", kind, params)]})
    try:
        rules = load_rules(path)
    except PileprepError:
        rules = None
    if rules is not None:  # what happens today: the first document fails far from the rules file
        with pytest.raises(TypeError):
            apply_rules("Pile-CC", "text", rules)
    with pytest.raises(PileprepError, match=r"rules file .*typed\.json"):
        load_rules(path)


# --- FilterDocuments -------------------------------------------------------------------------

def test_filter_documents(pipeline):
    docs = [
        {"id": "a:1", "source": "OpenWebText2", "text": "News\nAdvertisement\nMore", "changed": True},
        {"id": "a:2", "source": "Github", "text": "x" * 100000, "changed": False},
        {"id": "a:3", "source": "Github", "text": "y" * 99999, "changed": False},
        {"id": "a:4", "source": "Pile-CC", "text": " \n\t", "changed": True},
        {"id": "a:5", "source": "ArXiv", "text": ":::\n:::", "changed": False},
        {"id": "a:6", "source": "Pile-CC", "text": "Advertisement\nhello", "changed": False},
        {"id": "a:7", "source": "PubMed Central", "text": "::: x\nbody", "changed": False},
    ]
    kept, dropped = pipeline | beam.Create(docs) | FilterDocuments(FilterConfig("eleuther"))
    assert_that(kept, equal_to([
        {"id": "a:1", "source": "OpenWebText2", "text": "News\nMore", "changed": True,
         "edits": {"owt2_advertisement_lines": 1}, "chars_before_filter": 23},  # 9 after the edit
        {"id": "a:3", "source": "Github", "text": "y" * 99999, "changed": False, "edits": {},
         "chars_before_filter": 99999},
        {"id": "a:6", "source": "Pile-CC", "text": "Advertisement\nhello", "changed": False, "edits": {},
         "chars_before_filter": 19},
        {"id": "a:7", "source": "PubMed Central", "text": "body", "changed": False,
         "edits": {"latex_colon_lines": 1}, "chars_before_filter": 10},
    ]), label="Kept")
    assert_that(dropped, equal_to([
        {"id": "a:2", "source": "Github", "rule": "github_oversized", "chars_before_filter": 100000,
         "changed": False},
        {"id": "a:4", "source": "Pile-CC", "rule": "empty_document", "chars_before_filter": 3, "changed": True},
        {"id": "a:5", "source": "ArXiv", "rule": "empty_document", "chars_before_filter": 7,
         "changed": False},  # emptied by latex_colon_lines: its length before that edit
    ]), label="Dropped")
    pipeline.run().wait_until_finish()


def test_filter_documents_slimpajama_without_changed_flag(pipeline):
    docs = [{"id": "b:1", "source": "Pile-CC", "text": mixed(199)},
            {"id": "b:2", "source": "Pile-CC", "text": mixed(200)}]
    kept, dropped = pipeline | beam.Create(docs) | FilterDocuments(FilterConfig("slimpajama"))
    assert_that(kept | beam.Map(lambda d: (d["id"], d["edits"])), equal_to([("b:2", {})]), label="Kept")
    assert_that(dropped, equal_to([{"id": "b:1", "source": "Pile-CC", "rule": "short_document",
                                    "chars_before_filter": len(mixed(199)), "changed": False}]),
                label="Dropped")
    pipeline.run().wait_until_finish()
