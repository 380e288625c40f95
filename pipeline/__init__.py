"""Assembling the pileprep Beam graph, its options and the `pileprep` command line, and the tools
that read a finished run.

Building and running the graph:
- graph.py: the graph itself, ReadPile -> Normalize -> FilterDocuments -> Deduplicate -> Tokenize
  -> Pack -> WriteManifest;
- options.py: RunConfig, every `pileprep run` option, and the stage configs derived from it;
- runners.py: the Beam runner and its options (local in-process, multi-process, distributed);
- run.py: run(config, beam_args), checking inputs and output before the pipeline starts;
- cli.py: the `pileprep` command line (every subcommand dispatches from here);
- summary.py: the one-screen summary printed when a run ends (and by `pileprep inspect`).

Before a run, sample.py writes a synthetic Pile-format corpus (`pileprep sample`, `pileprep demo`).

After a run, reading its output through manifest.json, with no pipeline:
- verify.py (`pileprep verify`), inspection.py (`pileprep inspect`), report.py (`pileprep report`),
  export.py (`pileprep export`, Megatron .bin/.idx), hf.py (Hugging Face `datasets` loaders).
"""
