"""Assembling the pileprep Beam graph, its options and the `pileprep` command line."""
