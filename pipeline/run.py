"""run(config, beam_args): check what can be checked, run the graph showing its progress, print the
summary.

Input patterns, the output directory and the disk a local output needs (pipeline/disk.py) are
checked before the pipeline starts, so the common mistakes fail in a second with a clear message
instead of minutes (or hours) later inside a worker.

    run(RunConfig(inputs=("data/*.jsonl.zst",), output="out"), ["--direct_num_workers=2"])
"""
import dataclasses
import json
import sys
import time

from pipeline.options import RunConfig
from schemas.run import MANIFEST, ours
from transforms.display import PATH_CHARS, printable
from transforms.diskfull import NO_SPACE
from transforms.errors import PileprepError, find_message
from transforms.resume import RESUME_DIR


def _entries(directory: str) -> list[str]:
    """Names directly inside a directory (any file system); [] when it does not exist."""
    from apache_beam.io.filesystems import FileSystems

    prefix = directory.rstrip("/") + "/"
    try:
        found = FileSystems.match([prefix + "*"])[0].metadata_list
    except Exception:
        return []
    return sorted({m.path[len(prefix):].split("/")[0] for m in found if m.path.startswith(prefix)})


def _names(entries: list[str]) -> str:
    shown = ", ".join(printable(e, PATH_CHARS) for e in entries[:5])
    return shown + (", ..." if len(entries) > 5 else "")


def prepare_output(output: str, overwrite: bool):
    """Refuse a non-empty output unless --overwrite; then remove the old manifest first, so a
    half-replaced directory never looks complete, and only then the old outputs."""
    import os

    from apache_beam.io.filesystems import FileSystems

    if os.path.exists(output) and not os.path.isdir(output):
        raise PileprepError(f"--output {output} is a file: give a directory")
    entries = _entries(output) if not os.path.isdir(output) else sorted(os.listdir(output))
    if not entries:
        FileSystems.mkdirs(output) if not FileSystems.exists(output) else None
        return
    foreign = [e for e in entries if not ours(e)]  # what --overwrite may remove: schemas/run.py
    if not foreign and MANIFEST not in entries and not overwrite:
        # an earlier run of ours that never finished (killed, crashed): nothing complete to protect;
        # its finished work (transforms/resume.py) is kept for this run to reuse what still matches
        import sys

        kept = RESUME_DIR in entries
        print(f"pileprep: {output} holds an incomplete run (no {MANIFEST}): "
              + ("resuming it: what it finished is reused if the inputs and options are the same, the rest is "
                 "redone (--overwrite starts from scratch)" if kept else "replacing it"), file=sys.stderr)
        entries = [e for e in entries if e != RESUME_DIR]
        overwrite = True
    if not overwrite:
        raise PileprepError(f"--output {output} is not empty ({_names(entries)}): choose a new directory or "
                            f"pass --overwrite to replace a previous pileprep run")
    if foreign:
        raise PileprepError(f"--output {output} holds files pileprep did not write ({_names(foreign)}): "
                            f"--overwrite only replaces a pileprep run; move them or choose another directory")
    join = FileSystems.join
    if MANIFEST in entries:
        FileSystems.delete([join(output, MANIFEST)])
    rest = [join(output, e) for e in entries if e != MANIFEST]
    if rest:
        FileSystems.delete(rest)


def run(config: RunConfig, beam_args: list[str], *, workers: int | None = None, verbose: bool = False,
        wait: bool = True) -> dict | None:
    """Run the pipeline to completion and return the manifest it wrote; with wait=False, submit
    it and return None (a Flex Template launcher, building a portable uber-jar)."""
    from pipeline.disk import after_full, check_disk, estimate
    from pipeline.graph import build
    from pipeline.launch import check_launch
    from pipeline.runners import make_pipeline
    from pipeline.summary import summary
    from transforms.inputs import match_inputs

    started = time.monotonic()
    _start_workers(config, beam_args, workers)
    p = make_pipeline(beam_args, workers=workers, verbose=verbose)
    try:
        check_launch(config, p.options, wait=wait)  # the runner against the options: pipeline/launch.py
        config = _for_runner(config, p)
        files = match_inputs(config.inputs)
        holdout_files = match_inputs(config.holdout) if config.holdout else []
        need = estimate(config, files, holdout_files)
        check_disk(config, need)  # before an old run is replaced: refused, it is still there
        prepare_output(config.output, config.overwrite)
        total = sum(f.size for f in files)
        _say(config, f"pileprep: reading {len(files)} file(s), {total / 1e6:,.1f} MB, into {config.output}")
        build(p, config, files, holdout_files, head_start=wait)  # a pipeline run here: start reading now
    except BaseException:
        import shutil

        from transforms.prepare import drop_head_starts

        shutil.rmtree(p.local_tempdir, ignore_errors=True)  # Beam's own, removed by the p.run() never reached
        drop_head_starts()
        raise
    if not wait:
        job = _submit(p)
        _say(config, f"pileprep: submitted{f' job {job}' if job else ''}; {config.output}/{MANIFEST} appears "
                     f"when it has finished (check it with: pileprep verify {config.output})")
        return None
    try:
        _execute(p, config, total, verbose)
    except Exception as e:
        message = find_message(e)
        if message is not None and message.startswith(NO_SPACE):  # a worker's, through the runner's wrapping
            raise PileprepError(after_full(message, config, need)) from e
        raise
    finally:
        from transforms.prepare import drop_head_starts

        drop_head_starts()  # what a run that failed before its first stage left running
    manifest = _read_manifest(config.output)
    if not config.quiet:
        print(summary(manifest, time.monotonic() - started))
    return manifest


def _say(config: RunConfig, message: str):
    if not config.quiet:
        print(message, file=sys.stderr)


def _for_runner(config: RunConfig, p) -> RunConfig:
    """The options the runner decides: no Reshuffle, spill files and tokenizer processes locally."""
    from pipeline.runners import in_process, local

    return _decided(config, in_process=in_process(p), local=local(p))


def _decided(config: RunConfig, *, in_process: bool, local: bool) -> RunConfig:
    from pipeline.runners import usable_cores

    if config.reshuffle and in_process:
        config = dataclasses.replace(config, reshuffle=False)  # same output, less memory
    if config.spill is None:  # the local runners hold shuffles in memory: spill the payloads to disk
        config = dataclasses.replace(config, spill=local)
    if config.tokenize_processes is None:  # one in-process worker would tokenize on one core
        config = dataclasses.replace(config, tokenize_processes=usable_cores() if in_process else 0)
    # In-process with worker processes: they parse, normalize, filter and tokenize (transforms/prepare.py)
    # when nothing between those steps needs every document at once (deduplication, a holdout)
    if config.fused is None:
        config = dataclasses.replace(config, fused=in_process and config.tokenize_processes > 0
                                     and config.dedup == "none" and not config.holdout)
    return config


def _start_workers(config: RunConfig, beam_args: list[str], workers: int | None):
    """When the run surely has the fused front (the default local run): its worker processes,
    started now, load the normalizer and tokenizer (~2.5 s of CPU each) while this process imports
    Beam and builds the graph, which then finds them started (transforms/prepare_processes.py).
    Only what the options say is checked here, and only GPT-2 (shipped) is loaded this early: a
    bad tokenizer.json fails in this process, with its message. Should the inputs turn out
    columnar (a directory pattern), the run takes the staged front and the workers idle to the end."""
    from pipeline.runners import surely_in_process
    from transforms.gpt2_load import GPT2

    if not surely_in_process(beam_args, workers) or config.tokenizer != GPT2:
        return
    config = _decided(config, in_process=True, local=True)
    if config.fuses(config.inputs):
        from transforms.prepare_processes import start_workers
        from transforms.tokenizer import shippable

        start_workers(config.normalize_config(), shippable(config.tokenize_config()), config.tokenize_processes)


def _submit(p) -> str | None:
    """Start the job without waiting; its id when the runner gives one."""
    result = p.run()
    return getattr(result, "job_id", lambda: None)() if hasattr(result, "job_id") else None


def _execute(p, config: RunConfig, total_bytes: int, verbose: bool):
    """Run to the end, showing progress on a local runner (distributed ones show the same counts
    as Beam counters in their own UI)."""
    import contextlib
    import gc

    from pipeline.progress import Progress
    from pipeline.runners import filtered_stderr, local

    watch = not config.quiet and local(p)
    # The modules, Beam's graph and whatever the caller holds need not be rescanned by every
    # collection while the in-process runner allocates documents: 1.3 s of a 6.5 s run here.
    gc.freeze()
    try:
        # Progress first: it keeps a copy of the terminal's stderr, which filtered_stderr replaces
        with Progress(total_bytes, every=config.progress_every) if watch else contextlib.nullcontext(), \
                filtered_stderr(enabled=not verbose):
            p.run().wait_until_finish()
    finally:
        gc.unfreeze()  # back to normal: nothing frozen for good


def _read_manifest(output: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    manifest_path = FileSystems.join(output, MANIFEST)
    if not FileSystems.exists(manifest_path):
        raise PileprepError(f"the pipeline finished but wrote no {manifest_path}: the run is incomplete")
    with FileSystems.open(manifest_path) as f:
        return json.loads(f.read())
