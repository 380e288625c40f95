"""Shared test helpers: a local Beam pipeline that never tries to download the Prism runner."""
import errno

import pytest


def local_test_pipeline():
    """TestPipeline on the in-process FnApiRunner (the DirectRunner would first try Prism)."""
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.test_pipeline import TestPipeline

    return TestPipeline(runner=FnApiRunner())


def refuse_network(monkeypatch):
    """Any attempt to open a network connection, while `monkeypatch` holds, raises."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in a test that must run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    refuse_network(monkeypatch)


@pytest.fixture
def pipeline():
    return local_test_pipeline()


def sample_run(root, *, seed: int = 1, documents: int = 200, rows_per_shard: int = 16, extra=()):
    """A small real run: the synthetic sample corpus under root/in, its output in root/out."""
    from pipeline.cli import main
    from pipeline.tools.sample import SampleConfig, write_sample

    write_sample(str(root / "in"), SampleConfig(seed=seed, documents=documents, files=1))
    out = root / "out"
    assert main(["run", "--input", f"{root}/in/*", "--output", str(out), "--rows-per-shard",
                 str(rows_per_shard), "--direct_running_mode=in_memory", *extra]) == 0
    return out


class FullFile:
    """A file on a disk with `room["left"]` bytes left (a dict: files may share it); a write that does
    not fit fails as a full disk does."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        if len(data) > self.room["left"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room["left"] -= len(data)
        return self.f.write(data)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
