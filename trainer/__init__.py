"""The minimal PyTorch trainer that reads pileprep's shards: model.py, data.py, train.py, scaling.py, cli.py.

Nothing here is imported by the pipeline; `trainer.cli` adds the `train` and `scaling` subcommands.
"""
