"""The bytes of an input file as a stream of lines: zstd and gzip decompressed block by block.

A file is read in 1 MiB blocks and never held whole; multi-frame zstd (and multi-member gzip)
streams are read to their end. Truncation or corruption raises Damage with the byte offset in the
compressed file up to which everything decoded, for ReadPile's message or `--allow-corrupt-inputs`.

    lines = split_lines(decompressed_blocks(open("00.jsonl.zst", "rb"), compression_of("00.jsonl.zst")))
"""
import zlib
from typing import Iterator

import zstandard

BLOCK = 1 << 20  # 1 MiB: large enough for zstd's speed, small enough to stream any file


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
