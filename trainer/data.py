"""Training samples from a pileprep run: rows read through manifest.json from memory-mapped shards.

A sample is one 2049-token row: x = row[:ctx], y = row[1:ctx + 1], with ctx the model's context
(2048 for the Cerebras-GPT sizes, a shorter window for the tiny ones). Shards are opened with
`np.load(mmap_mode="r", allow_pickle=False)`, so a batch touches only its own rows. Each epoch
visits every row exactly once, in a permutation seeded by (seed, epoch); the position in it is
two integers, which is all a checkpoint needs to resume the data stream exactly.

    from trainer.model import get_config
    rows = ShardRows("out/", get_config("111M"))  # refuses a run packed for another tokenizer
    order = EpochOrder(len(rows), seed=0)
    x, y = rows.batch(order.take(8))  # two (8, 2048) int64 tensors
"""
import numpy as np
import torch

from schemas.run import load_manifest, open_shard, safe_path
from trainer.model import GPTConfig
from transforms.errors import ConfigError


def check_manifest(manifest: dict, config: GPTConfig, directory: str) -> None:
    """Raise ValueError naming every field of the run that the model cannot train on."""
    tokenizer = manifest.get("tokenizer") or {}
    wrong = []
    if tokenizer.get("vocab_size") != config.vocab_size:
        wrong.append(f"tokenizer vocab_size is {tokenizer.get('vocab_size')}, model {config.name} has "
                     f"{config.vocab_size} (pack the run with the GPT-2 tokenizer, --tokenizer gpt2)")
    if manifest.get("seq_len") != config.seq_len or manifest.get("row_len") != config.seq_len + 1:
        wrong.append(f"seq_len is {manifest.get('seq_len')} (rows of {manifest.get('row_len')} tokens), "
                     f"model {config.name} trains on rows of {config.seq_len + 1} tokens")
    for where, dtype in (("dtype", manifest.get("dtype")), ("tokenizer dtype", tokenizer.get("dtype"))):
        if dtype != config.token_dtype:
            wrong.append(f"{where} is {dtype}, model {config.name} reads {config.token_dtype} token ids")
    if wrong:
        raise ConfigError(f"run {directory} does not match model {config.name}: " + "; ".join(wrong))


class ShardRows:
    """Rows [start, start + limit) of a run's shards, in stream order, opened lazily as memory maps."""

    def __init__(self, directory: str, config: GPTConfig, *, start: int = 0, limit: int | None = None):
        manifest = load_manifest(directory)
        check_manifest(manifest, config, directory)
        self.directory, self.config, self.manifest = directory, config, manifest
        self._paths, ends = [], []
        for entry in manifest["shards"]:
            self._paths.append(safe_path(directory, entry.get("path")))
            ends.append((ends[-1] if ends else 0) + int(entry["rows"]))
        self._ends = np.array(ends, dtype=np.int64)
        total = int(self._ends[-1]) if ends else 0
        limit = total - start if limit is None else limit
        if start < 0 or limit < 1 or start + limit > total:
            raise ConfigError(f"run {directory} has {total} rows; rows [{start}, {start + limit}) are not "
                             f"all in it: pack a larger run or ask for fewer rows")
        self.start, self.rows = start, limit
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.rows

    def __getstate__(self):  # memory maps are reopened in each DataLoader worker, never pickled
        return {**self.__dict__, "_maps": {}}

    def _shard(self, k: int) -> np.ndarray:
        if k not in self._maps:
            expected = int(self._ends[k] - (self._ends[k - 1] if k else 0))
            # check_manifest matched the run to the model; open_shard checks each shard against it
            self._maps[k] = open_shard(self._paths[k], dtype=self.config.token_dtype, rows=expected)
        return self._maps[k]

    def row(self, i: int) -> np.ndarray:
        """Row i of this range (a read-only view into the memory map)."""
        if not 0 <= i < self.rows:
            raise IndexError(f"row {i} outside 0..{self.rows - 1}")
        i += self.start
        k = int(np.searchsorted(self._ends, i, side="right"))
        return self._shard(k)[i - (int(self._ends[k - 1]) if k else 0)]

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        window = self.row(i)[: self.config.n_ctx + 1].astype(np.int64)  # copies only ctx + 1 tokens
        return window[:-1], window[1:]

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        windows = np.stack([self.row(int(i))[: self.config.n_ctx + 1] for i in indices]).astype(np.int64)
        windows = torch.from_numpy(windows)
        return windows[:, :-1], windows[:, 1:]


class EpochOrder:
    """Row indices, epoch after epoch, each epoch a permutation seeded by (seed, epoch)."""

    def __init__(self, rows: int, seed: int, *, epoch: int = 0, offset: int = 0):
        self.rows, self.seed, self.epoch, self.offset = rows, seed, epoch, offset
        self._perm = self.permutation(epoch)

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.rows)

    def take(self, k: int) -> np.ndarray:
        out = []
        while k:
            if self.offset == self.rows:
                self.epoch, self.offset = self.epoch + 1, 0
                self._perm = self.permutation(self.epoch)
            n = min(k, self.rows - self.offset)
            out.append(self._perm[self.offset:self.offset + n])
            self.offset, k = self.offset + n, k - n
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def state_dict(self) -> dict:
        return {"rows": self.rows, "seed": self.seed, "epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: dict) -> None:
        if (state["rows"], state["seed"]) != (self.rows, self.seed):
            raise ConfigError(f"checkpoint's data order is over {state['rows']} rows with seed {state['seed']}, "
                               f"this run has {self.rows} rows and seed {self.seed}: resume with the same run and --seed")
        self.epoch, self.offset = state["epoch"], state["offset"]
        self._perm = self.permutation(self.epoch)


class RowDataset(torch.utils.data.Dataset):
    """A map-style Dataset of (x, y) samples, for torch.utils.data.DataLoader."""

    def __init__(self, directory: str, config: GPTConfig, *, start: int = 0, limit: int | None = None):
        self.rows = ShardRows(directory, config, start=start, limit=limit)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.rows.sample(i)
        return torch.from_numpy(x), torch.from_numpy(y)
