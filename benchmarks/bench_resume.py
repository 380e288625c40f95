"""Resume after a kill (issue #17, item 3): how much of a run a rerun redoes.

    python -m benchmarks.bench_resume --input 'DIR/*.jsonl.zst' [--at 0.8] [--rounds 1]

Runs `pileprep run` on the input to completion (timed), then again into a fresh output, killed
with SIGKILL (the whole process group) after `--at` of the first run's wall time, then the same
command again (timed): the resumed run's wall time against the full run's, and whether its
manifest (which holds every output's sha256) is byte-identical to the full run's. Results go to
benchmarks/results/resume.json. Nothing here is a test (tests/pipeline/test_resume.py is).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "resume.json")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cmd(pattern: str, out: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", "--input", pattern, "--output", out, "--quiet", *extra]


def _timed(cmd: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return time.monotonic() - started, done.stderr


def _manifest(out: str) -> str:
    with open(os.path.join(out, "manifest.json")) as f:
        return f.read().replace(out, "OUT")


def _killed_after(cmd: list[str], seconds: float) -> bool:
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def one_round(pattern: str, at: float, extra: list[str], work: str) -> dict:
    full, killed = os.path.join(work, "full"), os.path.join(work, "killed")
    for out in (full, killed):
        shutil.rmtree(out, ignore_errors=True)
    full_s, _ = _timed(_cmd(pattern, full, extra))
    was_killed = _killed_after(_cmd(pattern, killed, extra), at * full_s)
    entries = len(glob.glob(os.path.join(killed, ".tmp-resume", "*.entry")))
    resumed_s, stderr = _timed(_cmd(pattern, killed, extra))
    reused = [line for line in stderr.splitlines() if "resumed: reused" in line]
    return {"full_s": round(full_s, 2), "killed_at_s": round(at * full_s, 2), "killed": was_killed,
            "entries_left": entries, "resumed_s": round(resumed_s, 2), "ratio": round(resumed_s / full_s, 3),
            "reused": reused[0].split("pileprep: ")[-1] if reused else None,
            "identical": _manifest(full) == _manifest(killed)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="input pattern, as pileprep run --input")
    parser.add_argument("--at", type=float, default=0.8, help="kill after this share of the full run's wall time")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--extra", default="", help="more `pileprep run` options, space-separated")
    parser.add_argument("--json", default=RESULTS)
    args = parser.parse_args(argv)
    rounds = []
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.rounds):
            rounds.append(one_round(args.input, args.at, args.extra.split(), work))
            print(json.dumps(rounds[-1]))
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv), "cores": os.cpu_count(),
              "load_1min": os.getloadavg()[0], "rounds": rounds}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    return 0 if all(r["identical"] for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
