"""The tools around a run, apart from the graph: they read a finished run through manifest.json
(schemas/run.py) with no pipeline, or write a synthetic corpus before one.

- verify.py (`pileprep verify`): every shard's sha256, shape, dtype and token count, and the counts;
- inspection.py (`pileprep inspect`): the summary and decoded rows of a run;
- report.py (`pileprep report`): report.html, the run's counts and histograms as one page;
- export.py (`pileprep export`): the shards in formats other trainers read;
- hf.py: the shards and lineage as Hugging Face `datasets`;
- sample.py (`pileprep sample`, `pileprep demo`): a synthetic Pile-format corpus.
"""
