"""The `pileprep` command line: run, sample, demo, budget.

    pileprep run --input 'pile/train/*.jsonl.zst' --output out/ [--rules eleuther] [Beam options]
    pileprep demo

Errors the user can fix are printed as one message (no traceback) and exit with status 2.
"""
import argparse
import logging
import os
import sys
import time

EXIT_USAGE = 2  # a PileprepError or invalid option: the message says what to do
EXIT_FAILED = 1  # anything else: a bug or a runner failure


class _QuietBeam(logging.Filter):
    """Drop Beam's import-time noise that says nothing about this run."""

    def filter(self, record):
        return "apitools not found" not in record.getMessage()


def _setup_logging(verbose: bool):
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietBeam())


def _add_run_options(parser):
    parser.add_argument("--input", action="append", required=True, metavar="PATTERN",
                        help="input files: .jsonl.zst, .jsonl.gz or .jsonl; local, gs:// or s3://; repeatable")
    parser.add_argument("--output", required=True, metavar="DIR", help="output directory (must be empty or absent)")
    _add_shared_run_options(parser)


def _add_shared_run_options(parser):
    parser.add_argument("--rules", default="eleuther", metavar="PRESET|FILE",
                        help="filter rules: eleuther (default), slimpajama, none, or a rules JSON file")
    parser.add_argument("--normalize", default="nfc", choices=("nfc", "nfkc", "ftfy", "off"),
                        help="ftfy.fix_text with NFC (default), with NFKC (gpt-neo), ftfy without a normal form, or off")
    parser.add_argument("--seed", type=int, default=0, help="seed of the document order (default 0)")
    parser.add_argument("--allow-corrupt-inputs", action="store_true",
                        help="keep documents read before damage in a truncated/corrupt file; record the damage")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    parser.add_argument("--no-documents", dest="write_documents", action="store_false",
                        help="do not write the cleaned documents as Parquet")
    parser.add_argument("--document-files", type=int, default=None, metavar="N",
                        help="number of Parquet document files (default: ~512 MB of text each)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: one per core, up to 2)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Beam's progress logging")


def _parser():
    parser = argparse.ArgumentParser(
        prog="pileprep", description="Prepare the Pile the way Cerebras-GPT was trained on it. "
        "Options not listed here are passed to Beam (e.g. --runner DataflowRunner --project P).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="clean, filter and write a corpus", description=(
        "Read Pile-format JSON lines, normalize with ftfy, apply the filter rules, write the "
        "cleaned documents and a manifest. Unknown options go to Beam unchanged."))
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
    _add_shared_run_options(demo)
    budget = sub.add_parser("budget", help="the Cerebras-GPT family and its Chinchilla token budgets")
    budget.add_argument("--json", action="store_true", help="print JSON instead of a table")
    budget.add_argument("--tokens-per-param", type=float, default=20.0)
    return parser


def cmd_run(args, beam_args) -> int:
    from pipeline.options import RunConfig
    from pipeline.run import run

    config = RunConfig(
        inputs=tuple(args.input), output=args.output, seed=args.seed, rules=args.rules,
        normalize=args.normalize, allow_corrupt_inputs=args.allow_corrupt_inputs,
        overwrite=args.overwrite, write_documents=args.write_documents,
        document_files=args.document_files)
    run(config, beam_args, workers=args.workers, verbose=args.verbose)
    return 0


def cmd_sample(args, _beam_args) -> int:
    from pipeline.sample import SampleConfig, write_sample

    summary = write_sample(args.output, SampleConfig(seed=args.seed, documents=args.documents, files=args.files))
    print(f"wrote {len(summary.paths)} files to {args.output}: {summary.documents:,} documents, "
          f"{summary.malformed} malformed lines, {summary.bytes / 1e6:.1f} MB of JSON lines")
    return 0


def cmd_demo(args, beam_args) -> int:
    from pipeline.sample import SampleConfig, write_sample

    started = time.monotonic()
    inputs, output = os.path.join(args.dir, "input"), os.path.join(args.dir, "output")
    summary = write_sample(inputs, SampleConfig(seed=args.seed, documents=args.documents))
    print(f"demo: wrote {summary.documents:,} synthetic documents in {len(summary.paths)} files to {inputs}")
    args.input, args.output, args.overwrite = [os.path.join(inputs, "*.jsonl*")], output, True
    code = cmd_run(args, beam_args)
    print(f"demo finished in {time.monotonic() - started:.1f} s; output in {output}")
    return code


def cmd_budget(args, _beam_args) -> int:
    import json

    from schemas.family import family_table, format_table

    rows = family_table(args.tokens_per_param)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


COMMANDS = {"run": cmd_run, "sample": cmd_sample, "demo": cmd_demo, "budget": cmd_budget}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, beam_args = _parser().parse_known_args(argv)
    if beam_args and args.command not in ("run", "demo"):
        _parser().error(f"unrecognized arguments: {' '.join(beam_args)}")
    _setup_logging(getattr(args, "verbose", False))
    from transforms.errors import find_message

    try:
        return COMMANDS[args.command](args, beam_args)
    except KeyboardInterrupt:
        print("pileprep: interrupted", file=sys.stderr)
        return 130
    except (ValueError, Exception) as e:  # noqa: B014 - a runner wraps our errors in its own
        message = find_message(e)
        if message is None and isinstance(e, ValueError):
            message = str(e)
        if message is not None:
            print(f"pileprep: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
