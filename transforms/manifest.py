"""WriteManifest: the run's self-description, validated and written last.

The manifest's presence marks a complete run: it is built only after every other output has been
committed (they arrive as side inputs), it is checked against schemas/manifest.schema.json, the
counting identity (read = malformed + filtered + deduplicated + over_budget + packed) and the token
identities (shards' tokens = tokens in rows; in rows + left over = packed), and it is written under
a temporary name and renamed.

    p | WriteManifest(out_dir, options, tokenizer=..., budget=..., dedup=..., counts=counts, inputs=files,
                      documents=written, rejects=r, shards=shards, plan=plan, dedup_files=..., clusters=...,
                      holdout_inputs=..., provenance=..., check=CheckConfig())
"""
import apache_beam as beam
import orjson

from schemas.run import MANIFEST, ROW_LEN, SCHEMA_VERSION, SEQ_LEN, manifest_problems
from transforms.errors import PileprepError
from transforms.provenance import CheckConfig, section
from transforms.write import commit_bytes, remove_temporaries


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pileprep")
    except Exception:  # running from a source tree that was not installed
        return "0+unknown"


def merge_ranges(inputs) -> list[dict]:
    """One entry per input file, summing the summaries of a file read as parallel line ranges."""
    merged: dict[str, dict] = {}
    for f in sorted(inputs, key=lambda f: (f["path"], f["lines"])):
        m = merged.setdefault(f["path"], {**f, "lines": 0, "documents": 0, "malformed": 0, "damage": None})
        for k in ("lines", "documents", "malformed"):
            m[k] += f[k]
        m["damage"] = m["damage"] or f["damage"]
    return [merged[p] for p in sorted(merged)]


def dedup_section(settings: dict, files, clusters) -> dict:
    """What deduplication did: its settings (transforms.dedup_exact.describe), removal files, clusters."""
    sizes: dict[str, dict[str, int]] = {}
    for (kind, size), count in sorted(clusters):
        sizes.setdefault(kind, {})[str(size)] = count
    return {**settings, "files": sorted(files, key=lambda f: f["path"]), "cluster_sizes": sizes}


def build_manifest(*, options: dict, inputs, counts: dict, documents, rejects, tokenizer: dict,
                   budget: dict | None, shards, plan, dedup: dict, dedup_files=(), clusters=(),
                   holdout_inputs=(), provenance: dict | None = None) -> dict:
    from schemas.family import CHINCHILLA_TOKENS_PER_PARAM, nested_budgets

    inputs = merge_ranges(inputs)
    shards = sorted(shards, key=lambda s: s["index"])
    in_rows = plan.rows * SEQ_LEN + 1 if plan.rows else 0
    rows_total = sum(s["rows"] for s in shards)
    if budget is not None:
        budget = {**budget, "met": not plan.short}
    return {
        "schema_version": SCHEMA_VERSION,
        "pileprep_version": _version(),
        "options": options,
        "inputs": inputs,
        "damaged_inputs": [f["path"] for f in inputs if f["damage"]],
        "counts": counts,
        "documents": sorted(documents, key=lambda f: f["path"]),
        "rejects": sorted(rejects, key=lambda f: f["path"]),
        "tokenizer": tokenizer,
        "seq_len": SEQ_LEN,
        "row_len": ROW_LEN,
        "dtype": tokenizer["dtype"],
        "rows": rows_total,
        "tokens": {"packed": counts["tokens_packed"], "in_rows": in_rows,
                   "left_over": counts["tokens_packed"] - in_rows},
        "shards": shards,
        "budget": budget,
        "nested_budgets": nested_budgets(rows_total, options.get("tokens_per_param", CHINCHILLA_TOKENS_PER_PARAM)),
        "dedup": dedup_section(dedup, dedup_files, clusters),
        "holdout_inputs": merge_ranges(holdout_inputs),
        "provenance": provenance if provenance is not None else section((), CheckConfig(every=0)),
    }


def manifest_bytes(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _write(_, out_dir, options, tokenizer, budget, dedup, check, counts, inputs, documents, rejects, shards,
           plan, dedup_files, clusters, holdout_inputs, provenance):
    manifest = build_manifest(options=options, inputs=inputs, counts=counts, documents=documents,
                              rejects=rejects, tokenizer=tokenizer, budget=budget, shards=shards,
                              plan=plan, dedup=dedup, dedup_files=dedup_files, clusters=clusters,
                              holdout_inputs=holdout_inputs, provenance=section(provenance, check))
    found = manifest_problems(manifest)
    if found:
        raise PileprepError("refusing to write a manifest that does not add up: " + "; ".join(found))
    from transforms import resume, spill

    spill.remove(out_dir)  # every shard and document file is written: the spilled payloads are done with
    remove_temporaries(out_dir)  # and any temporary left is a failed attempt's
    commit_bytes(out_dir, MANIFEST, manifest_bytes(manifest))
    resume.remove(out_dir)  # the run is complete: the work kept for a rerun after a kill is done with
    yield manifest


class WriteManifest(beam.PTransform):
    def __init__(self, out_dir: str, options: dict, *, tokenizer: dict, budget: dict | None, dedup: dict,
                 counts, inputs, documents, rejects, shards, plan, dedup_files, clusters, holdout_inputs,
                 provenance, check: CheckConfig):
        super().__init__()
        self.dedup = dedup
        self.dedup_files, self.clusters, self.holdout_inputs = dedup_files, clusters, holdout_inputs
        self.out_dir, self.options, self.tokenizer, self.budget = out_dir, options, tokenizer, budget
        self.counts, self.inputs, self.documents, self.rejects = counts, inputs, documents, rejects
        self.shards, self.plan = shards, plan
        self.provenance, self.check = provenance, check

    def expand(self, pbegin):
        side = beam.pvalue
        return (pbegin
                | "Once" >> beam.Create([None])
                | "Write" >> beam.FlatMap(_write, self.out_dir, self.options, self.tokenizer, self.budget, self.dedup,
                                          self.check,
                                          side.AsSingleton(self.counts), side.AsList(self.inputs),
                                          side.AsList(self.documents), side.AsList(self.rejects),
                                          side.AsList(self.shards), side.AsSingleton(self.plan),
                                          side.AsList(self.dedup_files), side.AsList(self.clusters),
                                          side.AsList(self.holdout_inputs), side.AsList(self.provenance)))
