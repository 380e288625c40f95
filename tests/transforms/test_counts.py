"""Tests for transforms.counts: events per record, summarize, count_problems and CountOutcomes."""
import copy

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, strategies as st

from schemas.records import TERMINAL
from schemas.run import count_problems
from transforms.counts import (CountOutcomes, dropped_events, packed_events,
                               reject_events, summarize)

REJECTS = [{"file": "00.jsonl", "line": 2, "reason": "invalid_json", "source": "unknown", "head": "{"},
           {"file": "00.jsonl", "line": 5, "reason": "text_null", "source": "Github", "head": "{}"},
           {"file": "01.jsonl", "line": 1, "reason": "invalid_json", "source": "unknown", "head": "x"}]
DROPPED = [{"id": "00.jsonl:3", "source": "Github", "rule": "github_oversized", "chars_before_filter": 100000,
            "changed": True},
           {"id": "00.jsonl:4", "source": "Pile-CC", "rule": "empty_document", "chars_before_filter": 3,
            "changed": False}]
PACKED = [{"id": "00.jsonl:1", "source": "Pile-CC", "tokens": 6, "outcome": "packed", "changed": True, "edits": {}},
          {"id": "00.jsonl:6", "source": "OpenWebText2", "tokens": 4, "outcome": "packed", "changed": False,
           "edits": {"owt2_advertisement_lines": 2}},
          {"id": "01.jsonl:2", "source": "OpenWebText2", "tokens": 5, "outcome": "over_budget", "changed": False,
           "edits": {"owt2_advertisement_lines": 1}},
          {"id": "01.jsonl:3", "source": "Pile-CC", "tokens": 3, "outcome": "packed", "changed": False, "edits": {}}]

ZERO = {k: 0 for k in ("read",) + TERMINAL + ("tokens",)}
EXPECTED = {
    "documents": {"read": 9, "malformed": 3, "filtered": 2, "deduplicated": 0, "over_budget": 1, "packed": 3},
    "tokens_packed": 13,  # over-budget tokens are not packed
    "malformed_by_reason": {"invalid_json": 2, "text_null": 1},
    "filtered_by_rule": {"empty_document": 1, "github_oversized": 1},
    "deduplicated_by_kind": {},
    "normalized_changed": 2,
    "edited_by_rule": {"owt2_advertisement_lines": {"documents": 2, "lines": 3}},
    "by_source": {
        "Github": {**ZERO, "read": 2, "malformed": 1, "filtered": 1, "normalized": 1},
        "OpenWebText2": {**ZERO, "read": 2, "packed": 1, "over_budget": 1, "tokens": 4},
        "Pile-CC": {**ZERO, "read": 3, "filtered": 1, "packed": 2, "tokens": 9, "normalized": 1},
        "unknown": {**ZERO, "read": 2, "malformed": 2},
    },
    "length_histograms": {"before_filter": [{"min_chars": 2, "max_chars": 3, "documents": 1},
                                            {"min_chars": 65536, "max_chars": 131071, "documents": 1}]},
}


def all_events():
    return ([e for r in REJECTS for e in reject_events(r)] + [e for d in DROPPED for e in dropped_events(d)]
            + [e for d in PACKED for e in packed_events(d)])


def test_events_per_record():
    assert reject_events(REJECTS[1]) == [(("malformed", "Github", "text_null"), (1, 0))]
    assert dropped_events(DROPPED[0]) == [(("filtered", "Github", "github_oversized"), (1, 100000)),
                                          (("length", "before_filter", "17"), (1, 0)),
                                          (("normalized", "Github", "changed"), (1, 0))]
    assert dropped_events({"id": "x", "source": "ArXiv", "rule": "r", "chars_before_filter": 4}) == [
        (("filtered", "ArXiv", "r"), (1, 4)), (("length", "before_filter", "03"), (1, 0))]
    assert packed_events({"source": "s", "tokens": 2, "outcome": "packed", "chars": 0, "chars_before_filter": 0}) == [
        (("packed", "s", ""), (1, 2)), (("length", "before_filter", "00"), (1, 0)),
        (("length", "after_filter", "00"), (1, 0))]
    assert packed_events(PACKED[0]) == [(("packed", "Pile-CC", ""), (1, 6)),
                                        (("normalized", "Pile-CC", "changed"), (1, 0))]
    assert packed_events(PACKED[2]) == [(("over_budget", "OpenWebText2", ""), (1, 5)),
                                        (("edited", "OpenWebText2", "owt2_advertisement_lines"), (1, 1))]
    assert packed_events({"source": "s", "tokens": 2, "outcome": "packed", "edits": {"b": 1, "a": 2}}) == [
        (("packed", "s", ""), (1, 2)), (("edited", "s", "a"), (1, 2)), (("edited", "s", "b"), (1, 1))]


def test_lengths_before_and_after_the_filter_are_binned_apart():
    # 180 characters of which line edits removed 140: before the filter in [128, 255], after in [32, 63]
    edited = {"source": "OpenWebText2", "tokens": 9, "outcome": "packed", "chars": 40, "chars_before_filter": 180,
              "edits": {"owt2_advertisement_lines": 10}}
    assert packed_events(edited) == [(("packed", "OpenWebText2", ""), (1, 9)),
                                     (("length", "before_filter", "08"), (1, 0)),
                                     (("length", "after_filter", "06"), (1, 0)),
                                     (("edited", "OpenWebText2", "owt2_advertisement_lines"), (1, 10))]
    dropped = {"id": "x", "source": "OpenWebText2", "rule": "empty_document", "chars_before_filter": 27}
    histograms = summarize(packed_events(edited) + dropped_events(dropped))["length_histograms"]
    assert histograms == {"before_filter": [{"min_chars": 16, "max_chars": 31, "documents": 1},
                                            {"min_chars": 128, "max_chars": 255, "documents": 1}],
                          "after_filter": [{"min_chars": 32, "max_chars": 63, "documents": 1}]}


def combine(events):
    totals = {}
    for key, (docs, amount) in events:
        d, a = totals.get(key, (0, 0))
        totals[key] = (d + docs, a + amount)
    return list(totals.items())


def test_summarize_exact():
    assert summarize(combine(all_events())) == EXPECTED
    assert summarize(all_events()) == EXPECTED  # uncombined events add up the same
    assert summarize(list(reversed(all_events()))) == EXPECTED
    assert count_problems(EXPECTED) == []


def test_summarize_nothing():
    assert summarize([]) == {
        "documents": {"read": 0, "malformed": 0, "filtered": 0, "deduplicated": 0, "over_budget": 0, "packed": 0},
        "tokens_packed": 0, "malformed_by_reason": {}, "filtered_by_rule": {}, "deduplicated_by_kind": {},
        "normalized_changed": 0, "edited_by_rule": {}, "by_source": {}, "length_histograms": {}}
    assert count_problems(summarize([])) == []


def test_summarize_deduplicated_and_over_budget():
    events = [(("deduplicated", "Pile-CC", "exact"), (2, 0)), (("deduplicated", "ArXiv", "near"), (1, 0)),
              (("over_budget", "ArXiv", ""), (3, 500)), (("packed", "ArXiv", ""), (1, 2048))]
    counts = summarize(events)
    assert counts["documents"] == {"read": 7, "malformed": 0, "filtered": 0, "deduplicated": 3, "over_budget": 3,
                                   "packed": 1}
    assert counts["tokens_packed"] == 2048
    assert counts["deduplicated_by_kind"] == {"exact": 2, "near": 1}
    assert counts["by_source"] == {"ArXiv": {**ZERO, "read": 5, "deduplicated": 1, "over_budget": 3, "packed": 1,
                                             "tokens": 2048},
                                   "Pile-CC": {**ZERO, "read": 2, "deduplicated": 2}}
    assert count_problems(counts) == []


def test_count_problems_names_each_inconsistency():
    counts = copy.deepcopy(EXPECTED)
    counts["documents"]["read"] = 10
    assert count_problems(counts) == ["total: read 10 != outcomes 9", "read: per-source sum 9 != total 10"]

    counts = copy.deepcopy(EXPECTED)
    counts["by_source"]["Github"]["packed"] = 1
    assert count_problems(counts) == ["Github: read 2 != outcomes 3", "packed: per-source sum 4 != total 3"]

    counts = copy.deepcopy(EXPECTED)
    counts["tokens_packed"] = 14
    assert count_problems(counts) == ["tokens: per-source sum 13 != total 14"]

    counts = copy.deepcopy(EXPECTED)
    counts["malformed_by_reason"]["invalid_json"] = 1
    assert count_problems(counts) == ["malformed_by_reason sums to 2, not 3"]

    counts = copy.deepcopy(EXPECTED)
    del counts["filtered_by_rule"]["empty_document"]
    assert count_problems(counts) == ["filtered_by_rule sums to 1, not 2"]


OUTCOMES = st.sampled_from(["malformed", "filtered", "deduplicated", "over_budget", "packed", "normalized", "edited"])
EVENT = st.tuples(st.tuples(OUTCOMES, st.sampled_from(["A", "B", "C"]), st.sampled_from(["", "r1", "r2"])),
                  st.tuples(st.integers(0, 5), st.integers(0, 1000)))


@given(st.lists(EVENT, max_size=40), st.randoms())
def test_any_events_add_up_in_any_order(events, rnd):
    counts = summarize(events)
    assert count_problems(counts) == []
    terminal = [docs for (outcome, _, _), (docs, _) in events if outcome in TERMINAL]
    assert counts["documents"]["read"] == sum(terminal)
    assert counts["tokens_packed"] == sum(amount for (outcome, _, _), (_, amount) in events if outcome == "packed")
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert summarize(shuffled) == counts
    assert summarize(combine(events)) == counts


def test_count_outcomes(pipeline):
    counts = {"malformed": pipeline | "Rejects" >> beam.Create(REJECTS),
              "filtered": pipeline | "Dropped" >> beam.Create(DROPPED),
              "packed": pipeline | "Packed" >> beam.Create(PACKED)} | CountOutcomes()
    assert_that(counts, equal_to([EXPECTED]))
    pipeline.run().wait_until_finish()


def dedup_events(record):
    return [(("deduplicated", record["source"], record["kind"]), (1, 0))]


def test_count_outcomes_with_extra_outcome(pipeline):
    dups = [{"id": "d:1", "source": "Pile-CC", "kind": "exact"}, {"id": "d:2", "source": "ArXiv", "kind": "near"}]
    packed = [{"id": "d:3", "source": "Pile-CC", "tokens": 7, "outcome": "packed"}]
    counts = {"deduplicated": pipeline | "Dups" >> beam.Create(dups),
              "packed": pipeline | "Packed" >> beam.Create(packed)} | CountOutcomes({"deduplicated": dedup_events})
    assert_that(counts, equal_to([{
        "documents": {"read": 3, "malformed": 0, "filtered": 0, "deduplicated": 2, "over_budget": 0, "packed": 1},
        "tokens_packed": 7, "malformed_by_reason": {}, "filtered_by_rule": {},
        "deduplicated_by_kind": {"exact": 1, "near": 1}, "normalized_changed": 0, "edited_by_rule": {},
        "by_source": {"ArXiv": {**ZERO, "read": 1, "deduplicated": 1},
                      "Pile-CC": {**ZERO, "read": 2, "deduplicated": 1, "packed": 1, "tokens": 7}},
        "length_histograms": {}}]))
    pipeline.run().wait_until_finish()
