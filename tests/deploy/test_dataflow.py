"""deploy/dataflow: the template's parameters are `pileprep run` options, and metadata.json says what
RunConfig does (its defaults, choices and the family's sizes)."""
import dataclasses
import importlib.util
import json
import os
import re

import pytest

from pipeline.options import RunConfig
from schemas.family import CHINCHILLA_TOKENS_PER_PARAM, FAMILY
from transforms.minhash import MODES
from transforms.minhash import PRESETS
from transforms.normalizer import FORMS

DATAFLOW = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "dataflow")


@pytest.fixture(scope="module")
def main():
    spec = importlib.util.spec_from_file_location("dataflow_main", os.path.join(DATAFLOW, "main.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def params():
    with open(os.path.join(DATAFLOW, "metadata.json")) as f:
        return {p["name"]: p for p in json.load(f)["parameters"]}


def test_every_template_parameter_is_a_run_option(main, params):
    assert list(main.PARAMETERS) == list(params)
    known = main._cli_options()
    assert all(option in known for option, _ in main.PARAMETERS.values())


def test_template_parameters_become_run_arguments(main):
    got = main.translate(["--input=gs://b/a/*.zst, gs://b/b/*.zst", "--output=gs://b/o", "--model_size=590M",
                          "--allow_corrupt_inputs=true", "--seed=7", "--rules=eleuther", "--dedup=exact",
                          "--project=p", "--disk_size_gb=50"])
    assert got == ["run", "--input", "gs://b/a/*.zst", "--input", "gs://b/b/*.zst", "--output", "gs://b/o",
                   "--model-size", "590M", "--rules", "eleuther", "--seed", "7", "--dedup", "exact",
                   "--allow-corrupt-inputs", "--runner=DataflowRunner", "--project=p", "--disk_size_gb=50"]
    assert main.translate(["--input=gs://b/a", "--output=gs://b/o", "--allow_corrupt_inputs=false"]) == [
        "run", "--input", "gs://b/a", "--output", "gs://b/o", "--runner=DataflowRunner"]
    with pytest.raises(main.TemplateError, match="empty"):
        main.translate(["--input=,", "--output=o"])


def test_metadata_states_the_run_defaults(params):
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    for name, p in params.items():
        text = p["helpText"]
        for said in re.findall(r"(?:^|; )(\S+) \(default", text) + re.findall(r"\(default (\d+)", text):
            assert said == str(defaults[name]).lower(), (name, said)
    assert params["model_size"]["helpText"].startswith(f"Pack {CHINCHILLA_TOKENS_PER_PARAM:g} tokens per parameter")
    assert params["model_size"]["regexes"] == [
        "^(" + "|".join(s.name.replace(".", "[.]") for s in FAMILY) + ")$"]
    assert params["normalize"]["regexes"] == ["^(" + "|".join(FORMS) + ")$"]
    assert params["dedup"]["regexes"] == ["^(" + "|".join(MODES) + ")$"]
    minhash, preset = params["dedup"]["helpText"], PRESETS[defaults["minhash_preset"]]
    assert (f"Jaccard {preset.threshold:g}, {preset.num_perm} permutations, {preset.bands} bands x "
            f"{preset.rows} rows") in minhash


def _launch_parameters() -> list[str]:
    """The template parameters deploy/dataflow/launch.sh passes in gcloud's --parameters."""
    with open(os.path.join(DATAFLOW, "launch.sh")) as f:
        text = f.read()
    given = re.findall(r'PARAMS\+?="([^"]*)"', text)
    pairs = [pair for value in given for pair in value.removeprefix("^~^").split("~")]
    return [pair.split("=", 1)[0] for pair in pairs if pair and not pair.startswith("$")]  # not EXTRA_PARAMETERS


def test_every_parameter_launch_sh_passes_is_declared(params):
    passed = _launch_parameters()
    assert {"input", "output", "model_size", "sdk_container_image"} <= set(passed)
    # sdk_container_image: Google documents it as a Flex Template parameter; every other one must be
    # in metadata.json, or the launcher refuses it (disk_size_gb goes in --additional-pipeline-options)
    assert set(passed) - {"sdk_container_image"} <= set(params)


def test_every_template_parameter_is_a_run_config_flag(main):
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert set(main.TEMPLATE_PARAMETERS) <= fields | {"input"}
    assert "inputs" in fields  # --input is RunConfig.inputs
