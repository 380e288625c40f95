"""The fused stage's worker processes: `python -m transforms.prepare_processes` children, each a
transforms/prepare_work.py Work, fed chunks of JSON lines by transforms/prepare.py. Requests and
answers are pickled (both ends are this program; the answers hold the records and Pack's batches).

    pool = prepare_pool(setup, 2)
    pool.submit_chunk(setup, "00.jsonl.zst", 0, b'{"text": "hi"}\\n').result()   # Work.chunk's dict
    pool.flush()                                                         # one answer per child
"""
from __future__ import annotations

import os
import pickle
import threading

from transforms.children import ChildFailed, Children, frame, read_frame, retire, serve_forever, shared
from transforms.errors import PileprepError
from transforms.memory import release_memory
from transforms.normalizer import NormalizeConfig
from transforms.prepare_work import PrepareSetup, Work
from transforms.tokenizer import TokenizeConfig

_PROTOCOL = 5


class PrepareProcesses(Children):
    def __init__(self, normalize: NormalizeConfig, tokenize: TokenizeConfig, processes: int):
        super().__init__("transforms.prepare_processes", pickle.dumps((normalize, tokenize), protocol=_PROTOCOL),
                         processes)
        self._pids = {proc.pid for proc in self._procs}
        self._flushing = threading.Lock()  # two flushes at once would each hold some children at its barrier

    def submit_chunk(self, setup: PrepareSetup, name: str, first_line: int, data: bytes, item: tuple = (),
                     bundle: str = ""):
        """A Future of Work.chunk's answer (or {"error": message} for a PileprepError)."""
        return self.submit(("chunk", setup, name, first_line, data, item, bundle))

    def flush(self, bundle: str = "") -> list[dict]:
        """Every child's buffered batches, once each. Call with no chunk outstanding: each child's
        thread takes exactly one flush request, then waits for the others at a barrier."""
        if not self.alive():
            raise self._failed(next((p.poll() for p in self._procs if p.poll() is not None), -9))
        with self._flushing:
            barrier = threading.Barrier(len(self._procs))
            answers = [f.result() for f in [self.submit(("flush", barrier, bundle)) for _ in self._procs]]
        if {a["pid"] for a in answers} != self._pids:  # a child flushed twice, another never: lost batches
            raise RuntimeError("the worker processes were not each flushed once: a bug in pileprep, please report it")
        return answers

    def _talk(self, proc, item):
        barrier = item[1] if item[0] == "flush" else None
        try:
            proc.stdin.write(frame(pickle.dumps(item if barrier is None else ("flush", item[2]), protocol=_PROTOCOL)))
            proc.stdin.flush()
            answer = pickle.loads(read_frame(proc.stdout))
        except (OSError, EOFError, ValueError):
            if barrier is not None:
                barrier.abort()
            raise
        if barrier is not None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass  # another child failed: flush() reports it
        return answer

    def _failed(self, code: int) -> ChildFailed:
        return ChildFailed(code, "worker process", "preparing")


def _serve(stdin, stdout) -> None:
    """The child's loop: the setup, then chunks and flushes until the parent closes the pipe."""
    work = Work(*pickle.loads(read_frame(stdin)))
    while True:
        try:
            request = pickle.loads(read_frame(stdin))
        except EOFError:
            return
        if request[0] == "flush":
            answer = {**work.flush(request[1]), "pid": os.getpid()}
        else:
            try:
                answer = work.chunk(*request[1:])
            except PileprepError as e:
                answer = {"error": str(e)}
        stdout.write(frame(pickle.dumps(answer, protocol=_PROTOCOL)))
        stdout.flush()
        if answer.get("ended"):  # an epoch's buffers were freed: its high-water mark need not stay
            del answer
            release_memory()


def prepare_pool(setup: PrepareSetup, processes: int) -> PrepareProcesses:
    """This process's PrepareProcesses for a setup's normalizer and tokenizer, started by
    start_workers (pipeline/run.py starts them before Beam is imported, so that they load while the
    graph is built) or now; they serve later runs too, unless retired."""
    return start_workers(setup.normalize, setup.tokenize, processes)


def start_workers(normalize: NormalizeConfig, tokenize: TokenizeConfig, processes: int) -> PrepareProcesses:
    return shared(_key(normalize, tokenize, processes), lambda: PrepareProcesses(normalize, tokenize, processes))


def retire_pool(setup: PrepareSetup, processes: int) -> None:
    """End the workers prepare_pool started (they are started again when next asked for)."""
    retire(_key(setup.normalize, setup.tokenize, processes))


def _key(normalize: NormalizeConfig, tokenize: TokenizeConfig, processes: int) -> tuple:
    return "prepare", normalize, tokenize, processes


if __name__ == "__main__":
    import sys

    serve_forever(_serve, sys.stdin.buffer, sys.stdout.buffer)
