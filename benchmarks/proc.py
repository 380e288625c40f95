"""Run commands as measured subprocesses: wall time, the peak RSS of the largest process in each
tree (getrusage RUSAGE_CHILDREN, read by a fresh wrapper process per command so that runs do not
mix), and the peak of the summed RSS of each tree, sampled from /proc.

    stats = measure([["pileprep", "run", ...]])     # {"wall_s", "max_rss_mb", "tree_rss_mb", ...}
    python -m benchmarks.proc CMD [ARG ...]           # the wrapper: prints its JSON last
"""
import json
import os
import resource
import subprocess
import sys
import time


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(name))
    return tree


def _tree_rss_kb(roots: list[int]) -> int:
    tree, total, todo = _children(), 0, list(roots)
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def measure(commands: list[list[str]], log_prefix: str, every: float = 0.2) -> dict:
    """Run the commands concurrently (each under the wrapper); fail loudly if one fails."""
    start = time.perf_counter()
    procs, logs = [], []
    for i, cmd in enumerate(commands):
        log = open(f"{log_prefix}.{i}.log", "w+")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks.proc", *cmd], stdout=log,
                                      stderr=subprocess.STDOUT))
    peak, load = 0, [os.getloadavg()[0]]
    while any(p.poll() is None for p in procs):
        peak = max(peak, _tree_rss_kb([p.pid for p in procs]))
        time.sleep(every)
    wall = time.perf_counter() - start
    load.append(os.getloadavg()[0])
    runs = []
    for p, log in zip(procs, logs):
        log.seek(0)
        lines = log.read().splitlines()
        log.close()
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"{p.args[3:]} failed ({p.returncode}):\n" + "\n".join(lines[-30:]))
        runs.append(json.loads(lines[-1]))
    return {"wall_s": wall, "max_rss_mb": max(r["max_rss_mb"] for r in runs),
            "tree_rss_mb": peak / 1024, "load_1min": load, "runs": runs}


def _wrapper(cmd: list[str]) -> int:
    start = time.perf_counter()
    code = subprocess.run(cmd, stdout=sys.stdout, stderr=subprocess.STDOUT).returncode
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stdout.flush()
    print(json.dumps({"cmd": cmd, "returncode": code, "wall_s": time.perf_counter() - start,
                      "max_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}))
    return code


if __name__ == "__main__":
    sys.exit(_wrapper(sys.argv[1:]))
