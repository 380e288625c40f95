"""A fused worker's epoch in columns (transforms/epoch.py): the payloads Batcher and
document_batches make of the same documents, whatever the chunks."""
import numpy as np
import pyarrow as pa
import pytest

from transforms.document_runs import document_batches, merge_runs
from transforms.epoch import Epoch
from transforms.pack_batches import Batcher, decode


def _docs(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(count):
        text = "ab\u2019c " * int(rng.integers(0, 30))
        edits = {"lines": int(rng.integers(1, 3))} if i % 7 == 0 else {}
        doc = {"id": f"x.jsonl.zst:{i + 1}", "source": ["Pile-CC", "ArXiv", "Github"][i % 3], "text": text,
               "order_key": int(rng.integers(0, 2**64, dtype=np.uint64)), "changed": i % 5 == 0,
               "chars_in": len(text) + i % 4, "edits": edits, "chars_before_filter": len(text) + 3 * bool(edits)}
        if i % 11 == 0:  # a document that met no rule carries neither
            del doc["edits"], doc["chars_before_filter"]
        yield doc, rng.integers(0, 50000, size=int(rng.integers(0, 40))).astype(np.uint16)


@pytest.mark.parametrize("files", [0, 1, 3])
@pytest.mark.parametrize("chunk", [1, 97, 5000])
def test_an_epoch_sends_what_batcher_and_document_batches_send(files, chunk):
    docs = list(_docs(2000))
    batcher, epoch = Batcher(bits=4, dtype="uint16", max_docs=1 << 62, max_bytes=1 << 62), Epoch(4, "uint16", files)
    for i, (doc, ids) in enumerate(docs):
        batcher.add({**doc, "ids": ids})
        epoch.add(doc, ids)
        if (i + 1) % chunk == 0:
            epoch.seal()
    assert epoch.docs == len(docs) and epoch.id_bytes == sum(ids.nbytes for _, ids in docs)
    batches, runs = epoch.end()
    expected = batcher.flush()
    assert [(k, t) for k, _, t in batches] == [(k, t) for k, _, t in expected]
    for (_, got, _), (_, want, _) in zip(batches, expected):
        (table, ids), (table_want, ids_want) = decode(got, "uint16"), decode(want, "uint16")
        assert table.equals(table_want) and np.array_equal(ids, ids_want)
    want_runs = document_batches([doc for doc, _ in docs], files) if files else []
    assert [f for f, _ in runs] == [f for f, _ in want_runs]
    for (_, got), (_, want) in zip(runs, want_runs):
        assert pa.concat_tables(merge_runs([got])).equals(pa.concat_tables(merge_runs([want])))
    assert epoch.end() == ([], []) and epoch.docs == 0
