"""Prepare: the fused local stage. ReadPile, Normalize, FilterDocuments, Tokenize and Pack's
batching in one step whose per-document work runs in worker processes, one per core.

The in-process runner (the default local run) executes every DoFn in one process. In the staged
graph that process read, normalized and filtered every document and handed only tokenizing to child
processes: on 2 cores the tree used 50-69% of them, on 32 cores it would use one. Here this
process only decompresses each input and cuts it into chunks of whole lines (CHUNK_BYTES, cut
by C-speed searches, never a Python loop per line: transforms/prepare_read.py, which on a run
of pipeline/run.py starts as soon as this step is built); the workers (transforms/prepare_processes.py)
run transforms/prepare_work.py on each chunk: the very functions the staged DoFns call, so the
output is byte-identical (tested against the staged graph and across runners). What comes back
is the rejects and drops and counts (summed here per bundle), and, when a worker's buffers fill
and at the end of the bundle, Pack's batches and WriteDocuments' sorted runs.

Used when the run is in-process with worker processes, deduplicates nothing, has no holdout and
reads only JSON lines (pipeline/run.py decides); every other run uses the staged graph.

    prepared = p | Prepare(PrepareConfig(read, setup, processes=2), files)
    # ["batches"] for Pack, ["documents"] (runs for WriteDocumentRuns), ["rejects"], ["files"],
    # ["filtered"] (summed count events), ["provenance"]
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import uuid

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from schemas.records import InputSummary
from transforms import progress
from transforms.counts import dropped_events
from transforms.errors import PileprepError
from transforms.inputs import InputFile, ReadConfig
from transforms.prepare_processes import prepare_pool, retire_pool
from transforms.prepare_read import CHUNK_BYTES, HeadStart, Reading, item_key, resumed
from transforms.prepare_work import PrepareSetup
from transforms.progress import ReadProgress
from transforms.normalizer import normalize_events
from transforms.provenance import PROVENANCE
from transforms.read import damaged
from transforms.split import PlanRanges
from transforms.streams import Damage
from transforms.resume import chunk_key, read_entries
from transforms.spill import SpillDoFn, spill_folder
from transforms.tokenizer import tokenize_events

_LOG = logging.getLogger("pileprep")

RETIRE_BYTES = 16 << 20  # PrepareConfig.retire for inputs of this many bytes or more


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    read: ReadConfig
    setup: PrepareSetup
    processes: int  # worker processes (the run's cores)
    spill: str | None = None  # the run's output folder: Pack's batches wait in spill files
    chunk_bytes: int = CHUNK_BYTES  # part of the resume fingerprint: a rerun must cut the same chunks
    head_start: str = ""  # names this run's HeadStart (transforms/prepare_read.py); "": none
    # End the workers once the stage's bundles are done: their ~200 MB each (the tokenizer, the heap
    # the documents left) would otherwise sit under Pack's peak. Worth the ~3 s of starting them
    # again for a run of RETIRE_BYTES of input or more; a small run keeps them for the process's next
    retire: bool = False


_HEAD_STARTS: dict = {}  # PrepareConfig.head_start -> HeadStart, until the DoFn's setup takes it


def drop_head_starts():
    """Stop the head starts no DoFn took (a run that failed before Prepare ran) and close their inputs."""
    while _HEAD_STARTS:
        head = _HEAD_STARTS.popitem()[1]
        head.stop()
        for reading in head.readings.values():
            reading.close()


def _windowed(value, tag: str | None = None):
    value = WindowedValue(value, GlobalWindow().max_timestamp(), (GlobalWindow(),))
    return value if tag is None else beam.pvalue.TaggedOutput(tag, value)


class _PrepareFn(SpillDoFn):
    """Work items of PlanRanges -> Pack's (range, (batch, stream tokens)) and the tagged outputs."""

    def __init__(self, config: PrepareConfig):
        super().__init__(config.spill)
        self.config = config
        self.pool = None

    _active, _lock = 0, threading.Lock()  # bundles under way in this process: the workers are shared

    def setup(self):
        super().setup()
        # the launcher's HeadStart of this run, when this DoFn runs in the launcher (the in-process
        # runner): stopped now, so that it and this DoFn never touch the resume entries at once
        self.head = _HEAD_STARTS.pop(self.config.head_start, None)
        if self.head is not None:
            self.head.stop()
            if self.head.error is not None:
                raise self.head.error
        resume = self.config.setup.resume_dir
        self.earlier = (self.head.earlier if self.head is not None
                        else read_entries(resume, self.config.setup.fingerprint) if resume else {})
        self.adopted, self.drained = {}, set()  # key -> Reading of the head start; keys read to their end

    def start_bundle(self):
        super().start_bundle()
        with _PrepareFn._lock:
            _PrepareFn._active += 1
            self.pool = prepare_pool(self.config.setup, self.config.processes)  # again, if retired
        self.pending = collections.deque()  # (item key, first line, lines, future), in submission order
        self.files = {}  # item key -> [InputFile, lines, documents, malformed, damage]
        self.events = {}  # the drops' count events, summed
        self.normalized, self.tokenized = collections.Counter(), collections.Counter()
        self.checked = {"normalize": 0, "tokenize": 0}
        self.reused = {"chunks": 0, "bytes": 0}
        self.bundle = uuid.uuid4().hex  # the workers' epochs of an earlier, failed bundle are dropped
        if self.head is not None:
            self._adopt(self.head)
            self.head = None

    def _adopt(self, head: HeadStart):
        """What the head start did becomes this bundle's: its answers first, its Readings read on
        by process(), its token so that the workers keep their epochs."""
        self.bundle = head.bundle
        self.pending.extend(head.pending)
        for key, reading in head.readings.items():
            self.files[key] = [reading.file, 0, 0, 0, None]
            self.adopted[key] = reading

    def process(self, item):
        key = item_key(item)
        reading = self.adopted.pop(key, None)
        if reading is None and key not in self.drained:  # (drained: read to its end by an earlier bundle)
            self.files[key] = [InputFile(*item[0]), 0, 0, 0, None]
            reading = (resumed(item, self.earlier.pop(key), self.config.chunk_bytes, spill_folder(self.config.spill))
                       if key in self.earlier else Reading(item, self.config.chunk_bytes))
        if reading is not None:
            yield from self._reused(reading)
            yield from self._read(reading)

    def _reused(self, reading: Reading) -> list:
        """The outputs of the chunks an interrupted run finished (transforms/resume.py), counted."""
        out = []
        for entry in reading.reused:
            for chunk, answer in entry.chunks.items():
                self.reused["chunks"] += 1
                self.reused["bytes"] += chunk[1]
                out += self._emit(reading.key, answer)
            out += self._ended({"batches": entry.batches, "runs": entry.runs}, spilled=True)
        return out

    def _read(self, reading: Reading):
        """Cut the rest of an input into chunks, send them to the workers (those not finished by an
        interrupted run), and emit the answers that are ready."""
        summary = self.files[reading.key]
        end = reading.file.size if reading.end is None else reading.end
        watch = ReadProgress(reading.fh, reading.start, end, reading.first_line)
        try:
            for line, lines, data in reading:
                if not reading.done or chunk_key(line, data) not in reading.done:
                    future = self.pool.submit_chunk(self.config.setup, reading.file.name, line, data, reading.key,
                                                    self.bundle)
                    self.pending.append((reading.key, line, lines, future))
                watch(reading.file.name, reading.line, 0)  # the lines read so far, for the progress
                yield from self._collect(2 * self.config.processes)
        except Damage as d:
            yield from self._collect(0)  # the documents read before the damage
            summary[4] = damaged(reading.file, d, summary[2], self.config.read.allow_corrupt)
        finally:
            reading.close()
        summary[1] = reading.line - reading.first_line
        watch.finish(reading.line - reading.first_line)

    def _collect(self, limit: int):
        """Answers in submission order: every ready one, and the oldest waited for while more than
        `limit` are outstanding (limit 0: all of them)."""
        while self.pending and (len(self.pending) > limit or self.pending[0][3].done()):
            key, line, lines, future = self.pending.popleft()
            yield from self._answer(key, line, lines, future)

    def _answer(self, key, line, lines, future):
        from transforms.children import ChildFailed

        try:
            answer = future.result()
        except ChildFailed as e:
            raise e.error(f"lines {line + 1:,} to {line + lines:,} of {self.files[key][0].name}") from None
        if "error" in answer:
            raise PileprepError(answer["error"])
        yield from self._emit(key, answer)
        for ended in answer["ended"]:
            yield from self._ended(ended, spilled=bool(self.config.setup.resume_dir))

    def _emit(self, key, answer: dict) -> list:
        """A chunk's results: counted here, its records sent on."""
        self.files[key][2] += answer["documents"]
        self.files[key][3] += len(answer["rejects"])
        for drop in answer["drops"]:
            for event, (docs, amount) in dropped_events(drop):
                before = self.events.get(event, (0, 0))
                self.events[event] = (before[0] + docs, before[1] + amount)
        self.normalized.update(answer["normalized"])
        self.tokenized.update(answer["tokenized"])
        self.checked["normalize"] += answer["normalize_checked"]
        self.checked["tokenize"] += answer["tokenize_checked"]
        progress.add(tokens=answer["tokens"])
        return [beam.pvalue.TaggedOutput("rejects", r) for r in answer["rejects"]]

    def _ended(self, ended: dict, spilled: bool) -> list:
        """An epoch's Pack batches and document runs as elements; with spill, as references (spilled:
        they are references already, in a resume entry)."""
        def ref(payload):
            return payload if spilled or self.writer is None else self.writer.put(payload)

        return ([(key, (ref(payload), tokens)) for key, payload, tokens in ended["batches"]]
                + [beam.pvalue.TaggedOutput("documents", (file, ref(run))) for file, run in ended["runs"]])

    def finish_bundle(self):
        out = []
        for key in list(self.adopted):  # not given to this bundle (the runner split the work): its
            reading = self.adopted.pop(key)  # chunks are in this bundle's epochs
            out += self._reused(reading) + list(self._read(reading))
            self.drained.add(key)
        out += self._collect(0)
        for answer in self.pool.flush(self.bundle):
            for ended in answer["ended"]:
                out += self._ended(ended, spilled=bool(self.config.setup.resume_dir))
        out = [_windowed(v.value, v.tag) if isinstance(v, beam.pvalue.TaggedOutput) else _windowed(v) for v in out]
        out += [_windowed(event, "filtered") for event in sorted(self.events.items())]
        for file, lines, documents, malformed, damage in self.files.values():
            out.append(_windowed(InputSummary(path=file.path, name=file.name, bytes=file.size, lines=lines,
                                              documents=documents, malformed=malformed, damage=damage), "files"))
        out += [_windowed(e, PROVENANCE) for e in self._provenance()]
        if self.reused["chunks"]:
            _LOG.warning("pileprep: resumed: reused %d chunks (%.1f MB of input lines) that an interrupted run "
                         "finished", self.reused["chunks"], self.reused["bytes"] / 1e6)
        super().finish_bundle()  # closes the spill file: every reference sent is readable
        self._leave(retire=self.config.retire)
        return out

    def _leave(self, retire: bool):
        with _PrepareFn._lock:
            _PrepareFn._active -= 1
            if retire and not _PrepareFn._active:
                retire_pool(self.config.setup, self.config.processes)

    def _provenance(self):
        return (normalize_events(dict(self.normalized), self.checked["normalize"])
                + tokenize_events(self.tokenized, self.checked["tokenize"]))


class Prepare(beam.PTransform):
    """Input files -> {"batches", "documents", "rejects", "files", "filtered", "provenance"}."""

    def __init__(self, config: PrepareConfig, files: list[InputFile]):
        super().__init__()
        self.config, self.files = config, files
        pool = prepare_pool(config.setup, config.processes)  # started by the launcher, or now
        if config.head_start:
            _HEAD_STARTS[config.head_start] = HeadStart(pool, files, config.setup, config.processes,
                                                        config.read.split_bytes, config.chunk_bytes)

    def expand(self, pbegin):
        out = (pbegin
               | "ListFiles" >> beam.Create([tuple(f) for f in self.files], reshuffle=False)
               | "PlanRanges" >> PlanRanges(self.config.read.split_bytes)
               | "SpreadFiles" >> beam.Reshuffle()
               | "PrepareChunks" >> beam.ParDo(_PrepareFn(self.config)).with_outputs(
                   "documents", "rejects", "files", "filtered", PROVENANCE, main="batches"))
        return {name: out[name] for name in ("batches", "documents", "rejects", "files", "filtered", PROVENANCE)}
