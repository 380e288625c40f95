"""Normalize: repair text with ftfy, as Cerebras did to the Pile before filtering.

`ftfy.fix_text` fixes mojibake, HTML entities in plain text, curly-quote and line-break oddities,
then applies a Unicode normal form: NFC by default (ftfy's own default, and what keeps the text
closest to the source), NFKC as gpt-neo's preprocessing used, or "ftfy" alone with no normal form;
"off" passes text through untouched. Each record says whether its text changed, so the count of
changed documents comes from the data.

    docs | Normalize(NormalizeConfig(form="nfc"))
"""
import dataclasses

import apache_beam as beam

FORMS = ("nfc", "nfkc", "ftfy", "off")


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    form: str = "nfc"  # Cerebras-GPT: "cleaned using the ftfy library" with its default NFC

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"unknown normalization {self.form!r}: choose one of {', '.join(FORMS)}")


def fixer(config: NormalizeConfig):
    """A text -> text function for this config (built once per worker)."""
    if config.form == "off":
        return lambda text: text
    import ftfy

    ftfy_config = ftfy.TextFixerConfig(normalization={"nfc": "NFC", "nfkc": "NFKC"}.get(config.form))

    def fix(text: str) -> str:
        return ftfy.fix_text(text, ftfy_config)

    return fix


def normalize(text: str, config: NormalizeConfig) -> str:
    return fixer(config)(text)


class _NormalizeFn(beam.DoFn):
    def __init__(self, config: NormalizeConfig):
        self.config = config

    def setup(self):
        self.fix = fixer(self.config)

    def process(self, doc):
        text = self.fix(doc["text"])
        yield {**doc, "text": text, "changed": text != doc["text"], "chars_in": len(doc["text"])}


class Normalize(beam.PTransform):
    def __init__(self, config: NormalizeConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        return docs | "FixText" >> beam.ParDo(_NormalizeFn(self.config))
