"""RunConfig is where each `pileprep run` option is declared: the flags of run and demo are its fields."""
import argparse
import dataclasses

import pytest

from pipeline.cli import _parser
from pipeline.options import NOT_FLAGS, RunConfig, flag_of, from_args
from schemas.family import CHINCHILLA_TOKENS_PER_PARAM
from transforms.errors import ConfigError
from transforms.minhash import PRESETS, MinHashConfig


def _sub(name):
    return next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def _flags(name):
    return {a.dest: a for a in _sub(name)._actions if a.option_strings}


def test_every_field_is_a_flag_of_run_or_listed_as_not_a_flag():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    flags = _flags("run")
    assert {name for name in fields if name in flags} == fields - set(NOT_FLAGS)
    assert not set(NOT_FLAGS) & set(flags)
    assert set(NOT_FLAGS) <= fields
    assert set(flags) - fields == {"help", "wait", "workers", "verbose"}  # how to run, not what


def test_flags_are_named_after_their_fields_and_each_has_a_help_line():
    flags = _flags("run")
    for field in dataclasses.fields(RunConfig):
        if field.name not in NOT_FLAGS:
            assert flags[field.name].option_strings == [flag_of(field)]
            assert flags[field.name].help
    assert flags["minhash_num_perm"].option_strings == ["--minhash-num-perm"]
    assert flags["inputs"].option_strings == ["--input"]
    assert flags["write_documents"].option_strings == ["--no-documents"]
    assert flags["minhash_confirm"].option_strings == ["--no-minhash-confirm"]
    assert flags["split_bytes"].option_strings == ["--split-mb"]


def test_demo_has_every_flag_of_run_but_input_and_output():
    run, demo = _flags("run"), _flags("demo")
    assert set(run) - set(demo) == {"inputs", "output", "wait"}
    assert set(demo) - set(run) == {"dir", "documents"}


def test_the_parsed_defaults_are_the_dataclass_defaults():
    args, _ = _parser().parse_known_args(["run", "--input", "in/*.jsonl", "--output", "out"])
    assert from_args(args) == RunConfig(inputs=("in/*.jsonl",), output="out")


def test_the_special_flags_give_the_fields_values():
    args, _ = _parser().parse_known_args([
        "run", "--input", "a", "--input", "b", "--output", "o", "--holdout", "h1", "--holdout", "h2",
        "--split-mb", "1.5", "--max-line-mb", "0.5", "--no-documents", "--no-minhash-confirm", "--spill", "off",
        "--reference", "--check-every", "3", "--dedup", "minhash", "--minhash-shingles", "char13",
        "--model-size", "111M", "--tokens-per-param", "10"])
    assert from_args(args) == RunConfig(
        inputs=("a", "b"), output="o", holdout=("h1", "h2"), split_bytes=int(1.5 * (1 << 20)),
        max_line_bytes=1 << 19, write_documents=False, minhash_confirm=False, spill=False, reference=True,
        check_every=3, dedup="minhash", minhash_shingles="char13", model_size="111M", tokens_per_param=10.0)
    for word, spill in (("auto", None), ("on", True), ("off", False)):
        args, _ = _parser().parse_known_args(["run", "--input", "a", "--output", "o", "--spill", word])
        assert from_args(args).spill is spill


def test_help_shows_the_dataclass_defaults():
    text = " ".join(_sub("run").format_help().split())  # unwrapped
    for shown in ("(default 0)", "(default 65536: 268 MB of uint16)", "(default 256)", "(default 128)",
                  "{pileprep,slimpajama,datatrove}", "(default 12)", "(default 100; 0: no check)",
                  f"(default {CHINCHILLA_TOKENS_PER_PARAM:g}, Chinchilla)", "(default none, as Cerebras-GPT)",
                  "~512 MB of text each", "111M 256M 590M 1.3B 2.7B 6.7B 13B", "{nfc,nfkc,ftfy,off}",
                  "{none,exact,minhash}", "{word5,char13}", "{auto,on,off}"):
        assert shown in text


def test_minhash_presets_and_the_flags_that_override_them():
    def minhash(*flags):
        args, _ = _parser().parse_known_args(["run", "--input", "a", "--output", "o", *flags])
        return from_args(args).dedup_config().minhash

    assert minhash() == PRESETS["pileprep"] == MinHashConfig()
    for name in PRESETS:
        assert minhash("--minhash-preset", name) == PRESETS[name]
    assert minhash("--minhash-preset", "slimpajama") == MinHashConfig(
        shingles="char13", num_perm=128, threshold=0.8, bands=9, rows=13, confirm=False)
    assert minhash("--minhash-preset", "datatrove", "--minhash-threshold", "0.75") == MinHashConfig(
        shingles="word5", num_perm=112, threshold=0.75, bands=14, rows=8, confirm=False)
    assert minhash("--minhash-bands", "20", "--minhash-rows", "6", "--no-minhash-confirm") == MinHashConfig(
        bands=20, rows=6, confirm=False)
    assert minhash("--minhash-shingles", "char13").shingles == "char13"
    with pytest.raises(ConfigError, match="exceeds num_perm = 64"):
        minhash("--minhash-num-perm", "64")  # the preset's 16 x 8 needs 128: give bands and rows too
    with pytest.raises(ConfigError, match="give bands and rows together"):
        minhash("--minhash-bands", "20")


@pytest.mark.parametrize("argv", [["--output", "o"], ["--input", "a"]])
def test_input_and_output_are_required(argv, capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["run"] + argv)
    assert "required" in capsys.readouterr().err
