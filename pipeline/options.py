"""RunConfig: every option of `pileprep run` that shapes the output, validated in one place.

Each field is also the `pileprep run` flag of the same name (`minhash_num_perm` -> --minhash-num-perm):
`option(default, help)` gives its help line, and the CLI builds its flags from the fields with
`add_flags(parser)` and the config from what it parsed with `from_args(args)`. Adding an option is
adding a field. The SHOWN fields (--quiet, --progress-every) say what the terminal shows and are
not recorded in the manifest. The CLI leaves every other argument to Beam's PipelineOptions
untouched, so `--runner DataflowRunner --project ...` passes straight through.

Over 300 lines on purpose: it is the one place every option is declared, each with its default's
provenance and its help; split up, an option would again live in more than one module.

    config = RunConfig(inputs=("data/*.jsonl.zst",), output="out/")
"""
import dataclasses
import math
import types
import typing

from schemas.family import CHINCHILLA_TOKENS_PER_PARAM, FAMILY, budget_for
from schemas.run import ROW_LEN
from transforms.errors import ConfigError
from transforms.rules import FilterConfig
from transforms.inputs import ReadConfig
from transforms.minhash import MODES, PRESETS, SHINGLINGS, DedupConfig, MinHashConfig
from transforms.normalizer import FORMS, NormalizeConfig
from transforms.placement import PackConfig, range_bits_for
from transforms.provenance import CheckConfig

DOCUMENT_FILE_BYTES = 512 << 20  # aim for Parquet files of a few hundred MB of text
ZSTD_RATIO = 4  # Pile .jsonl.zst expands about 4x; used only to size document files
MB = 1 << 20  # the unit of --split-mb and --max-line-mb
# Fields that are not flags: the runner decides them (pipeline/run.py), not the user.
NOT_FLAGS = ("reshuffle", "tokenize_processes", "fused")
SHOWN = ("quiet", "progress_every")  # fields about what the terminal shows, not the output


def option(default=dataclasses.MISSING, help=None, *, flag=None, metavar=None, choices=None, unit=None):
    """A RunConfig field that is also a flag of `pileprep run`. `help` may name its default as
    %(default)g. The flag is --field-name (--no-field-name for a field that defaults to True) unless
    `flag` says otherwise; `choices` is a tuple of values or a dict from the words given on the
    command line to the values; `unit` scales a float given in, say, MB to the field's int."""
    spec = {"help": help, "flag": flag, "metavar": metavar, "choices": choices, "unit": unit}
    return dataclasses.field(default=default, metadata={k: v for k, v in spec.items() if v is not None})


@dataclasses.dataclass(frozen=True)
class RunConfig:
    inputs: tuple[str, ...] = option(
        help="input files: .jsonl.zst, .jsonl.gz or .jsonl; local, gs:// or s3://; repeatable",
        flag="--input", metavar="PATTERN")
    output: str = option(help="output directory (must be empty or absent)", metavar="DIR")
    # fixes the document order; same seed and input give identical output
    seed: int = option(0, "seed of the document order (default %(default)d)")
    # the filters the Pile was built with (what Cerebras-GPT saw)
    rules: str = option(FilterConfig.rules, metavar="PRESET|FILE",
                        help="filter rules: eleuther (default), slimpajama, none, or a rules JSON file")
    # ftfy with NFC, as Cerebras cleaned the Pile
    normalize: str = option(NormalizeConfig.form, choices=FORMS,
                            help="ftfy.fix_text with NFC (default), with NFKC (gpt-neo), ftfy without a normal "
                                 "form, or off")
    # damaged files stop the run unless the user accepts the loss
    allow_corrupt_inputs: bool = option(
        False, "keep documents read before damage in a truncated/corrupt file; record the damage")
    # never replace a previous run by accident
    overwrite: bool = option(False, "replace a previous run in --output")
    # the cleaned text as Parquet, beside the token shards
    write_documents: bool = option(True, "do not write the cleaned documents as Parquet", flag="--no-documents")
    # None: sized from the input so files hold ~512 MB of text
    document_files: int | None = option(
        None, f"number of Parquet document files (default: ~{DOCUMENT_FILE_BYTES // MB} MB of text each)",
        metavar="N")
    # Cerebras-GPT: GPT-2 BPE, 50,257 ids; or a tokenizer.json path
    tokenizer: str = option("gpt2", "GPT-2 BPE (default; shipped, no download) or any HF tokenizer.json",
                            metavar="gpt2|PATH")
    # None: the tokenizer's <|endoftext|> (50256 for GPT-2)
    eos_id: int | None = option(None, "EOS id (default: the tokenizer's <|endoftext|>)")
    # a Cerebras-GPT size: pack CHINCHILLA_TOKENS_PER_PARAM tokens per parameter of it
    model_size: str | None = option(
        None, "pack the Chinchilla budget of a Cerebras-GPT size: " + " ".join(s.name for s in FAMILY),
        metavar="SIZE")
    # Chinchilla's ratio, as every Cerebras-GPT model used
    tokens_per_param: float = option(CHINCHILLA_TOKENS_PER_PARAM,
                                     "tokens per parameter for --model-size (default %(default)g, Chinchilla)")
    # an explicit budget instead of a model size
    token_budget: int | None = option(None, "pack N tokens (rounded up to whole rows)", metavar="N")
    # input smaller than the budget is an error unless allowed
    allow_short: bool = option(False, "when the input is smaller than the budget, pack what there is and record it")
    # 65,536 rows x 2,049 x 2 bytes = 268 MB per GPT-2 shard
    rows_per_shard: int = option(
        PackConfig.rows_per_shard, metavar="N",
        help=f"rows of {ROW_LEN} tokens per .npy shard (default %(default)d: "
             f"{PackConfig.rows_per_shard * ROW_LEN * 2 // 10**6} MB of uint16)")
    # plain .jsonl and Parquet files above this are read as parallel ranges of about this size
    split_bytes: int = option(
        ReadConfig.split_bytes, flag="--split-mb", metavar="MB", unit=MB,
        help="read plain .jsonl files larger than this as parallel line ranges, and Parquet files as "
             "parallel runs of row groups, each of about this size (default %(default)g)")
    # longer lines are rejected unparsed (Books3's longest are tens of MB)
    max_line_bytes: int = option(ReadConfig.max_line_bytes, "reject longer lines unparsed, as line_too_long "
                                 "(default %(default)g)", flag="--max-line-mb", metavar="MB", unit=MB)
    reshuffle: bool = True  # spread documents after reading; off for the in-process local runner
    # tokens and text cross the shuffles as references to files; None: local runners
    spill: bool | None = option(
        None, choices={"auto": None, "on": True, "off": False},
        help="pass tokens and text through Beam's shuffles as references to files in the output folder "
             "(auto: on for the local runners, whose shuffle lives in memory)")
    tokenize_processes: int | None = None  # child processes tokenizing for each worker; None: cores, in-process only
    fused: bool | None = None  # the fused local stage (transforms/prepare.py) for the graph's front; None: run.py decides
    # Cerebras-GPT was trained on the Pile without deduplication
    dedup: str = option(DedupConfig.mode, choices=MODES,
                        help="remove exact or MinHash-LSH near-duplicates (default %(default)s, as Cerebras-GPT)")
    # val/test patterns: exact (and with minhash, near) matches are removed
    holdout: tuple[str, ...] = option(
        (), "val/test files: training documents matching them are removed (repeatable)", metavar="PATTERN")
    # named MinHash settings (transforms/minhash.py PRESETS); the flags below override single fields
    minhash_preset: str = option("pileprep", choices=tuple(PRESETS),
                                 help="MinHash settings: pileprep (default: 16 x 8 bands, confirmed at 0.8; finds "
                                      "nearly all pairs at >= 0.9), slimpajama, datatrove")
    # None: the preset's (pileprep: 0.8, SlimPajama's)
    minhash_threshold: float | None = option(None, "Jaccard threshold (default: the preset's)")
    # None: the preset's (pileprep, slimpajama: 128; datatrove: 112)
    minhash_num_perm: int | None = option(None, "permutations (default: the preset's)")
    # None: the preset's (word 5-grams as datatrove; slimpajama: character 13-grams)
    minhash_shingles: str | None = option(None, choices=SHINGLINGS,
                                          help="word 5-grams (datatrove) or character 13-grams (SlimPajama) "
                                               "(default: the preset's)")
    # None: the preset's (pileprep: 16 x 8)
    minhash_bands: int | None = option(None, "LSH bands (default: the preset's)")
    minhash_rows: int | None = option(None, "rows per band (default: the preset's)")
    # confirm LSH candidates by estimated Jaccard >= threshold (when the preset does)
    minhash_confirm: bool = option(True, "keep every LSH candidate pair without checking its estimated Jaccard")
    # connected-component rounds on many workers; a final pass completes what they leave
    dedup_max_rounds: int = option(DedupConfig.max_rounds,
                                   "Large-Star/Small-Star rounds spread over the workers before a final "
                                   "union-find pass resolves what they left; fewer rounds leave that pass "
                                   "more (default %(default)d)")
    # the unoptimized implementations (ftfy per document, HF tokenizers, datasketch): slower,
    # byte-identical output, to check the fast paths against
    reference: bool = option(
        False, "use the unoptimized implementations (ftfy.fix_text on every document, HF tokenizers, "
               "datasketch): several times slower, byte-identical output; to check the fast paths on your "
               "own data")
    # 1 document in N also normalized and tokenized by the plain implementations during the run
    # (0: none): a fast path that differs fails the run; 1 in 100 costs 7-11%
    check_every: int = option(
        CheckConfig.every, metavar="N",
        help="also run 1 document in N through the plain ftfy and GPT-2 tokenizer and fail the run, naming "
             "it, if the fast paths differ (default %(default)d; 0: no check)")
    # how the run is shown, not what it writes: never recorded in the manifest (SHOWN)
    quiet: bool = option(False, "print no progress, start line or summary: only warnings and errors")
    # a line every 30 s is enough to see that a long run in a log is alive, without flooding it
    progress_every: float = option(
        30.0, metavar="SECONDS", help="when stderr is not a terminal, a progress line every SECONDS "
                                      "(default %(default)g; on a terminal one line updates in place)")

    def __post_init__(self):
        if not self.inputs:
            raise ConfigError("give at least one --input PATTERN")
        if not self.output:
            raise ConfigError("give --output DIR")
        if not self.progress_every > 0:
            raise ConfigError(f"--progress-every must be a number of seconds > 0, got {self.progress_every} "
                              f"(--quiet turns progress off)")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"--seed must be in [0, 2**63), got {self.seed}")
        if self.split_bytes < 1 << 10:
            raise ConfigError(f"--split-mb must give at least 1 KiB, got {self.split_bytes} bytes")
        if self.document_files is not None and self.document_files < 1:
            raise ConfigError(f"--document-files must be >= 1, got {self.document_files}")
        if self.model_size is not None and self.token_budget is not None:
            raise ConfigError("give --model-size or --token-budget, not both")
        if self.tokens_per_param != CHINCHILLA_TOKENS_PER_PARAM and self.model_size is None:
            raise ConfigError("--tokens-per-param applies to a --model-size budget; give one")
        self.read_config(), self.normalize_config(), self.filter_config(), self.tokenize_config()
        self.check_config()
        self.dedup_config()
        self.budget()

    def holdout_read_config(self) -> ReadConfig:
        return dataclasses.replace(self.read_config(), patterns=tuple(self.holdout), allow_corrupt=False)

    def dedup_config(self):
        return DedupConfig(mode=self.dedup, minhash=self.minhash_config(), max_rounds=self.dedup_max_rounds)

    def minhash_config(self) -> MinHashConfig:
        """The preset, with the fields given by their own flags replaced."""
        if self.minhash_preset not in PRESETS:
            raise ConfigError(f"unknown --minhash-preset {self.minhash_preset!r}: choose one of "
                              f"{', '.join(PRESETS)}")
        preset = PRESETS[self.minhash_preset]
        given = {name: getattr(self, "minhash_" + name) for name in ("num_perm", "shingles", "threshold")}
        changes = {k: v for k, v in given.items() if v is not None}
        if self.minhash_bands is not None or self.minhash_rows is not None:
            changes.update(bands=self.minhash_bands, rows=self.minhash_rows)  # both, or the config says so
        return dataclasses.replace(preset, **changes, confirm=preset.confirm and self.minhash_confirm,
                                   reference=self.reference)

    def tokenize_config(self):
        from transforms.tokenizer import TokenizeConfig

        return TokenizeConfig(tokenizer=self.tokenizer, eos_id=self.eos_id,
                              backend="hf" if self.reference else "auto")

    def budget(self):
        """The Chinchilla (or explicit) budget, or None to pack every document."""
        if self.model_size is None and self.token_budget is None:
            return None
        if self.model_size is not None:
            return budget_for(self.model_size, tokens_per_param=self.tokens_per_param)
        return budget_for(token_budget=self.token_budget)

    def pack_config(self, tokenizer, input_bytes: int = 0):
        """Pack's config; its key-range count follows the input's size (the bytes do not)."""
        budget = self.budget()
        return PackConfig(out_dir=self.output, dtype=str(tokenizer.dtype), eos_id=tokenizer.eos_id,
                          rows_per_shard=self.rows_per_shard,
                          target_tokens=budget.target_tokens if budget else None,
                          allow_short=self.allow_short, spill=bool(self.spill),
                          range_bits=range_bits_for(input_bytes))

    def fuses(self, paths) -> bool:
        """Whether the graph's front is the fused stage (transforms/prepare.py): when `fused` (which
        pipeline/run.py decides for the runner) and every input is JSON lines (of paths or patterns)."""
        from transforms.columnar import format_of

        return bool(self.fused) and not any(format_of(path) for path in paths)

    def read_config(self) -> ReadConfig:
        return ReadConfig(tuple(self.inputs), allow_corrupt=self.allow_corrupt_inputs, seed=self.seed,
                          split_bytes=self.split_bytes, max_line_bytes=self.max_line_bytes,
                          reshuffle=self.reshuffle, spill=self.output if self.spill else None)

    def normalize_config(self) -> NormalizeConfig:
        return NormalizeConfig(self.normalize, reference=self.reference)

    def check_config(self):
        """Which documents the fast normalizer and tokenizer are cross-checked on (none with
        --reference: it runs the plain implementations already)."""
        return CheckConfig(every=0 if self.reference else self.check_every, seed=self.seed)

    def filter_config(self) -> FilterConfig:
        return FilterConfig(self.rules)

    def files_for(self, input_bytes: int) -> int:
        if self.document_files is not None:
            return self.document_files
        return max(1, math.ceil(input_bytes * ZSTD_RATIO / DOCUMENT_FILE_BYTES))

    def recorded(self) -> dict:
        """The options as the manifest records them: everything that shapes the output, not where
        it went, how it was parallelized or which implementations computed it (so the same run into
        two directories, read with another split size, or with --reference, gives byte-identical
        manifests)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()
                if k not in ("output", "overwrite", "split_bytes", "reshuffle", "spill", "tokenize_processes", "fused",
                             "reference", "check_every") + SHOWN}


def _flag_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(RunConfig) if f.name not in NOT_FLAGS]


def flag_of(field: dataclasses.Field) -> str:
    """The option string of a field: --minhash-num-perm, --no-minhash-confirm for a field that is on
    by default, or the `flag` its option() gives (--input, --split-mb, --no-documents)."""
    if "flag" in field.metadata:
        return field.metadata["flag"]
    return ("--no-" if field.default is True else "--") + field.name.replace("_", "-")


def _scalar(annotation):
    """The type of one value: int for `int | None`, str for `tuple[str, ...]`."""
    if typing.get_origin(annotation) in (tuple, types.UnionType, typing.Union):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def add_flags(parser, *, only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> None:
    """Add the flag of every RunConfig field (but those in NOT_FLAGS and `skip`; of those in `only` if
    given) to an argparse parser, with the field's name as dest and its default."""
    for field in _flag_fields():
        if field.name in skip or (only is not None and field.name not in only):
            continue
        spec = field.metadata
        if "help" not in spec:
            raise TypeError(f"RunConfig.{field.name} is not a flag: declare it with option(default, help) "
                            f"or list it in NOT_FLAGS")
        kwargs = {"dest": field.name, "help": spec["help"]}
        if "metavar" in spec:
            kwargs["metavar"] = spec["metavar"]
        if field.default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = field.default
        scalar = _scalar(field.type)
        if isinstance(spec.get("choices"), dict):  # words on the command line -> values
            words = spec["choices"]
            kwargs["choices"] = list(words)
            kwargs["default"] = next(w for w, v in words.items() if v is field.default)
        elif "unit" in spec:
            kwargs.update(type=float, default=field.default / spec["unit"])
        elif scalar is bool:
            kwargs["action"] = "store_false" if field.default else "store_true"
        elif typing.get_origin(field.type) is tuple:
            kwargs["action"] = "append"
            if "default" in kwargs:
                kwargs["default"] = list(kwargs["default"])  # argparse appends to it: a new list per parser
        else:
            if scalar is not str:
                kwargs["type"] = scalar
            if "choices" in spec:
                kwargs["choices"] = spec["choices"]
        parser.add_argument(flag_of(field), **kwargs)


def from_args(args) -> RunConfig:
    """The RunConfig of an argparse namespace that add_flags' flags parsed."""
    values = {}
    for field in _flag_fields():
        value, spec = getattr(args, field.name), field.metadata
        if isinstance(spec.get("choices"), dict):
            value = spec["choices"][value]
        elif "unit" in spec:
            value = int(value * spec["unit"])
        elif isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return RunConfig(**values)
