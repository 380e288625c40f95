"""The live counts: per-thread tallies summed, a new run starts from zero, worker files add up,
a file's reading counts exactly its lines and its stored bytes, and every add is a Beam counter."""
import io
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time

from transforms import progress

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_adds_from_several_threads_are_summed_and_reset_starts_again():
    progress.reset()
    threads = [threading.Thread(target=lambda: [progress.add(documents=1, bytes_read=10) for _ in range(1000)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    progress.add(tokens=7)
    assert progress.snapshot() == {"documents": 4000, "bytes_read": 40_000, "tokens": 7, "stage": 1}
    progress.reset()
    assert progress.snapshot() == {"documents": 0, "bytes_read": 0, "tokens": 0, "stage": -1}
    progress.add(documents=2)  # this thread's tally of the last run is left behind
    progress.reached("pack")
    progress.reached("read")  # the furthest stage stays
    assert progress.snapshot() == {"documents": 2, "bytes_read": 0, "tokens": 0, "stage": 2}


def test_combined_adds_the_worker_files(tmp_path):
    progress.reset()
    progress.add(documents=1, bytes_read=5)
    (tmp_path / "11.json").write_text(json.dumps({"documents": 10, "bytes_read": 50, "tokens": 3, "stage": 3}))
    (tmp_path / "12.json").write_text(json.dumps({"documents": 20, "bytes_read": 60, "tokens": 4, "stage": 1}))
    (tmp_path / "13.json.tmp").write_text("{\"documents\": ")  # being written: not read
    assert progress.combined(str(tmp_path)) == {"documents": 31, "bytes_read": 115, "tokens": 7, "stage": 3}
    assert progress.combined(str(tmp_path / "gone"))["documents"] == 1


def test_a_worker_process_writes_its_counts_to_the_directory(tmp_path):
    script = textwrap.dedent("""
        import time
        from transforms import progress
        progress.add(documents=3, bytes_read=300)
        progress.add(tokens=30)
        time.sleep(4 * progress.FLUSH_SECONDS)
    """)
    env = {**os.environ, progress.DIRECTORY: str(tmp_path), progress.LAUNCHER: str(os.getpid())}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    [written] = [p for p in tmp_path.iterdir()]
    assert written.name.endswith(".json") and written.name != f"{os.getpid()}.json"
    assert json.loads(written.read_text()) == {"documents": 3, "bytes_read": 300, "tokens": 30, "stage": 1}


def test_the_launcher_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv(progress.DIRECTORY, str(tmp_path))
    monkeypatch.setenv(progress.LAUNCHER, str(os.getpid()))
    progress.reset()
    progress.add(documents=1)
    time.sleep(2 * progress.FLUSH_SECONDS)
    assert list(tmp_path.iterdir()) == []


def test_read_progress_counts_stored_bytes_of_its_range_and_reaches_its_length():
    progress.reset()
    fh = io.BytesIO(b"x" * 1000)
    fh.seek(100)
    reading = progress.ReadProgress(fh, 100, 600, first_line=40)  # bytes [100, 600), lines 41...
    fh.seek(350)
    reading("f.jsonl", 1040, 9999)  # the callback's lines count from the file's start
    assert progress.snapshot()["documents"] == 1000 and progress.snapshot()["bytes_read"] == 250
    fh.seek(900)  # read ahead past the range: never counted beyond it
    reading("f.jsonl", 1100, 9999)
    assert progress.snapshot()["bytes_read"] == 500
    reading.finish(1234)  # read_file's summary: lines of the range
    assert progress.snapshot() == {"documents": 1234, "bytes_read": 500, "tokens": 0, "stage": 0}


def test_adds_are_beam_counters_of_the_same_names(pipeline):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    def count(n):
        progress.add(documents=1, bytes_read=n, tokens=2 * n)
        yield n

    _ = pipeline | beam.Create([1, 2, 3]) | beam.FlatMap(count)
    result = pipeline.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter().with_namespace(progress.NAMESPACE))["counters"]
    assert {c.key.metric.name: c.committed for c in found} == {"documents": 3, "bytes_read": 6, "tokens": 12}
