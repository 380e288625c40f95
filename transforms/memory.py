"""Giving freed memory back to the system between big steps of a process.

Neither glibc's malloc nor Arrow's memory pool returns freed memory by itself: a process keeps the
high-water mark of its last big step, and the next step's peak stacks on top of it (a fused worker
idle while the parent packs; the parent's document merge under its shard writing). Calling
release_memory() after such a step costs a few to a few hundred milliseconds (a full collection).

    release_memory()
"""


def release_memory() -> None:
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator returns memory its own way
