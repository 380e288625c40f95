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


class _WriteBucketFn(beam.DoFn):
    def __init__(self, out_dir: str, files: int):
        self.out_dir, self.files = out_dir, files

    def process(self, bucket_docs):
        bucket, docs = bucket_docs
        docs = sorted(docs, key=lambda d: (d["order_key"], d["id"]))
        relpath = f"documents/part-{bucket:05d}-of-{self.files:05d}.parquet"
        info = commit_bytes(self.out_dir, relpath, parquet_bytes(documents_table(docs)))
        yield {**info, "rows": len(docs)}


class WriteDocuments(beam.PTransform):
    """Docs carrying "order_key" -> descriptions of the Parquet files written."""

    def __init__(self, out_dir: str, *, files: int):
        super().__init__()
        if files < 1:
            raise ValueError(f"document files must be >= 1, got {files}")
        self.out_dir, self.files = out_dir, files

    def expand(self, docs):
        files = self.files
        return (docs
                | "ByBucket" >> beam.Map(lambda d: (d["order_key"] % files, d))
                | "GroupBuckets" >> beam.GroupByKey()
                | "WriteParquet" >> beam.ParDo(_WriteBucketFn(self.out_dir, files)))


class _WriteRejectsFn(beam.DoFn):
    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def process(self, name_rejects):
        name, rejects = name_rejects
        rejects = sorted(rejects, key=lambda r: r["line"])
        data = b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in rejects)
        relpath = "rejects/" + name.replace("/", "__") + ".rejects.jsonl"
        yield {**commit_bytes(self.out_dir, relpath, data), "rows": len(rejects)}


class WriteRejects(beam.PTransform):
    """Reject records -> one sorted JSONL file per input file that had any."""

    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir

    def expand(self, rejects):
        return (rejects
                | "ByFile" >> beam.Map(lambda r: (r["file"], r))
                | "GroupByFile" >> beam.GroupByKey()
                | "WriteJsonl" >> beam.ParDo(_WriteRejectsFn(self.out_dir)))
