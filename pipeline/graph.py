"""The pileprep Beam graph: ReadPile -> Normalize -> FilterDocuments -> (write) -> WriteManifest.

    with beam.Pipeline(runner, options=opts) as p:
        build(p, config, files)
"""
from pipeline.options import RunConfig
from transforms.counts import CountOutcomes
from transforms.filter import FilterDocuments
from transforms.manifest import WriteManifest
from transforms.normalize import Normalize
from transforms.read import InputFile, ReadPile
from transforms.write import WriteDocuments, WriteRejects


def build(p, config: RunConfig, files: list[InputFile]):
    read = p | "ReadPile" >> ReadPile(config.read_config(), files)
    docs = read["docs"] | "Normalize" >> Normalize(config.normalize_config())
    kept, dropped = docs | "FilterDocuments" >> FilterDocuments(config.filter_config())

    written = (kept | "WriteDocuments" >> WriteDocuments(
        config.output, files=config.files_for(sum(f.size for f in files)))
        if config.write_documents else p | "NoDocuments" >> _empty())
    rejects = read["rejects"] | "WriteRejects" >> WriteRejects(config.output)
    counts = {"malformed": read["rejects"], "filtered": dropped, "kept": kept} | "Count" >> CountOutcomes()
    return p | "WriteManifest" >> WriteManifest(
        config.output, config.recorded(), counts=counts, inputs=read["files"],
        documents=written, rejects=rejects)


def _empty():
    import apache_beam as beam

    return beam.Create([])
