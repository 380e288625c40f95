"""Files on the local disk: their sha256 (no Beam here, for processes that do not load it).

    digest = file_sha256("out/shards/shard-00000.npy")   # 64 hex digits
"""
import hashlib


def file_sha256(path: str) -> str:
    """The sha256 of a local file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
