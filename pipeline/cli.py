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


def _add_run_options(parser):
    parser.add_argument("--input", action="append", required=True, metavar="PATTERN",
                        help="input files: .jsonl.zst, .jsonl.gz or .jsonl; local, gs:// or s3://; repeatable")
    parser.add_argument("--output", required=True, metavar="DIR", help="output directory (must be empty or absent)")
    parser.add_argument("--no-wait", dest="wait", action="store_false",
                        help="submit the job and exit (Flex Template launchers, --output_executable_path)")
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
    parser.add_argument("--tokenizer", default="gpt2", metavar="gpt2|PATH",
                        help="GPT-2 BPE (default; shipped, no download) or any HF tokenizer.json")
    parser.add_argument("--eos-id", type=int, default=None, help="EOS id (default: the tokenizer's <|endoftext|>)")
    parser.add_argument("--model-size", default=None, metavar="SIZE",
                        help="pack the Chinchilla budget of a Cerebras-GPT size: 111M 256M 590M 1.3B 2.7B 6.7B 13B")
    parser.add_argument("--tokens-per-param", type=float, default=20.0,
                        help="tokens per parameter for --model-size (default 20, Chinchilla)")
    parser.add_argument("--token-budget", type=int, default=None, metavar="N", help="pack N tokens (rounded up to whole rows)")
    parser.add_argument("--allow-short", action="store_true",
                        help="when the input is smaller than the budget, pack what there is and record it")
    parser.add_argument("--rows-per-shard", type=int, default=65536, metavar="N",
                        help="rows of 2049 tokens per .npy shard (default 65536: 268 MB of uint16)")
    parser.add_argument("--split-mb", type=float, default=256.0, metavar="MB",
                        help="read plain .jsonl files larger than this as parallel line ranges (default 256)")
    parser.add_argument("--max-line-mb", type=float, default=128.0, metavar="MB",
                        help="reject longer lines unparsed, as line_too_long (default 128)")
    parser.add_argument("--dedup", default="none", choices=("none", "exact", "minhash"),
                        help="remove exact or MinHash-LSH near-duplicates (default none, as Cerebras-GPT)")
    parser.add_argument("--holdout", action="append", default=[], metavar="PATTERN",
                        help="val/test files: training documents matching them are removed (repeatable)")
    parser.add_argument("--minhash-threshold", type=float, default=0.8, help="Jaccard threshold (default 0.8)")
    parser.add_argument("--minhash-num-perm", type=int, default=128, help="permutations (default 128)")
    parser.add_argument("--minhash-shingles", default="word5", choices=("word5", "char13"),
                        help="word 5-grams (datatrove, default) or character 13-grams (SlimPajama)")
    parser.add_argument("--minhash-bands", type=int, default=None, help="LSH bands (default: datasketch's choice)")
    parser.add_argument("--minhash-rows", type=int, default=None, help="rows per band (default: datasketch's choice)")
    parser.add_argument("--no-minhash-confirm", dest="minhash_confirm", action="store_false",
                        help="keep every LSH candidate pair without checking its estimated Jaccard")
    parser.add_argument("--dedup-max-rounds", type=int, default=12,
                        help="connected-component rounds before giving up (default 12)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes: N > 1 uses Beam's multi_processing mode (default: one "
                             "in-process worker, measured fastest on 2 cores)")
    parser.add_argument("--spill", default="auto", choices=("auto", "on", "off"),
                        help="pass tokens and text through Beam's shuffles as references to files in the "
                             "output folder (auto: on for the local runners, whose shuffle lives in memory)")
    parser.add_argument("--reference", action="store_true",
                        help="use the unoptimized implementations (ftfy.fix_text on every document, HF "
                             "tokenizers, datasketch): several times slower, byte-identical output; to check "
                             "the fast paths on your own data")
    parser.add_argument("--check-every", type=int, default=100, metavar="N",
                        help="also run 1 document in N through the plain ftfy and GPT-2 tokenizer and fail the "
                             "run, naming it, if the fast paths differ (default 100; 0: no check)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Beam's progress logging")


def _parser():
    parser = argparse.ArgumentParser(
        prog="pileprep", description="Prepare the Pile the way Cerebras-GPT was trained on it. "
        "Options not listed here are passed to Beam (e.g. --runner DataflowRunner --project P).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="clean, filter, tokenize and pack a corpus", description=(
        "Read Pile-format JSON lines, normalize with ftfy, apply the filter rules, tokenize with "
        "GPT-2 BPE, pack 2049-token rows into .npy shards (optionally to a Chinchilla budget), "
        "write the cleaned documents and the manifest. Unknown options go to Beam unchanged."))
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
    verify = sub.add_parser("verify", help="check a run's shards and files against its manifest")
    verify.add_argument("dir")
    inspect = sub.add_parser("inspect", help="summarize a run; --decode N prints its first N rows as text")
    inspect.add_argument("dir")
    inspect.add_argument("--decode", type=int, default=0, metavar="N")
    from pipeline import export, report

    report.add_parser(sub)
    export.add_parser(sub)
    from trainer import cli as trainer_cli  # registers train and scaling; imports torch only when run

    trainer_cli.register(sub)
    return parser


def cmd_verify(args, _beam_args) -> int:
    from pipeline.verify import verify

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
    from pipeline.inspection import decode_rows, describe

    print(describe(args.dir))  # a directory without manifest.json is refused (schemas/run.py load_manifest)
    if args.decode:
        print(decode_rows(args.dir, args.decode))
    return 0


def cmd_run(args, beam_args) -> int:
    from pipeline.options import RunConfig
    from pipeline.run import run

    config = RunConfig(
        inputs=tuple(args.input), output=args.output, seed=args.seed, rules=args.rules,
        normalize=args.normalize, allow_corrupt_inputs=args.allow_corrupt_inputs,
        overwrite=args.overwrite, write_documents=args.write_documents,
        document_files=args.document_files, tokenizer=args.tokenizer, eos_id=args.eos_id,
        model_size=args.model_size, tokens_per_param=args.tokens_per_param,
        token_budget=args.token_budget, allow_short=args.allow_short,
        rows_per_shard=args.rows_per_shard, split_bytes=int(args.split_mb * (1 << 20)),
        max_line_bytes=int(args.max_line_mb * (1 << 20)), dedup=args.dedup, holdout=tuple(args.holdout),
        minhash_threshold=args.minhash_threshold, minhash_num_perm=args.minhash_num_perm,
        minhash_shingles=args.minhash_shingles, minhash_bands=args.minhash_bands,
        minhash_rows=args.minhash_rows, minhash_confirm=args.minhash_confirm,
        dedup_max_rounds=args.dedup_max_rounds, spill={"auto": None, "on": True, "off": False}[args.spill],
        reference=args.reference, check_every=args.check_every)
    run(config, beam_args, workers=args.workers, verbose=args.verbose, wait=getattr(args, "wait", True))
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


COMMANDS = {"run": cmd_run, "sample": cmd_sample, "demo": cmd_demo, "budget": cmd_budget,
            "verify": cmd_verify, "inspect": cmd_inspect}


def _command(name):
    if name in COMMANDS:
        return COMMANDS[name]
    from pipeline import export, report
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


def main(argv=None) -> int:
    cli = argv is None  # the pileprep command itself, not a caller's main([...])
    if cli and "IPython" not in sys.modules:
        # The command line is never inside IPython, yet Beam asks by importing it for every
        # transform applied (apache_beam.utils.interactive_utils.is_in_ipython): 0.35 s of start-up.
        sys.modules["IPython"] = None
    argv = list(sys.argv[1:] if argv is None else argv)
    _setup_logging("-v" in argv or "--verbose" in argv)  # before any Beam import can log
    args, beam_args = _parser().parse_known_args(argv)
    if beam_args and args.command not in ("run", "demo"):
        _parser().error(f"unrecognized arguments: {' '.join(beam_args)}")
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
