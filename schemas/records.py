"""The records that cross pileprep's stages, declared once, and where each manifest field comes from.

Records are plain dicts (Beam moves them between stages and processes cheaply, and orjson and Arrow
write them as they are); these TypedDicts say which keys each one carries and what they mean, so
that one name has one meaning everywhere. Three lengths, three names: `chars_in` as read,
`chars_before_filter` after normalization, `chars` after the rules' line edits.

    doc = Document(id="00.jsonl.zst:1", source="Pile-CC", text="...", order_key=17)
    outcome = Outcome(**passed(doc), outcome="packed", tokens=12)

The manifest (transforms/manifest.py builds it; pipeline/graph.py wires what it is built from):
- inputs, damaged_inputs: ReadPile's InputSummary per file (line ranges of one file merged);
- counts: CountOutcomes over Reject, Drop, Removal and Outcome records (transforms/counts.py): every
  document read ends in exactly one TERMINAL outcome, with its source and reason;
- documents, rejects: WrittenFile per Parquet part (WriteDocuments) and per rejects file (WriteRejects);
- shards, rows, tokens: Pack's ShardEntry per shard, and the token totals of the Outcome events;
- dedup: the DedupConfig, a WrittenFile per removed-<kind>-NNNNN-of-MMMMM.parquet (WriteRemovals) and Cluster sizes;
- budget, nested_budgets: the run's options (schemas/family.py) and the rows the shards hold;
- tokenizer, provenance, options, holdout_inputs: the loaded tokenizer, the fast paths' events
  (transforms/provenance.py), the RunConfig, and the holdout's InputSummary records.
"""
from typing import TypedDict

# How a document read ends: every one ends in exactly one (the counting identity's terms).
TERMINAL = ("malformed", "filtered", "deduplicated", "over_budget", "packed")

# The keys a spilled document carries instead of "text" (transforms/spill.py StowText): its text
# is in a spill file, and these ride the shuffle in its place.
TEXT_REF, TEXT_CHARS, TEXT_HASH = "_spilled_text_ref", "_spilled_text_chars", "_spilled_text_sha256"


class _DocumentRead(TypedDict):
    id: str  # "<file name>:<line number>": unique in a run, and the lineage's link to the input
    source: str  # meta.pile_set_name, or "unknown" when it is missing or not a string
    text: str  # as read; replaced by Normalize's output, then by the rules' line edits
    order_key: int  # xxh64(seed, id): the seeded document order that packing and dedup follow


class Document(_DocumentRead, total=False):
    """One document, from ReadPile to Pack: each stage adds its keys to a new dict."""
    chars_in: int  # Normalize: characters as read, before normalization
    changed: bool  # Normalize: whether normalization changed the text
    chars_before_filter: int  # FilterDocuments: characters after normalization, before line edits
    edits: dict[str, int]  # FilterDocuments: lines removed, by rule name (only rules that removed some)
    ids: object  # Tokenize: the token ids (numpy, the shard dtype), without the EOS Pack appends
    _spilled_text_ref: bytes  # StowText, around a shuffle: where the text is (TEXT_REF)
    _spilled_text_chars: int  # StowText: len(text) (TEXT_CHARS)
    _spilled_text_sha256: bytes  # StowText, when Deduplicate needs it: sha256 of the text (TEXT_HASH)


class Reject(TypedDict):
    """A malformed input line (ReadPile "rejects"), written to rejects/<file>.jsonl."""
    file: str  # the input's display name (InputFile.name)
    line: int  # 1-based line number in the file
    reason: str  # transforms/parse.py REASONS, or line_too_long
    source: str  # the pile_set_name when the line showed one, else "unknown"
    head: str  # the line's first 200 bytes, invalid UTF-8 escaped


class InputDamage(TypedDict):
    offset: int  # byte offset of the damage in the compressed file
    what: str  # what was found there (truncated frame, CRC mismatch, ...)


class InputSummary(TypedDict):
    """One input file, or one line range of a large plain file (ReadPile "files")."""
    path: str  # as matched by the input pattern
    name: str  # its display name, used in document ids
    bytes: int  # its size on disk
    lines: int  # lines read (of this range)
    documents: int  # lines that became documents
    malformed: int  # lines that became Reject records
    damage: InputDamage | None  # with --allow-corrupt-inputs: where reading stopped


class Drop(TypedDict):
    """A document a rule dropped (FilterDocuments' second output)."""
    id: str
    source: str
    rule: str  # the rule's name (schemas/rules/*.json)
    chars_before_filter: int  # its length when the rule saw it
    changed: bool  # whether normalization had changed it


class Passed(TypedDict):
    """What the counts need of a document that passed the filters, whatever happens to it next."""
    id: str
    source: str
    changed: bool  # whether normalization changed it
    edits: dict[str, int]  # lines removed, by rule
    chars: int  # characters after the rules' line edits
    chars_before_filter: int  # characters before them


class Removal(Passed):
    """A document Deduplicate removed; written to dedup/removed-<kind>-NNNNN-of-MMMMM.parquet."""
    kind: str  # exact, near or holdout
    cause: str  # the id of the kept representative, or of the holdout document
    similarity: float | None  # estimated Jaccard with the cause (1.0 for exact; None before measured)


class Outcome(Passed):
    """A document that reached Pack: what its count events say (transforms/counts.py packed_events;
    Pack sums them per key range, placed_events)."""
    outcome: str  # packed, or over_budget: past the budget's last row
    tokens: int  # its stream tokens: ids plus the EOS


# Pack moves no record per document: a key range's documents cross GroupKeyRanges as batches of
# columns (transforms/pack_batches.py COLUMNS: order_key, n and the Passed fields, then the ids),
# and each (range, shard) crosses GroupShards as one fragment (tokens, LINEAGE columns).


class Committed(TypedDict):
    """A file committed under its final name (transforms/write.py commit_chunks)."""
    path: str  # relative to the run's directory
    bytes: int
    sha256: str  # hex digest of its bytes: pileprep verify recomputes it


class WrittenFile(Committed):
    """An output file as the manifest lists it (documents, rejects, dedup, lineage sidecars)."""
    rows: int  # records in it


class ShardEntry(Committed):
    """A committed shard, shards/shard-NNNNN.npy (Pack "shards"): manifest["shards"][i]."""
    index: int  # 0..n-1, in stream order
    rows: int  # rows of ROW_LEN tokens
    stream_start: int  # its first row's first token, in the run's whole stream
    tokens: int  # stream tokens it holds (the token shared with the next shard counts there)
    lineage: WrittenFile  # its .lineage.parquet sidecar


class Cluster(TypedDict):
    """A group of removed documents with one cause (MeasureClusters), counted by size in the manifest."""
    kind: str
    cause: str
    size: int  # members, the kept cause included


def passed(doc: Document) -> Passed:
    """The Passed fields of a document after FilterDocuments, spilled or not."""
    chars = doc[TEXT_CHARS] if TEXT_REF in doc else len(doc.get("text", ""))
    # a document that met no rule had no edits: FilterDocuments sets chars_before_filter on the rest
    return Passed(id=doc["id"], source=doc["source"], changed=doc.get("changed", False),
                  edits=doc.get("edits", {}), chars=chars,
                  chars_before_filter=doc.get("chars_before_filter", chars))
