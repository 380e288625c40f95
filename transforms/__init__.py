"""The stages of the pileprep pipeline, one module each: a pure core plus a thin PTransform.

ReadPile -> Normalize -> FilterDocuments -> Tokenize -> Pack -> WriteManifest
"""
