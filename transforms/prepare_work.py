"""The fused local stage's work, without Beam: a chunk of an input's JSON lines in, everything the
rest of the run needs of them out, so that an in-process run parses, normalizes, filters and
tokenizes on every core (transforms/prepare.py runs it in child processes; DESIGN.md §8).

A chunk goes through exactly the functions the staged graph's DoFns call, in the same order:
parse_line (ReadPile), the normalizer and its cross-check (Normalize), apply_rules
(FilterDocuments), the tokenizer and its cross-check (Tokenize), and Pack's Batcher. What comes
back is small per document: reject and drop records (rare), the kept documents for WriteDocuments
(when they are written), and Pack's batches once a worker's buffers fill (the Batcher lives as
long as the worker, so batches are as large as in the staged graph).

    work = Work(setup)
    result = work.chunk("00.jsonl.zst", 0, b'{"text": "hi"}\\n')   # a dict, see Work.chunk
    result = work.flush()                                            # the buffered batches
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from schemas.records import Document, Drop
from transforms.errors import PileprepError
from transforms.normalizer import NormalizeConfig, fixer
from transforms.order import order_key
from transforms.pack_batches import Batcher
from transforms.parse import HEAD_BYTES, UNKNOWN_SOURCE, parse_line, reject_record
from transforms.provenance import CheckConfig, normalize_mismatch, tokenize_mismatch
from transforms.rules import Rule, apply_rules
from transforms.tokenizer import TokenizeConfig, load


@dataclasses.dataclass(frozen=True)
class PrepareSetup:
    """What a worker needs, shipped once when it starts."""
    normalize: NormalizeConfig
    check: CheckConfig
    rules: tuple[Rule, ...]
    tokenize: TokenizeConfig
    range_bits: int  # Pack's key ranges (PackConfig.range_bits)
    dtype: str  # the shards' dtype
    seed: int  # of the order key
    max_line_bytes: int  # ReadConfig.max_line_bytes: a longer line is rejected unparsed
    documents: bool  # keep the kept documents' text for WriteDocuments


def split_chunk(data: bytes) -> list[bytes]:
    """A chunk's lines: `data` ends with b"\\n" (a whole chunk) or is a file's last line."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the newline ending the chunk ends its last line; it does not start another
    return lines


class Work:
    """One worker's state: the normalizer, rules and tokenizer, loaded once, and Pack's buffers."""

    def __init__(self, setup: PrepareSetup):
        self.setup = setup
        self.fix = fixer(setup.normalize)
        self.plain = None if self.fix.path != "fast" else fixer(dataclasses.replace(setup.normalize, reference=True))
        self.tokenizer = load(setup.tokenize)
        self.tokenizer.prepare()
        self.batcher = Batcher(setup.range_bits, setup.dtype)

    def chunk(self, name: str, first_line: int, data: bytes) -> dict:
        """The chunk's lines, numbered from first_line + 1, through the whole per-document path.

        Returns {"lines", "documents" (parsed), "rejects", "drops", "kept" (documents for
        WriteDocuments, when written), "batches" (Pack's, when its buffers filled), "tokens",
        "normalized": {path: documents}, "normalize_checked", "tokenized": {backend: documents},
        "tokenize_checked"}; a cross-check mismatch raises PileprepError naming the document."""
        out = {"rejects": [], "drops": [], "kept": [], "batches": [], "documents": 0, "tokens": 0,
               "normalize_checked": 0, "tokenize_checked": 0, "tokenized": collections.Counter()}
        lines = split_chunk(data)
        for number, raw in enumerate(lines, first_line + 1):
            if len(raw) > self.setup.max_line_bytes:  # never parsed, as in ReadPile
                fields, reason, raw = None, "line_too_long", raw[:HEAD_BYTES]
            else:
                fields, reason = parse_line(raw)
            if reason is not None:
                out["rejects"].append(reject_record(name, number, reason, raw, fields["source"] if fields else UNKNOWN_SOURCE))
                continue
            out["documents"] += 1
            doc_id = f"{name}:{number}"
            self._document(out, Document(id=doc_id, source=fields["source"], text=fields["text"],
                                         order_key=order_key(self.setup.seed, doc_id)))
        out["lines"] = len(lines)
        out["normalized"] = {self.fix.path: out["documents"]}
        return out

    def _document(self, out: dict, doc: Document) -> None:
        text_in = doc["text"]
        text = self.fix(text_in)
        check = self.setup.check.sampled(doc["id"])
        if self.plain is not None and check:
            out["normalize_checked"] += 1
            if self.plain(text_in) != text:
                raise PileprepError(normalize_mismatch(doc["id"]))
        changed = text != text_in
        kept, rule, edited, edits = apply_rules(doc["source"], text, self.setup.rules)
        if not kept:
            out["drops"].append(Drop(id=doc["id"], source=doc["source"], rule=rule,
                                     chars_before_filter=len(text), changed=changed))
            return
        doc = {**doc, "text": edited, "changed": changed, "chars_in": len(text_in), "edits": edits,
               "chars_before_filter": len(text)}
        ids, backends = self.tokenizer.tokenize(edited)
        out["tokenized"].update(backends)
        out["tokenize_checked"] += check
        if check and not np.array_equal(ids, self.tokenizer.plain_ids(edited)):
            raise PileprepError(tokenize_mismatch(doc["id"], self.tokenizer.backend))
        out["tokens"] += len(ids)
        if self.setup.documents:
            out["kept"].append(doc)
        out["batches"] += self.batcher.add({**doc, "ids": ids})

    def flush(self) -> dict:
        """Pack's buffered batches: at the end of the parent's bundle."""
        return {"batches": self.batcher.flush()}
