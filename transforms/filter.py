"""FilterDocuments: the rules of transforms/rules.py as a PTransform.

    kept, dropped = docs | FilterDocuments(FilterConfig(rules="eleuther"))
"""
import apache_beam as beam

from transforms.rules import FilterConfig, Rule, filter_document, load_rules


class _FilterFn(beam.DoFn):
    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules  # loaded on the launcher: a user's rules file need not exist on workers

    def process(self, doc):
        kept, drop = filter_document(doc, self.rules)
        yield kept if drop is None else beam.pvalue.TaggedOutput("dropped", drop)


class FilterDocuments(beam.PTransform):
    """Documents -> (kept Documents, with edits and chars_before_filter; Drop records)."""

    def __init__(self, config: FilterConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        rules = load_rules(self.config.rules)
        out = docs | "ApplyRules" >> beam.ParDo(_FilterFn(rules)).with_outputs("dropped", main="kept")
        return out.kept, out.dropped
