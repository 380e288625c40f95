"""A shard's .npy bytes from its placed fragments: checked to cover its stream exactly once, then
written a chunk of rows at a time (a shard is never whole in memory).

    rows, lineage, pieces = shard_chunks(shard, frags, plan_, config, reader)   # pieces: bytes chunks
"""
import bisect

import numpy as np

from schemas.records import LineageRow
from schemas.run import ROW_LEN, SEQ_LEN, npy_header
from transforms.errors import PileprepError
from transforms.placement import PackConfig, Plan, shard_span
from transforms.spill import ref_length, sub_ref

def _lost(what: str):
    return PileprepError(f"{what}: the runner lost or duplicated data between Pack's stages, so no "
                         f"shard was committed under its final name. Rerun; if it repeats, report it "
                         f"with the runner and its options")


def _placed(shard: int, frags, plan_: Plan, config: PackConfig) -> tuple[list[tuple], list[LineageRow]]:
    """The shard's fragments as (offset, size, piece) in stream order, and its lineage, after
    checking (before a token is read) that they cover the shard's stream exactly once."""
    lo, hi = shard_span(shard, plan_, config.rows_per_shard)
    itemsize = np.dtype(config.dtype).itemsize
    placed, items, lineage = 0, [], []
    for offset, piece, line in sorted(frags, key=lambda f: f[0]):
        if isinstance(piece, np.ndarray):
            size = len(piece)
        else:  # (reference, EOS follows)
            size = ref_length(piece[0]) // itemsize + bool(piece[1])
        if offset + size > hi - lo:
            raise _lost(f"shard {shard}: a fragment reaches past its end at stream offset {lo + offset}")
        if offset != placed:
            raise _lost(f"shard {shard}: gap or overlap at stream offset {lo + offset} "
                        f"(expected {lo + placed})")
        items.append((offset, size, piece))
        placed += size
        lineage.append(line)
    if placed != hi - lo:
        raise _lost(f"shard {shard}: {placed} of {hi - lo} tokens placed")
    return items, lineage


def _fill(buf: np.ndarray, start: int, items: list[tuple], config: PackConfig, reader) -> None:
    """buf = the shard's stream tokens [start, start + len(buf)), from the placed fragments; a
    spilled fragment's tokens are read from its file straight into place."""
    end = start + len(buf)
    i = max(bisect.bisect_right(items, start, key=lambda item: item[0]) - 1, 0)
    while i < len(items) and items[i][0] < end:
        offset, size, piece = items[i]
        a, b = max(start, offset) - offset, min(end, offset + size) - offset  # the part inside buf
        if isinstance(piece, np.ndarray):
            buf[offset + a - start: offset + b - start] = piece[a:b]
        else:
            ref, eos = piece
            body = size - bool(eos)
            if min(b, body) > a:
                reader.get_into(sub_ref(ref, a * buf.itemsize, (min(b, body) - a) * buf.itemsize),
                                memoryview(buf[offset + a - start: offset + min(b, body) - start]).cast("B"))
            if eos and a <= body < b:
                buf[offset + body - start] = config.eos_id
        i += 1


def shard_chunks(shard: int, frags, plan_: Plan, config: PackConfig, reader=None,
                 rows_per_chunk: int = 4096) -> tuple[int, list[LineageRow], object]:
    """(rows, lineage, the bytes of the shard's .npy file in pieces): the shard's [rows, 2049]
    array as np.save writes it, never whole in memory, only a chunk of rows of it (16 MB), filled
    straight from the fragments and the spill files (`reader`, a SpillReader), after checking that
    the fragments place every token of the shard exactly once."""
    items, lineage = _placed(shard, frags, plan_, config)
    rows = plan_.rows_of_shard(shard, config.rows_per_shard)

    def pieces():
        yield npy_header((rows, ROW_LEN), config.dtype)
        for r in range(0, rows, rows_per_chunk):
            n = min(rows_per_chunk, rows - r)
            buf = np.empty(n * SEQ_LEN + 1, dtype=config.dtype)  # rows overlap by one token
            _fill(buf, r * SEQ_LEN, items, config, reader)
            yield np.ascontiguousarray(rows_view(buf, n)).tobytes()

    return rows, lineage, pieces()


def rows_view(flat: np.ndarray, rows: int) -> np.ndarray:
    """The [rows, 2049] rows of a shard's stream tokens, as a read-only view (rows overlap by one)."""
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, ROW_LEN), strides=(SEQ_LEN * flat.itemsize, flat.itemsize),
                                           writeable=False)
