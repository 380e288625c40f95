"""ReadPile: Pile-format JSON lines (.jsonl.zst, .jsonl.gz, .jsonl) to document records.

Files are opened through Beam's FileSystems, so local, gs:// and s3:// paths work alike, and are
streamed in 1 MiB blocks: a file is never held in memory, and multi-frame zstd (or multi-member
gzip) streams are read to their end. A bad line becomes a counted rejection; a damaged file stops
the run with a message naming it, unless `allow_corrupt` keeps what was read before the damage.

    read = p | ReadPile(ReadConfig(patterns=("data/*.jsonl.zst",)))   # read["docs"], ["rejects"], ["files"]
"""
import dataclasses
import errno
import logging
import os
import re
import zlib
from typing import Iterator, NamedTuple

import apache_beam as beam
import orjson
import zstandard

from transforms.columnar import format_of, iter_rows, saved_dataset_files
from transforms.display import PATH_CHARS, printable
from transforms.errors import ConfigError, PileprepError
from transforms.order import order_key
from transforms.progress import ReadProgress
from transforms.spill import RestoreText, StowText
from transforms.split import Limited, plan_ranges

BLOCK = 1 << 20  # 1 MiB: large enough for zstd's speed, small enough to stream any file
HEAD_BYTES = 200  # how much of a rejected line the rejects file keeps
UNKNOWN_SOURCE = "unknown"  # source of a line whose meta.pile_set_name is missing or unreadable
_BOM = b"\xef\xbb\xbf"
# orjson's message for arrays and objects nested deeper than 1024 levels (its own reader; builds
# that fall back to serde_json say "recursion limit exceeded")
_TOO_DEEP = ("depth limit exceeded", "recursion limit exceeded")
# "meta": {"pile_set_name": "NAME" as the Pile writes it: pile_set_name first, NAME without escapes
_META = re.compile(rb'"meta"\s*:\s*\{\s*"pile_set_name"\s*:\s*"([^"\\\x00-\x1f]{1,200})"')
_LOG = logging.getLogger("pileprep")


@dataclasses.dataclass(frozen=True)
class ReadConfig:
    patterns: tuple[str, ...]
    allow_corrupt: bool = False  # keep documents read before damage in a file instead of stopping
    seed: int = 0  # of the document order key xxh64(seed, id), given to every document here
    split_bytes: int = 256 << 20  # plain .jsonl files larger than this are read as parallel line ranges
    max_line_bytes: int = 128 << 20  # Books3's longest documents are tens of MB; beyond this a line is rejected
    # Spread documents over workers after reading (compressed files are read one per worker). The
    # local in-process runner gains nothing from it and would hold every document in memory.
    reshuffle: bool = True
    spill: str | None = None  # the run's output folder: the spreading shuffles texts by reference

    def __post_init__(self):
        if not self.patterns:
            raise ConfigError("ReadConfig needs at least one input pattern (--input PATTERN)")


class InputFile(NamedTuple):
    path: str
    name: str  # used in document ids: the base name, or a longer path when base names collide
    size: int


class Damage(Exception):
    """A file-level problem found while streaming: where it is and how many lines came before."""

    def __init__(self, offset: int, what: str):
        self.offset, self.what = offset, what
        super().__init__(f"{what} at byte {offset}")


def compression_of(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    if lower.endswith(".gz"):
        return "gzip"
    return "none"


def decompressed_blocks(fh, compression: str) -> Iterator[bytes]:
    """Yield the decompressed bytes of a whole stream; raise Damage on truncation or corruption.

    Damage.offset is a byte offset in the compressed file. Truncation: the end of the file, where
    the stream is cut inside a frame. Corruption: the start of the frame (zstd) or member (gzip)
    that failed, i.e. the end of the last whole one: every byte before it decoded (and passed its
    checksum, if written), so `head -c OFFSET` of the file is a clean stream. Nothing finer is
    exact: neither decompressor says how much of a failing input it consumed, zstd only decodes a
    block once all of it has arrived, and a checksum mismatch shows only at the end of its frame.
    In a file of one frame (what the zstd CLI writes) a corruption is therefore at byte 0."""
    if compression == "none":
        while block := fh.read(BLOCK):
            yield block
        return
    if compression == "zstd":
        dctx = zstandard.ZstdDecompressor()
        new, errors, unit = dctx.decompressobj, (zstandard.ZstdError,), "frame"
    else:
        new, errors, unit = (lambda: zlib.decompressobj(wbits=31)), (zlib.error,), "member"
    obj, fed = new(), False  # fed: the current frame/member has started
    offset = 0  # of the end of the chunk being fed: data is always a tail of the chunk
    frame_start = 0  # of the current frame/member in the compressed file
    while chunk := fh.read(BLOCK):
        offset += len(chunk)
        data = chunk
        while data:
            try:
                out = obj.decompress(data)
            except errors as e:
                raise Damage(frame_start, f"corrupt {compression} {unit} ({e})") from None
            fed = True
            if out:
                yield out
            if obj.eof:  # a frame or member ended: the next one starts in unused_data
                data, obj, fed = obj.unused_data, new(), False
                frame_start = offset - len(data)
            else:
                data = b""
    if fed and not obj.eof:
        raise Damage(offset, f"truncated {compression} stream (it ends inside a {unit})")


def split_lines(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines without their b"\\n"; a final line without newline is still a line. Linear in size
    even for one line of hundreds of MB (parts are joined once, not re-concatenated per block)."""
    parts: list[bytes] = []
    for block in blocks:
        start = 0
        while (nl := block.find(b"\n", start)) >= 0:
            if parts:
                parts.append(block[start:nl])
                yield b"".join(parts)
                parts = []
            else:
                yield block[start:nl]
            start = nl + 1
        if start < len(block):
            parts.append(block[start:])
    if parts:
        yield b"".join(parts)


def parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """(fields, None) for a good line, (None or partial fields, reason) for a malformed one.

    fields: {"text": str, "source": str}. Reasons (besides line_too_long, decided before parsing):
    blank_line, invalid_utf8, lone_surrogate, json_too_deep (nested deeper than 1024 levels),
    invalid_json, not_an_object, text_missing, text_null, text_not_string, meta_not_object."""
    if raw.endswith(b"\r"):  # CRLF files
        raw = raw[:-1]
    if raw.startswith(_BOM):
        raw = raw[3:]
    if not raw.strip():
        return None, "blank_line"
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "not valid UTF-8" in msg:
            return None, "invalid_utf8"
        if "surrogate" in msg:
            return None, "lone_surrogate"
        if any(m in msg for m in _TOO_DEEP):
            return {"source": _source_of_deep_line(raw)}, "json_too_deep"
        return None, "invalid_json"
    if not isinstance(obj, dict):
        return None, "not_an_object"
    meta = obj.get("meta")
    source = UNKNOWN_SOURCE
    if isinstance(meta, dict):
        name = meta.get("pile_set_name")
        if isinstance(name, str) and name:
            source = name
    fields = {"source": source}
    if meta is not None and not isinstance(meta, dict):
        return fields, "meta_not_object"
    if "text" not in obj:
        return fields, "text_missing"
    text = obj["text"]
    if text is None:
        return fields, "text_null"
    if not isinstance(text, str):
        return fields, "text_not_string"
    fields["text"] = text
    return fields, None


def _source_of_deep_line(raw: bytes) -> str:
    """meta.pile_set_name of a line orjson refused as nested too deep, or UNKNOWN_SOURCE.

    No parser here accepts the line, so a regex finds it: one linear pass, for rare lines already
    in memory. A match preceded by "{" or "," starts a real "meta" key (inside a JSON string its
    quotes would be escaped), but it may be a "meta" nested in some other value, and the line may
    be broken after the depth orjson stopped at: so the source is taken only when every match
    names the same one. A meta whose pile_set_name is not its first key is not found (its other
    values could be nested arbitrarily): such a line stays `unknown`."""
    names = set()
    for match in _META.finditer(raw):
        i = match.start() - 1
        while i >= 0 and raw[i] in b" \t\r\n":
            i -= 1
        if i >= 0 and raw[i] in b"{,":
            names.add(match.group(1))
    if len(names) != 1:
        return UNKNOWN_SOURCE
    try:
        return names.pop().decode("utf-8")
    except UnicodeDecodeError:
        return UNKNOWN_SOURCE


def display_names(paths: list[str]) -> dict[str, str]:
    """Base names, unless two inputs share one: then the path below their common folder (for
    local and gs:// paths alike), so that document ids `<name>:<line>` stay unique."""
    parts = [p.replace("\\", "/").split("/") for p in paths]
    bases = [c[-1] for c in parts]
    if len(set(bases)) == len(bases):
        return dict(zip(paths, bases))
    folders = [c[:-1] for c in parts]
    common = 0
    while all(len(f) > common and f[common] == folders[0][common] for f in folders):
        common += 1
    return {p: "/".join(c[common:]) for p, c in zip(paths, parts)}


def _head(raw: bytes) -> str:
    """At most HEAD_BYTES bytes, cut at a character boundary, invalid bytes shown escaped."""
    cut = HEAD_BYTES
    if len(raw) > cut:
        while cut > HEAD_BYTES - 3 and (raw[cut] & 0xC0) == 0x80:  # inside a UTF-8 sequence
            cut -= 1
    return raw[:cut].decode("utf-8", "backslashreplace")


def reject_record(name: str, line: int, reason: str, raw: bytes, source: str) -> dict:
    return {"file": name, "line": line, "reason": reason, "source": source,
            "head": _head(raw)}


def _records(fh, path: str, max_line_bytes: int):
    """(fields, reason, raw line) for JSON lines; (fields, reason, head bytes) for columnar rows."""
    fmt = format_of(path)
    if fmt is not None:
        yield from iter_rows(fh, fmt, path)
        return
    for raw in split_lines(decompressed_blocks(fh, compression_of(path))):
        if len(raw) > max_line_bytes:  # never parsed: a runaway line must not stall a worker
            yield None, "line_too_long", raw[:HEAD_BYTES]
            continue
        fields, reason = parse_line(raw)
        yield fields, reason, raw


def read_file(fh, file: InputFile, *, allow_corrupt: bool, seed: int = 0, progress=None,
              first_line: int = 0, max_line_bytes: int = 128 << 20) -> Iterator[tuple[str, dict]]:
    """Yield ("doc", record), ("reject", record) and finally ("file", summary) for one open file
    (or one line range of it, whose lines are numbered from first_line + 1).

    Damage raises PileprepError naming the file, the byte offset and the fix, or with
    `allow_corrupt` ends the file early with the damage recorded in its summary."""
    lines, docs, rejects, nbytes = first_line, 0, 0, 0
    damage = None
    try:
        for fields, reason, raw in _records(fh, file.path, max_line_bytes):
            lines += 1
            nbytes += len(raw) + 1 if raw is not None else len(fields.get("text", ""))
            if reason is None:
                docs += 1
                doc_id = f"{file.name}:{lines}"
                yield "doc", {"id": doc_id, "source": fields["source"], "text": fields["text"],
                              "order_key": order_key(seed, doc_id)}
            else:
                rejects += 1
                source = fields["source"] if fields else UNKNOWN_SOURCE
                yield "reject", reject_record(file.name, lines, reason, raw, source)
            if progress is not None and lines % 1000 == 0:
                progress(file.name, lines, nbytes)
    except Damage as d:
        if not allow_corrupt:
            raise PileprepError(
                f"input file {file.path} is damaged: {d.what} at byte {d.offset} of {file.size}. "
                f"Re-download or re-create it, or pass --allow-corrupt-inputs to keep the "
                f"{docs:,} documents read before the damage.") from None
        damage = {"offset": d.offset, "what": d.what}
        _LOG.warning("input file %s is damaged (%s at byte %d): kept the %d documents read before it",
                     printable(file.path, PATH_CHARS), d.what, d.offset, docs)
    yield "file", {"path": file.path, "name": file.name, "bytes": file.size, "lines": lines - first_line,
                   "documents": docs, "malformed": rejects, "damage": damage}


def match_inputs(patterns) -> list[InputFile]:
    """Expand patterns through FileSystems; a pattern matching nothing, or a broken or looping
    symlink among what it names, is an error naming it."""
    from apache_beam.io.filesystems import FileSystems

    found: dict[str, int] = {}
    for pattern in patterns:
        try:
            result = FileSystems.match([pattern])[0]
        except Exception as e:  # Beam raises BeamIOError with the cause per pattern
            raise PileprepError(f"cannot list input {pattern!r} ({e}): check the path and your "
                                f"credentials for its file system") from None
        _check_links(pattern, _matched_links(pattern))
        files = [m for m in result.metadata_list if not m.path.endswith("/")]
        saved = saved_dataset_files(pattern.rstrip("/")) if not files or _is_dir(pattern) else None
        if saved is not None:  # a `datasets` save_to_disk directory: its .arrow files
            _check_links(pattern, [p for p in saved if _is_local(p) and os.path.islink(p)])
            files = FileSystems.match(saved)
            files = [r.metadata_list[0] for r in files if r.metadata_list]
        if not files:
            raise PileprepError(f"input pattern {pattern!r} matches no file: check the path "
                                f"(quote globs so the shell does not expand them)")
        for m in files:
            found[m.path] = m.size_in_bytes
    names = display_names(sorted(found))
    return [InputFile(p, names[p], found[p]) for p in sorted(found)]


def _is_local(path: str) -> bool:
    return "://" not in path


def _is_dir(path: str) -> bool:
    return _is_local(path) and os.path.isdir(path)


def _matched_links(pattern: str) -> list[str]:
    """The local symlinks that `pattern` names or matches, listed as Beam's LocalFileSystem lists
    them: the folder before the first glob character, walked, then its own pattern match. Beam
    drops a link whose target is missing or loops without a word (its size lookup fails), so a
    glob would read fewer files than it names and the run would still succeed."""
    if not _is_local(pattern):
        return []  # object stores have no symlinks
    from apache_beam.io.filesystem import FileMetadata
    from apache_beam.io.filesystems import FileSystems

    if pattern.endswith(("/", "\\")):  # Beam reads a folder as its files
        pattern += "*"
    prefix = re.match(r"[^[*?]*", pattern).group(0)
    if prefix == pattern:
        return [pattern] if os.path.islink(pattern) else []
    links = [FileMetadata(os.path.join(folder, name), 0)
             for folder, _, names in os.walk(os.path.dirname(prefix)) for name in names
             if os.path.islink(os.path.join(folder, name))]
    return [m.path for m in FileSystems.get_filesystem(pattern).match_files(links, pattern)]


def _check_links(pattern: str, links: list[str]):
    """Raise PileprepError naming the first link among `links` that leads to no file."""
    bad = []
    for link in sorted(links):
        try:
            os.stat(link)
        except OSError as e:
            bad.append((link, e.errno))
    if not bad:
        return
    link, code = bad[0]
    more = f" (and {len(bad) - 1} more such link(s))" if len(bad) > 1 else ""
    if code == errno.ELOOP:
        what = f"a symlink loop (it points to {os.readlink(link)!r}, and following the links never ends)"
    elif code == errno.ENOENT:
        what = f"a broken symlink (it points to {os.readlink(link)!r}, which does not exist)"
    else:
        what = f"a symlink that cannot be followed ({os.strerror(code)})"
    where = "" if link == pattern else f", matched by {pattern!r},"
    raise PileprepError(f"input {link}{where} is {what}{more}: point the link at the file, remove "
                        f"it, or change the pattern so it does not match it")


def open_input(path: str):
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    try:
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as e:
        raise PileprepError(f"cannot open input file {path} ({e}): check that it exists and is "
                            f"readable") from None


class _PlanFn(beam.DoFn):
    """A file -> work items (file, start, end, first line): the whole file, or, for a large plain
    file, line-aligned ranges read in parallel after the next Reshuffle."""

    def __init__(self, config: ReadConfig):
        self.config = config

    def process(self, file):
        file = InputFile(*file)
        if format_of(file.path) or compression_of(file.path) != "none" or file.size <= self.config.split_bytes:
            yield tuple(file), 0, None, 0
            return
        with open_input(file.path) as fh:
            for start, end, first_line in plan_ranges(fh, file.size, self.config.split_bytes):
                yield tuple(file), start, end, first_line


class _ReadFileFn(beam.DoFn):
    def __init__(self, config: ReadConfig):
        self.config = config

    def process(self, item):
        file, start, end, first_line = item
        file = InputFile(*file)
        with open_input(file.path) as fh:
            progress = ReadProgress(fh, start, file.size if end is None else end, first_line)
            if end is not None:
                fh.seek(start)
                fh = Limited(fh, end - start)
            for kind, record in read_file(fh, file, allow_corrupt=self.config.allow_corrupt,
                                            seed=self.config.seed, progress=progress,
                                            first_line=first_line,
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
               | "PlanRanges" >> beam.ParDo(_PlanFn(self.config))
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
