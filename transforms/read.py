"""ReadPile: Pile-format JSON lines (.jsonl.zst, .jsonl.gz, .jsonl) to document records.

Files are matched and opened through Beam's FileSystems (transforms/inputs.py), so local, gs://
and s3:// paths work alike, and streamed block by block (transforms/streams.py): a file is never
held in memory. Each line is parsed on its own (transforms/parse.py): a bad line becomes a counted
Reject; a damaged file stops the run with a message naming it, unless `allow_corrupt` keeps what
was read before the damage. Large plain .jsonl files are read as parallel line ranges, large
Parquet files as parallel runs of row groups (transforms/split.py plans both, with no whole-file pass).

    read = p | ReadPile(ReadConfig(patterns=("data/*.jsonl.zst",)))   # read["docs"], ["rejects"], ["files"]
"""
import logging
from typing import Iterator

import apache_beam as beam

from schemas.records import Document, InputDamage, InputSummary
from transforms.columnar import format_of, iter_rows, run_bytes
from transforms.display import PATH_CHARS, printable
from transforms.errors import PileprepError
from transforms.inputs import InputFile, ReadConfig, match_inputs, open_input
from transforms.order import order_key
from transforms.parse import parse_limited, reject_record
from transforms.progress import ReadProgress
from transforms.spill import RestoreText, StowText
from transforms.split import Limited, PlanRanges
from transforms.streams import Damage, compression_of, decompressed_blocks, split_lines

_LOG = logging.getLogger("pileprep")


def _records(fh, path: str, max_line_bytes: int, row_groups: range | None = None):
    """(fields, reason, raw line) for JSON lines; (fields, reason, head bytes) for columnar rows."""
    fmt = format_of(path)
    if fmt is not None:
        yield from iter_rows(fh, fmt, path, row_groups)
        return
    for raw in split_lines(decompressed_blocks(fh, compression_of(path))):
        yield parse_limited(raw, max_line_bytes)


def read_file(fh, file: InputFile, *, allow_corrupt: bool, seed: int = 0, progress=None,
              first_line: int = 0, max_line_bytes: int = 128 << 20,
              row_groups: range | None = None) -> Iterator[tuple[str, dict]]:
    """Yield ("doc", record), ("reject", record) and finally ("file", summary) for one open file
    (or one line range of it, or Parquet row groups, whose lines or rows are numbered from
    first_line + 1).

    Damage raises PileprepError naming the file, the byte offset and the fix, or with
    `allow_corrupt` ends the file early with the damage recorded in its summary."""
    lines, docs, rejects, nbytes = first_line, 0, 0, 0
    damage = None
    try:
        for fields, reason, raw in _records(fh, file.path, max_line_bytes, row_groups):
            lines += 1
            nbytes += len(raw) + 1 if raw is not None else len(fields.get("text", ""))
            if reason is None:
                docs += 1
                doc_id = f"{file.name}:{lines}"
                yield "doc", Document(id=doc_id, source=fields["source"], text=fields["text"],
                                      order_key=order_key(seed, doc_id))
            else:
                rejects += 1
                yield "reject", reject_record(file.name, lines, reason, raw, fields)
            if progress is not None and lines % 1000 == 0:
                progress(file.name, lines, nbytes)
    except Damage as d:
        damage = damaged(file, d, docs, allow_corrupt)
    yield "file", InputSummary(path=file.path, name=file.name, bytes=file.size, lines=lines - first_line,
                               documents=docs, malformed=rejects, damage=damage)


def damaged(file: InputFile, d: Damage, docs: int, allow_corrupt: bool) -> InputDamage:
    """The damage for the file's summary, with a warning, under allow_corrupt; else the error."""
    if not allow_corrupt:
        raise PileprepError(
            f"input file {file.path} is damaged: {d.what} at byte {d.offset} of {file.size}. "
            f"Re-download or re-create it, or pass --allow-corrupt-inputs to keep the "
            f"{docs:,} documents read before the damage.") from None
    _LOG.warning("input file %s is damaged (%s at byte %d): kept the %d documents read before it",
                 printable(file.path, PATH_CHARS), d.what, d.offset, docs)
    return InputDamage(offset=d.offset, what=d.what)


class _ReadFileFn(beam.DoFn):
    def __init__(self, config: ReadConfig):
        self.config = config

    def process(self, item):
        file, start, end, first_line = item
        file = InputFile(*file)
        groups = range(start, end) if end is not None and format_of(file.path) == "parquet" else None
        with open_input(file.path) as fh:
            span = (start, file.size if end is None else end) if groups is None else run_bytes(fh, start, end, file.size)
            progress = ReadProgress(fh, *span, first_line)
            if end is not None and groups is None:
                fh.seek(start)
                fh = Limited(fh, end - start)
            for kind, record in read_file(fh, file, allow_corrupt=self.config.allow_corrupt,
                                            seed=self.config.seed, progress=progress,
                                            first_line=first_line, row_groups=groups,
                                            max_line_bytes=self.config.max_line_bytes):
                if kind == "doc":
                    yield record
                else:
                    if kind == "file":
                        progress.finish(record["lines"])
                    yield beam.pvalue.TaggedOutput(kind + "s", record)


class ReadPile(beam.PTransform):
    """Pile files to {"docs", "rejects", "files"} PCollections; docs are spread by a Reshuffle
    because compressed files are read one per worker."""

    def __init__(self, config: ReadConfig, files: list[InputFile] | None = None):
        super().__init__()
        self.config = config
        self.files = files  # already matched by the CLI, or matched here at construction

    def expand(self, pbegin):
        files = self.files if self.files is not None else match_inputs(self.config.patterns)
        out = (pbegin
               | "ListFiles" >> beam.Create([tuple(f) for f in files], reshuffle=False)
               | "PlanRanges" >> PlanRanges(self.config.split_bytes)
               | "SpreadFiles" >> beam.Reshuffle()
               | "ReadFiles" >> beam.ParDo(_ReadFileFn(self.config)).with_outputs(
                   "rejects", "files", main="docs"))
        docs = out.docs
        if self.config.reshuffle and self.config.spill:  # texts wait in spill files (transforms/spill.py)
            docs = (docs | "StowTexts" >> beam.ParDo(StowText(self.config.spill))
                    | "SpreadDocuments" >> beam.Reshuffle()
                    | "RestoreTexts" >> beam.ParDo(RestoreText(self.config.spill)))
        elif self.config.reshuffle:
            docs = docs | "SpreadDocuments" >> beam.Reshuffle()
        return {"docs": docs, "rejects": out.rejects, "files": out.files}
