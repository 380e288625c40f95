"""pileprep report DIR: one self-contained HTML page that shows what a run did, readable offline.

Charts are matplotlib PNGs embedded as base64 (Agg backend, nothing fetched to view the page);
every number behind a chart is also in a table under it. Without matplotlib the page still has the
tables, and says how to get the charts. A training log beside the run (train/*.jsonl with "step"
and "loss") adds the loss curve.

    write_report("out/")  # -> "out/report.html"
"""
import base64
import glob
import html
import io
import json
import os

from schemas.family import CHINCHILLA_TOKENS_PER_PARAM, FAMILY, budget_for
from schemas.run import REPORT, TMP_PREFIX, load_manifest

_CSS = """body{font:15px/1.45 system-ui,sans-serif;color:#222;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:26px}h2{font-size:19px;margin-top:34px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #e4e4e4}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:13px}
.eq{font-size:17px;background:#f4f6f8;padding:10px 14px;border-radius:4px}.note{color:#8a4b00}
img{max-width:100%}details summary{cursor:pointer;color:#555}"""
_C_MAIN, _C_LIGHT, _C_BAD, _C_OK = "#3b6ea8", "#b9cde3", "#c0504d", "#4e9a5b"


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else html.escape(str(value))


def _table(header, rows) -> str:
    num = [all(isinstance(r[i], (int, float)) for r in rows) for i in range(len(header))] if rows else []
    head = "".join(f'<th class="{"n" if num and num[i] else ""}">{html.escape(h)}</th>'
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if isinstance(c, (int, float)) else ""}">{_n(c)}</td>'
                                    for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body or f'<tr><td colspan={len(header)}>none</td></tr>'}</table>"


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _label(text: str) -> str:
    return str(text).replace("$", r"\$")  # a "$" in a source name would start mathtext


def _img(plt, fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _short(value, _pos=None) -> str:
    """Axis tick text: 150000 -> 150k, 2263040 -> 2.26M (full numbers are in the tables)."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:g}"


def _hbars(ax, labels, values, title, xlabel, color=_C_MAIN):
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(_short))
    if not labels:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="#777")
        ax.set_yticks([])
    else:
        ax.barh(range(len(labels)), values, color=color)
        ax.set_yticks(range(len(labels)), [_label(x) for x in labels])
        ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,}", va="center", fontsize=8)
        ax.margins(x=0.15)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)


def _sources(plt, counts):
    src = sorted(counts["by_source"].items(), key=lambda kv: (-kv[1]["tokens"], kv[0]))
    names = [k for k, _ in src]
    rows = [[k, c["read"], c["packed"], c["tokens"]] for k, c in src]
    table = _table(["pile_set_name", "documents read", "documents packed", "tokens packed"], rows)
    if plt is None:
        return None, table
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.32 * len(names) + 1.4), sharey=True)
    a.barh(range(len(names)), [c["read"] for _, c in src], color=_C_LIGHT)  # behind: packed <= read
    _hbars(a, names, [c["packed"] for _, c in src], "Documents per source (label: packed)", "documents")
    a.legend(["read", "packed"], loc="lower right", fontsize=8)
    _hbars(b, names, [c["tokens"] for _, c in src], "Tokens packed per source", "tokens (ids + EOS)")
    b.tick_params(labelleft=False)
    return _img(plt, fig, "documents and tokens per pile_set_name"), table


def _removed(plt, counts):
    groups = [("Filtered, by rule", counts["filtered_by_rule"]),
              ("Malformed input lines, by reason", counts["malformed_by_reason"]),
              ("Deduplicated, by kind", counts.get("deduplicated_by_kind", {}))]
    table = "".join(f"<h3>{html.escape(t)}</h3>" + _table(["reason", "documents"], sorted(d.items()))
                    for t, d in groups)
    if plt is None:
        return None, table
    heights = [max(len(d), 1) * 0.3 + 0.9 for _, d in groups]
    fig, axes = plt.subplots(3, 1, figsize=(9, sum(heights) + 0.6), gridspec_kw={"height_ratios": heights})
    for ax, (title, d) in zip(axes, groups):
        items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
        _hbars(ax, [k for k, _ in items], [v for _, v in items], title, "documents removed", _C_BAD)
    fig.tight_layout()
    return _img(plt, fig, "documents removed per rule, reason and kind"), table


def _lengths(plt, counts):
    hist = counts.get("length_histograms", {})
    before, after = hist.get("before_filter", []), hist.get("after_filter", [])
    rows = []
    for b in before:
        kept = next((a["documents"] for a in after if a["min_chars"] == b["min_chars"]), 0)
        rows.append([f"{b['min_chars']:,}-{b['max_chars']:,}", b["documents"], kept])
    table = _table(["characters", "documents before filter", "after filter"], rows)
    if plt is None:
        return None, table
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for data, style in ((before, {"fill": False, "edgecolor": _C_BAD, "linewidth": 1.6, "label": "before filtering"}),
                        (after, {"color": _C_MAIN, "alpha": 0.75, "label": "after filtering"})):
        # bin [lo, hi] in characters; empty documents (0 chars) are drawn at 0.5-1 on the log axis
        lefts = [max(h["min_chars"], 0.5) for h in data]
        widths = [h["max_chars"] + 1 - left for h, left in zip(data, lefts)]
        ax.bar(lefts, [h["documents"] for h in data], width=widths, align="edge", **style)
    ax.set_xscale("log")
    ax.set_title("Document length distribution (log2 bins; 0-character documents drawn at 0.5-1)")
    ax.set_xlabel("document length (characters, log scale)")
    ax.set_ylabel("documents")
    ax.legend()
    return _img(plt, fig, "document length histograms before and after filtering"), table


def _budget(plt, manifest):
    ratio = manifest["options"].get("tokens_per_param", CHINCHILLA_TOKENS_PER_PARAM)
    have_rows, seq = manifest["rows"], manifest["seq_len"]
    have = have_rows * seq
    budgets = [budget_for(s.name, tokens_per_param=ratio) for s in FAMILY]
    rows = [[b.model, b.parameters, b.target_tokens, b.rows, "yes" if b.rows <= have_rows else
             f"no ({100 * have_rows / b.rows:.2g}% of the rows)"] for b in budgets]
    table = _table(["Cerebras-GPT size", "parameters", f"tokens needed ({ratio:g}/param)", "rows needed",
                    "served by this run"], rows)
    if plt is None:
        return None, table
    fig, ax = plt.subplots(figsize=(10, 4.4))
    served = [b.rows <= have_rows for b in budgets]
    ax.bar([b.model for b in budgets], [b.target_tokens for b in budgets],
           color=[_C_OK if s else _C_LIGHT for s in served])
    for i, (b, s) in enumerate(zip(budgets, served)):
        note = "served" if s else f"not served\n(run has {100 * have_rows / b.rows:.2g}%)"
        ax.text(i, b.target_tokens, note, ha="center", va="bottom", fontsize=8)
    if have:
        ax.axhline(have, color=_C_BAD, linewidth=2,
                   label=f"this run: {have_rows:,} rows x {seq} = {have:,} training tokens")
        ax.legend(loc="upper left")
    ax.set_yscale("log")
    ax.set_ylim(min([b.target_tokens for b in budgets] + ([have] if have else [])) / 4,
                max(b.target_tokens for b in budgets) * 6)  # room for the labels above the bars
    ax.set_title(f"Chinchilla budget ({ratio:g} tokens per parameter) per Cerebras-GPT size vs this run")
    ax.set_xlabel("Cerebras-GPT model size")
    ax.set_ylabel("tokens (log scale)")
    return _img(plt, fig, "token budget per Cerebras-GPT size against tokens packed"), table


def training_log(run_dir: str) -> list[tuple[str, list[dict]]]:
    """(file name, records with "step" and "loss") for each JSON-lines log in <run_dir>/train/."""
    logs = []
    for path in sorted(glob.glob(os.path.join(run_dir, "train", "*.jsonl"))):
        records = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a trainer still writing
                if isinstance(r, dict) and isinstance(r.get("step"), (int, float)) \
                        and isinstance(r.get("loss"), (int, float)):
                    records.append(r)
        if records:
            logs.append((os.path.basename(path), records))
    return logs


def _loss(plt, logs):
    rows = [[name, len(r), r[-1]["step"], round(r[-1]["loss"], 4)] for name, r in logs]
    table = _table(["log", "records", "last step", "last loss"], rows)
    if plt is None:
        return None, table
    fig, ax = plt.subplots(figsize=(10, 4))
    for name, records in logs:
        ax.plot([r["step"] for r in records], [r["loss"] for r in records], label=_label(name))
    ax.set_title("Training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _img(plt, fig, "training loss curve"), table


def _headline(manifest) -> str:
    d, tok = manifest["counts"]["documents"], manifest["tokens"]
    parts = ("malformed", "filtered", "deduplicated", "over_budget", "packed")
    total = sum(d[k] for k in parts)
    eq = (f"{d['read']:,} read = " + " + ".join(f"{d[k]:,} {k.replace('_', ' ')}" for k in parts)
          + ("" if total == d["read"] else f"  (DOES NOT ADD UP: the sum is {total:,})"))
    rows = [["documents read", d["read"]], ["documents packed", d["packed"]],
            ["tokens packed (ids + EOS)", tok["packed"]], ["tokens in rows", tok["in_rows"]],
            [f"rows of {manifest['row_len']} tokens", manifest["rows"]],
            ["tokens left over after the last full row", tok["left_over"]], ["shards", len(manifest["shards"])]]
    budget = manifest["budget"]
    if budget:
        rows.append(["budget", f"{budget['model'] or 'explicit'}: {budget['target_tokens']:,} tokens, "
                               + ("met" if budget["met"] else "NOT MET (--allow-short)")])
    served = ", ".join(b["model"] for b in manifest["nested_budgets"]) or "none (fewer rows than 111M needs)"
    rows.append(["Cerebras-GPT sizes served", served])
    return f'<p class="eq">{html.escape(eq)}</p>' + _table(["quantity", "value"], rows)


def _shards(manifest) -> str:
    rows = [[s["path"], s["rows"], s["tokens"], s["sha256"][:16]] for s in manifest["shards"]]
    return _table(["path", "rows", "tokens", "sha256 (first 16 hex digits)"], rows)


def render(run_dir: str) -> str:
    """The report page as a string."""
    manifest, plt = load_manifest(run_dir), _pyplot()
    counts = manifest["counts"]
    sections = [("Tokens and documents per source", _sources(plt, counts)),
                ("Documents removed", _removed(plt, counts)),
                ("Document lengths before and after filtering", _lengths(plt, counts)),
                ("Token budget per Cerebras-GPT size", _budget(plt, manifest))]
    logs = training_log(run_dir)
    if logs:
        sections.append(("Training loss", _loss(plt, logs)))
    options, esc = manifest["options"], html.escape
    head = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>pileprep report: "
            f"{esc(os.path.basename(os.path.abspath(run_dir)))}</title><style>{_CSS}</style></head><body>")
    about = (f"<p>Run <code>{esc(os.path.abspath(run_dir))}</code>: pileprep {esc(manifest['pileprep_version'])}, "
             f"tokenizer {esc(manifest['tokenizer']['name'])}, rules {esc(str(options['rules']))}, "
             f"seed {esc(str(options['seed']))}, shards of {esc(manifest['dtype'])}.</p>")
    out = [head, "<h1>pileprep run report</h1>", about]
    if plt is None:
        out.append('<p class="note">matplotlib is not installed, so this report has tables instead of '
                   "charts: pip install matplotlib (or pileprep[train]) and run pileprep report again.</p>")
    out += ["<h2>Headline</h2>", _headline(manifest)]
    for title, (img, table) in sections:
        out.append(f"<h2>{html.escape(title)}</h2>")
        out.append(f"{img}<details><summary>numbers</summary>{table}</details>" if img else table)
    out += ["<h2>Shards</h2>", _shards(manifest), "</body></html>"]
    return "\n".join(out)


def write_report(run_dir: str, out_path: str | None = None) -> str:
    """Write the report (default <run_dir>/report.html) and return its path."""
    out_path = out_path or os.path.join(run_dir, REPORT)
    page = render(run_dir)
    folder, name = os.path.split(out_path)
    tmp = os.path.join(folder, TMP_PREFIX + name)  # a name --overwrite knows, should this be cut short
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, out_path)
    return out_path


def add_parser(subparsers):
    p = subparsers.add_parser("report", help="write a self-contained HTML report of a run",
                              description="Charts and tables of a completed run, in one HTML file "
                                          "that opens offline (default DIR/report.html).")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--out", default=None, metavar="PATH", help="where to write (default: DIR/report.html)")
    return p


def cmd_report(args, _beam_args) -> int:
    print(f"wrote {write_report(args.dir, args.out)}")
    return 0
