"""The short human summary every run ends with, built from its manifest.

    print(summary(manifest, elapsed_seconds))

Source names and input paths come from the input: they are shown through `printable` (escaped,
cut to a column's width), while the manifest keeps them as read.
"""
from transforms.display import PATH_CHARS, printable


def _table(header: list[str], rows: list[list], align: str) -> list[str]:
    cells = [header] + [[f"{c:,}" if isinstance(c, int) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for n, r in enumerate(cells):
        out.append("  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def summary(manifest: dict, elapsed: float | None = None) -> str:
    counts = manifest["counts"]
    totals = counts["documents"]
    keys = ("read", "malformed", "filtered", "deduplicated", "over_budget", "packed", "tokens")
    rows = [[printable(src)] + [c[k] for k in keys] for src, c in counts["by_source"].items()]
    rows.append(["TOTAL"] + [totals[k] for k in keys[:-1]] + [counts["tokens_packed"]])
    lines = ["", "pileprep run summary"]
    lines += _table(["source", "read", "malformed", "filtered", "dedup", "over budget", "packed", "tokens"],
                    rows, "lrrrrrrr")
    if counts["filtered_by_rule"]:
        lines.append("filtered by rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts["filtered_by_rule"].items())))
    if counts["edited_by_rule"]:
        lines.append("lines removed: " + ", ".join(
            f"{k} {v['lines']:,} in {v['documents']:,} docs" for k, v in sorted(counts["edited_by_rule"].items())))
    if counts.get("deduplicated_by_kind"):
        lines.append("deduplicated: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts["deduplicated_by_kind"].items())))
    if counts["malformed_by_reason"]:
        lines.append("malformed lines: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts["malformed_by_reason"].items())))
    lines.append(f"ftfy changed {counts['normalized_changed']:,} of {totals['read'] - totals['malformed']:,} documents")
    for path in manifest.get("damaged_inputs", []):
        lines.append(f"DAMAGED INPUT (kept what was read before the damage): {printable(path, PATH_CHARS)}")
    if "shards" in manifest:
        tok = manifest["tokens"]
        lines.append(f"{manifest['rows']:,} rows of 2049 tokens in {len(manifest['shards'])} shard(s); "
                     f"{tok['left_over']:,} tokens left over after the last full row")
        budget = manifest["budget"]
        if budget:
            lines.append(f"budget {budget['model'] or 'explicit'}: {budget['target_tokens']:,} tokens, "
                         f"{budget['rows']:,} rows: " + ("met" if budget["met"] else "NOT MET (--allow-short)"))
    if elapsed:
        mb = sum(f["bytes"] for f in manifest["inputs"]) / 1e6
        lines.append(f"{elapsed:.1f} s: {totals['read'] / elapsed:,.0f} docs/s, {mb / elapsed:.1f} MB/s of input")
    return "\n".join(lines)
