"""Committing outputs: every file is written under a temporary name, then renamed.

FileSystems.rename works on object stores as well as local disks, so a reader (or `verify`) never
sees a half-written file under its final name. WriteDocuments puts each cleaned document in one of
N Parquet files chosen by its order key, sorted by that key inside the file, so the files are
byte-identical on every runner. WriteRejects writes the malformed lines, one JSONL file per input.

    written = kept | WriteDocuments(out_dir, seed=0, files=4)   # -> {"path", "rows", "sha256", ...}
"""
import hashlib
import io

import apache_beam as beam
import orjson

TMP_PREFIX = ".tmp-"  # files still being written; a complete run has none


def file_sha256(path: str) -> str:
    """The sha256 of a local file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def join(directory: str, *parts: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(directory, *parts)


def commit_bytes(directory: str, relpath: str, data: bytes) -> dict:
    """Write data to directory/relpath atomically; returns its description for the manifest."""
    from apache_beam.io.filesystems import FileSystems

    final = join(directory, relpath)
    folder, _, name = final.rpartition("/")
    tmp = f"{folder}/{TMP_PREFIX}{name}" if folder else TMP_PREFIX + name
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])
    return {"path": relpath, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def documents_table(docs: list[dict]):
    import pyarrow as pa

    from schemas.arrow import DOCUMENTS

    cols = {
        "id": [d["id"] for d in docs], "source": [d["source"] for d in docs],
        "text": [d["text"] for d in docs], "order_key": [d["order_key"] for d in docs],
        "chars_in": [d.get("chars_in", len(d["text"])) for d in docs],
        "chars": [len(d["text"]) for d in docs],
        "normalized": [bool(d.get("changed", False)) for d in docs],
        "lines_removed": [sum(d.get("edits", {}).values()) for d in docs],
    }
    return pa.table(cols, schema=DOCUMENTS)


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


class _CommitGroupFn(beam.DoFn):
    """(key, records) -> one file: the records sorted, encoded and committed; its description."""

    def __init__(self, out_dir: str, relpath, encode, order):
        self.out_dir, self.relpath, self.encode, self.order = out_dir, relpath, encode, order

    def process(self, key_records):
        key, records = key_records
        records = sorted(records, key=self.order)
        yield {**commit_bytes(self.out_dir, self.relpath(key), self.encode(records)), "rows": len(records)}


class WriteGroups(beam.PTransform):
    """Records -> one file per key, records sorted inside, so the bytes never depend on bundling:
    `key(record)` groups, `relpath(key)` names the file, `encode(records)` gives its bytes."""

    def __init__(self, out_dir: str, *, key, relpath, encode, order):
        super().__init__()
        self.out_dir, self.key, self.fn = out_dir, key, _CommitGroupFn(out_dir, relpath, encode, order)

    def expand(self, records):
        key = self.key
        return (records
                | "ByKey" >> beam.Map(lambda r: (key(r), r))
                | "Group" >> beam.GroupByKey()
                | "Commit" >> beam.ParDo(self.fn))


def _document_order(doc: dict):
    return doc["order_key"], doc["id"]


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)


def WriteDocuments(out_dir: str, *, files: int) -> WriteGroups:  # noqa: N802 - a PTransform factory
    """Docs carrying "order_key" -> one Parquet file per order_key % files."""
    if files < 1:
        raise ValueError(f"document files must be >= 1, got {files}")
    return WriteGroups(out_dir, key=lambda d: d["order_key"] % files,
                       relpath=lambda b: f"documents/part-{b:05d}-of-{files:05d}.parquet",
                       encode=lambda docs: parquet_bytes(documents_table(docs)), order=_document_order)


def WriteRejects(out_dir: str) -> WriteGroups:  # noqa: N802 - a PTransform factory
    """Reject records -> one JSONL file per input file that had any, in line order."""
    return WriteGroups(out_dir, key=lambda r: r["file"],
                       relpath=lambda name: "rejects/" + name.replace("/", "__") + ".rejects.jsonl",
                       encode=_jsonl, order=lambda r: r["line"])
