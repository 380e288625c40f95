"""The portable path, proven locally: PortableRunner against Beam's own job service over gRPC,
with the LOOPBACK environment and with an EXTERNAL worker pool in a separate process. Both must
produce shards and a manifest byte-identical to the local default runner's."""
import hashlib
import socket
import subprocess
import sys
import time

import pytest

from pipeline.cli import main
from pipeline.tools.sample import SampleConfig, write_sample


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(args, port):
    proc = subprocess.Popen([sys.executable, "-m"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not listen on {port}")


@pytest.fixture(scope="module")
def services():
    job_port, pool_port = _free_port(), _free_port()
    job = _start(["apache_beam.runners.portability.local_job_service_main", "--port", str(job_port)], job_port)
    pool = _start(["apache_beam.runners.worker.worker_pool_main", f"--service_port={pool_port}"], pool_port)
    yield job_port, pool_port
    for proc in (job, pool):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    write_sample(str(root / "in"), SampleConfig(seed=11, documents=300, files=2))
    return root


def _digests(directory):
    files = ["manifest.json"] + sorted(str(p.relative_to(directory)) for p in directory.glob("shards/*"))
    return {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in files}


def _run(corpus, name, extra):
    out = corpus / name
    assert main(["run", "--input", f"{corpus}/in/*", "--output", str(out), "--rows-per-shard", "32"] + extra) == 0
    return _digests(out)


def _dedup(mode: str) -> list[str]:
    """The --dedup options of both runs compared. Two connected-component rounds (not 12) before the
    final pass: every stage of the graph, 160 fewer steps of the same rounds, each of which the
    portable runner pays for as a stage of its own; tests/transforms/test_components.py checks rounds."""
    return ["--dedup", mode, "--dedup-max-rounds", "2"]


@pytest.fixture(scope="module")
def local(corpus):
    """The local runner's digests for a --dedup mode, run once for every environment compared with it."""
    runs = {}

    def digests(dedup: str) -> dict:
        if dedup not in runs:
            runs[dedup] = _run(corpus, f"local-{dedup}", ["--direct_running_mode=in_memory", *_dedup(dedup)])
        return runs[dedup]

    return digests


@pytest.mark.parametrize("environment,dedup", [("LOOPBACK", "none"), ("EXTERNAL", "none"), ("LOOPBACK", "minhash")])
def test_portable_runner_matches_the_local_runner(services, corpus, local, environment, dedup):
    """The manifest holds every output file's sha256: equal manifests are equal outputs. The local
    run spills payloads to files (--spill auto), the portable one shuffles them whole."""
    job_port, pool_port = services
    reference = local(dedup)
    extra = ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}", f"--environment_type={environment}",
             *_dedup(dedup)]
    if environment == "EXTERNAL":
        extra.append(f"--environment_config=localhost:{pool_port}")
    assert _run(corpus, f"portable-{environment}-{dedup}", extra) == reference
    assert len(reference) > 2
