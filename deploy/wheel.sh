#!/usr/bin/env bash
# Build pileprep's wheel (and its sdist when the `build` package is installed) from this checkout,
# offline, into OUTDIR. The build runs in a temporary copy of the tracked and untracked-but-not-
# ignored files, so the checkout gets no build/ or *.egg-info.
#
#   deploy/wheel.sh OUTDIR        -> OUTDIR/pileprep-<version>-py3-none-any.whl [+ .tar.gz]
#
# --no-build-isolation: use the setuptools already installed (pyproject.toml: setuptools>=68)
# instead of fetching one from PyPI. The sdist is what Beam's stager builds from
# --setup_file pyproject.toml (python -m build --sdist --no-isolation); the wheel is what
# --extra_package and the container images install.
set -euo pipefail

OUTDIR="${1:?usage: deploy/wheel.sh OUTDIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT

if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # tracked files deleted in the work tree are skipped (--ignore-failed-read)
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
    | tar -C "$ROOT" --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null \
    | tar -C "$SRC" -xf -
else
  tar -C "$ROOT" --exclude=.git --exclude=build --exclude=dist --exclude='*.egg-info' -cf - . | tar -C "$SRC" -xf -
fi

PIP_NO_INDEX=1 "$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation "$SRC" -w "$OUTDIR"
if "$PYTHON" -c "import build" 2>/dev/null; then
  # Exactly what Beam 2.77's stager runs for --setup_file pyproject.toml. It checks that every
  # build-system.requires (setuptools>=68, wheel) is installed; if one is missing, say so and
  # build anyway without the check, so the sdist can still be inspected.
  if ! (cd "$SRC" && "$PYTHON" -m build --sdist --no-isolation --outdir "$OUTDIR" . >"$SRC/.build.log" 2>&1); then
    echo "wheel.sh: WARNING: 'python -m build --sdist --no-isolation' failed here, so Beam's" \
         "--setup_file pyproject.toml would fail on this launcher too:" >&2
    grep -A3 -E "ERROR|Unmet" "$SRC/.build.log" >&2 || tail -5 "$SRC/.build.log" >&2
    (cd "$SRC" && "$PYTHON" -m build --sdist --no-isolation --skip-dependency-check \
       --outdir "$OUTDIR" . >/dev/null 2>&1)
  fi
else
  echo "wheel.sh: the 'build' package is not installed: no sdist (pip install build; Beam's" \
       "--setup_file pyproject.toml needs it on the launcher too)" >&2
fi
ls -1 "$OUTDIR"
