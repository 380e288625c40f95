"""Disk check: the space a local run needs in its output's file system, estimated before it starts.

A local run's output holds, at its peak, every spill file (the payloads of its shuffles, in
<output>/.tmp-spill, transforms/spill.py: removed just before the manifest is written) besides the
shards and the document files, so it needs several times the size of its text. A run that cannot
fit is refused in a second rather than hours in; one that may not fit is warned about; one that
fills the disk anyway stops with a message naming the directory (transforms/diskfull.py), to which
the launcher adds the estimate below (`after_full`).

Peak size of .tmp-spill, measured on the 50 MB Pile-shaped corpus (python -m benchmarks.pile_corpus
DIR --mb 50: 50.3 MB of text in 13.3 MB of .jsonl.zst, 20.0 M GPT-2 tokens; 2026-12-03): 133 MB on
a default (in-process) run, that is 1.05 x the text (the document records) and twice the tokens'
bytes (Pack's batches, then its fragments); 97 MB with --token-budget 2000000 (fragments of the
packed tokens only); 183 MB with --dedup minhash and 184 MB with --workers 2 (1 x the text more
each: texts stowed while dedup shuffles, while reading spreads them); 233 MB with both. Given the
real text and token counts, `estimate`'s model gives each within 1%; the finished output held 55 MB
(shards 40, documents 15).

    need = estimate(config, files, holdout_files)   # pure: bytes, expected and at least
    check_disk(config, need)                        # pipeline/run.py: PileprepError if it cannot fit
"""
import dataclasses
import os
import shutil
import sys

from pipeline.options import ZSTD_RATIO, RunConfig
from schemas.run import ROW_LEN
from transforms.diskfull import NO_SPACE
from transforms.errors import PileprepError

COMPRESSED = (".zst", ".zstd", ".gz")
TEXT_PER_COMPRESSED_BYTE = ZSTD_RATIO  # 3.8 measured (text / .jsonl.zst); assumed for .gz too
TEXT_PER_COMPRESSED_BYTE_LOW = 1.5  # natural-language JSON lines compress at least 2x
KEPT_LOW = 0.5  # share of the text kept: nearly all with the eleuther rules; dedup may remove more
TOKENS_PER_BYTE = 0.4  # GPT-2 tokens per byte of text: 0.398 measured (English prose, 10% code)
TOKENS_PER_BYTE_LOW = 0.2  # plain English prose alone gives ~0.25
RECORD_PER_TEXT_BYTE = 1.05  # a document's spilled JSON record (WriteDocuments), per byte of its text
PARQUET_PER_TEXT_BYTE = 0.3  # the document files (Parquet, zstd): 14.8 MB for 50.3 MB of text


@dataclasses.dataclass(frozen=True)
class Need:
    """Bytes a run needs in its output's file system: expected (`parts` sum to it) and at least."""
    parts: dict  # what -> expected bytes
    low: int  # what it needs even if the input expands least and loses most to the filters
    basis: str  # how the text and tokens were estimated

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        shown = "; ".join(f"{what} {size(n)}" for what, n in self.parts.items() if n)
        return f"{shown}; {self.basis}"


def size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.1f} kB"


def _text(files) -> tuple[float, float, int]:
    """Bytes of text in these files: expected, at least, and the compressed bytes among them."""
    packed = sum(f.size for f in files if f.path.lower().endswith(COMPRESSED))
    plain = sum(f.size for f in files) - packed
    return plain + packed * TEXT_PER_COMPRESSED_BYTE, plain + packed * TEXT_PER_COMPRESSED_BYTE_LOW, packed


def estimate(config: RunConfig, files, holdout_files=()) -> Need:
    """The disk a run of `config` over these input files needs in its output (after pipeline/run.py
    _for_runner has decided `spill` and `reshuffle`)."""
    text, text_low, compressed = _text(files)
    holdout = _text(holdout_files)[0] if config.dedup != "none" else 0
    width, width_low = (2, 2) if config.tokenizer == "gpt2" else (4, 2)  # uint16, or uint32 for > 65,536 ids
    kept_low = text_low * KEPT_LOW  # the low figures assume the stows that may not happen do not
    tokens, tokens_low = text * TOKENS_PER_BYTE, kept_low * TOKENS_PER_BYTE_LOW
    budget = config.budget()
    cap = budget.rows * ROW_LEN if budget else float("inf")  # the tokens its shards hold
    packed, packed_low = min(cap, tokens), min(cap, tokens_low)  # a short run packs what there is
    docs = config.write_documents
    stowed = text * bool(config.reshuffle) + (text + holdout) * (config.dedup != "none")
    spill = RECORD_PER_TEXT_BYTE * text * docs + (tokens + packed) * width + stowed
    spill_low = RECORD_PER_TEXT_BYTE * kept_low * docs + (tokens_low + packed_low) * width_low
    # the fused stage's resume entries (transforms/resume.py) hold the kept documents' texts once
    # more; their batches are the spill files' (hard links), counted above
    resume = RECORD_PER_TEXT_BYTE * text * docs if config.fused and config.spill else 0
    parts = {"spill files (in .tmp-spill until the end)": spill if config.spill else 0,
             **({"finished work kept for a rerun (in .tmp-resume until the end)": resume} if resume else {}),
             "shards": packed * width, "document files": PARQUET_PER_TEXT_BYTE * text * docs}
    low = (spill_low if config.spill else 0) + packed_low * width_low + PARQUET_PER_TEXT_BYTE * kept_low * docs
    basis = (f"estimated from {size(compressed)} of compressed input taken as {TEXT_PER_COMPRESSED_BYTE:g}x as "
             f"much text, " if compressed else "estimated from ") + (
        f"{size(text)} of text in all, {TOKENS_PER_BYTE:g} tokens per byte of text, {width} bytes per token")
    return Need({k: int(v) for k, v in parts.items()}, int(low), basis)


def _existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _bytes_under(path: str) -> int:
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def available(output: str) -> tuple[int, int]:
    """Free bytes in the output's file system, and the bytes a previous run there holds (which
    the run replaces, or refuses to: either way they are not in its way)."""
    return shutil.disk_usage(_existing(output)).free, _bytes_under(output) if os.path.isdir(output) else 0


def check_disk(config: RunConfig, need: Need) -> None:
    """Refuse a run that cannot fit in its output's file system; warn when it may not."""
    if "://" in config.output:
        return  # an object store: no free space to speak of
    free, previous = available(config.output)
    where = os.path.abspath(config.output)
    have = f"{size(free + previous)} is free" + (f" (with the {size(previous)} of the previous run there)"
                                                  if previous else "")
    if free + previous < need.low:
        raise PileprepError(
            f"not enough disk for this run in {where}: it needs about {size(need.total)} there "
            f"({need.describe()}), at least {size(need.low)} however the input turns out, and {have}: free "
            f"space there, choose another --output on a larger disk, or make the run smaller (--token-budget "
            f"or --model-size, --no-documents, fewer --input files)")
    if free + previous < need.total:
        print(f"pileprep: warning: this run may need about {size(need.total)} in {where} ({need.describe()}) "
              f"and {have}; if the disk fills up, the run stops with a message and leaves no manifest",
              file=sys.stderr)


def after_full(message: str, config: RunConfig, need: Need | None) -> str:
    """A disk-full message from a worker, with the run's estimate when it was the output that filled."""
    where = os.path.abspath(config.output)
    if need is None or "://" in config.output or not message.startswith(f"{NO_SPACE} {where}"):
        return message
    free, partial = available(config.output)
    short = need.total - free - partial
    more = (f"free at least {size(short)} more" if short > 0 else
            "by that estimate the space was there, so this input needs more (or something else filled the "
            "disk): free well beyond it")
    return (f"{message}. This run needs about {size(need.total)} there ({need.describe()}); {size(free)} is "
            f"free and the incomplete run holds {size(partial)}: {more}")
