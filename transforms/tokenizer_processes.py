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
import os
import struct

import numpy as np

from transforms.tokenizer import TokenizeConfig, load

POOL_BATCH_CHARS = 1 << 20  # characters of text per task sent to a tokenizer process
_POOLS: dict = {}  # (config, processes) -> TokenizerProcesses, shared by the DoFns of this process
_U64 = struct.Struct("<Q")


def _read_exactly(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _read_frame(stream) -> bytes:
    return _read_exactly(stream, _U64.unpack(_read_exactly(stream, 8))[0])


def _frame(data: bytes) -> bytes:
    return _U64.pack(len(data)) + data


class ChildFailed(Exception):
    """A tokenizer process ended in the middle of a batch."""

    def __init__(self, code: int):
        self.code = code
        super().__init__(code)

    def explain(self, documents: str) -> str:
        """What happened, for a batch holding `documents`, and what to do about it."""
        import signal

        if self.code < 0:  # killed: by the kernel's out-of-memory killer, a user, a reboot
            name = signal.Signals(-self.code).name if -self.code in signal.valid_signals() else -self.code
            return (f"a tokenizer process was killed ({name}) while tokenizing {documents}: if the machine "
                    f"ran out of memory, free some or use fewer --direct_num_workers, then run the same command "
                    f"again (an interrupted run's output is replaced)")
        return (f"a tokenizer process failed (exit code {self.code}) while tokenizing {documents}; its "
                f"traceback is above. This is a bug in pileprep: please report it with that traceback")


class TokenizerProcesses:
    """`processes` child processes (`python -m transforms.tokenizer_processes`), each with the
    tokenizer loaded, fed by one thread each from a shared queue: submit(texts) returns a Future of
    their ids. The children are plain subprocesses speaking length-prefixed frames over their pipes
    (texts as UTF-8 in, ids as raw arrays out; no pickle), so they never re-import the user's
    main module as multiprocessing's spawn would."""

    def __init__(self, config: TokenizeConfig, processes: int):
        import dataclasses
        import queue
        import subprocess
        import sys
        import threading

        self.config, self.dtype = config, load(config).dtype
        self._queue = queue.Queue()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        setup = _frame(json.dumps(dataclasses.asdict(config)).encode())
        self._procs = []
        for _ in range(processes):
            proc = subprocess.Popen([sys.executable, "-m", "transforms.tokenizer_processes"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            proc.stdin.write(setup)
            proc.stdin.flush()
            self._procs.append(proc)
        self._threads = [threading.Thread(target=self._feed, args=(proc,), daemon=True) for proc in self._procs]
        for thread in self._threads:
            thread.start()

    def submit(self, texts: list[str], checks: list[bool]):
        """A Future of (ids of each text, report): report["mismatches"] lists the indexes of the
        texts to check whose ids differ from `Tokenizer.plain_ids`, report["used"] counts the
        documents each backend gave ids for."""
        from concurrent.futures import Future

        future = Future()
        self._queue.put((texts, checks, future))
        return future

    def _feed(self, proc):
        while True:
            item = self._queue.get()
            if item is None:
                return
            texts, checks, future = item
            try:
                request = [_U64.pack(len(texts)), _frame(bytes(map(bool, checks)))]
                request += [_frame(t.encode("utf-8", "surrogatepass")) for t in texts]
                proc.stdin.write(b"".join(request))
                proc.stdin.flush()
                ids = [np.frombuffer(_read_frame(proc.stdout), dtype=self.dtype) for _ in texts]
                future.set_result((ids, json.loads(_read_frame(proc.stdout))))
            except (OSError, EOFError, ValueError):
                future.set_exception(ChildFailed(proc.wait()))
                return

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self._procs) and all(t.is_alive() for t in self._threads)

    def close(self):
        for _ in self._threads:
            self._queue.put(None)
        for proc in self._procs:
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()


def _serve(stdin, stdout) -> None:
    """The child's loop: the config, then batches of texts until the parent closes the pipe."""
    tokenizer = load(TokenizeConfig(**json.loads(_read_frame(stdin))))
    tokenizer.prepare()
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        # the whole batch is read before any answer is written: the parent writes all of it before
        # it reads, so answering early could fill both pipes and stop both processes
        checks = _read_frame(stdin)
        texts = [_read_frame(stdin).decode("utf-8", "surrogatepass") for _ in range(_U64.unpack(header)[0])]
        mismatches, used = [], collections.Counter()
        for i, text in enumerate(texts):
            ids, backends = tokenizer.tokenize(text)
            used.update(backends)
            if checks[i] and not np.array_equal(ids, tokenizer.plain_ids(text)):
                mismatches.append(i)
            stdout.write(_frame(ids.tobytes()))
        stdout.write(_frame(json.dumps({"mismatches": mismatches, "used": used}).encode()))
        stdout.flush()


def tokenizer_pool(config: TokenizeConfig, processes: int) -> TokenizerProcesses:
    """The TokenizerProcesses of this process for a config: started early (Tokenize does, as the
    graph is built), they are ready when the first documents arrive."""
    key = (config, processes)
    if key in _POOLS and not _POOLS[key].alive():  # a child died (killed, out of memory): start afresh
        _POOLS.pop(key).close()
    if key not in _POOLS:
        import atexit

        if not _POOLS:
            atexit.register(close_pools)
        _POOLS[key] = TokenizerProcesses(config, processes)
    return _POOLS[key]


def close_pools() -> None:
    """Close every pool of this process (registered to run at exit)."""
    while _POOLS:
        _POOLS.popitem()[1].close()


if __name__ == "__main__":
    import signal
    import sys

    # Ctrl-C reaches the whole process group: the parent reports it; a child just ends when its
    # pipe closes, without a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin.buffer, sys.stdout.buffer)
