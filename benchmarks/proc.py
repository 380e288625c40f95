"""Run commands as measured subprocesses: wall time, the peak RSS of the largest process in each
tree (getrusage RUSAGE_CHILDREN, read by a fresh wrapper process per command so that runs do not
mix), the peak of the summed RSS of each tree and every process's CPU time, sampled from /proc:
hence the busiest process's share and the tree's utilization of the cores (DESIGN.md §8).

    stats = measure([["pileprep", "run", ...]], log_prefix)  # {"wall_s", "max_rss_mb", "tree_rss_mb", "cpu", ...}
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


_TICK = os.sysconf("SC_CLK_TCK")


def _sample(roots: list[int], cpu: dict[int, dict]) -> int:
    """Summed RSS in KB of the trees below `roots` (the roots themselves, the idle wrappers, left
    out); records each process's CPU seconds so far (user + system), peak RSS and command line in
    `cpu`."""
    tree, total = _children(), 0
    todo = [c for r in roots for c in tree.get(r, [])]
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/status") as f:
                rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            if pid not in cpu:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cpu[pid] = {"cmd": f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120],
                                "rss_mb": 0.0}
        except (OSError, IndexError):
            continue
        total += rss
        cpu[pid]["cpu_s"] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        cpu[pid]["rss_mb"] = max(cpu[pid]["rss_mb"], rss / 1024)
        cpu[pid]["now_mb"] = rss / 1024
    return total


def cpu_summary(cpu: dict[int, dict], wall: float, tree_cpu_s: float = 0.0) -> dict:
    """The busiest process's CPU (in cores, and as a share of the tree's) and the tree's
    utilization of the machine's cores; tree_cpu_s (from getrusage) corrects for what sampling
    misses of processes that end between two samples."""
    procs = sorted(cpu.values(), key=lambda p: -p.get("cpu_s", 0))
    total = max(sum(p.get("cpu_s", 0) for p in procs), tree_cpu_s)
    busiest = procs[0] if procs else {"cmd": "", "cpu_s": 0.0}
    return {"tree_cpu_s": total, "busiest_cpu_s": busiest["cpu_s"], "busiest_cmd": busiest["cmd"],
            "busiest_cores": busiest["cpu_s"] / wall, "busiest_share": busiest["cpu_s"] / total if total else 0.0,
            "utilization": total / (wall * os.cpu_count()), "processes": len(procs),
            "top": [{"cmd": p["cmd"], "cpu_s": round(p.get("cpu_s", 0), 2)} for p in procs[:5]],
            "rss": rss_by_process(cpu)}


def rss_by_process(cpu: dict[int, dict]) -> list[dict]:
    """Each process's peak RSS, largest first: which process a tree's peak is made of (a process's
    own peak; they need not coincide in time with the tree's)."""
    procs = sorted(cpu.values(), key=lambda p: -p.get("rss_mb", 0))
    return [{"cmd": p["cmd"], "rss_mb": round(p.get("rss_mb", 0), 1)} for p in procs]


def measure(commands: list[list[str]], log_prefix: str, every: float = 0.2) -> dict:
    """Run the commands concurrently (each under the wrapper); fail loudly if one fails. Samples
    every `every` s the tree's RSS and each process's CPU time (tokenizer children included)."""
    start = time.perf_counter()
    procs, logs = [], []
    for i, cmd in enumerate(commands):
        log = open(f"{log_prefix}.{i}.log", "w+")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks.proc", *cmd], stdout=log,
                                      stderr=subprocess.STDOUT))
    peak, load, cpu, at_peak = 0, [os.getloadavg()[0]], {}, []
    while any(p.poll() is None for p in procs):
        for p in cpu.values():
            p["now_mb"] = 0.0  # a process that ended is not part of the sum
        total = _sample([p.pid for p in procs], cpu)
        if total > peak:
            peak, at_peak = total, [{"cmd": p["cmd"], "rss_mb": round(p["now_mb"], 1)} for p in cpu.values()
                                    if p["now_mb"]]
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
            "tree_rss_mb": peak / 1024, "at_peak": at_peak, "load_1min": load, "runs": runs,
            "cpu": cpu_summary(cpu, wall, sum(r["cpu_s"] for r in runs))}


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
