"""Arrow schemas of the Parquet files pileprep writes: cleaned documents and shard lineage.

    table = pa.Table.from_pylist(records, schema=DOCUMENTS)   # documents/part-*.parquet
"""
import pyarrow as pa

DOCUMENTS = pa.schema([
    pa.field("id", pa.string(), nullable=False),          # "<file name>:<line number>", unique per run
    pa.field("source", pa.string(), nullable=False),      # meta.pile_set_name ("unknown" if absent)
    pa.field("text", pa.large_string(), nullable=False),  # normalized, after the rules' line edits
    pa.field("order_key", pa.uint64(), nullable=False),   # xxh64(seed, id): the seeded document order
    pa.field("chars_in", pa.int64(), nullable=False),     # characters as read, before normalization
    pa.field("chars", pa.int64(), nullable=False),        # characters written
    pa.field("normalized", pa.bool_(), nullable=False),   # whether ftfy changed the text
    pa.field("lines_removed", pa.int64(), nullable=False),  # by the rules' line edits
], metadata={"pileprep": "cleaned documents, sorted by order_key within each file"})

LINEAGE = pa.schema([
    pa.field("id", pa.string(), nullable=False),       # the document id, as in documents/*.parquet
    pa.field("source", pa.string(), nullable=False),   # its pile_set_name
    pa.field("start", pa.int64(), nullable=False),     # first token, in this shard's stream (row r starts at 2048 r)
    pa.field("end", pa.int64(), nullable=False),       # position of its EOS in this shard's stream
    pa.field("global_start", pa.int64(), nullable=False),  # the same two in the run's whole stream
    pa.field("global_end", pa.int64(), nullable=False),
], metadata={"pileprep": "one row per document with tokens in the shard; start < 0 or end >= "
                         "the shard's stream length when the document continues in a neighbour shard"})
