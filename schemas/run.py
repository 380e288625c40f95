"""The files of a run, defined once: their names, the .npy and Parquet encodings, the manifest.

Whatever writes a run (transforms/pack.py, transforms/manifest.py) and whatever reads one (verify,
inspect, export, load_hf, the trainer) takes names, constants and encodings from here. No Beam at
import: the trainer reads runs without it. A run on an object store (gs://, s3://) is read through
Beam's FileSystems, imported only when such a path is given.

    manifest = load_manifest("out/")          # PileprepError when the run did not complete
    path = safe_path("out/", manifest["shards"][0]["path"])  # PileprepError if it leaves out/
    rows = open_shard(path, dtype=manifest["dtype"], rows=manifest["shards"][0]["rows"])  # [rows, 2049] memmap
"""
import io
import json
import os
import re

import numpy as np

from schemas import SCHEMAS_DIR
from schemas.records import TERMINAL
from transforms.errors import PileprepError

SEQ_LEN = 2048  # targets per row: the model reads row[:2048] and predicts row[1:]
ROW_LEN = SEQ_LEN + 1  # consecutive rows share one token, so every token is a target exactly once
SCHEMA_VERSION = 1  # of schemas/manifest.schema.json ("const" there)

# Top-level names. `--overwrite`, and the rerun that replaces an interrupted run, remove these and
# refuse a directory holding anything else (pipeline/run.py prepare_output), so whatever writes a
# new top-level entry must name it here, or every directory it was written into becomes impossible
# to replace.
MANIFEST = "manifest.json"  # written last: its presence marks a complete run (transforms/manifest.py)
SHARDS = "shards"  # shard-NNNNN.npy and their .lineage.parquet sidecars (transforms/pack.py)
DOCUMENTS = "documents"  # the cleaned documents as Parquet (transforms/write.py WriteDocuments)
REJECTS = "rejects"  # malformed lines, one JSONL file per input (transforms/write.py WriteRejects)
DEDUP = "dedup"  # removed-<kind>-NNNNN-of-MMMMM.parquet, with --dedup (transforms/dedup.py WriteRemovals)
REPORT = "report.html"  # written later by `pileprep report DIR` (pipeline/tools/report.py)
# Files still being written (.tmp-manifest.json, shards/.tmp-shard-00000.npy, .tmp-report.html)
# and the spill folder (.tmp-spill, transforms/spill.py): a complete run has none at its top level.
TMP_PREFIX = ".tmp-"
OUR_ENTRIES = (MANIFEST, SHARDS, DOCUMENTS, REJECTS, DEDUP, REPORT)

_SCHEME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9+.]*://")  # what Beam's FileSystems.get_scheme recognizes


def ours(name: str) -> bool:
    """Whether a top-level entry of an output directory is one pileprep writes."""
    return name in OUR_ENTRIES or name.startswith(TMP_PREFIX)


def shard_name(index: int) -> str:
    return f"{SHARDS}/shard-{index:05d}.npy"


def lineage_name(index: int) -> str:
    """The shard's sidecar: one row per document with tokens in it (schemas/arrow.py LINEAGE)."""
    return f"{SHARDS}/shard-{index:05d}.lineage.parquet"


def is_remote(path: str) -> bool:
    """Whether a path names an object store (or any file system Beam knows) rather than a local file."""
    return bool(_SCHEME.match(path))


def join(run_dir: str, relpath: str) -> str:
    if not is_remote(run_dir):
        return os.path.join(run_dir, relpath)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(run_dir, relpath)


def exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def open_file(path: str):
    """A binary reader of a run's file, local or remote, exactly as its bytes were hashed."""
    if not is_remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    # never AUTO: a name ending in .gz or .zst must still be read as the bytes that were hashed
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _plain(relpath) -> bool:
    """A relative path that names something below its directory on any file system."""
    return (isinstance(relpath, str) and bool(relpath) and not os.path.isabs(relpath) and "\\" not in relpath
            and "://" not in relpath and ".." not in relpath.split("/"))


def safe_path(run_dir: str, relpath) -> str:
    """The path of a file the manifest lists: its real path when local, refused if it leaves run_dir
    (through .., an absolute path or a symlink out). An object store has no symlinks, so there the
    path alone decides."""
    if _plain(relpath):
        if is_remote(run_dir):
            return join(run_dir, relpath)
        root = os.path.realpath(run_dir)
        real = os.path.realpath(os.path.join(root, relpath))
        if real.startswith(root + os.sep):
            return real
    raise PileprepError(f"path {relpath!r} in {run_dir}/{MANIFEST} leaves {run_dir}: refused "
                        f"(run pileprep verify {run_dir})")


def load_manifest(run_dir: str) -> dict:
    """The run's manifest, as written (validate it with `schema_problems`). PileprepError when there
    is none (the run did not complete) or it is not JSON (a damaged copy): the user's to fix."""
    path = join(run_dir, MANIFEST)
    if not exists(path):
        raise PileprepError(f"{run_dir} has no {MANIFEST}: the run did not complete (or this is not a run)")
    with open_file(path) as f:
        data = f.read()
    try:
        return json.loads(data)
    except ValueError as e:
        raise PileprepError(f"{MANIFEST} cannot be read as JSON ({e}): copy the run again, or rerun it") from None


def schema_problems(manifest: dict) -> list[str]:
    """Where the manifest breaks schemas/manifest.schema.json, as "field/path: message"."""
    import jsonschema

    with open(os.path.join(SCHEMAS_DIR, "manifest.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in jsonschema.Draft202012Validator(schema).iter_errors(manifest)]


def manifest_problems(manifest: dict) -> list[str]:
    """Schema violations and broken invariants; empty for a manifest that may be written."""
    found = schema_problems(manifest)
    if found:
        return found
    counts = manifest["counts"]
    found += count_problems(counts)
    read_lines = sum(f["lines"] for f in manifest["inputs"])
    if read_lines != counts["documents"]["read"]:
        found.append(f"inputs hold {read_lines} lines but {counts['documents']['read']} were counted")
    kept = counts["documents"]["packed"] + counts["documents"]["over_budget"]
    removed = sum(f["rows"] for f in manifest["dedup"]["files"])
    if removed != counts["documents"]["deduplicated"]:
        found.append(f"dedup files list {removed} documents, counts say {counts['documents']['deduplicated']}")
    written = sum(f["rows"] for f in manifest["documents"])
    if manifest["options"].get("write_documents", True) and written != kept:
        found.append(f"document files hold {written} rows, but {kept} documents passed the filters and dedup")
    shards, tokens = manifest["shards"], manifest["tokens"]
    if sum(s["tokens"] for s in shards) != tokens["in_rows"]:
        found.append(f"shards hold {sum(s['tokens'] for s in shards)} stream tokens, not {tokens['in_rows']}")
    if tokens["left_over"] < 0:
        found.append(f"packed {tokens['packed']} tokens but rows need {tokens['in_rows']}")
    if [s["index"] for s in shards] != list(range(len(shards))):
        found.append("shard indices are not 0..n-1")
    budget = manifest["budget"]
    if budget and budget["met"] and manifest["rows"] != budget["rows"]:
        found.append(f"budget needs {budget['rows']} rows, shards hold {manifest['rows']}")
    return found


def count_problems(counts: dict) -> list[str]:
    """Every way the counts fail to add up (empty when read = sum of outcomes everywhere)."""
    problems = []
    for where, c in [("total", counts["documents"])] + sorted(counts["by_source"].items()):
        outcomes = sum(c.get(k, 0) for k in TERMINAL)
        if c["read"] != outcomes:
            problems.append(f"{where}: read {c['read']} != outcomes {outcomes}")
    totals = counts["documents"]
    for k in ("read",) + TERMINAL + ("tokens",):
        if k == "tokens":
            per_source = sum(s.get(k, 0) for s in counts["by_source"].values())
            if per_source != counts["tokens_packed"]:
                problems.append(f"tokens: per-source sum {per_source} != total {counts['tokens_packed']}")
            continue
        per_source = sum(s.get(k, 0) for s in counts["by_source"].values())
        if per_source != totals[k]:
            problems.append(f"{k}: per-source sum {per_source} != total {totals[k]}")
    for key, total in (("malformed_by_reason", "malformed"), ("filtered_by_rule", "filtered"),
                       ("deduplicated_by_kind", "deduplicated")):
        if sum(counts[key].values()) != totals[total]:
            problems.append(f"{key} sums to {sum(counts[key].values())}, not {totals[total]}")
    return problems


def npy_header(shape: tuple, dtype) -> bytes:
    """The header np.save writes for a C-order array of this shape and dtype (format 1.0): a shard
    is this followed by its rows' bytes, so it is written a chunk of rows at a time."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    return header.getvalue()


def read_npy_header(f) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of the .npy stream f, left at its first data byte; ValueError for a header
    that is not a C-ordered array of integers (pickled objects are never read)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version} is not one numpy writes for a plain array")
    if dtype.hasobject or dtype.kind not in "iu":
        raise ValueError(f"it holds {dtype}, not integer token ids")
    if fortran:
        raise ValueError("it is stored in Fortran order; shards are C-ordered rows")
    return shape, dtype


def open_shard(path: str, *, dtype: str, rows: int | None = None) -> np.ndarray:
    """The shard's [rows, 2049] token ids as a read-only memory map (a batch reads only its rows),
    checked against what the manifest says of it; PileprepError for anything else."""
    if is_remote(path):
        raise PileprepError(f"shard {path} is not on a local disk: shards are memory-mapped, so copy the "
                            f"run to a local directory first")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:  # a corrupt header, a pickled object array
        raise PileprepError(f"shard {path} does not read as a .npy array of token ids without pickle ({e}): "
                            f"run pileprep verify on its run") from None
    expected = (array.shape[0] if rows is None else rows, ROW_LEN)
    if str(array.dtype) != dtype or array.shape != expected:
        raise PileprepError(f"shard {path} holds {array.dtype} {array.shape}, the manifest says {dtype} "
                            f"({'rows' if rows is None else rows}, {ROW_LEN}): run pileprep verify on its run")
    return array


def parquet_bytes(table) -> bytes:
    """A run's Parquet file (documents, lineage, dedup removals): zstd, as one table."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()
