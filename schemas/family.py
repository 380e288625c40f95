"""The Cerebras-GPT family as data: shapes, parameter counts and Chinchilla token budgets.

Every number here comes from the Cerebras-GPT model card (architecture table and Training Table);
parameter counts and budgets are computed, and the tests check them against the card.

    budget_for("590M").rows  # rows of 2049 tokens the 590M model needs at 20 tokens per parameter
"""
import math
from dataclasses import dataclass
from fractions import Fraction

from schemas.run import SEQ_LEN as ROW_STRIDE  # row r holds stream tokens [2048r, 2048r + 2049)
from transforms.errors import ConfigError

CHINCHILLA_TOKENS_PER_PARAM = 20.0  # the card: "20 tokens per model parameter"


@dataclass(frozen=True)
class ModelShape:
    """One Cerebras-GPT size, as the card's architecture and training tables print it."""

    name: str  # the card's size label, also what --model accepts
    layers: int
    d_model: int
    heads: int
    d_head: int
    d_ffn: int
    lr: float  # the card's peak learning rate
    batch_size: int  # sequences per step, the card's BS (seq); for 13B its starting value
    batch_size_note: str | None  # set where the card's batch size is not one number
    adam_eps: float
    card_params: str  # as the card prints it
    card_steps: int  # the Training Table's Number of Steps
    card_tokens: float  # the Training Table's Tokens (three significant figures)
    vocab_size: int = 50257  # GPT-2 BPE, as on the card
    seq_len: int = 2048  # the card: all models trained with MSL 2048

    def __post_init__(self):
        if self.heads * self.d_head != self.d_model:
            raise ValueError(
                f"model {self.name}: heads x d_head = {self.heads} x {self.d_head} = "
                f"{self.heads * self.d_head}, but d_model is {self.d_model}: fix one of the three"
            )


# The card says adam_eps = 1e-8 "(1e-9 for larger models)" without naming them. Cerebras's
# published Model Zoo configs (gpt3/configs/Cerebras_GPT/*.yaml) set eps 1.0e-8 up to 2p7b.yaml
# and 1.0e-9 in 6p7b.yaml and 13b_bs*.yaml, so "larger" means 6.7B and 13B.
_SMALL_EPS, _LARGE_EPS = 1e-8, 1e-9

FAMILY: tuple[ModelShape, ...] = (
    ModelShape("111M", 10, 768, 12, 64, 3072, 6.0e-4, 120, None, _SMALL_EPS, "111M", 9037, 2.22e9),
    ModelShape("256M", 14, 1088, 17, 64, 4352, 6.0e-4, 264, None, _SMALL_EPS, "256M", 9468, 5.12e9),
    ModelShape("590M", 18, 1536, 12, 128, 6144, 2.0e-4, 264, None, _SMALL_EPS, "590M", 21836, 1.18e10),
    ModelShape("1.3B", 24, 2048, 16, 128, 8192, 2.0e-4, 528, None, _SMALL_EPS, "1.3B", 24334, 2.63e10),
    ModelShape("2.7B", 32, 2560, 32, 80, 10240, 2.0e-4, 528, None, _SMALL_EPS, "2.7B", 49041, 5.30e10),
    ModelShape("6.7B", 32, 4096, 32, 128, 16384, 1.2e-4, 1040, None, _LARGE_EPS, "6.7B", 62522, 1.33e11),
    ModelShape("13B", 40, 5120, 40, 128, 20480, 1.2e-4, 720, "720 -> 1080 (batch size ramp)",
               _LARGE_EPS, "13B", 174335, 2.57e11),
)
_BY_NAME = {shape.name.lower(): shape for shape in FAMILY}
_NAMES = ", ".join(shape.name for shape in FAMILY)


def get(name: str) -> ModelShape:
    """The family member called `name`, case-insensitively ("590M", "590m", "1.3b")."""
    shape = _BY_NAME.get(str(name).strip().lower())
    if shape is None:
        raise ConfigError(f"unknown Cerebras-GPT size {name!r}: choose one of {_NAMES}")
    return shape


def parameters(shape: ModelShape, *, vocab_size: int | None = None, seq_len: int | None = None) -> int:
    """Trainable parameters of a GPT-3 style decoder; vocab_size and seq_len default to the shape's.

    The output projection is tied to the token embedding (share_embedding_weights in Cerebras's
    configs) and has no bias, so it adds nothing.
    """
    vocab = shape.vocab_size if vocab_size is None else vocab_size
    positions = shape.seq_len if seq_len is None else seq_len
    d, f = shape.d_model, shape.d_ffn
    attention = 4 * d * d + 4 * d  # Q, K, V and output projections, each with a bias
    mlp = 2 * d * f + f + d  # d -> d_ffn -> d, with biases
    layer_norms = 2 * 2 * d  # two LayerNorms per layer, scale and shift each
    return vocab * d + positions * d + shape.layers * (attention + mlp + layer_norms) + 2 * d


# Which rounding reproduces the card's Number of Steps, with tokens = 20 x parameters(shape):
#   floor reproduces all seven sizes exactly, 13B included when computed at its starting batch of
#     720 (174335.21 -> 174335). That 174335 is the length of the LR schedule in Cerebras's
#     13b_bs720.yaml; the run switched to 1080 sequences (13b_bs1080.yaml: 116223 steps, which is
#     floor at 1080 too), so 174335 is not the number of steps the 13B model actually took.
#   round misses 256M (9468.85 -> 9469), 1.3B, 2.7B and 6.7B; ceil misses all seven.
#   The card's printed Tokens (2.22E+09 ...) do not reproduce the steps: 2.22e9 / (120 x 2048)
#     = 9033.2, not 9037; they are the computed tokens rounded to three significant figures.
# Rounding down also means the trainer never asks for more rows than the budget holds.


@dataclass(frozen=True)
class Budget:
    """How many tokens and rows of 2049 tokens a run needs, and the steps they make."""

    model: str | None  # canonical size name; None for an explicit token budget
    tokens_per_param: float | None  # None for an explicit token budget, which has no ratio
    parameters: int | None
    target_tokens: int  # ceil(tokens_per_param x parameters), or the explicit budget
    rows: int  # ceil(target_tokens / 2048): each row gives 2048 targets
    stream_tokens: int  # rows x 2048 + 1: the last row also needs the first token of the next
    batch_size: int | None
    steps: int | None  # floor(target_tokens / (batch_size x 2048)): reproduces the card


def _check_tokens_per_param(tokens_per_param) -> float:
    if isinstance(tokens_per_param, bool) or not isinstance(tokens_per_param, (int, float)) \
            or not math.isfinite(tokens_per_param) or tokens_per_param <= 0:
        raise ConfigError(
            f"tokens_per_param must be a positive number (Chinchilla and Cerebras-GPT use "
            f"{CHINCHILLA_TOKENS_PER_PARAM:g}), got {tokens_per_param!r}"
        )
    return float(tokens_per_param)


def budget_for(model: str | None = None, *, tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
               token_budget: int | None = None) -> Budget:
    """The budget for a family size at `tokens_per_param`, or for an explicit `token_budget`.

    Give exactly one of `model` and `token_budget`. A `tokens_per_param` other than the default
    is an error with a token budget, which is already a number of tokens.
    """
    if (model is None) == (token_budget is None):
        raise ConfigError(
            "give exactly one of a model size (one of " + _NAMES + ") or an explicit token budget"
            + (", not both" if model is not None else "")
        )
    if model is None:
        if isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget <= 0:
            raise ConfigError(f"token budget must be a positive whole number of tokens, got {token_budget!r}")
        if tokens_per_param != CHINCHILLA_TOKENS_PER_PARAM:
            raise ConfigError(
                f"tokens_per_param={tokens_per_param!r} applies only with a model size; with an "
                f"explicit budget of {token_budget} tokens drop it, or give a model size instead"
            )
        rows = -(-token_budget // ROW_STRIDE)
        return Budget(None, None, None, token_budget, rows, rows * ROW_STRIDE + 1, None, None)
    shape = get(model)
    ratio = _check_tokens_per_param(tokens_per_param)
    n_params = parameters(shape)
    # Fraction of the ratio as written ("0.1", not the binary float) so ceil cannot gain a token
    target = math.ceil(Fraction(repr(ratio)) * n_params)
    rows = -(-target // ROW_STRIDE)
    steps = target // (shape.batch_size * shape.seq_len)
    return Budget(shape.name, ratio, n_params, target, rows, rows * ROW_STRIDE + 1, shape.batch_size, steps)


def family_table(tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM) -> list[dict]:
    """One row per size, in size order: the shape, its budget and the card's figures."""
    table = []
    for shape in FAMILY:
        budget = budget_for(shape.name, tokens_per_param=tokens_per_param)
        table.append({
            "name": shape.name, "layers": shape.layers, "d_model": shape.d_model, "heads": shape.heads,
            "d_head": shape.d_head, "d_ffn": shape.d_ffn, "parameters": budget.parameters,
            "tokens": budget.target_tokens, "tokens_per_param": budget.tokens_per_param,
            "batch_size": shape.batch_size, "steps": budget.steps, "lr": shape.lr,
            "card_steps": shape.card_steps, "card_params": shape.card_params,
            "batch_size_note": shape.batch_size_note,
        })
    return table


def _count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{n:,}"


def format_table(rows: list[dict]) -> str:
    """`family_table()` as an aligned plain-text table, for `pileprep budget`."""
    header = ("model", "params", "layers", "d_model", "heads", "d_head", "d_ffn", "lr",
              "tokens", "batch", "steps", "card steps")
    body, notes = [], []
    for row in rows:
        batch = str(row["batch_size"])
        if row.get("batch_size_note"):
            batch += "*"
            notes.append(f"* {row['name']}: batch {row['batch_size_note']}; steps are counted at "
                         f"the starting batch of {row['batch_size']}, as the card counts them")
        body.append((row["name"], _count(row["parameters"]), str(row["layers"]), str(row["d_model"]),
                     str(row["heads"]), str(row["d_head"]), str(row["d_ffn"]), f"{row['lr']:.1e}",
                     _count(row["tokens"]), batch, str(row["steps"]), str(row["card_steps"])))
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()
             for cells in [header, *body]]
    ratios = {row.get("tokens_per_param") or CHINCHILLA_TOKENS_PER_PARAM for row in rows}
    ratio = f"{ratios.pop():g}" if len(ratios) == 1 else "tokens_per_param"
    lines.append(f"tokens = {ratio} x parameters, steps = tokens / (batch x 2048) rounded down")
    return "\n".join(lines + notes)


def nested_budgets(available_rows: int, tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM) -> list[dict]:
    """The family sizes whose budget fits in `available_rows`, smallest first.

    Packed rows are ordered so that a smaller budget is a prefix of a larger one, so one packed
    stream of `available_rows` rows serves every size listed here.
    """
    if isinstance(available_rows, bool) or not isinstance(available_rows, int) or available_rows < 0:
        raise ValueError(f"available_rows must be a whole number of rows >= 0, got {available_rows!r}")
    fitting = []
    for shape in FAMILY:
        budget = budget_for(shape.name, tokens_per_param=tokens_per_param)
        if budget.rows <= available_rows:
            fitting.append({"model": shape.name, "rows": budget.rows, "target_tokens": budget.target_tokens})
    return fitting
