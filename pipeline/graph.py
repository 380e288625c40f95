"""The pileprep Beam graph:
ReadPile -> Normalize -> FilterDocuments -> Deduplicate -> Tokenize -> Pack -> WriteManifest, or, on
the in-process runner when nothing needs every document at once, Prepare (those steps up to Pack's
batching, in worker processes: transforms/prepare.py) -> Pack -> WriteManifest. Same bytes.

    with beam.Pipeline(runner, options=opts) as p:
        build(p, config, files)
"""
import dataclasses

import apache_beam as beam

from pipeline.options import RunConfig
from transforms.counts import CountOutcomes, counted
from transforms.dedup import Deduplicate, MeasureClusters, WriteRemovals
from transforms.filter import FilterDocuments
from transforms.inputs import InputFile
from transforms.minhash import describe
from transforms.manifest import WriteManifest
from transforms.normalize import Normalize
from transforms.pack import Pack
from transforms import prepare
from transforms.prepare import Prepare, PrepareConfig
from transforms.prepare_work import PrepareSetup
from transforms.provenance import PROVENANCE
from transforms.read import ReadPile
from transforms.resume import RESUME_DIR, fingerprint
from transforms.rules import load_rules
from transforms.spill import SPILL_DIR
from transforms.tokenize import Tokenize
from transforms.tokenizer import load, shippable
from transforms.write import WriteDocumentRuns, WriteDocuments, WriteRejects


def build(p, config: RunConfig, files: list[InputFile], holdout_files: list[InputFile] = (), *,
          head_start: bool = False):
    """The graph of a run on `p`; head_start: the fused stage starts cutting inputs for its workers
    now, before the runner does (transforms/prepare_read.py; for a pipeline that will be run)."""
    input_bytes = sum(f.size for f in files)
    fused = config.fuses([f.path for f in files])
    front = _fused(p, config, files, input_bytes, head_start) if fused else _staged(p, config, files, holdout_files)
    tokenizer = front["tokenizer"]
    pack = Pack(config.pack_config(tokenizer, input_bytes))
    # the fused stage sends Pack's batches and the document files' sorted runs
    packed = front["batches"] | "Pack" >> pack.batched() if fused else front["tokenized"] | "Pack" >> pack
    write = WriteDocumentRuns if fused else WriteDocuments
    written = (front["documents"] | "WriteDocuments" >> write(
        config.output, files=config.files_for(input_bytes), spill=bool(config.spill))
        if config.write_documents else p | "NoDocuments" >> beam.Create([]))
    rejects = front["rejects"] | "WriteRejects" >> WriteRejects(config.output)
    removed = front["removed"]
    counts = ({"malformed": front["rejects"], "filtered": front["filtered"], "deduplicated": removed,
               "packed": packed["events"]} | "Count" >> CountOutcomes({"packed": counted, **front["summed"]}))
    dedup_files = removed | "WriteRemovals" >> WriteRemovals(config.output)
    clusters = (removed | "MeasureClusters" >> MeasureClusters()
                | "ClusterSize" >> beam.Map(lambda c: (c["kind"], c["size"]))
                | "CountClusterSizes" >> beam.combiners.Count.PerElement())
    provenance = (front["provenance"]  # of the training documents
                  | "FlattenProvenance" >> beam.Flatten() | "SumProvenance" >> beam.CombinePerKey(sum))
    budget = config.budget()
    holdout = front["holdout"]
    return p | "WriteManifest" >> WriteManifest(
        config.output, config.recorded(), tokenizer=_describe(tokenizer),
        dedup=describe(config.dedup_config(), holdout=bool(config.holdout)),
        budget=dataclasses.asdict(budget) if budget else None, counts=counts, inputs=front["files"],
        documents=written, rejects=rejects, shards=packed["shards"], plan=packed["plan"],
        dedup_files=dedup_files, clusters=clusters, provenance=provenance, check=config.check_config(),
        holdout_inputs=holdout["files"] if holdout else p | "NoHoldout" >> beam.Create([]))


def _staged(p, config: RunConfig, files, holdout_files) -> dict:
    """ReadPile -> Normalize -> FilterDocuments -> Deduplicate -> Tokenize: every runner."""
    read = p | "ReadPile" >> ReadPile(config.read_config(), files)
    check = config.check_config()
    normalized = read["docs"] | "Normalize" >> Normalize(config.normalize_config(), check)
    kept, dropped = normalized["docs"] | "FilterDocuments" >> FilterDocuments(config.filter_config())
    holdout = _holdout(p, config, holdout_files, check)
    unique, removed = kept | "Deduplicate" >> Deduplicate(
        config.dedup_config(), holdout["docs"] if holdout else None,
        spill=config.output if config.spill else None)
    tokenize = Tokenize(config.tokenize_config(), processes=config.tokenize_processes or 0,
                        check=check)  # loads the tokenizer: a bad one fails here, before the run
    tokenized = unique | "Tokenize" >> tokenize
    return {"tokenizer": tokenize.tokenizer, "tokenized": tokenized["docs"], "documents": unique,
            "rejects": read["rejects"], "files": read["files"], "filtered": dropped, "summed": {},
            "removed": removed, "holdout": holdout,
            "provenance": (normalized["provenance"], tokenized["provenance"])}


def _fused(p, config: RunConfig, files, input_bytes: int, head_start: bool) -> dict:
    """Prepare (transforms/prepare.py): the same documents, prepared by worker processes; with
    spill files (local runs), its finished work is kept for a rerun after a kill (transforms/resume.py)."""
    import os
    import uuid

    tokenize = shippable(config.tokenize_config())
    tokenizer = load(tokenize)  # a bad tokenizer fails here, before the run
    setup = PrepareSetup(normalize=config.normalize_config(), check=config.check_config(),
                         rules=load_rules(config.rules), tokenize=tokenize,
                         range_bits=config.pack_config(tokenizer, input_bytes).range_bits,
                         dtype=str(tokenizer.dtype), seed=config.seed, max_line_bytes=config.max_line_bytes,
                         document_files=config.files_for(input_bytes) if config.write_documents else 0)
    if config.spill and "://" not in config.output:
        setup = dataclasses.replace(
            setup, resume_dir=os.path.join(config.output, RESUME_DIR), spill_dir=os.path.join(config.output, SPILL_DIR),
            fingerprint=fingerprint(setup, prepare.CHUNK_BYTES, sorted(tokenizer.files_sha256.items())))
    prepared = p | "Prepare" >> Prepare(PrepareConfig(config.read_config(), setup, config.tokenize_processes,
                                                      spill=config.output if config.spill else None,
                                                      chunk_bytes=prepare.CHUNK_BYTES,
                                                      head_start=uuid.uuid4().hex if head_start else "",
                                                      retire=input_bytes >= prepare.RETIRE_BYTES), files)
    return {"tokenizer": tokenizer, "batches": prepared["batches"], "documents": prepared["documents"],
            "rejects": prepared["rejects"], "files": prepared["files"], "filtered": prepared["filtered"],
            "summed": {"filtered": counted}, "removed": p | "NothingRemoved" >> beam.Create([]),
            "holdout": None, "provenance": (prepared[PROVENANCE],)}


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
