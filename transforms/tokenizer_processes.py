"""Tokenizer processes: `processes` children (`python -m transforms.tokenizer_processes`), each
with the tokenizer loaded, fed batches of texts over their pipes, so that an in-process run
tokenizes on every core (tiktoken holds the GIL: threads would not help). Beam-free, so that a
child starts in a fraction of a second; transforms/tokenize.py's Tokenize feeds them.

    pool = tokenizer_pool(TokenizeConfig(), 2)
    pool.submit(["Hello world"], [True]).result()   # ([array([15496, 995], dtype=uint16)], report)
"""
from __future__ import annotations

import collections
import json

import numpy as np

from transforms.children import U64, Children, frame, read_frame, serve_forever, shared
from transforms.tokenizer import TokenizeConfig, load

POOL_BATCH_CHARS = 1 << 20  # characters of text per task sent to a tokenizer process


class TokenizerProcesses(Children):
    """`processes` children (`python -m transforms.tokenizer_processes`), each with the tokenizer
    loaded: texts go as UTF-8 in, ids come back as raw arrays (no pickle)."""

    def __init__(self, config: TokenizeConfig, processes: int):
        import dataclasses

        self.config, self.dtype = config, load(config).dtype
        super().__init__("transforms.tokenizer_processes", json.dumps(dataclasses.asdict(config)).encode(), processes)

    def submit(self, texts: list[str], checks: list[bool]):
        """A Future of (ids of each text, report): report["mismatches"] lists the indexes of the
        texts to check whose ids differ from `Tokenizer.plain_ids`, report["used"] counts the
        documents each backend gave ids for."""
        return super().submit((texts, checks))

    def _talk(self, proc, item):
        texts, checks = item
        request = [U64.pack(len(texts)), frame(bytes(map(bool, checks)))]
        request += [frame(t.encode("utf-8", "surrogatepass")) for t in texts]
        proc.stdin.write(b"".join(request))
        proc.stdin.flush()
        ids = [np.frombuffer(read_frame(proc.stdout), dtype=self.dtype) for _ in texts]
        return ids, json.loads(read_frame(proc.stdout))


def _serve(stdin, stdout) -> None:
    """The child's loop: the config, then batches of texts until the parent closes the pipe."""
    tokenizer = load(TokenizeConfig(**json.loads(read_frame(stdin))))
    tokenizer.prepare()
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        # the whole batch is read before any answer is written: the parent writes all of it before
        # it reads, so answering early could fill both pipes and stop both processes
        checks = read_frame(stdin)
        texts = [read_frame(stdin).decode("utf-8", "surrogatepass") for _ in range(U64.unpack(header)[0])]
        mismatches, used = [], collections.Counter()
        for i, (text, (ids, backends)) in enumerate(zip(texts, tokenizer.tokenize_many(texts))):
            used.update(backends)
            if checks[i] and not np.array_equal(ids, tokenizer.plain_ids(text)):
                mismatches.append(i)
            stdout.write(frame(ids.tobytes()))
        stdout.write(frame(json.dumps({"mismatches": mismatches, "used": used}).encode()))
        stdout.flush()


def tokenizer_pool(config: TokenizeConfig, processes: int) -> TokenizerProcesses:
    """The TokenizerProcesses of this process for a config: started early (Tokenize does, as the
    graph is built), they are ready when the first documents arrive."""
    return shared(("tokenize", config, processes), lambda: TokenizerProcesses(config, processes))


if __name__ == "__main__":
    import sys

    serve_forever(_serve, sys.stdin.buffer, sys.stdout.buffer)
