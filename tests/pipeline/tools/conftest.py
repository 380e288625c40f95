"""Runs for the tools' tests: one real run shared by the session, synthetic runs of any size, the
run's rows and stream as the files hold them, and the Hugging Face offline switches (tests only)."""
import importlib.util
import json
import sys
import types

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import sample_run

SEQ, ROW = 2048, 2049


@pytest.fixture(scope="session")
def real_run(tmp_path_factory):
    """The one real run the tools' tests read (a test that writes into a run copies it first)."""
    # 7 rows a shard: several shards, with documents crossing their edges
    return sample_run(tmp_path_factory.mktemp("real"), rows_per_shard=7)


@pytest.fixture(autouse=True)
def hub_offline(monkeypatch):
    """Network off for datasets / huggingface_hub in these tests only: pileprep itself never sets it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def manifest_of(run) -> dict:
    return json.loads((run / "manifest.json").read_text())


def run_rows(run) -> np.ndarray:
    """Every row of the run, [rows, 2049], read with np.load."""
    return np.concatenate([np.load(run / s["path"]) for s in manifest_of(run)["shards"]])


def run_stream(run) -> np.ndarray:
    """The whole token stream: each row without its shared last token, then the final token."""
    rows = run_rows(run)
    return np.concatenate([rows[:, :SEQ].reshape(-1), rows[-1, SEQ:]])


def synthetic_run(directory, *, shards: int, rows_per_shard: int = 64, doc_len: int = 1000, seed: int = 0):
    """A run written by hand (vocabulary 50,257, documents of doc_len ids ending with EOS 50256, a
    lineage sidecar a shard): as large as a test needs, in milliseconds."""
    rng = np.random.default_rng(seed)
    rows_total = shards * rows_per_shard
    in_rows = rows_total * SEQ + 1
    stream = rng.integers(0, 50256, in_rows, dtype=np.uint16)
    stream[doc_len - 1::doc_len] = 50256
    (directory / "shards").mkdir(parents=True)
    entries = []
    for k in range(shards):
        r0 = k * rows_per_shard
        rows = np.stack([stream[(r0 + r) * SEQ:(r0 + r) * SEQ + ROW] for r in range(rows_per_shard)])
        np.save(directory / f"shards/shard-{k:05d}.npy", rows)
        lo, hi = r0 * SEQ, (r0 + rows_per_shard) * SEQ + 1
        first, last = lo // doc_len, (hi - 1) // doc_len
        starts = np.arange(first, last + 1, dtype=np.int64) * doc_len
        pq.write_table(pa.table({"global_start": starts, "global_end": starts + doc_len - 1}),
                       directory / f"shards/shard-{k:05d}.lineage.parquet")
        entries.append({"index": k, "path": f"shards/shard-{k:05d}.npy", "rows": rows_per_shard,
                        "stream_start": lo, "lineage": {"path": f"shards/shard-{k:05d}.lineage.parquet"}})
    manifest = {"tokenizer": {"name": "gpt2", "vocab_size": 50257, "eos_id": 50256, "dtype": "uint16"},
                "seq_len": SEQ, "row_len": ROW, "dtype": "uint16", "rows": rows_total, "shards": entries,
                "tokens": {"in_rows": in_rows, "packed": in_rows, "left_over": 0},
                "counts": {"documents": {"packed": -(-in_rows // doc_len)}}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def streaming_dataset_class():
    """MosaicML Streaming's own StreamingDataset, reading local MDS files.

    `import streaming` imports its vision and text helpers too, and with them torchvision and
    transformers; PyPI's torchvision does not import beside the CPU build of torch 2.13 that CI
    pins ("operator torchvision::nms does not exist"), and .ci/run installs streaming without
    transformers. Where `import streaming` fails, the packages `streaming` and `streaming.base`
    are entered without running their __init__ and the reader module, streaming.base.dataset, is
    imported as is: the code that reads the shards is still the library's.
    """
    if importlib.util.find_spec("streaming") is None:  # finds the package without importing it
        pytest.skip("mosaicml-streaming is not installed (.ci/run installs it)")
    try:
        import streaming  # noqa: F401 (where torchvision imports, as on a CUDA machine)
    except Exception:  # noqa: BLE001 (RuntimeError from torchvision, ImportError, ...)
        for name in [n for n in sys.modules if n == "streaming" or n.startswith("streaming.")]:
            del sys.modules[name]
        for name in ("streaming", "streaming.base"):
            spec = importlib.util.find_spec(name)
            package = types.ModuleType(name)
            package.__path__, package.__spec__ = list(spec.submodule_search_locations), spec
            sys.modules[name] = package
    from streaming.base.dataset import StreamingDataset

    return StreamingDataset
