#!/usr/bin/env bash
# What of deploy/ can be checked on one machine with no cloud, no cluster and no Docker engine:
#
#  1. our wheel and sdist build offline (deploy/wheel.sh: pip wheel --no-deps --no-build-isolation,
#     python -m build --sdist --no-isolation as Beam 2.77's stager runs it for
#     --setup_file pyproject.toml) and carry the rule presets and the JSON schemas;
#  2. deploy/dataflow/metadata.json is valid, has the required keys and our parameters, its
#     regexes accept good values and refuse bad ones (Python re and POSIX grep -E), every parameter
#     maps to a `pileprep run` option, and gcloud accepts it (flex-template build --print-only,
#     offline) when gcloud is installed;
#  3. deploy/dataflow/main.py turns template parameters into the right `pileprep run` arguments and,
#     run end to end on a small synthetic corpus with the local runner, produces an output that
#     `pileprep verify` accepts;
#  4. the Dockerfile names the Beam version installed here (the one that submits jobs);
#  5. every script parses (bash -n; shellcheck too when installed), every Python file compiles.
#
#   deploy/check.sh                 # DIST=dist deploy/check.sh keeps the wheel and sdist in dist/
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$DEPLOY/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
DIST="${DIST:-$WORK/dist}"
CHECKS=0
WARNINGS=0

ok()   { CHECKS=$((CHECKS + 1)); echo "ok    $*"; }
# Run a Python check from the repository root; its "ok"/"WARN" lines count like ours.
pycheck() {
  local what="$1"; shift
  if ! (cd "$ROOT" && "$PYTHON" - "$@") >"$WORK/py.out" 2>&1; then
    grep -v apitools "$WORK/py.out" >&2; fail "$what"
  fi
  grep -v apitools "$WORK/py.out" || true
  CHECKS=$((CHECKS + $(grep -c '^ok  ' "$WORK/py.out" || true)))
  WARNINGS=$((WARNINGS + $(grep -c '^WARN  ' "$WORK/py.out" || true)))
}
warn() { WARNINGS=$((WARNINGS + 1)); echo "WARN  $*"; }
fail() { echo "FAIL  $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------- 1
echo "== 1. wheel and sdist (offline)"
"$DEPLOY/wheel.sh" "$DIST" >"$WORK/wheel.out" 2>"$WORK/wheel.err" || { cat "$WORK/wheel.err" >&2; fail "deploy/wheel.sh"; }
if grep -q WARNING "$WORK/wheel.err"; then
  warn "$(tr -s '[:space:]' ' ' <"$WORK/wheel.err")"
  warn "so on this machine: pip install build wheel 'setuptools>=68' before using --setup_file pyproject.toml"
fi
shopt -s nullglob
wheels=("$DIST"/pileprep-*-py3-none-any.whl)
sdists=("$DIST"/pileprep-*.tar.gz)
shopt -u nullglob
WHEEL="${wheels[0]:-}"
[[ -n "$WHEEL" ]] || fail "no wheel in $DIST"
ok "built $(basename "$WHEEL")"
SDIST="${sdists[0]:-}"

pycheck "package contents" "$ROOT" "$WHEEL" "${SDIST:-}" <<'EOF'
import glob, os, sys, tarfile, tomllib, zipfile

root, wheel, sdist = sys.argv[1:4]
with open(os.path.join(root, "pyproject.toml"), "rb") as f:
    packages = tomllib.load(f)["tool"]["setuptools"]["packages"]
required = ["schemas/rules/eleuther.json", "schemas/manifest.schema.json", "schemas/rules.schema.json"]
required += sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "schemas/rules/*.json")))
required = sorted(set(required))
names = set(zipfile.ZipFile(wheel).namelist())
missing = [r for r in required if r not in names]
print("      wheel contains:", ", ".join(r for r in required if r in names))
if missing:
    print(f"FAIL  the wheel lacks {missing}: [tool.setuptools.package-data] in pyproject.toml", file=sys.stderr)
    sys.exit(1)
print(f"ok    wheel carries the rule presets and schemas ({len(required)} JSON files)")
for pkg in packages:
    if not any(n.startswith(pkg + "/") for n in names):
        print(f"FAIL  package {pkg} listed in pyproject.toml is not in the wheel", file=sys.stderr)
        sys.exit(1)
print(f"ok    wheel has the packages {', '.join(packages)}")
for top in sorted(os.listdir(root)):
    if os.path.isfile(os.path.join(root, top, "__init__.py")) and top not in packages and top not in ("tests", "benchmarks"):
        print(f"WARN  {top}/ is a package in the tree but not in [tool.setuptools] packages: "
              f"it is not in the wheel, so workers and images will not have it")
if sdist:
    snames = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    smissing = [r for r in required + ["pyproject.toml"] if r not in snames]
    if smissing:
        print(f"FAIL  the sdist lacks {smissing}", file=sys.stderr)
        sys.exit(1)
    print(f"ok    sdist {os.path.basename(sdist)} carries pyproject.toml and the same JSON files")
else:
    print("WARN  no sdist built (the 'build' package is not installed)")
EOF

# ---------------------------------------------------------------------------------------- 2
echo "== 2. deploy/dataflow/metadata.json"
pycheck "metadata.json" "$DEPLOY/dataflow/metadata.json" <<'EOF'
import json, re, subprocess, sys

sys.path.insert(0, "deploy/dataflow")
import main  # deploy/dataflow/main.py

path = sys.argv[1]
try:
    meta = json.load(open(path))
except ValueError as e:
    sys.exit(f"FAIL  {path} is not valid JSON: {e}")
for key in ("name", "description", "parameters"):
    if key not in meta:
        sys.exit(f"FAIL  metadata.json has no {key!r}")
params = {p.get("name"): p for p in meta["parameters"]}
expected = {"input", "output", "model_size", "token_budget", "rules", "normalize", "seed",
            "rows_per_shard", "tokenizer", "dedup", "allow_corrupt_inputs"}
if set(params) != expected:
    sys.exit(f"FAIL  parameters {sorted(params)} != {sorted(expected)}")
for name, p in params.items():
    for key in ("name", "label", "helpText"):
        if not p.get(key):
            sys.exit(f"FAIL  parameter {name} has no {key}")
    if not isinstance(p.get("isOptional", False), bool):
        sys.exit(f"FAIL  parameter {name}: isOptional must be true or false")
required = sorted(n for n, p in params.items() if not p.get("isOptional", False))
if required != ["input", "output"]:
    sys.exit(f"FAIL  required parameters are {required}, expected input and output")
print(f"ok    valid JSON: name, description, {len(params)} parameters (required: input, output)")

good = {"input": ["gs://b/pile/train/*.jsonl.zst", "gs://b/a/00.jsonl.zst,gs://b/a/01.jsonl.zst", "s3://b/x.jsonl"],
        "output": ["gs://b/pileprep/590M"], "model_size": ["111M", "1.3B", "13B"],
        "token_budget": ["2220000000"], "rules": ["eleuther", "none", "gs://b/rules/mine.json"],
        "normalize": ["nfc", "off"], "seed": ["0", "42"], "rows_per_shard": ["65536"],
        "tokenizer": ["gpt2", "gs://b/tok/tokenizer.json"], "dedup": ["none", "exact", "minhash"],
        "allow_corrupt_inputs": ["true", "false"]}
bad = {"input": ["pile/*.zst", "gs://b/a b", ""], "output": ["out", "gs://b/o,gs://b/p"],
       "model_size": ["590m", "1B3", "13b"], "token_budget": ["0", "-5", "1e9"],
       "rules": ["mine", "gs://b/rules.yaml"], "normalize": ["NFC", "nfd"], "seed": ["-1", "x"],
       "rows_per_shard": ["0"], "tokenizer": ["gpt-2", "tok.txt"], "dedup": ["near", "MinHash", "exact,minhash"],
       "allow_corrupt_inputs": ["yes", "True"]}
for name, p in params.items():
    for rx in p.get("regexes", []):
        re.compile(rx)
        for value in good[name]:
            if not re.search(rx, value):
                sys.exit(f"FAIL  {name}: {rx} refuses the good value {value!r} (Python re)")
            if subprocess.run(["grep", "-Eq", rx], input=value, text=True).returncode:
                sys.exit(f"FAIL  {name}: {rx} refuses the good value {value!r} (grep -E)")
        for value in bad[name]:
            if re.search(rx, value) or not subprocess.run(["grep", "-Eq", rx], input=value, text=True).returncode:
                sys.exit(f"FAIL  {name}: {rx} accepts the bad value {value!r}")
    if not p.get("regexes"):
        sys.exit(f"FAIL  parameter {name} has no regexes")
print("ok    every regex accepts good values and refuses bad ones (Python re and grep -E)")

if set(main.PARAMETERS) != set(params):
    sys.exit(f"FAIL  main.PARAMETERS {sorted(main.PARAMETERS)} != metadata {sorted(params)}")
known = main._cli_options()
absent = [f"{n} -> {opt}" for n, (opt, _) in main.PARAMETERS.items() if opt not in known]
print(f"ok    every parameter maps to a `pileprep run` option in main.py")
for a in absent:
    print(f"WARN  pileprep run has no option for {a} (yet): main.py refuses that parameter when given")
EOF
if command -v gcloud >/dev/null 2>&1; then
  if gcloud dataflow flex-template build gs://check-only/pileprep.json --image=example.invalid/pileprep:check \
       --sdk-language=PYTHON --metadata-file="$DEPLOY/dataflow/metadata.json" --print-only \
       >"$WORK/spec.json" 2>"$WORK/gcloud.err"; then
    ok "gcloud dataflow flex-template build --print-only accepts metadata.json ($(gcloud version 2>/dev/null | head -1))"
  else
    cat "$WORK/gcloud.err" >&2; fail "gcloud refuses metadata.json"
  fi
else
  warn "gcloud not installed: metadata.json not checked by gcloud"
fi

# ---------------------------------------------------------------------------------------- 3
echo "== 3. deploy/dataflow/main.py"
pycheck "main.py translation" <<'EOF'
import os, sys, tempfile

sys.path.insert(0, "deploy/dataflow")
import main

known = main._cli_options() | {"--dedup"}
got = main.translate(["--input=gs://b/a/*.zst, gs://b/b/*.zst", "--output=gs://b/o", "--model_size=590M",
                      "--allow_corrupt_inputs=false", "--seed=7", "--project=p", "--region", "r",
                      "--sdk_container_image=img", "--disk_size_gb=50"], known=known)
want = ["run", "--input", "gs://b/a/*.zst", "--input", "gs://b/b/*.zst", "--output", "gs://b/o",
        "--model-size", "590M", "--seed", "7", "--runner=DataflowRunner", "--project=p", "--region", "r",
        "--sdk_container_image=img", "--disk_size_gb=50"]
assert got == want, got
got = main.translate(["--input=gs://b/a", "--output=gs://b/o", "--allow_corrupt_inputs=true",
                      "--runner=DataflowRunner", "--template_location=gs://b/t"], known=known)
assert got == ["run", "--input", "gs://b/a", "--output", "gs://b/o", "--allow-corrupt-inputs",
               "--runner=DataflowRunner", "--template_location=gs://b/t"], got
rules = os.path.join(tempfile.mkdtemp(), "r.json")
open(rules, "w").write('{"extends": "eleuther", "rules": []}')
got = main.translate(["--input=gs://b/a", "--output=gs://b/o", f"--rules={rules}"], known=known)
assert got[got.index("--rules") + 1] == rules, got
for argv, message in ((["--input=gs://b/a", "--output=o", "--allow_corrupt_inputs=maybe"], "true or false"),
                      (["--input=,", "--output=o"], "empty")):
    try:
        main.translate(argv, known=known)
    except main.TemplateError as e:
        assert message in str(e), e
    else:
        raise AssertionError(f"{argv} accepted")
if "--dedup" in main._cli_options():
    got = main.translate(["--input=gs://b/a", "--output=gs://b/o", "--dedup=minhash"])
    assert got[got.index("--dedup") + 1] == "minhash", got
else:
    try:
        main.translate(["--input=gs://b/a", "--output=gs://b/o", "--dedup=minhash"])
    except main.TemplateError as e:
        assert "does not have" in str(e)
    else:
        raise AssertionError("dedup accepted without pileprep run --dedup")
print("ok    template parameters -> pileprep run arguments (lists, flags, files, Beam options, refusals)")
EOF
(cd "$ROOT" && "$PYTHON" -m pipeline.cli sample --output "$WORK/in" --documents 300 --files 2 >/dev/null 2>&1) \
  || fail "pileprep sample"
(cd "$ROOT" && "$PYTHON" deploy/dataflow/main.py "--input=$WORK/in/*.jsonl.zst,$WORK/in/*.jsonl.gz" \
   "--output=$WORK/out" --token_budget=20000 --allow_corrupt_inputs=false --seed=3 \
   --runner=DirectRunner >"$WORK/main.log" 2>&1) || { tail -20 "$WORK/main.log" >&2; fail "main.py end to end"; }
(cd "$ROOT" && "$PYTHON" -m pipeline.cli verify "$WORK/out") >"$WORK/verify.log" 2>&1 \
  || { cat "$WORK/verify.log" >&2; fail "pileprep verify of main.py's output"; }
ok "main.py end to end on a synthetic corpus (local runner): $(tail -1 "$WORK/verify.log" | sed "s#$WORK/##")"

# ---------------------------------------------------------------------------------------- 4
echo "== 4. versions named in the Dockerfile"
BEAM_HERE="$("$PYTHON" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null)"
PY_HERE="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
dockerfile="$DEPLOY/dataflow/Dockerfile"  # one file: target worker (Spark, Flink), default (Dataflow)
grep -q "^ARG BEAM_VERSION=${BEAM_HERE}\$" "$dockerfile" || fail "dataflow/Dockerfile: ARG BEAM_VERSION is not $BEAM_HERE"
grep -q "^FROM apache/beam_python${PY_HERE}_sdk:\${BEAM_VERSION} AS worker\$" "$dockerfile" \
  || fail "dataflow/Dockerfile: not FROM apache/beam_python${PY_HERE}_sdk:\${BEAM_VERSION} AS worker"
grep -q '^ENTRYPOINT \["/opt/apache/beam/boot"\]$' "$dockerfile" || fail "dataflow/Dockerfile: ENTRYPOINT is not the Beam boot"
grep -q "^FROM gcr.io/dataflow-templates-base/python${PY_HERE/./}-template-launcher-base:" "$DEPLOY/dataflow/Dockerfile" \
  || fail "dataflow/Dockerfile: the launcher base image is not python${PY_HERE/./}-template-launcher-base"
grep -q '^ENV FLEX_TEMPLATE_PYTHON_PY_FILE="/template/main.py"$' "$DEPLOY/dataflow/Dockerfile" \
  || fail "dataflow/Dockerfile: FLEX_TEMPLATE_PYTHON_PY_FILE"
ok "Dockerfile: apache/beam_python${PY_HERE}_sdk:${BEAM_HERE}, python${PY_HERE/./}-template-launcher-base, boot entrypoint"
pycheck "job server names" "$BEAM_HERE" <<'EOF'
import sys
from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.transforms.environments import DockerEnvironment
from apache_beam.utils.subprocess_server import JavaJarServer

beam = sys.argv[1]
assert DockerEnvironment.default_docker_image().endswith(f"_sdk:{beam}"), DockerEnvironment.default_docker_image()
spark = JavaJarServer.path_to_beam_jar(":runners:spark:3:job-server:shadowJar")
assert spark.endswith(f"/beam-runners-spark-3-job-server/{beam}/beam-runners-spark-3-job-server-{beam}.jar"), spark
flinks = FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
print(f"ok    Beam {beam} here: SDK image {DockerEnvironment.default_docker_image()}, Spark job server jar "
      f"{spark.rsplit('/', 1)[1]}, Flink versions {', '.join(flinks)}")
EOF
# Every Beam option (snake_case names) that the scripts, main.py and the READMEs use exists in this Beam.
grep -ohE -- '--[a-z]+(_[a-z0-9]+)+' "$DEPLOY"/*.sh "$DEPLOY"/*/*.sh "$DEPLOY"/*.py "$DEPLOY"/*/*.py \
    "$DEPLOY"/README.md "$DEPLOY"/*/README.md | sort -u >"$WORK/beam_options.txt"
pycheck "Beam option names" "$WORK/beam_options.txt" <<'EOF'
import argparse, sys
from apache_beam.options.pipeline_options import PipelineOptions

names = set()
def walk(cls):
    for sub in cls.__subclasses__():
        parser = argparse.ArgumentParser()
        try:
            sub._add_argparse_args(parser)
        except Exception:
            pass
        names.update(s for a in parser._actions for s in a.option_strings)
        walk(sub)
walk(PipelineOptions)
used = [line.strip() for line in open(sys.argv[1]) if line.strip()]
template = {"--" + p for p in ("model_size", "token_budget", "rows_per_shard", "allow_corrupt_inputs")}
template.add("--worker_pool")  # a flag of the SDK image's boot program, not a pipeline option
unknown = [u for u in used if u not in names and u not in template]
if unknown:
    sys.exit(f"FAIL  not Beam 2.77 pipeline options: {unknown}")
print(f"ok    all {len(used)} Beam options named in deploy/ exist in this apache-beam")
EOF
for f in "$DEPLOY"/*.sh "$DEPLOY"/*/*.sh "$DEPLOY"/README.md "$DEPLOY"/*/README.md; do
  if grep -Eo '(beam_[a-z0-9.]+_(sdk|job_server)|job-server)[:-][0-9]+\.[0-9]+\.[0-9]+' "$f" | grep -v "$BEAM_HERE" | grep -q .; then
    fail "${f#"$ROOT"/} names a Beam version other than $BEAM_HERE"
  fi
done
ok "scripts and READMEs name Beam $BEAM_HERE images and jars only"

# ---------------------------------------------------------------------------------------- 5
echo "== 5. scripts parse"
while IFS= read -r -d '' script; do
  bash -n "$script" || fail "bash -n ${script#"$ROOT"/}"
  ok "bash -n ${script#"$ROOT"/}"
done < <(find "$DEPLOY" -name '*.sh' -print0 | sort -z)
if command -v shellcheck >/dev/null 2>&1; then
  if find "$DEPLOY" -name '*.sh' -exec shellcheck -x {} +; then ok "shellcheck (all severities)"; else fail "shellcheck"; fi
else
  warn "shellcheck not installed: only bash -n"
fi
while IFS= read -r -d '' py; do
  "$PYTHON" -c "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])" "$py" || fail "python ${py#"$ROOT"/}"
  ok "python parses ${py#"$ROOT"/}"
done < <(find "$DEPLOY" -name '*.py' -print0 | sort -z)

echo "deploy/check.sh: OK ($CHECKS checks, $WARNINGS warnings)"
