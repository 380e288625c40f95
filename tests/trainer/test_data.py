import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.trainer.conftest import micro_config, write_run
from trainer.data import EpochOrder, RowDataset, ShardRows
from transforms.errors import PileprepError


def test_rows_follow_stream_order_across_shards_and_samples_are_shifted_windows(run_dir):
    rows = ShardRows(run_dir, micro_config())
    assert len(rows) == 20
    for i in range(19):  # consecutive rows overlap by one token, across the shard boundary too
        assert rows.row(i)[-1] == rows.row(i + 1)[0]
    x, y = rows.sample(13)
    row = np.load(os.path.join(run_dir, "shards/shard-00001.npy"))[1]
    assert x.dtype == np.int64 and np.array_equal(x, row[:16]) and np.array_equal(y, row[1:17])
    bx, by = rows.batch([13, 2])
    assert bx.shape == by.shape == (2, 16) and torch.equal(bx[0], torch.from_numpy(x))
    assert isinstance(rows._shard(1), np.memmap)  # memory-mapped, never loaded whole


def test_start_and_limit_select_a_range(run_dir):
    rows = ShardRows(run_dir, micro_config(), start=5, limit=10)
    whole = ShardRows(run_dir, micro_config())
    assert len(rows) == 10 and np.array_equal(rows.row(0), whole.row(5)) and np.array_equal(rows.row(9), whole.row(14))
    with pytest.raises(IndexError):
        rows.row(10)
    with pytest.raises(ValueError, match="has 20 rows; rows \\[15, 25\\)"):
        ShardRows(run_dir, micro_config(), start=15, limit=10)


def test_every_row_exactly_once_per_epoch_in_a_seeded_order():
    order = EpochOrder(20, seed=3)
    stream = np.concatenate([order.take(7) for _ in range(9)])  # 63 indices: crosses two epoch boundaries
    epochs = [stream[:20], stream[20:40], stream[40:60]]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(20))
    assert not np.array_equal(epochs[0], epochs[1])
    assert np.array_equal(stream, np.concatenate([EpochOrder(20, seed=3).take(63)]))
    assert not np.array_equal(EpochOrder(20, seed=4).take(20), epochs[0])
    assert order.state_dict() == {"rows": 20, "seed": 3, "epoch": 3, "offset": 3}


def test_order_resumes_from_its_state():
    a = EpochOrder(20, seed=1)
    a.take(27)
    b = EpochOrder(20, seed=1)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.take(30), b.take(30))
    with pytest.raises(ValueError, match="resume with the same run and --seed"):
        EpochOrder(20, seed=2).load_state_dict(a.state_dict())


@pytest.mark.parametrize("kwargs, message", [
    ({"tokenizer_vocab": 50257}, "tokenizer vocab_size is 50257, model micro has 256"),
    ({"seq_len": 1024}, "seq_len is 1024 \\(rows of 1025 tokens\\), model micro trains on rows of 2049"),
    ({"dtype": "uint32"}, "dtype is uint32, model micro reads uint16"),
])
def test_a_mismatched_manifest_is_refused_with_a_message_naming_the_field(tmp_path, kwargs, message):
    directory = write_run(tmp_path / "run", **kwargs)
    with pytest.raises(ValueError, match=f"does not match model micro: .*{message}"):
        ShardRows(directory, micro_config())


def test_a_shard_that_disagrees_with_the_manifest_is_refused(run_dir):
    np.save(os.path.join(run_dir, "shards/shard-00001.npy"), np.zeros((8, 2049), dtype=np.int32))
    rows = ShardRows(run_dir, micro_config())
    rows.row(0)
    with pytest.raises(PileprepError, match="holds int32 \\(8, 2049\\), the manifest says uint16"):
        rows.row(15)


def test_paths_leaving_the_run_and_missing_manifests_are_refused(run_dir, tmp_path):
    path = os.path.join(run_dir, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    manifest["shards"][0]["path"] = "../elsewhere.npy"
    with open(path, "w") as f:
        json.dump(manifest, f)
    with pytest.raises(PileprepError, match="leaves .*refused"):
        ShardRows(run_dir, micro_config())
    with pytest.raises(PileprepError, match="no manifest.json"):
        ShardRows(str(tmp_path / "nothing"), micro_config())


def test_dataset_works_with_a_dataloader(run_dir):
    dataset = RowDataset(run_dir, micro_config())
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, shuffle=False)
    batches = list(loader)
    assert len(batches) == 4 and batches[0][0].shape == (5, 16)
    assert torch.equal(batches[0][1][:, :-1], batches[0][0][:, 1:])
