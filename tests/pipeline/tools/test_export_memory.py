"""Every export's memory stays flat as the run grows: the peak of Python and numpy allocations
(tracemalloc) exporting a run of 12 shards is that of a run of 3 shards, to within a few blocks'
bookkeeping. The shards are memory-mapped (page cache, not counted) and read a block at a time;
Arrow's own buffers (hf) are not traced, and are bounded by construction: one row group of 1024
rows a ParquetWriter.write_table call."""
import tracemalloc

import pytest

from pipeline.tools.export import export
from tests.pipeline.tools.conftest import synthetic_run

OPTIONS = {"hf": {}, "litdata": {"chunk_rows": 96}, "mds": {"size_limit": 96 * 4200 + 300},
           "nanogpt": {"val_fraction": 0.05}, "megatron": {}}


def _peak(run, out, fmt) -> int:
    tracemalloc.start()
    try:
        export(str(run), str(out), fmt, **OPTIONS[fmt])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", sorted(OPTIONS))
def test_peak_memory_does_not_grow_with_the_run(tmp_path, fmt):
    small = synthetic_run(tmp_path / "small", shards=3, rows_per_shard=128)
    large = synthetic_run(tmp_path / "large", shards=12, rows_per_shard=128, seed=1)
    _peak(small, tmp_path / "warm" / "x", fmt)  # imports and first-use caches out of the measure
    peak_small = _peak(small, tmp_path / "s" / "x", fmt)
    peak_large = _peak(large, tmp_path / "l" / "x", fmt)
    run_bytes = 12 * 128 * 2049 * 2
    # 4x the run; a few KB of per-file records (sha256, chunk entries) grow with it, never the data
    assert peak_large < peak_small * 1.2 + 32_768, (peak_small, peak_large)
    assert peak_large < run_bytes / 2, (peak_large, run_bytes)
