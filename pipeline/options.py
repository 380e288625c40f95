"""RunConfig: every option of `pileprep run` that shapes the output, validated in one place.

The CLI parses our flags with argparse and leaves the rest to Beam's PipelineOptions untouched, so
`--runner DataflowRunner --project ...` passes straight through.

    config = RunConfig(inputs=("data/*.jsonl.zst",), output="out/")
"""
import dataclasses
import math

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
    write_documents: bool = True  # the cleaned text as Parquet (part 1's output)
    document_files: int | None = None  # None: sized from the input so files hold ~512 MB of text

    def __post_init__(self):
        if not self.inputs:
            raise ValueError("give at least one --input PATTERN")
        if not self.output:
            raise ValueError("give --output DIR")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"--seed must be in [0, 2**63), got {self.seed}")
        if self.document_files is not None and self.document_files < 1:
            raise ValueError(f"--document-files must be >= 1, got {self.document_files}")
        self.read_config(), self.normalize_config(), self.filter_config()

    def read_config(self) -> ReadConfig:
        return ReadConfig(tuple(self.inputs), allow_corrupt=self.allow_corrupt_inputs, seed=self.seed)

    def normalize_config(self) -> NormalizeConfig:
        return NormalizeConfig(self.normalize)

    def filter_config(self) -> FilterConfig:
        return FilterConfig(self.rules)

    def files_for(self, input_bytes: int) -> int:
        if self.document_files is not None:
            return self.document_files
        return max(1, math.ceil(input_bytes * ZSTD_RATIO / DOCUMENT_FILE_BYTES))

    def recorded(self) -> dict:
        """The options as the manifest records them."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
