"""Choosing the runner: Beam options pass through unchanged, with a local default that needs no
network and uses both cores.

Beam's DirectRunner first tries to download the Prism runner from GitHub; on an air-gapped machine
that fails slowly before falling back. For the local default we therefore build the same FnApiRunner
the DirectRunner would fall back to, in-process (in_memory). Measured on 50 MB of real text on
this 2-core machine, in_memory ran in 10.1 s against 14.0 s for Beam's multi_processing mode with 2
workers and 15.6 s with 1: in those modes the runner process moves every element through gRPC,
which costs more than the second core gives back. `--workers N` (N > 1) or
`--direct_running_mode multi_processing --direct_num_workers N` choose Beam's multi-process mode;
its output is byte-identical (tested).

    p = make_pipeline(["--runner", "DataflowRunner", "--project", "p", ...])
"""
import os

LOCAL_RUNNERS = (None, "DirectRunner", "direct", "FnApiRunner")


def _given(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def local_runner(options):
    """The FnApiRunner, as SwitchingDirectRunner builds it, without the Prism attempt."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=info)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def surely_in_process(beam_args: list[str], workers: int | None) -> bool:
    """Whether make_pipeline will build the in-process runner, told without importing Beam: when no
    runner, running mode or worker count is given (False when unsure)."""
    return (workers or 1) <= 1 and not any(_given(beam_args, flag) for flag in
                                           ("--runner", "--direct_running_mode", "--direct_num_workers"))


def local(p) -> bool:
    """Whether a pipeline from make_pipeline runs on Beam's local runner (in one or more processes)."""
    from apache_beam.options.pipeline_options import StandardOptions

    return p.options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def in_process(p) -> bool:
    """Whether a pipeline from make_pipeline runs on the local in-process runner (the default)."""
    from apache_beam.options.pipeline_options import DirectOptions

    return local(p) and p.options.view_as(DirectOptions).direct_running_mode == "in_memory"


def make_pipeline(beam_args: list[str], *, workers: int | None = None, verbose: bool = False):
    from transforms.errors import ConfigError

    try:
        return _make_pipeline(beam_args, workers=workers, verbose=verbose)
    except ValueError as e:  # Beam refusing its options: an unknown --runner, a missing --project
        raise ConfigError(f"{' '.join(str(e).split())} (check the Beam options)") from None


def _make_pipeline(beam_args: list[str], *, workers: int | None, verbose: bool):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    if not verbose and not _given(beam_args, "--default_sdk_harness_log_level"):
        beam_args = beam_args + ["--default_sdk_harness_log_level=WARNING"]
    options = PipelineOptions(beam_args)
    runner = options.view_as(StandardOptions).runner
    if runner not in LOCAL_RUNNERS:
        return beam.Pipeline(options=options)
    direct = options.view_as(DirectOptions)
    if not _given(beam_args, "--direct_running_mode"):
        direct.direct_running_mode = "multi_processing" if (workers or 1) > 1 else "in_memory"
    if direct.direct_running_mode == "multi_threading" and (direct.direct_num_workers or 1) != 1:
        from transforms.errors import PileprepError

        # Seen here with Beam 2.77: bundles of the Pack stage went missing in this mode (Pack's
        # own checks caught it). Refuse up front rather than fail after minutes of work.
        raise PileprepError("--direct_running_mode=multi_threading with several workers loses bundles in "
                            "Beam's FnApiRunner (seen with Beam 2.77): use in_memory or multi_processing")
    if not _given(beam_args, "--direct_num_workers") and direct.direct_running_mode != "in_memory":
        direct.direct_num_workers = workers or min(2, os.cpu_count() or 1)
    return beam.Pipeline(runner=local_runner(options), options=options)


_NOISE = ("apitools not found", "Discarding unparseable args", "No semi_persistent_directory", "Logging handler created",
          "Python sdk harness", "sdk_worker", "data_plane", "statecache", "INFO:")


class filtered_stderr:
    """Local worker processes inherit our stderr and log their start-up chatter to it. While a
    run is in progress, route file descriptor 2 through a pipe and drop the lines that say
    nothing about the run (keeping warnings, errors, tracebacks and our own progress)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def __enter__(self):
        if not self.enabled:
            return self
        import sys
        import threading

        from pipeline.progress import clear_line

        sys.stderr.flush()
        self.saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)

        def pump():
            with os.fdopen(read_fd, "rb", buffering=0) as pipe, os.fdopen(os.dup(self.saved), "wb", buffering=0) as out:
                ours = False  # after our own error (or Ctrl-C) surfaces, the rest is its traceback, reprinted
                for line in iter(pipe.readline, b""):
                    text = line.decode("utf-8", "replace")
                    ours = ours or "<<pileprep>>" in text or text.startswith("KeyboardInterrupt")
                    if not ours and not any(n in text for n in _NOISE):
                        clear_line()  # a warning starts on a line of its own, not after the progress
                        out.write(line)

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        import sys

        sys.stderr.flush()
        os.dup2(self.saved, 2)  # closes the pipe's last writer we hold; children have exited
        os.close(self.saved)
        self.thread.join(timeout=2)
        return False
