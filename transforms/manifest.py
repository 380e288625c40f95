"""WriteManifest: the run's self-description, validated and written last.

The manifest's presence marks a complete run: it is built only after every other output has been
committed (they arrive as side inputs), it is checked against schemas/manifest.schema.json and
against the counting identity (read = malformed + filtered + deduplicated + over_budget + kept),
and it is written under a temporary name and renamed.

    p | WriteManifest(out_dir, options, counts=counts, inputs=files, documents=written, rejects=r)
"""
import json
import os

import apache_beam as beam
import orjson

from schemas import SCHEMAS_DIR
from transforms.counts import identity_problems
from transforms.errors import PileprepError
from transforms.write import commit_bytes

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pileprep")
    except Exception:  # running from a source tree that was not installed
        return "0+unknown"


def build_manifest(*, options: dict, inputs, counts: dict, documents, rejects) -> dict:
    inputs = sorted(inputs, key=lambda f: f["path"])
    return {
        "schema_version": SCHEMA_VERSION,
        "pileprep_version": _version(),
        "options": options,
        "inputs": inputs,
        "damaged_inputs": [f["path"] for f in inputs if f["damage"]],
        "counts": counts,
        "documents": sorted(documents, key=lambda f: f["path"]),
        "rejects": sorted(rejects, key=lambda f: f["path"]),
    }


def problems(manifest: dict) -> list[str]:
    """Schema violations and broken invariants; empty for a manifest that may be written."""
    import jsonschema

    with open(os.path.join(SCHEMAS_DIR, "manifest.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    found = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
             for e in jsonschema.Draft202012Validator(schema).iter_errors(manifest)]
    if found:
        return found
    counts = manifest["counts"]
    found += identity_problems(counts)
    read_lines = sum(f["lines"] for f in manifest["inputs"])
    if read_lines != counts["documents"]["read"]:
        found.append(f"inputs hold {read_lines} lines but {counts['documents']['read']} were counted")
    written = sum(f["rows"] for f in manifest["documents"])
    if manifest["documents"] and written != counts["documents"]["kept"]:
        found.append(f"document files hold {written} rows, counts say {counts['documents']['kept']} kept")
    return found


def manifest_bytes(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _write(_, out_dir, options, counts, inputs, documents, rejects):
    manifest = build_manifest(options=options, inputs=inputs, counts=counts,
                              documents=documents, rejects=rejects)
    found = problems(manifest)
    if found:
        raise PileprepError("refusing to write a manifest that does not add up: " + "; ".join(found))
    commit_bytes(out_dir, MANIFEST, manifest_bytes(manifest))
    yield manifest


class WriteManifest(beam.PTransform):
    def __init__(self, out_dir: str, options: dict, *, counts, inputs, documents, rejects):
        super().__init__()
        self.out_dir, self.options = out_dir, options
        self.counts, self.inputs, self.documents, self.rejects = counts, inputs, documents, rejects

    def expand(self, pbegin):
        side = beam.pvalue
        return (pbegin
                | "Once" >> beam.Create([None])
                | "Write" >> beam.FlatMap(_write, self.out_dir, self.options,
                                          side.AsSingleton(self.counts), side.AsList(self.inputs),
                                          side.AsList(self.documents), side.AsList(self.rejects)))
