"""Dataflow Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): template parameters ->
`pileprep run` arguments -> pipeline.cli.main, submit-only.

The template launcher runs this file with every template parameter as `--name=value` together with
the Dataflow pipeline options it adds itself (--runner, --project, --region, --temp_location,
--staging_location, --sdk_container_image if given as a parameter, ...). This file

- turns our parameters (metadata.json) into the options of `pileprep run`: `input` is one value
  holding comma-separated patterns (a flex template parameter is given once; the gcloud
  `--parameters` flag is a dictionary, so each key appears once) and becomes one --input each;
  `allow_corrupt_inputs=true|false` becomes the flag or nothing; `model_size` becomes --model-size;
- copies a `rules` or `tokenizer` file given as gs:// (any Beam file system) to a local temporary
  file, because pileprep reads both on the launcher (their contents are then shipped to the
  workers inside the pipeline, so the workers never need the file);
- refuses a parameter whose option this image's pileprep does not have (e.g. `dedup` in an image
  built before --dedup existed) instead of letting it fall through to Beam, which would ignore it;
- passes every other argument to Beam unchanged, adding --runner=DataflowRunner if none was given;
- calls pipeline.cli.main(["run", ...] + beam args) through deploy/submit.py, which submits the job
  and exits without waiting for it: a Flex Template launcher must not call wait_until_finish.

Local check, no cloud (what deploy/check.sh does):

    python deploy/dataflow/main.py --input='pileprep-demo/input/*.jsonl*' \
        --output=/tmp/out --runner=DirectRunner
"""
import argparse
import functools
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
for candidate in (HERE, os.path.dirname(HERE)):  # in the image both files sit in /template
    if os.path.isfile(os.path.join(candidate, "submit.py")):
        sys.path.insert(0, candidate)
        break

# The template parameters (metadata.json). Each is the RunConfig field of that name, given to
# `pileprep run` as the field's flag (--model-size for model_size: pipeline/options.py names them so);
# what the flag takes comes from `pileprep run` itself: a repeatable option (--input) gets one
# comma-separated value here, one option each; an option without a value (--allow-corrupt-inputs)
# gets "true"/"false" -> the flag or nothing. Only which options name a file that pileprep reads on
# the launcher is ours to say (fetch: copied from gs:// first).
TEMPLATE_PARAMETERS = ("input", "output", "model_size", "token_budget", "rules", "normalize", "seed",
                       "rows_per_shard", "tokenizer", "dedup", "allow_corrupt_inputs")
FETCH = ("rules", "tokenizer")
# template parameter -> (option of `pileprep run`, kind): fetch, or value (list or flag as the option is)
PARAMETERS = {name: ("--" + name.replace("_", "-"), "fetch" if name in FETCH else "value")
              for name in TEMPLATE_PARAMETERS}
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


class TemplateError(ValueError):
    pass


@functools.cache
def _cli_actions() -> dict[str, argparse.Action]:
    """Every option string `pileprep run` accepts in this installation, with its argparse action."""
    from pipeline.cli import _parser

    run = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    return {s: action for action in run._actions for s in action.option_strings}


def _cli_options() -> set[str]:
    return set(_cli_actions())


def _is_flag(option: str) -> bool:
    """Whether `pileprep run OPTION` takes no value (store_true and the like)."""
    action = _cli_actions().get(option)
    return action is not None and action.nargs == 0


def _is_list(option: str) -> bool:
    """Whether `pileprep run OPTION` may be given more than once (--input, --holdout)."""
    return isinstance(_cli_actions().get(option), argparse._AppendAction)


def _fetch(value: str, tmpdir: str) -> str:
    """A local copy of a gs:// (s3://, ...) file; a local path or a preset name is returned as is."""
    if "://" not in value:
        return value
    from apache_beam.io.filesystems import FileSystems

    local = os.path.join(tmpdir, os.path.basename(value.rstrip("/")) or "file")
    try:
        with FileSystems.open(value) as src, open(local, "wb") as dst:
            dst.write(src.read())
    except Exception as e:
        raise TemplateError(f"cannot read {value} ({e}): check the path and the launcher's service "
                            f"account") from None
    return local


def translate(argv: list[str], tmpdir: str | None = None, known: set[str] | None = None) -> list[str]:
    """Template launcher arguments -> the argument list of `pileprep` (starting with "run")."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in PARAMETERS:
        parser.add_argument(f"--{name}", dest=name, default=None)
    params, beam_args = parser.parse_known_args(argv)
    known = _cli_options() if known is None else known
    out = ["run"]
    for name, (option, kind) in PARAMETERS.items():
        value = getattr(params, name)
        if value is None:
            continue
        value = value.strip()
        if kind == "value" and _is_list(option):
            kind = "list"
        if not value and kind != "list":
            continue  # an optional parameter left empty in the console: as if not given
        if option not in known:
            raise TemplateError(f"template parameter {name}={value!r} needs `pileprep run {option}`, "
                                f"which the pileprep installed in this image does not have: rebuild "
                                f"the image from a pileprep that has it, or leave {name} unset")
        if kind == "value" and _is_flag(option):
            kind = "flag"  # an option without a value: true/false like allow_corrupt_inputs
        if kind == "list":
            patterns = [v.strip() for v in value.split(",") if v.strip()]
            if not patterns:
                raise TemplateError(f"template parameter {name} is empty")
            for pattern in patterns:
                out += [option, pattern]
        elif kind == "flag":
            if value.lower() in TRUE:
                out.append(option)
            elif value.lower() not in FALSE:
                raise TemplateError(f"template parameter {name} must be true or false, got {value!r}")
        elif kind == "fetch":
            out += [option, _fetch(value, tmpdir or tempfile.mkdtemp(prefix="pileprep-"))]
        else:
            out += [option, value]
    if not any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        beam_args = ["--runner=DataflowRunner"] + beam_args
    return out + beam_args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = translate(argv)
    except TemplateError as e:
        print(f"pileprep: error: {e}", file=sys.stderr)
        return 2
    print("pileprep " + " ".join(args), file=sys.stderr)  # the launcher log shows what ran
    from submit import main as submit_main

    return submit_main(args)


if __name__ == "__main__":
    sys.exit(main())
