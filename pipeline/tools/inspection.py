"""pileprep inspect DIR: a human summary of a run, and the text of its first rows.

DIR may be local or on any file system Beam knows (gs://, s3://): only the manifest and the first
rows of the shards are read (schemas/run.py open_file).

    print(describe("out/"))
    print(decode_rows("gs://bucket/out/590M", 2))
"""
from pipeline.summary import summary
from pipeline.tools.verify import row_blocks
from schemas.run import ROW_LEN, load_manifest, open_file, read_npy_header, safe_path
from transforms.display import PATH_CHARS, printable
from transforms.errors import PileprepError


def describe(directory: str) -> str:
    m = load_manifest(directory)
    lines = [summary(m)]
    t = m["tokenizer"]
    lines.append(f"tokenizer {printable(t['name'], PATH_CHARS)}: {t['vocab_size']:,} ids, EOS {t['eos_id']}, "
                 f"shards of {m['dtype']}")
    tok = m["tokens"]
    lines.append(f"{m['rows']:,} rows of {m['row_len']} tokens in {len(m['shards'])} shard(s); "
                 f"{tok['packed']:,} tokens packed, {tok['left_over']:,} left over after the last full row")
    b = m["budget"]
    if b:
        name = b["model"] or "explicit budget"
        lines.append(f"budget {name}: {b['target_tokens']:,} tokens = {b['rows']:,} rows"
                     + ("" if b["met"] else f" (NOT MET: the input was short, {m['rows']:,} rows packed)"))
    if m["nested_budgets"]:
        lines.append("serves: " + ", ".join(f"{n['model']} ({n['rows']:,} rows)" for n in m["nested_budgets"]))
    dedup = m.get("dedup") or {}
    for kind, sizes in sorted(dedup.get("cluster_sizes", {}).items()):
        hist = ", ".join(f"{n:,} of size {size}" for size, n in sorted(sizes.items(), key=lambda kv: int(kv[0])))
        lines.append(f"{kind} clusters (kept or holdout document + removed copies): {hist}")
    for s in m["shards"]:
        lines.append(f"  {printable(s['path'], PATH_CHARS)}  rows {s['rows']:,}  tokens {s['tokens']:,}  "
                     f"sha256 {s['sha256'][:16]}")
    return "\n".join(lines)


def rows_of(directory: str, n: int):
    """The first n rows across shards, read from the start of each (no shard is read whole)."""
    m = load_manifest(directory)
    out = []
    for s in m["shards"]:
        if len(out) >= n:
            break
        with open_file(safe_path(directory, s["path"])) as f:
            try:
                shape, dtype = read_npy_header(f)
            except ValueError as e:
                raise PileprepError(f"shard {s['path']} cannot be read ({e}): run pileprep verify "
                                    f"{directory}") from None
            if len(shape) != 2 or shape[1] != ROW_LEN:
                raise PileprepError(f"shard {s['path']} has shape {shape}, not (rows, {ROW_LEN}): run pileprep "
                                    f"verify {directory}")
            for block in row_blocks(f, dtype, min(n - len(out), shape[0])):
                out.extend(block)
    return m, out


def decode_rows(directory: str, n: int) -> str:
    from transforms.tokenizer import TokenizeConfig, load

    m, rows = rows_of(directory, n)
    t = m["tokenizer"]
    tokenizer = load(TokenizeConfig(tokenizer=m["options"].get("tokenizer", "gpt2"), eos_id=t["eos_id"]))
    parts = []
    for i, row in enumerate(rows):
        parts.append(f"--- row {i} ({len(row)} tokens; EOS shown as <|endoftext|>) ---")
        # the text as the input had it, but no escape sequence or bidi override reaches the terminal
        parts.append(printable(tokenizer.decode([int(x) for x in row]), None, keep="\n\t"))
    return "\n".join(parts)
