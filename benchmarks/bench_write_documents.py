"""Peak memory of WriteDocuments alone on the local runner, per document (issue #17).

Each size runs in a fresh process: a pipeline that makes tiny documents (~110 characters, as
bench_tiny's) inside the stage, 5,000 per element, and writes them with WriteDocuments (spill on,
FnApiRunner in process), then reports that process's peak RSS. The slope between two sizes is what
the documents' path costs per document, apart from the rest of a run (bench_tiny measures the whole).

    python -m benchmarks.bench_write_documents --docs 50000,250000,1000000
"""
import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time

CHUNK = 5000  # documents made per element of the Create: the pipeline's input stays small
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have "
         "an they you were her she there would their we him been has when who will more no if out so said what "
         "up its about into than them can only other new some could time these two may then do first").split()


def documents(chunk: int, n: int):
    rng = random.Random(chunk)
    for i in range(chunk * CHUNK, min(n, (chunk + 1) * CHUNK)):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(10, 30)))
        yield {"id": f"{i % 4:02d}.jsonl.zst:{i}", "source": "Pile-CC", "text": text,
               "order_key": rng.randrange(2**64), "chars_in": len(text), "chars_before_filter": len(text),
               "changed": False, "edits": {}}


def one(n: int, files: int) -> dict:
    """Runs the pipeline on n documents in this process: {"docs", "peak_rss_mb", "wall_s"}."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from transforms.write import WriteDocuments

    start = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-write-documents-") as out:
        with beam.Pipeline(runner=FnApiRunner()) as p:
            (p | beam.Create(range((n + CHUNK - 1) // CHUNK)) | beam.FlatMap(documents, n)
             | WriteDocuments(out, files=files, spill=True))
    return {"docs": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "wall_s": round(time.time() - start, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", default="50000,250000,1000000", help="comma-separated sizes")
    ap.add_argument("--files", type=int, default=2, help="document files")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: run one size, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.files)))
        return
    rows = []
    for n in (int(x) for x in args.docs.split(",")):
        cmd = [sys.executable, "-m", "benchmarks.bench_write_documents", "--one", str(n), "--files", str(args.files)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        print(f"{n:>10,} docs  peak RSS {rows[-1]['peak_rss_mb']:7.1f} MB  {rows[-1]['wall_s']:6.1f} s", flush=True)
    for a, b in zip(rows, rows[1:]):
        slope = (b["peak_rss_mb"] - a["peak_rss_mb"]) * 2**20 / (b["docs"] - a["docs"])
        print(f"{a['docs']:,} -> {b['docs']:,}: {slope:.0f} bytes of peak RSS per extra document")


if __name__ == "__main__":
    main()
