"""The fused local stage's work, without Beam: a chunk of an input's JSON lines in, everything the
rest of the run needs of them out, so that an in-process run parses, normalizes, filters and
tokenizes on every core (transforms/prepare.py runs it in child processes; DESIGN.md §8).

A chunk goes through exactly the functions the staged graph's DoFns call, in the same order:
parse_limited (ReadPile), `fixed` and its cross-check (Normalize), filter_document
(FilterDocuments), the tokenizer and its cross-check (Tokenize), then the epoch's columns
(transforms/epoch.py) that become Pack's batches and WriteDocuments' sorted runs. Nothing comes
back per kept document: a chunk's answer holds its reject and drop records (rare) and counts;
Pack's batches and the documents' runs come
when an epoch ends (the buffers live as long as the worker, so batches are as large as in the
staged graph), as spill references when the epoch was written to a resume entry.

    work = Work(setup.normalize, setup.tokenize)
    result = work.chunk(setup, "00.jsonl.zst", 0, b'{"text": "hi"}\\n')   # a dict, see Work.chunk
    result = work.flush()                                                   # the epoch's batches and runs
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from schemas.records import Document
from transforms.errors import PileprepError
from transforms.normalizer import NormalizeConfig, fixed, fixer
from transforms.order import order_key
from transforms.epoch import Epoch
from transforms.parse import parse_limited, reject_record
from transforms.provenance import CheckConfig, tokenize_mismatch
from transforms.resume import chunk_key, write_entry
from transforms.rules import Rule, filter_document
from transforms.tokenizer import TokenizeConfig, load

EPOCH_BYTES = 8 << 20  # with resume: bytes of ids a worker holds before it writes an entry; a kill
# loses at most this much work per worker, and a worker holds this and the epoch's texts in memory
EPOCH_CHARS = 16 << 20  # ... or characters of the kept documents' texts
EPOCH_DOCS = 1 << 14  # ... or documents: what the epoch's columns and the payloads made at its end
# cost grows with its documents (~700 bytes each at the end, benchmarks/TINY.md §7), so a worker
# holds about one chunk of tiny documents (2 MB of lines: ~17,000 of ~120 characters) at a time


@dataclasses.dataclass(frozen=True)
class PrepareSetup:
    """What shapes a run's work. A worker loads `normalize` and `tokenize` once when it starts
    (they key the pool: transforms/prepare_processes.py); the rest comes with every chunk, so that
    one set of workers serves every run of a process (tests, notebooks) without restarting."""
    normalize: NormalizeConfig
    check: CheckConfig
    rules: tuple[Rule, ...]
    tokenize: TokenizeConfig
    range_bits: int  # Pack's key ranges (PackConfig.range_bits)
    dtype: str  # the shards' dtype
    seed: int  # of the order key
    max_line_bytes: int  # ReadConfig.max_line_bytes: a longer line is rejected unparsed
    document_files: int  # WriteDocuments' files (0: documents are not written)
    # With resume (local runs): each epoch is written to an entry file in resume_dir, linked into
    # spill_dir (transforms/resume.py), and `fingerprint` marks what shaped it
    resume_dir: str | None = None
    spill_dir: str | None = None
    fingerprint: str = ""


def split_chunk(data: bytes) -> list[bytes]:
    """A chunk's lines: `data` ends with b"\\n" (a whole chunk) or is a file's last line."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the newline ending the chunk ends its last line; it does not start another
    return lines


class Work:
    """One worker's state: the normalizer, rules and tokenizer, loaded once, and the epoch's
    buffers: Pack's batches and the kept documents. An epoch ends only between chunks (so that a
    resume entry holds whole chunks): when its buffers fill, when a chunk of another input comes,
    and at flush()."""

    def __init__(self, normalize: NormalizeConfig, tokenize: TokenizeConfig):
        self.fix = fixer(normalize)
        self.plain = None if self.fix.path != "fast" else fixer(dataclasses.replace(normalize, reference=True))
        self.tokenizer = load(tokenize)
        self.tokenizer.prepare()
        self.setup, self.bundle = None, None  # the parent's bundle the epoch belongs to, and its setup
        self._start(None, None)

    def _start(self, setup: PrepareSetup | None, bundle: str | None):
        """A new bundle: an epoch of another one is dropped (that bundle failed: a worker outlives
        a failed run in the same process, and its work must not reach another run)."""
        self.setup, self.bundle = setup, bundle
        # the epoch's kept documents, in columns: Pack's rows and ids, and the texts for WriteDocuments
        self.kept = Epoch(setup.range_bits, setup.dtype, setup.document_files) if setup else None
        self.item, self.epoch = None, {}  # the input of the epoch's chunks; chunk key -> results

    def _full(self) -> bool:
        return self.kept.full(EPOCH_DOCS, EPOCH_BYTES, EPOCH_CHARS)

    def _end_epoch(self) -> dict:
        """{"batches": Pack's, "runs": WriteDocuments' sorted runs, (file, payload)}; with resume,
        written to an entry with the epoch's chunks' results, and returned as spill references."""
        batches, runs = self.kept.end()
        if self.setup.resume_dir and self.epoch:
            batches, runs = write_entry(self.setup.resume_dir, self.setup.spill_dir, self.setup.fingerprint,
                                        self.item, self.epoch, batches, runs)
        self.epoch = {}
        return {"batches": batches, "runs": runs}

    def chunk(self, setup: PrepareSetup, name: str, first_line: int, data: bytes, item: tuple = (),
              bundle: str = "") -> dict:
        """The chunk's lines, numbered from first_line + 1, through the whole per-document path;
        `item` names its input (name, size, line range start): an epoch never spans two; `bundle`
        the parent's bundle (see _start).

        Returns {"lines", "documents" (parsed), "rejects", "drops", "tokens", "normalized": {path:
        documents}, "normalize_checked", "tokenized": {backend: documents}, "tokenize_checked",
        "ended": [_end_epoch's answers, when epochs ended]}; a cross-check mismatch raises
        PileprepError naming the document."""
        if bundle != self.bundle or setup != self.setup:
            self._start(setup, bundle)
        ended = [self._end_epoch()] if item != self.item and self.epoch else []
        self.item = item
        out = {"rejects": [], "drops": [], "documents": 0, "tokens": 0, "normalize_checked": 0,
               "tokenize_checked": 0, "tokenized": collections.Counter()}
        lines, kept = split_chunk(data), []
        for number, raw in enumerate(lines, first_line + 1):
            fields, reason, raw = parse_limited(raw, self.setup.max_line_bytes)
            if reason is not None:
                out["rejects"].append(reject_record(name, number, reason, raw, fields))
                continue
            out["documents"] += 1
            doc_id = f"{name}:{number}"
            doc = self._filtered(out, Document(id=doc_id, source=fields["source"], text=fields["text"],
                                               order_key=order_key(self.setup.seed, doc_id)))
            if doc is not None:
                kept.append(doc)
        # the chunk's kept texts tokenized at once: tokie's pieces of all of them in one call
        for doc, (ids, backends) in zip(kept, self.tokenizer.tokenize_many([d["text"] for d in kept])):
            self._tokenized(out, doc, ids, backends)
        self.kept.seal()  # the chunk's documents, in columns
        out["lines"] = len(lines)
        out["normalized"] = {self.fix.path: out["documents"]}
        self.epoch[chunk_key(first_line, data)] = out
        return {**out, "ended": ended + ([self._end_epoch()] if self._full() else [])}

    def _filtered(self, out: dict, doc: Document) -> dict | None:
        """The document normalized and through the rules, or None (its drop recorded)."""
        plain = self.plain if self.setup.check.sampled(doc["id"]) else None  # the normalizer's
        out["normalize_checked"] += plain is not None  # cross-check: only behind the fast path
        doc, drop = filter_document(fixed(doc, self.fix, plain), self.setup.rules)
        if drop is not None:
            out["drops"].append(drop)
        return doc

    def _tokenized(self, out: dict, doc: dict, ids, backends) -> None:
        check, edited = self.setup.check.sampled(doc["id"]), doc["text"]
        out["tokenized"].update(backends)
        out["tokenize_checked"] += check
        if check and not np.array_equal(ids, self.tokenizer.plain_ids(edited)):
            raise PileprepError(tokenize_mismatch(doc["id"], self.tokenizer.backend))
        out["tokens"] += len(ids)
        self.kept.add(doc, ids)

    def flush(self, bundle: str = "") -> dict:
        """The epoch's end, at the end of the parent's bundle: {"ended": [_end_epoch's answer]}."""
        return {"ended": [self._end_epoch()] if self.epoch and bundle == self.bundle else []}

