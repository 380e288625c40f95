"""The `pileprep` command line: run, sample, demo, budget, verify, inspect, report, export, train,
scaling.

    pileprep run --input 'pile/train/*.jsonl.zst' --output out/ [--rules eleuther] [Beam options]
    pileprep demo

Errors the user can fix are printed as one message (no traceback) and exit with status 2; any
other exception is a bug: its traceback, a line asking to report it, and status 1.
"""
import argparse
import gc
import logging
import os
import sys
import time
import traceback

EXIT_USAGE = 2  # a PileprepError or invalid option (ConfigError): the message says what to do
EXIT_FAILED = 1  # anything else: a bug or a runner failure (printed with its traceback), or verify's findings
BUG = ("this is a bug in pileprep, unless the traceback above shows the machine or the runner failing "
       "(disk full, out of memory, a lost worker): please report it, with the command you ran and this output")


class _QuietBeam(logging.Filter):
    """Drop Beam's import-time noise that says nothing about this run."""

    def filter(self, record):
        return "apitools not found" not in record.getMessage()


def _setup_logging(verbose: bool):
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietBeam())


_DEMO_PICKS = ("inputs", "output")  # the RunConfig fields demo sets itself: no flags of demo


def _add_run_options(parser):
    from pipeline.options import add_flags

    add_flags(parser, only=_DEMO_PICKS)
    parser.add_argument("--no-wait", dest="wait", action="store_false",
                        help="submit the job and exit (Flex Template launchers, --output_executable_path)")
    _add_shared_run_options(parser)


def _add_shared_run_options(parser):
    """The flag of every other RunConfig field (pipeline/options.py declares them), then how to run."""
    from pipeline.options import add_flags

    add_flags(parser, skip=_DEMO_PICKS)
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes: N > 1 uses Beam's multi_processing mode (default: one "
                             "in-process worker, measured fastest on 2 cores)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Beam's progress logging")


def _parser(command: str | None = None):
    """The CLI's parser; the flags of run and demo (which import the stage modules, and so Apache
    Beam) only when `command` is one of them or unknown, so that `pileprep train` runs without Beam."""
    flags = command not in COMMANDS_WITHOUT_BEAM
    parser = argparse.ArgumentParser(
        prog="pileprep", description="Prepare the Pile the way Cerebras-GPT was trained on it. "
        "Options not listed here are passed to Beam (e.g. --runner DataflowRunner --project P).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="clean, filter, tokenize and pack a corpus", description=(
        "Read Pile-format JSON lines, normalize with ftfy, apply the filter rules, tokenize with "
        "GPT-2 BPE, pack 2049-token rows into .npy shards (optionally to a Chinchilla budget), "
        "write the cleaned documents and the manifest. Unknown options go to Beam unchanged."))
    if flags:
        _add_run_options(run)
    sample = sub.add_parser("sample", help="write a synthetic Pile-format corpus")
    sample.add_argument("--output", required=True, metavar="DIR")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--documents", type=int, default=3000)
    sample.add_argument("--files", type=int, default=4)
    demo = sub.add_parser("demo", help="write the sample corpus and run on it", description=(
        "pileprep sample into DIR/input, then pileprep run into DIR/output (replacing an earlier demo)."))
    demo.add_argument("--dir", default="pileprep-demo", metavar="DIR", help="(default: ./pileprep-demo)")
    demo.add_argument("--documents", type=int, default=3000)
    if flags:
        _add_shared_run_options(demo)
    from schemas.family import CHINCHILLA_TOKENS_PER_PARAM

    budget = sub.add_parser("budget", help="the Cerebras-GPT family and its Chinchilla token budgets")
    budget.add_argument("--json", action="store_true", help="print JSON instead of a table")
    budget.add_argument("--tokens-per-param", type=float, default=CHINCHILLA_TOKENS_PER_PARAM)
    verify = sub.add_parser("verify", help="check a run's shards and files against its manifest")
    verify.add_argument("dir")
    inspect = sub.add_parser("inspect", help="summarize a run; --decode N prints its first N rows as text")
    inspect.add_argument("dir")
    inspect.add_argument("--decode", type=int, default=0, metavar="N")
    from pipeline.tools import export, report

    report.add_parser(sub)
    export.add_parser(sub)
    from trainer import cli as trainer_cli  # registers train and scaling; imports torch only when run

    trainer_cli.register(sub)
    return parser


def cmd_verify(args, _beam_args) -> int:
    from pipeline.tools.verify import verify

    from transforms.display import printable

    found = verify(args.dir)
    for problem in found:
        print(f"FAIL: {printable(problem, None)}")  # problems quote the manifest's paths
    if found:
        print(f"{args.dir}: {len(found)} problem(s)")
        return EXIT_FAILED
    print(f"{args.dir}: OK (every shard, sidecar and file matches the manifest)")
    return 0


def cmd_inspect(args, _beam_args) -> int:
    from pipeline.tools.inspection import decode_rows, describe

    print(describe(args.dir))  # a directory without manifest.json is refused (schemas/run.py load_manifest)
    if args.decode:
        print(decode_rows(args.dir, args.decode))
    return 0


def cmd_run(args, beam_args) -> int:
    from pipeline.options import from_args
    from pipeline.run import run

    config = from_args(args)
    run(config, beam_args, workers=args.workers, verbose=args.verbose, wait=getattr(args, "wait", True))
    return 0


def cmd_sample(args, _beam_args) -> int:
    from pipeline.tools.sample import SampleConfig, write_sample

    summary = write_sample(args.output, SampleConfig(seed=args.seed, documents=args.documents, files=args.files))
    print(f"wrote {len(summary.paths)} files to {args.output}: {summary.documents:,} documents, "
          f"{summary.malformed} malformed lines, {summary.bytes / 1e6:.1f} MB of JSON lines")
    return 0


def cmd_demo(args, beam_args) -> int:
    from pipeline.tools.sample import SampleConfig, write_sample

    started = time.monotonic()
    inputs, output = os.path.join(args.dir, "input"), os.path.join(args.dir, "output")
    summary = write_sample(inputs, SampleConfig(seed=args.seed, documents=args.documents))
    print(f"demo: wrote {summary.documents:,} synthetic documents in {len(summary.paths)} files to {inputs}")
    args.inputs, args.output, args.overwrite = [os.path.join(inputs, "*.jsonl*")], output, True
    code = cmd_run(args, beam_args)
    print(f"demo finished in {time.monotonic() - started:.1f} s; output in {output}")
    return code


def cmd_budget(args, _beam_args) -> int:
    import json

    from schemas.family import family_table, format_table

    rows = family_table(args.tokens_per_param)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


COMMANDS = {"run": cmd_run, "sample": cmd_sample, "demo": cmd_demo, "budget": cmd_budget,
            "verify": cmd_verify, "inspect": cmd_inspect}


def _command(name):
    if name in COMMANDS:
        return COMMANDS[name]
    from pipeline.tools import export, report
    from trainer.cli import COMMANDS as TRAINER

    return {"report": report.cmd_report, "export": export.cmd_export, **TRAINER}[name]


def _interrupted(error: BaseException) -> bool:
    """Whether an error is a KeyboardInterrupt, possibly wrapped (and stringified) by Beam."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt) or str(error).startswith("KeyboardInterrupt"):
            return True
        error = error.__cause__ or error.__context__
    return False


COMMANDS_WITHOUT_BEAM = ("train", "scaling", "budget", "sample", "export")  # whose parsing needs no stage module


def main(argv=None) -> int:
    cli = argv is None  # the pileprep command itself, not a caller's main([...])
    if cli and "IPython" not in sys.modules:
        # The command line is never inside IPython, yet Beam asks by importing it for every
        # transform applied (apache_beam.utils.interactive_utils.is_in_ipython): 0.35 s of start-up.
        sys.modules["IPython"] = None
    argv = list(sys.argv[1:] if argv is None else argv)
    _setup_logging("-v" in argv or "--verbose" in argv)  # before any Beam import can log
    parser = _parser(next((a for a in argv if not a.startswith("-")), None))
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command not in ("run", "demo"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    from transforms.display import printable
    from transforms.errors import find_message

    if cli:
        gc.freeze()  # what is imported by now: the garbage collector need not scan it again
    try:
        code = _command(args.command)(args, beam_args)
        if cli:
            gc.freeze()  # nor, at exit, the run's leftovers (that full collection cost 0.3 s)
        return code
    except KeyboardInterrupt:
        print("pileprep: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a runner wraps our errors in its own
        if _interrupted(e):  # Ctrl-C inside a DoFn: the runner re-raises it as its own error
            print("pileprep: interrupted", file=sys.stderr)
            return 130
        # Only our own errors (PileprepError, and ConfigError from validating options) are the
        # user's to fix. Any other exception - a ValueError from numpy or from our own code
        # included - is a bug, and its traceback is what finds it.
        message = find_message(e)
        if message is not None:
            # one line, whatever file names or ids from the input the message quotes
            print(f"pileprep: error: {printable(message, None)}", file=sys.stderr)
            return EXIT_USAGE
        traceback.print_exc()
        print(f"pileprep: {BUG}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
