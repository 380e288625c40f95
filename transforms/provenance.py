"""Provenance: which implementations produced a run's bytes, and the cross-check that proves them.

The fast normalizer and the fast tokenizer return what `ftfy.fix_text` and GPT-2's tokenizer
return (../shared/DESIGN.md section 7). Each proves it three ways: a self-test when it loads (that turns
it off, with a warning, if it fails), a seeded sample of documents run through the plain
implementation as well during every run (a mismatch fails the run, naming the document), and this
record in the manifest of what ran: each stage's paths and backends with the documents they handled,
the documents cross-checked, and the version of every library that produced bytes.

Each Normalize and Tokenize bundle emits `Event`s; their sums, combined from the data like the
document counts, become the manifest's `provenance` section.

    check = CheckConfig(every=100, seed=0)
    check.sampled("00.jsonl.zst:17")                   # True for about 1 document in 100
"""
import dataclasses
from importlib.metadata import PackageNotFoundError, version

import xxhash

from transforms.errors import ConfigError

PROVENANCE = "provenance"  # the tag of the events Normalize and Tokenize emit beside their documents
Event = tuple[tuple[str, str, str], int]  # ((section, field, value), documents)
_SALT = 0x5EED_C4EC  # the sample differs from the order key's hash of the same seed and id


@dataclasses.dataclass(frozen=True)
class CheckConfig:
    every: int = 100  # 1 document in `every` also through the plain implementation (0: none):
    # ftfy.fix_text and plain GPT-2 on 1% of documents: 7-11% of a default run (benchmarks/bench_check.py)
    seed: int = 0  # the run's --seed: the same documents are checked on every runner

    def __post_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 0:
            raise ConfigError(f"--check-every must be a whole number >= 0 (0: no cross-check), got {self.every!r}")

    def sampled(self, doc_id: str) -> bool:
        if self.every == 0:
            return False
        key = xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=(self.seed ^ _SALT) & (2**64 - 1))
        return key % self.every == 0


def library_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def stage_events(stage: str, paths: dict[str, int], checked: int, libraries: dict[str, str]) -> list[Event]:
    """The events of one bundle of a stage: documents per path (or backend), documents
    cross-checked, and each library's version with the documents it handled."""
    events = [((stage, "paths", path), n) for path, n in sorted(paths.items()) if n]
    if checked:
        events.append(((stage, "checked", ""), checked))
    total = sum(paths.values())
    events += [(("libraries", lib, ver), total) for lib, ver in sorted(libraries.items()) if total]
    return events


def bundle_outputs(events: list[Event]) -> list:
    """The events as a DoFn's finish_bundle must give them: tagged PROVENANCE, in the global
    window (the documents' window). Beam is imported here only: the rest of this module is not
    the pipeline's."""
    from apache_beam import pvalue
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.windowed_value import WindowedValue

    window = GlobalWindow()
    return [pvalue.TaggedOutput(PROVENANCE, WindowedValue(e, window.max_timestamp(), (window,))) for e in events]


def section(sums, check: CheckConfig) -> dict:
    """The manifest's provenance section from the combined ((section, field, value), documents)."""
    out = {"check_every": check.every, "libraries": {}, "normalize": {"paths": {}, "checked": 0},
           "tokenize": {"paths": {}, "checked": 0}}
    for (part, field, value), n in sorted(sums):
        if part == "libraries":
            out["libraries"].setdefault(field, []).append(value)  # two versions: a mixed cluster
        elif field == "checked":
            out[part]["checked"] += n
        else:
            out[part]["paths"][value] = n
    return out


def normalize_mismatch(doc_id: str) -> str:
    """The run's error when the cross-check finds a document the fast normalizer fixed otherwise."""
    return (f"document {doc_id} is normalized differently by the fast normalizer than by "
            f"ftfy.fix_text: a bug in pileprep's fast path. Run with --reference to use the plain "
            f"implementations, and please report this document")


def tokenize_mismatch(doc_id: str, backend: str) -> str:
    """The run's error when the cross-check finds a document the fast tokenizer encoded otherwise."""
    return (f"document {doc_id} gets other token ids from the fast tokenizer ({backend}) than from "
            f"GPT-2's plain tokenizer (tiktoken's encode_ordinary): a bug in pileprep's fast path. Run "
            f"with --reference to use the plain implementations, and please report this document")
