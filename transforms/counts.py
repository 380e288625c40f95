"""CountOutcomes: the run's document counts, computed from the records themselves.

Beam metrics can count a retried bundle twice, so the manifest's numbers come from data: every
record ends in exactly one terminal outcome (malformed, filtered, deduplicated, over_budget or
packed), and a combine over those outcomes gives exact, deterministic counts per source and
reason. Annotations (normalized, edited) ride along.

    counts = {"malformed": rejects, "filtered": dropped, "packed": outcomes} | CountOutcomes()
"""
import typing

import apache_beam as beam

from schemas.records import TERMINAL, Drop, Outcome, Passed, Reject, Removal

Event = tuple[tuple[str, str, str], tuple[int, int]]  # ((outcome, source, reason), (docs, amount))


def reject_events(reject: Reject) -> list[Event]:
    return [(("malformed", reject["source"], reject["reason"]), (1, 0))]


def length_bin(chars: int) -> str:
    """The log2 bin of a length in characters, as a sortable key: bin b holds [2^(b-1), 2^b)."""
    return f"{max(chars, 0).bit_length():02d}"


def _histogram(bins: dict[str, int]) -> list[dict]:
    out = []
    for key in sorted(bins):
        b = int(key)
        low, high = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
        out.append({"min_chars": low, "max_chars": high, "documents": bins[key]})
    return out


def dropped_events(dropped: Drop) -> list[Event]:
    chars = dropped["chars_before_filter"]
    events = [(("filtered", dropped["source"], dropped["rule"]), (1, chars)),
              (("length", "before_filter", length_bin(chars)), (1, 0))]
    if dropped.get("changed"):
        events.append((("normalized", dropped["source"], "changed"), (1, 0)))
    return events


def _passed_filters(record: Passed) -> list[Event]:
    """Annotations of a document that passed the filters: its length before them (normalized, not
    yet edited: chars_before_filter) and after their line edits (chars), and whether ftfy and the
    line edits changed it."""
    events = []
    if "chars" in record:
        events.append((("length", "before_filter", length_bin(record["chars_before_filter"])), (1, 0)))
        events.append((("length", "after_filter", length_bin(record["chars"])), (1, 0)))
    if record.get("changed"):
        events.append((("normalized", record["source"], "changed"), (1, 0)))
    for rule, lines in sorted(record.get("edits", {}).items()):
        events.append((("edited", record["source"], rule), (1, lines)))
    return events


def deduplicated_events(record: Removal) -> list[Event]:
    """A document removed by Deduplicate: reason is its kind (exact, near, holdout)."""
    return [(("deduplicated", record["source"], record["kind"]), (1, record["chars"]))] + _passed_filters(record)


def packed_events(record: Outcome) -> list[Event]:
    """A document that passed the filters: packed or over budget, with its stream tokens (ids
    and EOS)."""
    return [((record["outcome"], record["source"], ""), (1, record["tokens"]))] + _passed_filters(record)


def _add(values):
    docs = amount = 0
    for d, a in values:
        docs += d
        amount += a
    return docs, amount


def summarize(events) -> dict:
    """The counts section of the manifest from combined events (order-independent)."""
    totals = {k: 0 for k in ("read",) + TERMINAL}
    by_reason: dict[str, dict[str, int]] = {"malformed": {}, "filtered": {}, "deduplicated": {}}
    by_source: dict[str, dict] = {}
    normalized = tokens = 0
    lengths: dict[str, dict[str, int]] = {}
    edited: dict[str, dict[str, int]] = {}
    for (outcome, source, reason), (docs, amount) in sorted(events):
        if outcome == "length":
            hist = lengths.setdefault(source, {})
            hist[reason] = hist.get(reason, 0) + docs
            continue
        src = by_source.setdefault(source, {k: 0 for k in ("read",) + TERMINAL + ("tokens",)})
        if outcome in TERMINAL:
            totals[outcome] += docs
            totals["read"] += docs
            src[outcome] += docs
            src["read"] += docs
            if outcome in by_reason:
                by_reason[outcome][reason] = by_reason[outcome].get(reason, 0) + docs
            if outcome == "packed":
                src["tokens"] += amount
                tokens += amount
        elif outcome == "normalized":
            normalized += docs
            src["normalized"] = src.get("normalized", 0) + docs
        elif outcome == "edited":
            e = edited.setdefault(reason, {"documents": 0, "lines": 0})
            e["documents"] += docs
            e["lines"] += amount
    return {"documents": totals, "tokens_packed": tokens, "malformed_by_reason": by_reason["malformed"],
            "filtered_by_rule": by_reason["filtered"], "deduplicated_by_kind": by_reason["deduplicated"],
            "normalized_changed": normalized, "edited_by_rule": edited,
            "by_source": dict(sorted(by_source.items())),
            "length_histograms": {stage: _histogram(bins) for stage, bins in sorted(lengths.items())}}


class CountOutcomes(beam.PTransform):
    """{"malformed": rejects, "filtered": dropped, "packed": outcomes, ...} -> one summary dict."""

    _EVENTS = {"malformed": reject_events, "filtered": dropped_events, "packed": packed_events,
               "deduplicated": deduplicated_events}

    def __init__(self, events=None):
        super().__init__()
        self.events = events or {}  # outcome name -> record -> events, beyond the defaults

    def expand(self, named):
        streams = []
        for name, pcoll in sorted(named.items()):
            to_events = self.events.get(name) or self._EVENTS[name]
            streams.append(pcoll | f"{name.title()}Events" >> beam.FlatMap(to_events).with_input_types(typing.Any))
        return (streams | "AllEvents" >> beam.Flatten()
                | "SumPerKey" >> beam.CombinePerKey(_add)
                | "Gather" >> beam.combiners.ToList()
                | "Summarize" >> beam.Map(summarize))
