"""Shard sets for the trainer tests, written by hand: .npy rows and a minimal manifest.json."""
import json
import os

import numpy as np
import pytest

ROW_LEN = 2049


def write_run(directory, *, rows_per_shard=(12, 8), vocab_size=256, seed=0, dtype="uint16",
              seq_len=2048, budget=None, tokenizer_vocab=None) -> str:
    """A run of consecutive rows (each row starts with the previous row's last token) over len(rows_per_shard) shards."""
    rng = np.random.default_rng(seed)
    total = sum(rows_per_shard)
    stream = rng.integers(0, vocab_size, size=total * (ROW_LEN - 1) + 1).astype(np.uint16)
    os.makedirs(os.path.join(directory, "shards"), exist_ok=True)
    shards, start = [], 0
    for k, n in enumerate(rows_per_shard):
        rows = np.stack([stream[(start + r) * 2048:(start + r) * 2048 + ROW_LEN] for r in range(n)])
        path = f"shards/shard-{k:05d}.npy"
        np.save(os.path.join(directory, path), rows)
        shards.append({"path": path, "rows": n, "index": k, "stream_start": start * 2048})
        start += n
    manifest = {"tokenizer": {"name": "test", "vocab_size": tokenizer_vocab or vocab_size, "eos_id": 0,
                              "dtype": dtype},
                "seq_len": seq_len, "row_len": seq_len + 1, "dtype": dtype, "rows": total,
                "shards": shards, "budget": budget}
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return str(directory)


def micro_config(**overrides):
    """A GPT small enough to train in milliseconds: vocabulary 256, a 16-token window of each row."""
    from trainer.model import GPTConfig

    fields = {"name": "micro", "n_layer": 2, "n_head": 2, "d_model": 16, "d_ffn": 64, "lr": 1e-2,
              "batch_size": 4, "adam_eps": 1e-8, "vocab_size": 256, "n_ctx": 16, "warmup_tokens": None,
              "warmup_fraction": 0.1, "budget_params": "non_embedding"}
    return GPTConfig(**{**fields, **overrides})


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "run")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Micro models on one intra-op thread: their tensors are too small to share, and on a busy
    two-core machine a second thread mostly spins, making each step several times slower."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
