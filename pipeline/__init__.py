"""Assembling the pileprep Beam graph, its options and the `pileprep` command line; the tools
around a run live apart, in pipeline/tools/.

Building and running the graph:
- graph.py: the graph itself, ReadPile -> Normalize -> FilterDocuments -> Deduplicate -> Tokenize
  -> Pack -> WriteManifest;
- options.py: RunConfig, every `pileprep run` option, and the stage configs derived from it;
- runners.py: the Beam runner and its options (local in-process, multi-process, distributed);
- run.py: run(config, beam_args), checking inputs and output before the pipeline starts;
- cli.py: the `pileprep` command line (every subcommand dispatches from here);
- summary.py: the one-screen summary printed when a run ends (and by `pileprep inspect`).

The tools around a run (verify, inspect, report, export, Hugging Face loaders, the synthetic
sample) live apart in pipeline/tools/: none of them builds or runs the graph.
"""
