"""The input files of a run: patterns matched through Beam's FileSystems, checked, and named.

A pattern that matches nothing, or a broken or looping symlink among what it names, is an error
naming it (Beam would silently skip such a link). Each file gets a display name for document ids:
its base name, or a longer path when two inputs share one.

    files = match_inputs(["pile/train/*.jsonl.zst"])   # [InputFile(path, name, size), ...]
"""
import dataclasses
import errno
import os
import re
from typing import NamedTuple

from transforms.columnar import saved_dataset_files
from transforms.errors import ConfigError, PileprepError


@dataclasses.dataclass(frozen=True)
class ReadConfig:
    patterns: tuple[str, ...]
    allow_corrupt: bool = False  # keep documents read before damage in a file instead of stopping
    seed: int = 0  # of the document order key xxh64(seed, id), given to every document here
    split_bytes: int = 256 << 20  # plain .jsonl and Parquet files larger than this are read as parallel ranges
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
