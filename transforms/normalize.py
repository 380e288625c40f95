"""Normalize: the normalizer (transforms/normalizer.py) as a PTransform, with its cross-check.

    docs | Normalize(NormalizeConfig(form="nfc"))          # ["docs"], ["provenance"]
"""
import dataclasses

import apache_beam as beam

from transforms.normalizer import NormalizeConfig, fixed, fixer, normalize_events
from transforms.provenance import PROVENANCE, CheckConfig, bundle_outputs


class _NormalizeFn(beam.DoFn):
    """Fixes each document; the documents `check` samples are fixed by ftfy.fix_text too, and a
    difference fails the run, naming the document."""

    def __init__(self, config: NormalizeConfig, check: CheckConfig = CheckConfig()):
        self.config, self.check = config, check

    def setup(self):
        self.fix = fixer(self.config)
        self.plain = None if self.fix.path != "fast" else fixer(dataclasses.replace(self.config, reference=True))

    def start_bundle(self):
        self.documents = self.checked = 0

    def process(self, doc):
        self.documents += 1
        check = self.plain is not None and self.check.sampled(doc["id"])
        self.checked += check
        yield fixed(doc, self.fix, self.plain if check else None)

    def finish_bundle(self):
        yield from bundle_outputs(normalize_events({self.fix.path: self.documents}, self.checked))


class Normalize(beam.PTransform):
    """Document dicts -> {"docs": the same dicts with fixed text, "changed" and "chars_in",
    "provenance": `Event`s of the paths that fixed them}."""

    def __init__(self, config: NormalizeConfig, check: CheckConfig = CheckConfig()):
        super().__init__()
        self.config, self.check = config, check

    def expand(self, docs):
        return docs | "FixText" >> beam.ParDo(_NormalizeFn(self.config, self.check)).with_outputs(
            PROVENANCE, main="docs")
