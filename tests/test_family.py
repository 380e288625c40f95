"""Tests for schemas.family: the Cerebras-GPT shapes, parameter counts and budgets against the card."""
import dataclasses
import math
import os
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from schemas.family import FAMILY, Budget, budget_for, family_table, format_table, get, \
    nested_budgets, parameters

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARD_NAMES = ["111M", "256M", "590M", "1.3B", "2.7B", "6.7B", "13B"]
CARD_STEPS = [9037, 9468, 21836, 24334, 49041, 62522, 174335]

# parameters(shape) for every size; 111M is derived by hand below, the rest pin the formula.
EXACT_PARAMETERS = {
    "111M": 111_050_496,
    "256M": 255_977_024,
    "590M": 590_310_912,
    "1.3B": 1_315_723_264,
    "2.7B": 2_651_553_280,
    "6.7B": 6_658_404_352,
    "13B": 12_853_386_240,
}


def card_style(n: int) -> str:
    """Round a parameter count the way the card names sizes: 3 figures in M, 2 figures in B."""
    if n < 1e9:
        return f"{round(n / 1e6)}M"
    return f"{float(f'{n / 1e9:.2g}'):g}B"


def test_family_is_the_card_in_size_order():
    assert [shape.name for shape in FAMILY] == CARD_NAMES
    assert [shape.card_params for shape in FAMILY] == CARD_NAMES
    assert [shape.card_steps for shape in FAMILY] == CARD_STEPS
    counts = [parameters(shape) for shape in FAMILY]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_shapes_are_consistent():
    for shape in FAMILY:
        assert shape.heads * shape.d_head == shape.d_model
        assert shape.d_ffn == 4 * shape.d_model
        assert (shape.vocab_size, shape.seq_len) == (50257, 2048)


def test_13b_batch_ramp_and_adam_eps():
    assert get("13B").batch_size == 720
    assert get("13B").batch_size_note == "720 -> 1080 (batch size ramp)"
    assert [shape.name for shape in FAMILY if shape.batch_size_note] == ["13B"]
    assert {shape.name: shape.adam_eps for shape in FAMILY} == {
        "111M": 1e-8, "256M": 1e-8, "590M": 1e-8, "1.3B": 1e-8, "2.7B": 1e-8, "6.7B": 1e-9, "13B": 1e-9}


def test_shape_rejects_heads_that_do_not_make_d_model():
    with pytest.raises(ValueError, match="heads x d_head = 12 x 60 = 720, but d_model is 768"):
        dataclasses.replace(get("111M"), d_head=60)


def test_parameters_111m_by_hand():
    d, f, layers, vocab, seq = 768, 3072, 10, 50257, 2048
    embeddings = vocab * d + seq * d  # tokens (tied with the output layer) and learned positions
    per_layer = (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d
    expected = embeddings + layers * per_layer + 2 * d
    assert expected == 38_597_376 + 1_572_864 + 10 * 7_087_872 + 1_536 == 111_050_496
    assert parameters(get("111M")) == expected


def test_parameters_exact_for_every_size():
    assert {shape.name: parameters(shape) for shape in FAMILY} == EXACT_PARAMETERS


def test_parameters_round_to_card_names():
    assert [card_style(parameters(shape)) for shape in FAMILY] == CARD_NAMES


def test_parameters_vocab_and_seq_len_override():
    shape = get("111M")
    assert parameters(shape, vocab_size=50304) == parameters(shape) + 47 * 768
    assert parameters(shape, seq_len=1024) == parameters(shape) - 1024 * 768
    assert parameters(dataclasses.replace(shape, vocab_size=50304)) == parameters(shape, vocab_size=50304)


def test_computed_tokens_round_to_card_tokens():
    for shape in FAMILY:
        tokens = budget_for(shape.name).target_tokens
        assert tokens == 20 * parameters(shape)
        assert float(f"{tokens:.3g}") == shape.card_tokens


def test_steps_reproduce_card_for_every_size():
    # 13B included: the card counts its steps at the starting batch of 720
    assert [budget_for(name).steps for name in CARD_NAMES] == CARD_STEPS


def test_only_rounding_down_reproduces_card_steps():
    quotients = [20 * parameters(s) / (s.batch_size * 2048) for s in FAMILY]
    assert [math.floor(q) for q in quotients] == CARD_STEPS
    round_hits = [name for name, q, c in zip(CARD_NAMES, quotients, CARD_STEPS) if round(q) == c]
    assert round_hits == ["111M", "590M", "13B"]
    assert not any(math.ceil(q) == c for q, c in zip(quotients, CARD_STEPS))


def test_card_tokens_do_not_reproduce_card_steps():
    # the printed Tokens are rounded: 2.22e9 / (120 x 2048) = 9033.2, the card says 9037
    assert [round(s.card_tokens / (s.batch_size * 2048)) for s in FAMILY] != CARD_STEPS


def test_13b_steps_at_1080():
    # Cerebras's 13b_bs1080.yaml runs 116223 steps: the same rounding at the final batch
    assert 20 * parameters(get("13B")) // (1080 * 2048) == 116223


def test_budget_for_model():
    b = budget_for("590m")
    assert b == Budget(model="590M", tokens_per_param=20.0, parameters=590_310_912,
                       target_tokens=11_806_218_240, rows=5_764_755, stream_tokens=11_806_218_241,
                       batch_size=264, steps=21836)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.rows = 0


def test_budget_rows_and_stream_tokens_for_every_size():
    for shape in FAMILY:
        b = budget_for(shape.name)
        assert b.rows == math.ceil(b.target_tokens / 2048) == -(-b.target_tokens // 2048)
        assert b.stream_tokens == b.rows * 2048 + 1
        assert b.steps * b.batch_size <= b.rows  # the trainer never runs out of rows


@given(st.integers(min_value=1, max_value=10**13))
def test_explicit_budget_rows_cover_the_budget(tokens):
    b = budget_for(token_budget=tokens)
    assert (b.model, b.tokens_per_param, b.parameters, b.batch_size, b.steps) == (None,) * 5
    assert b.target_tokens == tokens
    assert (b.rows - 1) * 2048 < tokens <= b.rows * 2048
    assert b.stream_tokens == b.rows * 2048 + 1


def test_explicit_budget_at_row_boundaries():
    assert budget_for(token_budget=2048).rows == 1
    assert budget_for(token_budget=2049).rows == 2
    assert budget_for(token_budget=1).stream_tokens == 2049


def test_tokens_per_param_is_exact_decimal():
    # 1.1 x 12853386240 is 14138724864 exactly; in binary floating point it is a hair above
    assert budget_for("13B", tokens_per_param=1.1).target_tokens == 14_138_724_864
    assert budget_for("111M", tokens_per_param=0.1).target_tokens == 11_105_050  # ceil(11105049.6)
    assert budget_for("111M", tokens_per_param=40).target_tokens == 2 * budget_for("111M").target_tokens


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give exactly one of a model size"),
    ({"model": "111M", "token_budget": 10}, "not both"),
    ({"token_budget": 10, "tokens_per_param": 10.0}, "applies only with a model size"),
    ({"token_budget": 0}, "positive whole number of tokens"),
    ({"token_budget": -5}, "positive whole number of tokens"),
    ({"token_budget": 1.5}, "positive whole number of tokens"),
    ({"token_budget": True}, "positive whole number of tokens"),
    ({"model": "111M", "tokens_per_param": 0}, "tokens_per_param must be a positive number"),
    ({"model": "111M", "tokens_per_param": -20.0}, "tokens_per_param must be a positive number"),
    ({"model": "111M", "tokens_per_param": float("nan")}, "tokens_per_param must be a positive number"),
    ({"model": "111M", "tokens_per_param": float("inf")}, "tokens_per_param must be a positive number"),
    ({"model": "111M", "tokens_per_param": "20"}, "tokens_per_param must be a positive number"),
    ({"model": "7B"}, "unknown Cerebras-GPT size '7B'"),
])
def test_budget_for_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        budget_for(**kwargs)


def test_explicit_budget_accepts_the_default_ratio():
    # a CLI passing its default ratio alongside --token-budget is not an error
    assert budget_for(token_budget=4096, tokens_per_param=20.0).rows == 2


@pytest.mark.parametrize("name, expected", [
    ("590M", "590M"), ("590m", "590M"), ("1.3b", "1.3B"), (" 13b ", "13B"), ("2.7B", "2.7B")])
def test_get_is_case_insensitive(name, expected):
    assert get(name).name == expected


@pytest.mark.parametrize("name", ["7B", "590", "", "1.3", "cerebras-gpt-590m"])
def test_get_unknown_lists_valid_names(name):
    with pytest.raises(ValueError, match="choose one of 111M, 256M, 590M, 1.3B, 2.7B, 6.7B, 13B"):
        get(name)


def test_family_table():
    table = family_table()
    assert [row["name"] for row in table] == CARD_NAMES
    assert set(table[0]) >= {"name", "layers", "d_model", "heads", "d_head", "d_ffn", "parameters", "tokens",
                             "batch_size", "steps", "lr", "card_steps", "card_params", "batch_size_note"}
    assert table[0] == {
        "name": "111M", "layers": 10, "d_model": 768, "heads": 12, "d_head": 64, "d_ffn": 3072,
        "parameters": 111_050_496, "tokens": 2_221_009_920, "tokens_per_param": 20.0, "batch_size": 120,
        "steps": 9037, "lr": 6.0e-4, "card_steps": 9037, "card_params": "111M", "batch_size_note": None}
    assert all(row["steps"] == row["card_steps"] for row in table)
    assert family_table(10.0)[0]["tokens"] == 1_110_504_960


def test_format_table():
    text = format_table(family_table())
    lines = text.splitlines()
    table_lines = lines[:1 + len(FAMILY)]
    assert table_lines[0].split()[:3] == ["model", "params", "layers"]
    assert len({len(line) for line in table_lines}) == 1  # aligned
    assert table_lines[1].split() == ["111M", "111.1M", "10", "768", "12", "64", "3072", "6.0e-04",
                                      "2.22B", "120", "9037", "9037"]
    assert table_lines[4].split()[1] == "1.32B"
    assert table_lines[7].split()[9] == "720*"
    assert lines[8] == "tokens = 20 x parameters, steps = tokens / (batch x 2048) rounded down"
    assert lines[9].startswith("* 13B: batch 720 -> 1080 (batch size ramp)")
    assert format_table(family_table(2.5)).splitlines()[8].startswith("tokens = 2.5 x parameters")


def test_nested_budgets_in_size_order():
    rows_needed = [budget_for(name).rows for name in CARD_NAMES]
    assert rows_needed == sorted(rows_needed)
    everything = nested_budgets(10**12)
    assert [entry["model"] for entry in everything] == CARD_NAMES
    assert [entry["rows"] for entry in everything] == rows_needed
    assert everything[2] == {"model": "590M", "rows": 5_764_755, "target_tokens": 11_806_218_240}


def test_nested_budgets_cut_exactly_at_rows():
    rows_590m = budget_for("590M").rows
    assert [e["model"] for e in nested_budgets(rows_590m)] == ["111M", "256M", "590M"]
    assert [e["model"] for e in nested_budgets(rows_590m - 1)] == ["111M", "256M"]
    assert nested_budgets(0) == []
    rows_111m_half = budget_for("111M", tokens_per_param=0.5).rows
    assert [e["model"] for e in nested_budgets(rows_111m_half, tokens_per_param=0.5)] == ["111M"]


@pytest.mark.parametrize("rows", [-1, 1.5, True, "100"])
def test_nested_budgets_validation(rows):
    with pytest.raises(ValueError, match="available_rows must be a whole number of rows"):
        nested_budgets(rows)


def test_module_imports_neither_beam_nor_torch():
    code = "import sys, schemas.family; sys.exit(any(m in sys.modules for m in ('apache_beam', 'torch')))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
