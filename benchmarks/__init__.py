"""Throughput and memory measurements of pileprep against naive baselines; never run as tests.

    python -m benchmarks.run [--mb 50] [--dir DIR]
"""
