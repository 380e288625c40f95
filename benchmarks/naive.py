"""The naive baseline for a whole run: one loop, per document json.loads and ftfy.fix_text, GPT-2
BPE through HF tokenizers' encode_batch (batches of 64 documents), every document's ids then EOS
appended to one flat uint16 file. No filtering, no shuffling, no rows; one process per input half.

    python -m benchmarks.naive OUT.bin IN.jsonl.zst [IN.jsonl.zst ...]
"""
import io
import json
import sys

import ftfy
import numpy as np
import zstandard

from transforms.gpt2_load import gpt2_files, gpt2_hf

EOS = 50256
BATCH = 64


def main(argv=None) -> int:
    out_path, *inputs = sys.argv[1:] if argv is None else argv
    encoder_json, vocab_bpe = gpt2_files()
    with open(encoder_json, encoding="utf-8") as f:
        hf = gpt2_hf(json.load(f), vocab_bpe)
    documents = tokens = 0
    with open(out_path, "wb") as out:
        def flush(batch):
            nonlocal tokens
            for enc in hf.encode_batch(batch):
                ids = np.array(enc.ids + [EOS], dtype=np.uint16)
                out.write(ids.tobytes())
                tokens += len(ids)
            batch.clear()

        batch = []
        for path in inputs:
            with open(path, "rb") as fh:
                for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8"):
                    batch.append(ftfy.fix_text(json.loads(line)["text"]))
                    documents += 1
                    if len(batch) == BATCH:
                        flush(batch)
        flush(batch)
    print(json.dumps({"documents": documents, "tokens": tokens}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
