"""Cutting the fused stage's inputs into chunks for its workers, and starting before the runner does.

An input (or a line range of one) is decompressed and cut into chunks of whole lines (`chunks`,
CHUNK_BYTES each, by C-speed searches: no Python loop per line). A Reading is one work item being
cut: its open file, its chunk iterator and the line it reached, so that whoever holds it can read
on from there.

The head start: on the default local run, the launcher builds the rest of Beam's graph and the
runner prepares its stages for ~2 s of one core after Prepare is constructed, while the worker
processes (started before that: pipeline/run.py) would idle. A HeadStart thread cuts the first
inputs meanwhile and sends their chunks to the workers: at most HEAD_START_CHUNKS per worker, at
most two per worker in flight. Prepare's DoFn stops the thread in its setup (before either touches
the resume entries) and its first bundle adopts everything: the answers (in submission order), the
open Readings, the workers' bundle token (transforms/prepare_work.py drops another bundle's epoch). The same chunks reach the same
functions, so the output is the same bytes (tested with and without it).

    head = HeadStart(pool, files, setup, processes=2, split_bytes=256 << 20)
    head.stop()  # then head.readings, head.pending, head.bundle
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
import uuid

from transforms.inputs import InputFile, open_input
from transforms.resume import chunk_key, link, read_entries, select
from transforms.split import Limited, read_whole
from transforms.streams import Damage, compression_of, decompressed_blocks

CHUNK_BYTES = 2 << 20  # bytes of JSON lines per task: ~1 MB of text tokenizes in ~0.3 s, and a
# 100 MB input makes 50 tasks, enough to keep every worker busy to the end
HEAD_START_CHUNKS = 16  # per worker: ~5 s of its work, more than the ~2 s the launcher needs to start the runner


def chunks(blocks, size: int):
    """Whole lines, in pieces cut at the last newline once `size` bytes are held (each ends with
    b"\\n"), then the last line if it has none. Damage in the blocks ends it after the whole lines
    read before it."""
    pending, held, newline = [], 0, False
    try:
        for block in blocks:
            pending.append(block)
            held += len(block)
            newline = newline or b"\n" in block
            if held >= size and newline:  # a line longer than size waits for its end, joined once
                data = b"".join(pending)
                cut = data.rfind(b"\n") + 1
                yield data[:cut]
                pending, held, newline = ([data[cut:]] if cut < len(data) else []), len(data) - cut, False
    except Damage:
        data = b"".join(pending)
        if data.rfind(b"\n") >= 0:
            yield data[:data.rfind(b"\n") + 1]
        raise
    if held:
        yield b"".join(pending)


def item_key(item) -> tuple:
    """A work item's key, (input name, size, start): its counts, its chunks' epochs, its resume entries."""
    file, start = InputFile(*item[0]), item[1]
    return file.name, file.size, start


class Reading:
    """A work item of PlanFile, (file, start, end, first line), being cut into chunks. Iterating
    gives (the line before the chunk's first, its lines, the chunk) from where the last iteration
    stopped; `line` is the line reached (the chunks given included). A failure met by an earlier
    iteration (Damage, an OSError) is raised again by the next. `done` holds the chunks an
    interrupted run finished (not to be sent again) and `reused` the entries holding them."""

    def __init__(self, item, chunk_bytes: int, done: set = frozenset(), reused: tuple = ()):
        file, self.start, self.end, self.first_line = item
        self.file, self.key, self.line = InputFile(*file), item_key(item), self.first_line
        self.done, self.reused, self.failed = done, reused, None
        self.fh = open_input(self.file.path)
        fh = self.fh
        if self.end is not None:
            fh.seek(self.start)
            fh = Limited(fh, self.end - self.start)
        self._chunks = chunks(decompressed_blocks(fh, compression_of(self.file.path)), chunk_bytes)

    def __iter__(self):
        if self.failed is not None:
            raise self.failed
        try:
            for data in self._chunks:
                lines = data.count(b"\n") + (not data.endswith(b"\n"))
                line, self.line = self.line, self.line + lines
                yield line, lines, data
        except Exception as e:
            self.failed = e
            raise

    def close(self):
        self.fh.close()


def resumed(item, entries: list, chunk_bytes: int, spill_dir: str) -> Reading:
    """A Reading of the item that skips what an interrupted run finished: its entries whose chunks
    are all still there (the input is cut once more to find out), linked into spill_dir so their
    payloads are read in place; the other entries are deleted (the input changed, or overlapping
    work already taken: never mixed in)."""
    keys = set()
    reading = Reading(item, chunk_bytes)
    try:
        for line, _, data in reading:
            keys.add(chunk_key(line, data))
    except Damage:
        pass  # the reading that follows meets it again
    finally:
        reading.close()
    chosen, rejected = select(entries, keys)
    for entry in rejected:
        os.remove(entry.path)
    for entry in chosen:
        link(entry, spill_dir)
    return Reading(item, chunk_bytes, {chunk for entry in chosen for chunk in entry.chunks}, tuple(chosen))


class HeadStart:
    """Cuts whole inputs in order and sends their chunks to `pool` on a thread, until stop(). With
    resume (setup.resume_dir), it first reads the interrupted run's entries: an input it reaches
    skips what they hold (`resumed`), and the DoFn takes the rest of them (`earlier`)."""

    def __init__(self, pool, files: list[InputFile], setup, processes: int, split_bytes: int,
                 chunk_bytes: int = CHUNK_BYTES):
        self.bundle = uuid.uuid4().hex
        self.readings = {}  # key -> Reading, in the order started
        self.pending = []  # (key, line before the chunk, its lines, Future of the worker's answer)
        self.earlier = {}  # item key -> the interrupted run's entries of inputs not reached
        self.error = None  # what stopped the thread outside any Reading (raised by the adopter)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(pool, [f for f in files if read_whole(f, split_bytes)], setup, processes, chunk_bytes),
            daemon=True, name="pileprep-head-start")
        self._thread.start()

    def _run(self, pool, files, setup, processes: int, chunk_bytes: int):
        try:
            if setup.resume_dir:
                self.earlier = read_entries(setup.resume_dir, setup.fingerprint)
            for file in files:
                item = (tuple(file), 0, None, 0)
                key = item_key(item)
                reading = (resumed(item, self.earlier.pop(key), chunk_bytes, setup.spill_dir) if key in self.earlier
                           else Reading(item, chunk_bytes))
                self.readings[key] = reading
                iterator = iter(reading)
                while True:
                    if self._stop.is_set() or len(self.pending) >= HEAD_START_CHUNKS * processes:
                        return
                    try:
                        line, lines, data = next(iterator)
                    except StopIteration:
                        break
                    except Exception:  # kept in the Reading: raised where the DoFn reads on
                        break
                    if reading.done and chunk_key(line, data) in reading.done:
                        continue
                    future = pool.submit_chunk(setup, file.name, line, data, reading.key, self.bundle)
                    self.pending.append((reading.key, line, lines, future))
                    if len(self.pending) > 2 * processes:  # the workers' queue holds what they will take next
                        oldest = self.pending[-1 - 2 * processes][3]
                        while not (oldest.done() or self._stop.is_set()):
                            concurrent.futures.wait([oldest], timeout=0.05)
        except Exception as e:
            self.error = e

    def stop(self):
        """Stop cutting, once the chunk being sent is sent; the state is the caller's from then."""
        self._stop.set()
        self._thread.join()
