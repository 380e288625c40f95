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


def _bit_lengths(chars):
    """length_bin's bins of an int64 array, as ints: bin b holds [2^(b-1), 2^b)."""
    import numpy as np

    return np.searchsorted(np.left_shift(1, np.arange(63, dtype=np.int64)), np.maximum(chars, 0), side="right")


def placed_events(table, selected: int) -> list[Event]:
    """packed_events of a key range's documents (Pack's Placed.table: the first `selected` packed,
    the rest over budget), summed per key: a few dozen events per range instead of 3-4 per document."""
    import numpy as np
    import orjson

    totals: dict = {}

    def add(key, docs, amount):
        d, a = totals.get(key, (0, 0))
        totals[key] = (d + int(docs), a + int(amount))

    sources = table.column("source").to_numpy(zero_copy_only=False)
    tokens = table.column("n").to_numpy() + 1
    packed = np.arange(len(sources)) < selected
    changed = table.column("changed").to_numpy(zero_copy_only=False)
    for source in np.unique(sources).tolist():
        of = sources == source
        for outcome, mask in (("packed", of & packed), ("over_budget", of & ~packed)):
            if mask.any():
                add((outcome, source, ""), mask.sum(), tokens[mask].sum())
        if (of & changed).any():
            add(("normalized", source, "changed"), (of & changed).sum(), 0)
    for stage, column in (("before_filter", "chars_before_filter"), ("after_filter", "chars")):
        bins, docs = np.unique(_bit_lengths(table.column(column).to_numpy()), return_counts=True)
        for b, d in zip(bins.tolist(), docs.tolist()):
            add(("length", stage, f"{b:02d}"), d, 0)
    edits = table.column("edits").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(edits != "{}").tolist():
        for rule, lines in orjson.loads(edits[i]).items():
            add(("edited", sources[i], rule), 1, lines)
    return sorted(totals.items())


def counted(event: Event) -> list[Event]:
    """An event a stage already summed (placed_events): counted as it is."""
    return [event]


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
