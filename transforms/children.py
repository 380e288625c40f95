"""Child processes that work for an in-process run: `python -m <module>` children, each fed by one
thread of this process from a shared queue, speaking length-prefixed frames over their pipes. They
are plain subprocesses, so they never re-import the user's main module as multiprocessing's spawn
would, and Beam-free, so that they start in a fraction of a second. The tokenizer processes
(transforms/tokenizer_processes.py) and the fused stage's workers (transforms/prepare_processes.py)
are Children.

    pool = shared(("key",), lambda: Children("some.module", setup, 2))  # one per key and process
    pool.submit(item).result()                          # what a subclass's _talk returned
"""
from __future__ import annotations

import os
import struct
import time

U64 = struct.Struct("<Q")
CLOSE_SECONDS = 0.5  # how long close() waits for its children to end before killing them
_POOLS: dict = {}  # key -> Children, shared by the DoFns of this process
# `python -m module` that ignores Ctrl-C from its first statement: it reaches the whole process group
# and the parent reports it, while a child still importing its modules (seconds on a busy machine)
# would print a KeyboardInterrupt traceback of its own
_RUN_MODULE = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
               "runpy.run_module(sys.argv[1], run_name='__main__', alter_sys=True)")


def read_exactly(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def read_frame(stream) -> bytes:
    return read_exactly(stream, U64.unpack(read_exactly(stream, 8))[0])


def frame(data: bytes) -> bytes:
    return U64.pack(len(data)) + data


class ChildFailed(Exception):
    """A child process ended in the middle of a task."""

    def __init__(self, code: int, role: str = "tokenizer process", doing: str = "tokenizing"):
        self.code, self.role, self.doing = code, role, doing
        super().__init__(code)

    def explain(self, documents: str) -> str:
        """What happened, for a task holding `documents`, and what to do about it."""
        import signal

        if self.code < 0:  # killed: by the kernel's out-of-memory killer, a user, a reboot
            name = signal.Signals(-self.code).name if -self.code in signal.valid_signals() else -self.code
            return (f"a {self.role} was killed ({name}) while {self.doing} {documents}: if the machine "
                    f"ran out of memory, free some or use fewer --direct_num_workers, then run the same command "
                    f"again (an interrupted run's output is replaced)")
        return (f"a {self.role} failed (exit code {self.code}) while {self.doing} {documents}; its "
                f"traceback is above. This is a bug in pileprep: please report it with that traceback")

    def error(self, documents: str) -> Exception:
        """The exception for the run to raise: a PileprepError (the message alone) when the child
        was killed, a RuntimeError (a bug, with its traceback) when it failed."""
        from transforms.errors import PileprepError

        return (PileprepError if self.code < 0 else RuntimeError)(self.explain(documents))


class Children:
    """`processes` children running `python -m module`, each sent `setup` first; submit(item)
    returns a Future of `_talk(proc, item)`, run by the thread that feeds a free child."""

    def __init__(self, module: str, setup: bytes, processes: int):
        import queue
        import subprocess
        import sys
        import threading

        self._queue = queue.Queue()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._procs = []
        for _ in range(processes):
            proc = subprocess.Popen([sys.executable, "-c", _RUN_MODULE, module], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, env=env)
            proc.stdin.write(frame(setup))
            proc.stdin.flush()
            self._procs.append(proc)
        self._threads = [threading.Thread(target=self._feed, args=(proc,), daemon=True) for proc in self._procs]
        for thread in self._threads:
            thread.start()

    def submit(self, item):
        from concurrent.futures import Future

        future = Future()
        self._queue.put((item, future))
        return future

    def _talk(self, proc, item):
        """Send `item` to `proc` and return its answer (raising OSError, EOFError or ValueError
        when the child is gone)."""
        raise NotImplementedError

    def _failed(self, code: int) -> ChildFailed:
        return ChildFailed(code)

    def _feed(self, proc):
        while True:
            task = self._queue.get()
            if task is None:
                return
            item, future = task
            try:
                future.set_result(self._talk(proc, item))
            except (OSError, EOFError, ValueError):
                future.set_exception(self._failed(proc.wait()))
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
        # A child that read its last request exits at once (serve_forever); one still loading (a
        # run that failed in its first second) or still working (a failed run) has nothing to
        # keep: an answer nobody reads, a resume entry half written under a temporary name
        deadline = time.monotonic() + CLOSE_SECONDS
        for proc in self._procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0))
            except Exception:
                proc.kill()
                proc.wait()


def shared(key, make) -> Children:
    """This process's Children for `key`, made by make() the first time (and again if a child
    died: killed, out of memory); all are closed at exit."""
    if key in _POOLS and not _POOLS[key].alive():
        _POOLS.pop(key).close()
    if key not in _POOLS:
        import atexit

        if not _POOLS:
            atexit.register(close_pools)
        _POOLS[key] = make()
    return _POOLS[key]


def retire(key) -> None:
    """Close `key`'s Children, if any: the next shared() call for it starts new ones."""
    pool = _POOLS.pop(key, None)
    if pool is not None:
        pool.close()


def close_pools() -> None:
    """Close every pool of this process (registered to run at exit)."""
    while _POOLS:
        _POOLS.popitem()[1].close()


def serve_forever(handle, stdin, stdout) -> None:
    """A child's main: ignore Ctrl-C (it reaches the whole process group: the parent reports it; a
    child just ends when its pipe closes, without a traceback of its own), then handle(stdin, stdout)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    handle(stdin, stdout)
    # The pipe closed: every answer is written and flushed. Tearing down the interpreter (freeing
    # the tokenizers, the buffers' heap) takes ~0.4 s that the parent would wait for at its exit
    stdout.flush()
    os._exit(0)
