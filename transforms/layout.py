"""The output directory of a run: every name pileprep writes at its top level, defined here once.

`--overwrite`, and the rerun that replaces an interrupted run, remove these and refuse a directory
holding anything else (pipeline/run.py prepare_output), so whatever writes a new top-level entry
must name it here, or every directory it was written into becomes impossible to replace.

    from transforms.layout import MANIFEST, SHARDS, ours
    ours("dedup"), ours(".tmp-spill"), ours("notes.txt")   # True, True, False
"""

MANIFEST = "manifest.json"  # written last: its presence marks a complete run (transforms/manifest.py)
SHARDS = "shards"  # shard-NNNNN.npy and their .lineage.parquet sidecars (transforms/pack.py)
DOCUMENTS = "documents"  # the cleaned documents as Parquet (transforms/write.py WriteDocuments)
REJECTS = "rejects"  # malformed lines, one JSONL file per input (transforms/write.py WriteRejects)
DEDUP = "dedup"  # removed-<kind>.parquet, with --dedup (transforms/dedup.py WriteRemovals)
REPORT = "report.html"  # written later by `pileprep report DIR` (pipeline/report.py)
# Files still being written (.tmp-manifest.json, shards/.tmp-shard-00000.npy, .tmp-report.html)
# and the spill folder (.tmp-spill, transforms/spill.py): a complete run has none at its top level.
TMP_PREFIX = ".tmp-"

OUR_ENTRIES = (MANIFEST, SHARDS, DOCUMENTS, REJECTS, DEDUP, REPORT)


def ours(name: str) -> bool:
    """Whether a top-level entry of an output directory is one pileprep writes."""
    return name in OUR_ENTRIES or name.startswith(TMP_PREFIX)
