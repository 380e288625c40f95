"""The live progress of a local run on the launcher's stderr: on a terminal one line rewritten in
place twice a second, otherwise a log line every `every` seconds; cleared (on a terminal) when the
run ends, before its summary.

    with Progress(total_bytes=10**9, every=30.0):
        pass  # p.run().wait_until_finish()

The counts are those the DoFns add (transforms/progress.py): lines read (documents, malformed
ones included), bytes of input consumed as stored (compressed bytes for .zst and .gz, so the total
is known before the run), tokens, and the furthest stage reached. The rate and ETA are of the
reading, averaged since the run started; the stages after it (packing, writing shards) show no ETA.
"""
import os
import shutil
import tempfile
import threading
import time

from transforms import progress as counts

TTY_SECONDS = 0.5  # twice a second looks live, and each update costs a few microseconds
STAGE_WORDS = ("starting", "reading", "tokenizing", "packing", "writing shards")  # by index + 1
_on_terminal = None  # the Progress drawing a line on the terminal, if one is


def duration(seconds: float) -> str:
    """45s, 3m05s, 2h07m."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_line(stage: int, documents: int, bytes_read: int, total_bytes: int, tokens: int,
                  elapsed: float) -> str:
    """One line of progress; `stage` indexes transforms.progress.STAGES (-1: none reached). The
    bytes shown never exceed the total, and the percentage is rounded down: 100% is all of it."""
    done = min(bytes_read, total_bytes)
    percent = 100 * done // total_bytes if total_bytes else 100
    rate = done / 1e6 / elapsed if elapsed > 0 else 0.0
    parts = [f"{STAGE_WORDS[stage + 1]}: {documents:,} docs", f"{done / 1e6:,.1f} of {total_bytes / 1e6:,.1f} MB "
             f"read ({percent}%)", f"{rate:,.1f} MB/s", f"{tokens:,} tokens", f"{duration(elapsed)} elapsed"]
    if 0 < done < total_bytes:
        parts.append(f"ETA {duration(elapsed * (total_bytes - done) / done)}")
    return ", ".join(parts)


def clear_line():
    """Clear the progress line before another line (a warning, a worker's traceback) is written to
    the terminal, so that it starts at column 0; the next update draws the progress below it."""
    shown = _on_terminal
    if shown is not None:
        shown._clear()


class Progress:
    """A thread of the launching process that shows the run's counts on stderr until the block
    ends (normally, on an error or on Ctrl-C). It writes to its own copy of file descriptor 2,
    taken on entering: runners.filtered_stderr routes fd 2 through a line-buffered pipe during the
    run, which would hold back a line rewritten with \\r."""

    def __init__(self, total_bytes: int, *, every: float = 30.0, fd: int = 2):
        self.total_bytes, self.every, self.fd = total_bytes, every, fd
        self.shown = 0  # lines written, for tests

    def __enter__(self):
        self._out = os.fdopen(os.dup(self.fd), "w", encoding="utf-8", errors="replace")
        self._tty = self._out.isatty()
        self._directory = tempfile.mkdtemp(prefix="pileprep-progress-")
        self._saved = {k: os.environ.get(k) for k in (counts.DIRECTORY, counts.LAUNCHER)}
        os.environ[counts.DIRECTORY], os.environ[counts.LAUNCHER] = self._directory, str(os.getpid())
        counts.reset()
        self._started, self._width = time.monotonic(), 0
        self._lock = threading.Lock()  # the reporter's thread and clear_line's caller both write
        if self._tty:
            global _on_terminal
            _on_terminal = self
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pileprep-progress-line")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        global _on_terminal
        _on_terminal = None
        try:
            self._clear()
            self._out.close()
        except OSError:
            pass  # the terminal went away: nothing to clear
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self._directory, ignore_errors=True)  # worker threads stop writing on their own
        return False

    def line(self) -> str:
        c = counts.combined(self._directory)
        return progress_line(c["stage"], c["documents"], c["bytes_read"], self.total_bytes, c["tokens"],
                             time.monotonic() - self._started)

    def _loop(self):
        while not self._stop.wait(TTY_SECONDS if self._tty else self.every):
            try:
                self._show()
            except (OSError, ValueError):
                return  # stderr closed: the run goes on without progress

    def _show(self):
        text = "pileprep: " + self.line()
        with self._lock:
            if self._tty:  # cut to the terminal's width: a line that wraps cannot be rewritten
                text = text[:self._columns() - 1]
                self._out.write("\r" + text.ljust(self._width))
                self._width = len(text)
            else:
                self._out.write(text + "\n")
            self._out.flush()
            self.shown += 1

    def _clear(self):
        with self._lock:
            if self._width:
                self._out.write("\r" + " " * self._width + "\r")
                self._out.flush()
                self._width = 0

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self._out.fileno()).columns
        except OSError:
            columns = 0
        return max(columns, 20) if columns else 80  # 0: a terminal that does not say (a new pty)

