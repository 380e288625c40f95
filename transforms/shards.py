"""A shard's .npy bytes from its placed fragments: checked to cover its stream exactly once, then
written a chunk of rows at a time (a shard is never whole in memory), with its lineage sidecar.

A fragment is one key range's tokens in the shard, (local offset, tokens, lineage): on local runs
tokens and lineage are references to spill files (transforms/spill.py), read when a chunk of rows
needs them; on distributed runners an array and Arrow IPC bytes.

    rows, lineage, pieces = shard_chunks(shard, frags, plan_, config, reader)   # pieces: bytes chunks
    rows, items, pieces = shard_pieces(shard, frags, plan_, config, reader)      # the same, and then
    lineage_rows, parquet_pieces = lineage_file(items, reader)                 # the lineage a row group at a time
"""
import bisect

import numpy as np

from schemas.run import ROW_LEN, SEQ_LEN, npy_header
from transforms.errors import PileprepError
from transforms.placement import PackConfig, Plan, shard_span
from transforms.spill import ref_length, sub_ref


def _lost(what: str):
    return PileprepError(f"{what}: the runner lost or duplicated data between Pack's stages, so no "
                         f"shard was committed under its final name. Rerun; if it repeats, report it "
                         f"with the runner and its options")


def _placed(shard: int, frags, plan_: Plan, config: PackConfig) -> list[tuple]:
    """The shard's fragments as (offset, size, tokens, lineage) in stream order, after checking
    (before a token is read) that they cover the shard's stream exactly once."""
    lo, hi = shard_span(shard, plan_, config.rows_per_shard)
    itemsize = np.dtype(config.dtype).itemsize
    placed, items = 0, []
    for offset, tokens, lineage in sorted(frags, key=lambda f: f[0]):
        size = len(tokens) if isinstance(tokens, np.ndarray) else ref_length(tokens) // itemsize
        if offset + size > hi - lo:
            raise _lost(f"shard {shard}: a fragment reaches past its end at stream offset {lo + offset}")
        if offset != placed:
            raise _lost(f"shard {shard}: gap or overlap at stream offset {lo + offset} "
                        f"(expected {lo + placed})")
        items.append((offset, size, tokens, lineage))
        placed += size
    if placed != hi - lo:
        raise _lost(f"shard {shard}: {placed} of {hi - lo} tokens placed")
    return items


def _fill(buf: np.ndarray, start: int, items: list[tuple], reader) -> None:
    """buf = the shard's stream tokens [start, start + len(buf)), from the placed fragments; a
    spilled fragment's tokens are read from its file straight into place."""
    end = start + len(buf)
    i = max(bisect.bisect_right(items, start, key=lambda item: item[0]) - 1, 0)
    while i < len(items) and items[i][0] < end:
        offset, size, tokens, _ = items[i]
        a, b = max(start, offset) - offset, min(end, offset + size) - offset  # the part inside buf
        into = buf[offset + a - start: offset + b - start]
        if isinstance(tokens, np.ndarray):
            into[:] = tokens[a:b]
        elif b > a:
            reader.get_into(sub_ref(tokens, a * buf.itemsize, (b - a) * buf.itemsize), memoryview(into).cast("B"))
        i += 1


def lineage_table(items: list[tuple], reader, views: list[tuple[int, int, int]] | None = None):
    """The shard's lineage (schemas/arrow.py LINEAGE): the fragments' rows in stream order, as one
    table of one chunk per column, so its Parquet bytes are those of a table built from rows. Read
    twice (sizes, then values), so that only the result is whole in memory, never it and its parts.
    With `views`, [(item index, first row, rows)], only those rows of those fragments."""
    import pyarrow as pa

    from schemas.arrow import LINEAGE

    def read(lineage):
        return pa.ipc.open_stream(reader.get(lineage) if reader is not None else lineage).read_all()

    def tables():
        if views is None:
            for *_, lineage in items:
                yield read(lineage)
        for i, first, n in views or ():
            yield read(items[i][3]).slice(first, n)

    sizes = [(t.num_rows, {name: _text_bytes(t.column(name)) for name in _TEXT}) for t in tables()]
    rows = sum(n for n, _ in sizes)
    ints = {name: np.empty(rows, np.int64) for name in LINEAGE.names if name not in _TEXT}
    texts = {name: (np.zeros(rows + 1, np.int32), np.empty(sum(b[name] for _, b in sizes), np.uint8))
             for name in _TEXT}
    at = 0
    for table in tables():
        n = table.num_rows
        if not n:
            continue
        for name, values in ints.items():
            values[at: at + n] = table.column(name).to_numpy()
        for name, (offsets, data) in texts.items():  # offsets[at]: where this fragment's strings go
            column = table.column(name).combine_chunks()
            first, ends = _offsets(column)
            data[offsets[at]: offsets[at] + ends[-1] - first] = _data(column)[first: ends[-1]]
            offsets[at + 1: at + n + 1] = ends - first + offsets[at]
        at += n
    columns = [pa.StringArray.from_buffers(rows, pa.py_buffer(texts[name][0]), pa.py_buffer(texts[name][1]))
               if name in _TEXT else pa.array(ints[name]) for name in LINEAGE.names]
    return pa.Table.from_arrays(columns, schema=LINEAGE)


_TEXT = ("id", "source")  # the lineage's string columns


def _offsets(column) -> tuple[int, np.ndarray]:
    """(where a string array's first value starts in its data buffer, where each value ends)."""
    offsets = np.frombuffer(column.buffers()[1], np.int32)[column.offset: column.offset + len(column) + 1]
    return int(offsets[0]), offsets[1:]


def _data(column) -> np.ndarray:
    buffer = column.buffers()[2]
    return np.frombuffer(buffer, np.uint8) if buffer is not None else np.zeros(0, np.uint8)


def _text_bytes(column) -> int:
    first, ends = _offsets(column.combine_chunks())
    return int(ends[-1]) - first if len(ends) else 0


# Rows per row group of a lineage file: pyarrow's default for pq.write_table (schemas/run.py
# parquet_bytes), so a shard's lineage written a row group at a time is the file written whole
LINEAGE_GROUP_ROWS = 1 << 20


def lineage_file(items: list[tuple], reader, group_rows: int = LINEAGE_GROUP_ROWS):
    """(rows, the lineage's Parquet bytes in pieces): parquet_bytes(lineage_table(items, reader)),
    built and written one row group at a time, so at most group_rows rows of it are in memory (a
    shard of tiny documents has millions)."""
    from schemas.run import parquet_bytes

    counts = [_rows(lineage, reader) for *_, lineage in items]
    rows = sum(counts)
    if not rows:
        return 0, iter([parquet_bytes(lineage_table(items, reader))])

    def groups():
        views, held = [], 0
        for i, n in enumerate(counts):
            first = 0
            while first < n:
                take = min(n - first, group_rows - held)
                views.append((i, first, take))
                first, held = first + take, held + take
                if held == group_rows:
                    yield lineage_table(items, reader, views)
                    views, held = [], 0
        if views:
            yield lineage_table(items, reader, views)

    return rows, _parquet_pieces(groups(), group_rows)


def _rows(lineage, reader) -> int:
    import pyarrow as pa

    with pa.ipc.open_stream(reader.get(lineage) if reader is not None else lineage) as stream:
        return sum(batch.num_rows for batch in stream)


def _parquet_pieces(tables, group_rows: int):
    """The Parquet file pq.write_table(whole, compression="zstd") writes, from the whole table's row
    groups given one table each."""
    import pyarrow.parquet as pq

    from schemas.arrow import LINEAGE
    from transforms.document_runs import Chunks

    sink = Chunks()
    with pq.ParquetWriter(sink, LINEAGE, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table, row_group_size=group_rows)
            yield from sink.drain()
    yield from sink.drain()


def shard_chunks(shard: int, frags, plan_: Plan, config: PackConfig, reader=None, rows_per_chunk: int = 1024):
    """(rows, lineage table, the bytes of the shard's .npy file in pieces): the shard's [rows, 2049]
    array as np.save writes it, never whole in memory, only a chunk of rows of it (4 MB), filled
    straight from the fragments and the spill files (`reader`, a SpillReader; None when nothing
    was spilled), after checking that the fragments place every token of the shard exactly once."""
    rows, items, pieces = shard_pieces(shard, frags, plan_, config, reader, rows_per_chunk)
    return rows, lineage_table(items, reader), pieces


def shard_pieces(shard: int, frags, plan_: Plan, config: PackConfig, reader=None, rows_per_chunk: int = 1024):
    """shard_chunks without the lineage table: (rows, the placed fragments for lineage_file, the
    .npy pieces)."""
    items = _placed(shard, frags, plan_, config)
    rows = plan_.rows_of_shard(shard, config.rows_per_shard)

    def pieces():
        yield npy_header((rows, ROW_LEN), config.dtype)
        for r in range(0, rows, rows_per_chunk):
            n = min(rows_per_chunk, rows - r)
            buf = np.empty(n * SEQ_LEN + 1, dtype=config.dtype)  # rows overlap by one token
            _fill(buf, r * SEQ_LEN, items, reader)
            yield np.ascontiguousarray(rows_view(buf, n)).tobytes()

    return rows, items, pieces()


def rows_view(flat: np.ndarray, rows: int) -> np.ndarray:
    """The [rows, 2049] rows of a shard's stream tokens, as a read-only view (rows overlap by one)."""
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, ROW_LEN), strides=(SEQ_LEN * flat.itemsize, flat.itemsize),
                                           writeable=False)
