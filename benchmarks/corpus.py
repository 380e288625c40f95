"""The ASCII-heavy real-text corpus in Pile format, built from files on this machine (no download).

Python's standard library sources, the vim runtime (manuals and scripts) and /usr/share/doc
(READMEs, HTML, licences, Debian changelogs, decompressed) become one document per file, each with
a plausible `pile_set_name`. Files that are not UTF-8 text are skipped, not re-decoded: the text is
what is on disk. Sources are interleaved by bytes in a fixed order, so any size is a deterministic mix.

    paths, stats = build(out_dir, megabytes=50)   # out_dir/00.jsonl.zst ... 03.jsonl.zst

Mostly ASCII (code, manuals, changelogs), it flatters every ASCII fast path: the Pile-shaped corpus
(benchmarks/pile_corpus.py) is the one the headline numbers come from. Both are written by `write`.
"""
import gzip
import hashlib
import json
import os
import sysconfig

import orjson
import zstandard

FILES = 4  # an even number of files: the naive baseline runs as two processes over halves
MAX_DOC_BYTES = 2_000_000  # a few Pile documents are this large; larger files are skipped
_BINARY = (".png", ".gif", ".jpg", ".jpeg", ".ico", ".svg", ".pdf", ".mo", ".spl", ".sug", ".ps",
           ".ttf", ".woff", ".zip", ".xz", ".bz2", ".pyc", ".gpg", ".db")
STDLIB = sysconfig.get_paths()["stdlib"]  # read once: get_paths() expands every scheme variable on each call


def _source_of(path: str) -> str:
    """A pile_set_name for a file: code is Github, manuals are books, licences are legal text."""
    name = os.path.basename(path).lower()
    if path.startswith(STDLIB) or name.endswith(
            (".py", ".c", ".h", ".sh", ".pl", ".awk", ".vim", ".css", ".js", ".xml", ".cocci", ".el")):
        return "Github"
    if "/vim" in path and "/doc/" in path:
        return "Books3"
    if name.startswith("copyright") or "license" in name:
        return "FreeLaw"
    if "changelog" in name or name.startswith("news"):
        return "Ubuntu IRC"
    if name.endswith((".html", ".htm")):
        return "Pile-CC"
    if name.endswith((".md", ".rst")) or name.startswith("readme"):
        return "StackExchange"
    return "Wikipedia (en)"


def _groups() -> list[list[str]]:
    """Candidate files in sorted order, in source groups that are interleaved when sampling."""
    walk = lambda root: sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)  # noqa: E731
    python = [p for p in walk(STDLIB) if p.endswith(".py") and "site-packages" not in p]
    vim = walk("/usr/share/vim") if os.path.isdir("/usr/share/vim") else []
    doc = walk("/usr/share/doc") if os.path.isdir("/usr/share/doc") else []
    doc = [p for p in doc if not p.lower().endswith(_BINARY)]
    return [python,
            [p for p in vim if "/doc/" in p and p.endswith(".txt")],
            [p for p in vim if p.endswith(".vim")],
            [p for p in doc if _source_of(p) in ("Ubuntu IRC", "FreeLaw")],
            [p for p in doc if _source_of(p) not in ("Ubuntu IRC", "FreeLaw")]]


def _text(path: str) -> str | None:
    try:
        if os.path.islink(path) or not os.path.isfile(path):
            return None
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read(MAX_DOC_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return None
    if len(data) > MAX_DOC_BYTES or "\x00" in text or not text.strip():
        return None
    return text


def documents(megabytes: float):
    """(source, text) pairs of about `megabytes` of UTF-8, taking the next file from the group
    that has given the fewest bytes so far (so each kind of text is about an equal share)."""
    goal, total = megabytes * 1e6, 0
    groups = [[0, i, iter(g)] for i, g in enumerate(_groups())]  # [bytes so far, order, files]
    while groups and total < goal:
        group = min(groups, key=lambda g: (g[0], g[1]))
        for path in group[2]:
            text = _text(path)
            if text is not None:
                break
        else:
            groups.remove(group)
            continue
        size = len(text.encode("utf-8", "surrogatepass"))
        group[0] += size
        total += size
        yield _source_of(path.removesuffix(".gz")), text


def build(out_dir: str, megabytes: float = 50.0) -> tuple[list[str], dict]:
    """Write the corpus (reusing an identical one already there); returns its paths and stats."""
    return cached(out_dir, {"megabytes": megabytes}) or write(out_dir, documents(megabytes), {"megabytes": megabytes})


def cached(out_dir: str, key: dict) -> tuple[list[str], dict] | None:
    """The paths and stats of a corpus already in out_dir that was built with `key`, else None."""
    stamp_path = os.path.join(out_dir, "corpus.json")
    paths = [os.path.join(out_dir, f"{i:02d}.jsonl.zst") for i in range(FILES)]
    if os.path.exists(stamp_path) and all(map(os.path.exists, paths)):
        with open(stamp_path) as f:
            stats = json.load(f)
        if all(stats.get(k) == v for k, v in key.items()):
            return paths, stats
    return None


def write(out_dir: str, docs, key: dict) -> tuple[list[str], dict]:
    """(source, text) pairs as Pile JSON lines in FILES .jsonl.zst files of about equal size, in
    order; corpus.json records `key` and the stats."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"{i:02d}.jsonl.zst") for i in range(FILES)]
    docs = list(docs)
    lines = [orjson.dumps({"text": text, "meta": {"pile_set_name": source}}) + b"\n" for source, text in docs]
    by_source: dict[str, int] = {}
    for source, _ in docs:
        by_source[source] = by_source.get(source, 0) + 1
    # Contiguous runs of documents per file, cut so the files hold about equal bytes.
    cuts, acc, goal = [0], 0, sum(map(len, lines)) / FILES
    for i, line in enumerate(lines):
        acc += len(line)
        if acc >= goal * len(cuts) and len(cuts) < FILES:
            cuts.append(i + 1)
    cuts += [len(lines)] * (FILES + 1 - len(cuts))
    digest = hashlib.sha256()
    cctx = zstandard.ZstdCompressor(level=3)
    for i, path in enumerate(paths):
        data = b"".join(lines[cuts[i]:cuts[i + 1]])
        digest.update(data)
        with open(path + ".tmp", "wb") as f:
            f.write(cctx.compress(data))
        os.replace(path + ".tmp", path)
    stats = {**key, "documents": len(lines),
             "text_bytes": sum(len(text.encode("utf-8", "surrogatepass")) for _, text in docs),
             "json_bytes": sum(map(len, lines)),
             "compressed_bytes": sum(os.path.getsize(p) for p in paths), "files": FILES,
             "by_source": dict(sorted(by_source.items())), "sha256": digest.hexdigest()}
    with open(os.path.join(out_dir, "corpus.json"), "w") as f:
        json.dump(stats, f, indent=1)
    return paths, stats
