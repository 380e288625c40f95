"""Columnar inputs for ReadPile: Parquet files and Hugging Face `datasets` saved with save_to_disk.

Rows become the same records as JSON lines: `text` (a string column) and the source from a `meta`
struct (or JSON string) with `pile_set_name`, or a `pile_set_name` column. Row numbers start at 1
and play the part of line numbers in document ids. A null or non-string text is a counted
rejection, like a bad JSON line; a file without a `text` column is an error naming the file.
A large Parquet file is read as runs of row groups in parallel (row_group_runs, planned from the
footer alone); rows keep their numbers in the whole file.

    for fields, reason, head in iter_rows(fh, "arrow", path): ...
    for fields, reason, head in iter_rows(fh, "parquet", path, row_groups=range(2, 5)): ...
"""
import json

from transforms.errors import PileprepError

BATCH_ROWS = 1024  # rows converted to Python at a time: bounded memory on any file


def format_of(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith(".arrow"):
        return "arrow"
    return None


def row_group_runs(sizes: list[int], rows: list[int], split_bytes: int) -> list[tuple[int, int, int]]:
    """[(first group, end group, rows before it)]: consecutive row groups, each run closed once its
    stored bytes reach split_bytes (a row group larger than that is a run of its own)."""
    runs, start, held, before = [], 0, 0, 0
    for group, (size, count) in enumerate(zip(sizes, rows)):
        held += size
        if held >= split_bytes or group == len(sizes) - 1:
            runs.append((start, group + 1, before))
            before += sum(rows[start:group + 1])
            start, held = group + 1, 0
    return runs


def _group_sizes(metadata) -> list[int]:
    """Each row group's stored (compressed) bytes: what reading it costs."""
    return [sum(g.column(c).total_compressed_size for c in range(g.num_columns))
            for g in (metadata.row_group(i) for i in range(metadata.num_row_groups))]


def plan_row_groups(fh, path: str, split_bytes: int) -> list[tuple[int, int, int]]:
    """row_group_runs of a Parquet file, from its footer alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(fh).metadata
    except (pa.ArrowInvalid, OSError) as e:
        raise PileprepError(f"input file {path} cannot be read as parquet ({e}): re-create it or remove "
                            f"it from --input") from None
    rows = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    return row_group_runs(_group_sizes(metadata), rows, split_bytes)


def run_bytes(fh, start: int, end: int, size: int) -> tuple[int, int]:
    """The byte span [lo, hi) that row groups [start, end) stand for in the progress: their stored
    bytes, the last run taking the footer too, so a file's runs add up to its size."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(fh).metadata
    sizes = _group_sizes(metadata)
    lo = sum(sizes[:start])
    return lo, size if end >= len(sizes) else lo + sum(sizes[start:end])


def _batches(fh, fmt: str, row_groups: range | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "parquet":
        groups = None if row_groups is None else list(row_groups)
        yield from pq.ParquetFile(fh).iter_batches(batch_size=BATCH_ROWS, row_groups=groups)
    else:
        try:
            reader = pa.ipc.open_stream(fh)
        except pa.ArrowInvalid:
            fh.seek(0)
            reader = pa.ipc.open_file(fh)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
            return
        yield from reader


def _source(meta, pile_set_name) -> str:
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    if isinstance(meta, dict) and isinstance(meta.get("pile_set_name"), str) and meta["pile_set_name"]:
        return meta["pile_set_name"]
    if isinstance(pile_set_name, str) and pile_set_name:
        return pile_set_name
    return "unknown"


def iter_rows(fh, fmt: str, path: str, row_groups: range | None = None):
    """(fields, reason, head) per row: fields {"text", "source"} or a rejection reason; of the
    given Parquet row groups only, if any."""
    import pyarrow as pa

    try:
        for batch in _batches(fh, fmt, row_groups):
            names = batch.schema.names
            if "text" not in names:
                raise PileprepError(f"input file {path} has no 'text' column (columns: {', '.join(names)}): "
                                    f"rename the text column to 'text'")
            texts = batch.column("text").to_pylist()
            metas = batch.column("meta").to_pylist() if "meta" in names else [None] * len(texts)
            sets = batch.column("pile_set_name").to_pylist() if "pile_set_name" in names else [None] * len(texts)
            for text, meta, pile_set_name in zip(texts, metas, sets):
                fields = {"source": _source(meta, pile_set_name)}
                if text is None:
                    yield fields, "text_null", b""
                elif not isinstance(text, str):
                    yield fields, "text_not_string", repr(text)[:200].encode()
                else:
                    fields["text"] = text
                    yield fields, None, b""
    except (pa.ArrowInvalid, OSError) as e:
        raise PileprepError(f"input file {path} cannot be read as {fmt} ({e}): re-create it or remove "
                            f"it from --input") from None


def saved_dataset_files(directory: str) -> list[str] | None:
    """The .arrow files of a `datasets` save_to_disk directory (None if it is not one)."""
    from apache_beam.io.filesystems import FileSystems

    state = FileSystems.join(directory, "state.json")
    if not FileSystems.exists(state):
        return None
    with FileSystems.open(state) as f:
        files = [entry["filename"] for entry in json.loads(f.read())["_data_files"]]
    return [FileSystems.join(directory, name) for name in files]
