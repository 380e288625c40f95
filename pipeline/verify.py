"""pileprep verify DIR: check a run's outputs against its manifest, and name every problem.

Re-hashes every shard, sidecar, document and rejects file; opens each shard as a memory map without
pickle and checks dtype, shape, the one-token overlap between consecutive rows (also across
shards), token counts and the budget; refuses paths that leave DIR (.., absolute, symlinks out).

    problems = verify("out/")   # [] when the run is intact
"""
import json
import os

import numpy as np

from transforms.manifest import MANIFEST, problems as manifest_problems
from transforms.pack import ROW_LEN, SEQ_LEN
from transforms.write import file_sha256


def safe_path(directory: str, relpath: str) -> str | None:
    """The file's real path if it stays inside directory, else None."""
    if not isinstance(relpath, str) or not relpath or os.path.isabs(relpath) or "\\" in relpath:
        return None
    if ".." in relpath.split("/"):
        return None
    root = os.path.realpath(directory)
    real = os.path.realpath(os.path.join(root, relpath))
    return real if real.startswith(root + os.sep) else None


def load_manifest(directory: str) -> dict:
    with open(os.path.join(directory, MANIFEST), encoding="utf-8") as f:
        return json.load(f)


def _check_file(directory, entry, what, problems) -> str | None:
    path = safe_path(directory, entry.get("path"))
    if path is None:
        problems.append(f"{what} path {entry.get('path')!r} leaves {directory}: refused")
        return None
    if not os.path.isfile(path):
        problems.append(f"{what} {entry['path']} is missing")
        return None
    if os.path.getsize(path) != entry.get("bytes"):
        problems.append(f"{what} {entry['path']} has {os.path.getsize(path)} bytes, manifest says {entry.get('bytes')}")
    elif file_sha256(path) != entry.get("sha256"):
        problems.append(f"{what} {entry['path']} sha256 differs from the manifest (corrupted or replaced)")
    return path


def _check_shard(path, entry, manifest, previous_last, problems):
    name = entry["path"]
    try:
        rows = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # a corrupt header or a pickled object array
        problems.append(f"shard {name} does not open as a .npy memory map without pickle ({e})")
        return None
    if str(rows.dtype) != manifest["dtype"]:
        problems.append(f"shard {name} has dtype {rows.dtype}, manifest says {manifest['dtype']}")
    if rows.ndim != 2 or rows.shape[1] != ROW_LEN or rows.shape[0] != entry["rows"]:
        problems.append(f"shard {name} has shape {rows.shape}, manifest says ({entry['rows']}, {ROW_LEN})")
        return None
    if rows.shape[0] > 1:
        bad = np.flatnonzero(rows[:-1, -1] != rows[1:, 0])
        if len(bad):
            problems.append(f"shard {name}: row {bad[0]} does not end with row {bad[0] + 1}'s first token")
    if previous_last is not None and rows.shape[0] and rows[0, 0] != previous_last:
        problems.append(f"shard {name}: its first token is not the previous shard's last token")
    if int(rows.max(initial=0)) >= manifest["tokenizer"]["vocab_size"]:
        problems.append(f"shard {name} holds token ids beyond the vocabulary ({manifest['tokenizer']['vocab_size']})")
    return int(rows[-1, -1]) if rows.shape[0] else previous_last


def verify(directory: str) -> list[str]:
    try:
        manifest = load_manifest(directory)
    except FileNotFoundError:
        return [f"{directory} has no {MANIFEST}: the run did not complete (or this is not a run)"]
    except (OSError, ValueError) as e:
        return [f"{MANIFEST} cannot be read as JSON ({e})"]
    problems = list(manifest_problems(manifest))
    if problems:
        return problems
    previous_last, rows = None, 0
    for entry in manifest["shards"]:
        path = _check_file(directory, entry, "shard", problems)
        _check_file(directory, entry["lineage"], "lineage sidecar", problems)
        if path is None:
            continue
        previous_last = _check_shard(path, entry, manifest, previous_last, problems)
        rows += entry["rows"]
        last = entry is manifest["shards"][-1]
        if entry["tokens"] != entry["rows"] * SEQ_LEN + (1 if last else 0):
            problems.append(f"shard {entry['path']}: {entry['tokens']} tokens do not match {entry['rows']} rows")
    if rows != manifest["rows"]:
        problems.append(f"shards hold {rows} rows, manifest says {manifest['rows']}")
    for entry in manifest["documents"]:
        _check_file(directory, entry, "document file", problems)
    for entry in manifest["rejects"]:
        _check_file(directory, entry, "rejects file", problems)
    return problems
