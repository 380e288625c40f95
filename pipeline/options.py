"""RunConfig: every option of `pileprep run` that shapes the output, validated in one place.

The CLI parses our flags with argparse and leaves the rest to Beam's PipelineOptions untouched, so
`--runner DataflowRunner --project ...` passes straight through.

    config = RunConfig(inputs=("data/*.jsonl.zst",), output="out/")
"""
import dataclasses
import math

from transforms.errors import ConfigError
from transforms.filter import FilterConfig
from transforms.normalize import NormalizeConfig
from transforms.read import ReadConfig

DOCUMENT_FILE_BYTES = 512 << 20  # aim for Parquet files of a few hundred MB of text
ZSTD_RATIO = 4  # Pile .jsonl.zst expands about 4x; used only to size document files


@dataclasses.dataclass(frozen=True)
class RunConfig:
    inputs: tuple[str, ...]
    output: str
    seed: int = 0  # fixes the document order; same seed and input give identical output
    rules: str = "eleuther"  # the filters the Pile was built with (what Cerebras-GPT saw)
    normalize: str = "nfc"  # ftfy with NFC, as Cerebras cleaned the Pile
    allow_corrupt_inputs: bool = False  # damaged files stop the run unless the user accepts the loss
    overwrite: bool = False  # never replace a previous run by accident
    write_documents: bool = True  # the cleaned text as Parquet, beside the token shards
    document_files: int | None = None  # None: sized from the input so files hold ~512 MB of text
    tokenizer: str = "gpt2"  # Cerebras-GPT: GPT-2 BPE, 50,257 ids; or a tokenizer.json path
    eos_id: int | None = None  # None: the tokenizer's <|endoftext|> (50256 for GPT-2)
    model_size: str | None = None  # a Cerebras-GPT size: pack 20 tokens per parameter of it
    tokens_per_param: float = 20.0  # Chinchilla's ratio, as every Cerebras-GPT model used
    token_budget: int | None = None  # an explicit budget instead of a model size
    allow_short: bool = False  # input smaller than the budget is an error unless allowed
    rows_per_shard: int = 65536  # 65,536 rows x 2,049 x 2 bytes = 268 MB per GPT-2 shard
    split_bytes: int = 256 << 20  # plain .jsonl files above this are read as parallel line ranges
    max_line_bytes: int = 128 << 20  # longer lines are rejected unparsed (Books3's longest are tens of MB)
    reshuffle: bool = True  # spread documents after reading; off for the in-process local runner
    spill: bool | None = None  # tokens and text cross the shuffles as references to files; None: local runners
    tokenize_processes: int | None = None  # child processes tokenizing for each worker; None: cores, in-process only
    dedup: str = "none"  # Cerebras-GPT was trained on the Pile without deduplication
    holdout: tuple[str, ...] = ()  # val/test patterns: exact (and with minhash, near) matches are removed
    minhash_threshold: float = 0.8  # SlimPajama's Jaccard threshold
    minhash_num_perm: int = 128  # datasketch's default, SlimPajama's
    minhash_shingles: str = "word5"  # datatrove's word 5-grams; "char13" as SlimPajama
    minhash_bands: int | None = None  # None: datasketch MinHashLSH's choice (9 x 13 at 0.8 / 128)
    minhash_rows: int | None = None
    minhash_confirm: bool = True  # confirm LSH candidates by estimated Jaccard >= threshold
    dedup_max_rounds: int = 12  # connected-component rounds; enough for chains of ~2,000 documents
    reference: bool = False  # the unoptimized implementations (ftfy per document, HF tokenizers,
    # datasketch): slower, byte-identical output, to check the fast paths against
    check_every: int = 100  # 1 document in N also normalized and tokenized by the plain implementations
    # during the run (0: none): a fast path that differs fails the run; ~1% costs a few percent

    def __post_init__(self):
        if not self.inputs:
            raise ConfigError("give at least one --input PATTERN")
        if not self.output:
            raise ConfigError("give --output DIR")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"--seed must be in [0, 2**63), got {self.seed}")
        if self.split_bytes < 1 << 10:
            raise ConfigError(f"--split-mb must give at least 1 KiB, got {self.split_bytes} bytes")
        if self.document_files is not None and self.document_files < 1:
            raise ConfigError(f"--document-files must be >= 1, got {self.document_files}")
        if self.model_size is not None and self.token_budget is not None:
            raise ConfigError("give --model-size or --token-budget, not both")
        if self.tokens_per_param != 20.0 and self.model_size is None:
            raise ConfigError("--tokens-per-param applies to a --model-size budget; give one")
        self.read_config(), self.normalize_config(), self.filter_config(), self.tokenize_config()
        self.check_config()
        self.dedup_config()
        self.budget()

    def holdout_read_config(self) -> ReadConfig:
        return dataclasses.replace(self.read_config(), patterns=tuple(self.holdout), allow_corrupt=False)

    def dedup_config(self):
        from transforms.dedup import DedupConfig
        from transforms.minhash import MinHashConfig

        minhash = MinHashConfig(num_perm=self.minhash_num_perm, shingles=self.minhash_shingles,
                                threshold=self.minhash_threshold, bands=self.minhash_bands,
                                rows=self.minhash_rows, confirm=self.minhash_confirm, reference=self.reference)
        return DedupConfig(mode=self.dedup, minhash=minhash, max_rounds=self.dedup_max_rounds)

    def tokenize_config(self):
        from transforms.tokenize import TokenizeConfig

        return TokenizeConfig(tokenizer=self.tokenizer, eos_id=self.eos_id,
                              backend="hf" if self.reference else "auto")

    def budget(self):
        """The Chinchilla (or explicit) budget, or None to pack every document."""
        from schemas.family import budget_for

        if self.model_size is None and self.token_budget is None:
            return None
        if self.model_size is not None:
            return budget_for(self.model_size, tokens_per_param=self.tokens_per_param)
        return budget_for(token_budget=self.token_budget)

    def pack_config(self, tokenizer):
        from transforms.pack import PackConfig

        budget = self.budget()
        return PackConfig(out_dir=self.output, dtype=str(tokenizer.dtype), eos_id=tokenizer.eos_id,
                          rows_per_shard=self.rows_per_shard,
                          target_tokens=budget.target_tokens if budget else None,
                          allow_short=self.allow_short, spill=bool(self.spill))

    def read_config(self) -> ReadConfig:
        return ReadConfig(tuple(self.inputs), allow_corrupt=self.allow_corrupt_inputs, seed=self.seed,
                          split_bytes=self.split_bytes, max_line_bytes=self.max_line_bytes,
                          reshuffle=self.reshuffle, spill=self.output if self.spill else None)

    def normalize_config(self) -> NormalizeConfig:
        return NormalizeConfig(self.normalize, reference=self.reference)

    def check_config(self):
        """Which documents the fast normalizer and tokenizer are cross-checked on (none with
        --reference: it runs the plain implementations already)."""
        from transforms.provenance import CheckConfig

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
                if k not in ("output", "overwrite", "split_bytes", "reshuffle", "spill", "tokenize_processes",
                             "reference", "check_every")}
