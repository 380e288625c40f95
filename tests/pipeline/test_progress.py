"""The progress line: its format, the terminal (through a pty) and log forms, --quiet, and output
byte-identical with or without it, in-process and with --workers 2."""
import fcntl
import os
import pathlib
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from pipeline.options import RunConfig
from pipeline.progress import Progress, clear_line, duration, progress_line
from pipeline.tools.sample import SampleConfig, write_sample
from transforms import progress as counts
from transforms.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINE = re.compile(r"pileprep: (starting|reading|tokenizing|packing|writing shards): ([\d,]+) docs, "
                  r"([\d,.]+) of ([\d,.]+) MB read \((\d+)%\), [\d,.]+ MB/s, ([\d,]+) tokens, "
                  r"\w+ elapsed(, ETA \w+)?")


def test_the_line_shows_stage_documents_mb_of_total_rate_tokens_elapsed_and_eta():
    assert progress_line(1, 1234, 512_000_000, 1_024_000_000, 456_789, 62.0) == (
        "tokenizing: 1,234 docs, 512.0 of 1,024.0 MB read (50%), 8.3 MB/s, 456,789 tokens, 1m02s elapsed, "
        "ETA 1m02s")


def test_the_line_before_anything_is_read_has_no_rate_and_no_eta():
    assert progress_line(-1, 0, 0, 5_000_000, 0, 0.0) == (
        "starting: 0 docs, 0.0 of 5.0 MB read (0%), 0.0 MB/s, 0 tokens, 0s elapsed")


def test_the_line_never_shows_more_than_the_total_nor_100_percent_before_it():
    assert "(99%)" in progress_line(0, 1, 999, 1000, 0, 1.0)
    full = progress_line(3, 10, 2000, 1000, 5, 3600.0)
    assert full == "writing shards: 10 docs, 0.0 of 0.0 MB read (100%), 0.0 MB/s, 5 tokens, 1h00m elapsed"
    assert "(100%)" in progress_line(0, 0, 0, 0, 0, 1.0)  # an empty input


def test_durations():
    assert [duration(s) for s in (0, 45.9, 185, 3599, 7620)] == ["0s", "45s", "3m05s", "59m59s", "2h07m"]


def test_progress_every_must_be_positive_and_neither_option_is_recorded():
    with pytest.raises(ConfigError, match="--progress-every"):
        RunConfig(inputs=("x",), output="o", progress_every=0)
    recorded = RunConfig(inputs=("x",), output="o", quiet=True, progress_every=2.0).recorded()
    assert "quiet" not in recorded and "progress_every" not in recorded


def test_the_reporter_logs_lines_and_stops_cleanly_on_an_error(tmp_path):
    read_fd, write_fd = os.pipe()
    with pytest.raises(KeyboardInterrupt):
        with Progress(10_000_000, every=0.05, fd=write_fd) as shown:
            counts.add(documents=5, bytes_read=2_000_000)
            _wait_for(shown, 2)
            raise KeyboardInterrupt
    assert not shown._thread.is_alive() and not os.path.exists(shown._directory)
    assert counts.DIRECTORY not in os.environ
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        lines = f.read().splitlines()
    assert len(lines) >= 2 and all(LINE.fullmatch(line) for line in lines)
    assert "reading: 5 docs, 2.0 of 10.0 MB read (20%)" in lines[-1]


def _pty(columns: int) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))  # rows, columns
    return master, slave


def _on_terminal(columns: int, during) -> str:
    """What a Progress on a pty `columns` wide wrote while `during(progress)` ran, and on ending."""
    master, slave = _pty(columns)
    try:
        with Progress(10_000_000, every=1000, fd=slave) as shown:
            during(shown)
        return os.read(master, 65536).decode()
    finally:
        os.close(slave)
        os.close(master)


def _wait_for(shown, updates: int):
    while shown.shown < updates:
        time.sleep(0.01)


def test_on_a_narrow_terminal_the_line_is_cut_to_fit_and_cleared_at_the_end():
    def during(shown):
        counts.add(documents=5, bytes_read=2_000_000)
        _wait_for(shown, 2)

    text = _on_terminal(40, during)
    updates = text.split("\r")
    assert updates[0] == "" and updates[1] == "pileprep: reading: 5 docs, 2.0 of 10.0 "  # 39 columns
    assert text.endswith("\r" + " " * 39 + "\r") and "\n" not in text


def test_another_line_on_the_terminal_first_clears_the_progress_line():
    def during(shown):
        _wait_for(shown, 1)
        clear_line()  # as runners.filtered_stderr does before each line it passes on
        os.write(shown.fd, b"a warning\n")
        _wait_for(shown, 2)

    text = _on_terminal(200, during)
    first, second = text.split("a warning\r\n")
    width = len(first.split("\r")[1])
    assert first == "\r" + first.split("\r")[1] + "\r" + " " * width + "\r"
    assert second.startswith("\rpileprep: starting: ")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    write_sample(str(root / "in"), SampleConfig(seed=3, documents=600, files=2))
    return root


@pytest.fixture(scope="module")
def quiet(corpus):
    """A run with --quiet: the output every other run here must match byte for byte."""
    return _cli(corpus, "quiet", "--quiet", "--progress-every", "0.1")


def _cli(corpus, name, *extra, stderr=subprocess.PIPE):
    out = corpus / name
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", f"{corpus}/in/*", "--output", str(out),
           "--rows-per-shard", "16", *extra]
    return subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, timeout=600), out


def _totals(out) -> tuple[int, int]:
    """Documents read, and tokens tokenized (packed ones without their EOS: no budget here)."""
    import json

    counts = json.loads((out / "manifest.json").read_bytes())["counts"]
    return counts["documents"]["read"], counts["tokens_packed"] - counts["documents"]["packed"]


def _check_log(text: str, out):
    found = [LINE.fullmatch(line) for line in text.splitlines()
             if line.startswith("pileprep: ") and " docs, " in line]
    assert found and all(found), text
    docs = [int(m[2].replace(",", "")) for m in found]
    tokens = [int(m[6].replace(",", "")) for m in found]
    assert docs == sorted(docs) and tokens == sorted(tokens)
    assert (docs[-1], tokens[-1]) == _totals(out)  # the last line has every document and token
    assert all(int(m[5]) <= 100 and float(m[3].replace(",", "")) <= float(m[4].replace(",", "")) for m in found)
    assert found[-1][5] == "100" and "\r" not in text


def _same_output(out, quiet):
    assert (out / "manifest.json").read_bytes() == (quiet[1] / "manifest.json").read_bytes()


def test_quiet_prints_nothing(quiet):
    done, _ = quiet
    assert done.returncode == 0 and done.stderr == b"" and done.stdout == b""


def test_not_a_terminal_logs_a_line_every_n_seconds(corpus, quiet):
    logged, out = _cli(corpus, "logged", "--progress-every", "0.1")
    assert logged.returncode == 0, logged.stderr[-3000:]
    _check_log(logged.stderr.decode(), out)
    _same_output(out, quiet)


def test_with_two_workers_the_counts_come_from_the_worker_processes(corpus, quiet):
    """Also the suite's check that Beam's multi-process mode writes the bytes of the in-process
    run: the manifests, which hold the sha256 of every shard, sidecar and document file, are equal."""
    logged, out = _cli(corpus, "workers", "--workers", "2", "--progress-every", "0.1")
    assert logged.returncode == 0, logged.stderr[-3000:]
    _check_log(logged.stderr.decode(), out)
    _same_output(out, quiet)


def _read_all(fd: int, into: list):
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every writer of the pty is gone
            return
        if not chunk:
            return
        into.append(chunk)


def test_on_a_terminal_one_line_is_rewritten_and_cleared_before_the_summary(corpus, quiet):
    master, slave = _pty(200)
    chunks = []
    reader = threading.Thread(target=_read_all, args=(master, chunks))
    reader.start()
    try:
        done, out = _cli(corpus, "tty", "--progress-every", "1000", stderr=slave)
    finally:
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    assert done.returncode == 0
    text = b"".join(chunks).decode()
    start, _, rest = text.partition("\n")
    assert start.startswith("pileprep: reading 4 file(s)")
    updates = rest.split("\r")
    shown = [u.rstrip() for u in updates if u.startswith("pileprep: ")]
    assert len(shown) >= 2 and all(LINE.fullmatch(u) for u in shown), text  # rewritten in place
    assert "\n" not in rest.rstrip("\r\n")  # no line of its own for any update
    # cleared at the end: the summary (on stdout) starts on a clean line
    assert rest.endswith("\r" + " " * len(updates[-3].rstrip()) + "\r")
    assert b"pileprep run summary" in done.stdout
    _same_output(out, quiet)
