"""The pileprep Beam graph:
ReadPile -> Normalize -> FilterDocuments -> Deduplicate -> Tokenize -> Pack -> WriteManifest.

    with beam.Pipeline(runner, options=opts) as p:
        build(p, config, files)
"""
import dataclasses

import apache_beam as beam

from pipeline.options import RunConfig
from transforms.counts import CountOutcomes, counted
from transforms.dedup import Deduplicate, MeasureClusters, WriteRemovals
from transforms.dedup_exact import describe
from transforms.filter import FilterDocuments
from transforms.manifest import WriteManifest
from transforms.normalize import Normalize
from transforms.pack import Pack
from transforms.inputs import InputFile
from transforms.read import ReadPile
from transforms.tokenize import Tokenize
from transforms.write import WriteDocuments, WriteRejects


def build(p, config: RunConfig, files: list[InputFile], holdout_files: list[InputFile] = ()):
    read = p | "ReadPile" >> ReadPile(config.read_config(), files)
    check = config.check_config()
    normalized = read["docs"] | "Normalize" >> Normalize(config.normalize_config(), check)
    docs = normalized["docs"]
    kept, dropped = docs | "FilterDocuments" >> FilterDocuments(config.filter_config())
    holdout = _holdout(p, config, holdout_files, check)
    unique, removed = kept | "Deduplicate" >> Deduplicate(
        config.dedup_config(), holdout["docs"] if holdout else None,
        spill=config.output if config.spill else None)
    tokenize = Tokenize(config.tokenize_config(), processes=config.tokenize_processes or 0,
                        check=check)  # loads the tokenizer: a bad one fails here, before the run
    tokenized = unique | "Tokenize" >> tokenize
    packed = tokenized["docs"] | "Pack" >> Pack(config.pack_config(tokenize.tokenizer, sum(f.size for f in files)))

    written = (unique | "WriteDocuments" >> WriteDocuments(
        config.output, files=config.files_for(sum(f.size for f in files)), spill=bool(config.spill))
        if config.write_documents else p | "NoDocuments" >> beam.Create([]))
    rejects = read["rejects"] | "WriteRejects" >> WriteRejects(config.output)
    counts = ({"malformed": read["rejects"], "filtered": dropped, "deduplicated": removed,
               "packed": packed["events"]} | "Count" >> CountOutcomes({"packed": counted}))
    dedup_files = removed | "WriteRemovals" >> WriteRemovals(config.output)
    clusters = (removed | "MeasureClusters" >> MeasureClusters()
                | "ClusterSize" >> beam.Map(lambda c: (c["kind"], c["size"]))
                | "CountClusterSizes" >> beam.combiners.Count.PerElement())
    provenance = ((normalized["provenance"], tokenized["provenance"])  # of the training documents
                  | "FlattenProvenance" >> beam.Flatten() | "SumProvenance" >> beam.CombinePerKey(sum))
    budget = config.budget()
    return p | "WriteManifest" >> WriteManifest(
        config.output, config.recorded(), tokenizer=_describe(tokenize.tokenizer),
        dedup=describe(config.dedup_config(), holdout=bool(config.holdout)),
        budget=dataclasses.asdict(budget) if budget else None, counts=counts, inputs=read["files"],
        documents=written, rejects=rejects, shards=packed["shards"], plan=packed["plan"],
        dedup_files=dedup_files, clusters=clusters, provenance=provenance, check=check,
        holdout_inputs=holdout["files"] if holdout else p | "NoHoldout" >> beam.Create([]))


def _holdout(p, config: RunConfig, files, check):
    """The holdout documents, read and normalized like the training ones (never filtered: any
    training document equal to a holdout document is contamination, whatever the rules say)."""
    if not config.holdout:
        return None
    read = p | "ReadHoldout" >> ReadPile(config.holdout_read_config(), list(files))
    normalized = read["docs"] | "NormalizeHoldout" >> Normalize(config.normalize_config(), check)
    return {"docs": normalized["docs"], "files": read["files"]}


def _describe(tokenizer) -> dict:
    return {"name": tokenizer.name, "vocab_size": tokenizer.vocab_size, "eos_id": tokenizer.eos_id,
            "dtype": str(tokenizer.dtype), "files_sha256": dict(sorted(tokenizer.files_sha256.items()))}
