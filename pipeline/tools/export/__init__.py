"""pileprep export --format hf|litdata|mds|nanogpt|megatron DIR OUT: a run in another trainer's format.

One module a format; each reads the run's shards a block of rows at a time (stream.py), writes
every file under a temporary name and renames it when complete, and writes a JSON record of what
it wrote (counts, sha256 of every file) last. None imports the library that reads its output.

| format   | OUT is        | read with                                                 |
|----------|---------------|-----------------------------------------------------------|
| hf       | a directory   | datasets.load_dataset("parquet", data_files=...)          |
| litdata  | a directory   | litdata.StreamingDataset(item_loader=TokensLoader(2049))  |
| mds      | a directory   | streaming.StreamingDataset(local=OUT) (llm-foundry)       |
| nanogpt  | a directory   | np.memmap(OUT/train.bin, dtype=np.uint16)                 |
| megatron | a file prefix | megatron.core.datasets.indexed_dataset.IndexedDataset     |

    record = export("out/", "mds/", "mds", token_dtype="uint16")
"""
import os

from pipeline.tools.export import litdata, mds, megatron, nanogpt, parquet
from pipeline.tools.export.megatron import document_spans, export_megatron
from pipeline.tools.export.stream import stream_tokens

__all__ = ["FORMATS", "add_parser", "cmd_export", "document_spans", "export", "export_megatron", "stream_tokens"]

_MODULES = {"hf": parquet, "litdata": litdata, "mds": mds, "nanogpt": nanogpt, "megatron": megatron}
FORMATS = tuple(_MODULES)


def export(run_dir: str, out: str, fmt: str, **options) -> dict:
    """Export the run in `fmt`; options are the format's keyword arguments. Returns the record."""
    write = {"hf": parquet.export_parquet, "litdata": litdata.export_litdata, "mds": mds.export_mds,
             "nanogpt": nanogpt.export_nanogpt, "megatron": megatron.export_megatron}[fmt]
    return write(run_dir, out, **options)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "export", help="write a run's rows or documents in another trainer's format",
        description="hf: Parquet rows of 2049 input_ids and a dataset card (OUT a directory). litdata: LitData "
                    "chunks for litgpt (TokensLoader, block 2049). mds: MosaicML Streaming shards for llm-foundry "
                    "(`tokens` as bytes). nanogpt: uint16 train.bin and val.bin. megatron: OUT.bin + OUT.idx, a "
                    "Megatron-LM / GPT-NeoX indexed dataset (MMIDIDX v1), one sequence per document ending with "
                    "its EOS. Each also writes a JSON record of what it wrote (counts, sha256).")
    p.add_argument("--format", default="megatron", choices=FORMATS, help="(default: megatron)")
    p.add_argument("dir", metavar="DIR", help="a completed pileprep run")
    p.add_argument("out", metavar="OUT", help="output directory (megatron: output prefix, writes OUT.bin and OUT.idx)")
    p.add_argument("--val", metavar="DIR", default=None, help="nanogpt: a held-out run for val.bin")
    p.add_argument("--val-fraction", type=float, default=nanogpt.VAL_FRACTION,
                   help=f"nanogpt without --val: the fraction of rows held out (default {nanogpt.VAL_FRACTION})")
    p.add_argument("--seed", type=int, default=0, help="nanogpt: seeds the choice of held-out rows (default 0)")
    p.add_argument("--token-dtype", choices=mds.TOKEN_DTYPES, default="int64",
                   help="mds: dtype of `tokens`, llm-foundry's token_encoding_type (default int64, its default)")
    p.add_argument("--chunk-rows", type=int, default=litdata.CHUNK_ROWS,
                   help=f"litdata: rows a chunk (default {litdata.CHUNK_ROWS})")
    return p


def _options(args) -> dict:
    return {"hf": {}, "megatron": {}, "litdata": {"chunk_rows": args.chunk_rows},
            "mds": {"token_dtype": args.token_dtype},
            "nanogpt": {"val": args.val, "val_fraction": args.val_fraction, "seed": args.seed}}[args.format]


def cmd_export(args, _beam_args) -> int:
    record = export(args.dir, args.out, args.format, **_options(args))
    root = os.path.dirname(args.out) if args.format == "megatron" else args.out
    paths = [os.path.join(root, f["path"]) for f in record["files"]]
    where = " and ".join(paths[:2]) + (f" and {len(paths) - 2} more" if len(paths) > 2 else "")
    print(f"wrote {where} ({args.format}): {_MODULES[args.format].describe(record, args.dir)}")
    return 0
