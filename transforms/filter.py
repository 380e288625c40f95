"""FilterDocuments: the rules of transforms/rules.py as a PTransform.

    kept, dropped = docs | FilterDocuments(FilterConfig(rules="eleuther"))
"""
import apache_beam as beam

from schemas.records import Drop
from transforms.rules import FilterConfig, Rule, apply_rules, load_rules


class _FilterFn(beam.DoFn):
    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules  # loaded on the launcher: a user's rules file need not exist on workers

    def process(self, doc):
        kept, reason, text, edits = apply_rules(doc["source"], doc["text"], self.rules)
        if kept:
            yield {**doc, "text": text, "edits": edits, "chars_before_filter": len(doc["text"])}
        else:
            yield beam.pvalue.TaggedOutput("dropped", Drop(
                id=doc["id"], source=doc["source"], rule=reason,
                chars_before_filter=len(doc["text"]), changed=doc.get("changed", False)))


class FilterDocuments(beam.PTransform):
    """Documents -> (kept Documents, with edits and chars_before_filter; Drop records)."""

    def __init__(self, config: FilterConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        rules = load_rules(self.config.rules)
        out = docs | "ApplyRules" >> beam.ParDo(_FilterFn(rules)).with_outputs("dropped", main="kept")
        return out.kept, out.dropped
