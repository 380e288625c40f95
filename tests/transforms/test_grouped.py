"""transforms.grouped: one-pass consumers of a group, checked for results and for bounded memory
on groups of 10^6 values (the size of one boilerplate page's copies in the Pile)."""
import gc
import importlib
import multiprocessing
import os
import pickle
import random
import tempfile
import traceback

import pytest

from transforms import grouped
from transforms.grouped import sorted_externally, with_head

MILLION = 10**6
LIMIT_MB = 50
# the modules that define peak_mb's cases, imported once by the fork server its children come from
CASE_MODULES = ["tests.transforms.test_grouped", "tests.transforms.test_components", "tests.transforms.test_dedup",
                "tests.transforms.test_write"]


class OnePass:
    """An iterable that can be iterated once (as a shuffle's values on a cluster may be) and
    says whether it was read to its end."""

    def __init__(self, values):
        self.values, self.started, self.done = values, False, False

    def __iter__(self):
        assert not self.started, "a one-pass group was iterated twice"
        self.started = True
        yield from self.values
        self.done = True


def peak_mb(case, *args) -> tuple[float, object]:
    """(peak MB of resident memory above the start, result) of consume(one-pass values), where
    (consume, values) = case(*args) for a module-level case; checks the values were read once.

    It runs in a child forked from a fork server, a fresh interpreter that imported CASE_MODULES
    once, and reads the kernel's peak resident set size: tracemalloc would make the 10^6
    allocations ten times slower, and the child holds no memory freed by earlier tests that a
    consumer could fill without its resident size growing."""
    return Measure(case, *args).result()


class Measure:
    """peak_mb's child for case(*args), started at once; result() waits for it. Several at a time
    use every core: each child reads its own peak, whatever runs beside it."""

    def __init__(self, case, *args):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(CASE_MODULES)  # read when the server starts, at the first call
        self.name = f"{case.__qualname__}{args}"
        self._folder = tempfile.TemporaryDirectory()
        self._out = os.path.join(self._folder.name, "result.pickle")
        self._child = context.Process(target=_measure, args=(case.__module__, case.__qualname__, args, self._out))
        self._child.start()

    def result(self) -> tuple[float, object]:
        self._child.join()
        try:
            if not os.path.exists(self._out):
                pytest.fail(f"{self.name}: its child process ended with exit code {self._child.exitcode}",
                            pytrace=False)
            with open(self._out, "rb") as f:
                error, peak, result, done = pickle.load(f)
        finally:
            self._folder.cleanup()
        if error:
            pytest.fail(f"{self.name} failed in its child process:\n{error}", pytrace=False)
        assert done, "the consumer did not read its group to the end"
        return peak, result

    def close(self):
        self._child.join()
        self._folder.cleanup()


def measures(cases: dict):
    """{key: Measure(*case)} for {key: (case, *args)}, all started now; joined when the caller
    (a module fixture: `yield from measures(...)`) is done with them."""
    started = {key: Measure(*case) for key, case in cases.items()}
    yield started
    for measure in started.values():
        measure.close()


def _measure(module: str, name: str, args: tuple, out: str) -> None:
    """The child's side of peak_mb: (error, peak, result, done) pickled to `out`."""
    try:
        consume, values = getattr(importlib.import_module(module), name)(*args)
        group = OnePass(values)
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak resident set size, to the current one
        start = _status_kb("VmRSS")
        result = consume(group)
        report = None, (_status_kb("VmHWM") - start) / 1024, result, group.done
    except BaseException:
        report = traceback.format_exc(), None, None, False
    with open(out, "wb") as f:
        pickle.dump(report, f)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith(field + ":")))


def held(n: int):
    """A consumer that keeps its whole group, to show the meter sees that."""
    return (lambda group: len(list(group))), (("member", i) for i in range(n))


@pytest.fixture(scope="module")
def peaks():
    """This module's measures of a million values, run side by side."""
    yield from measures({"held": (held, MILLION), "head at 0": (head_case, 0),
                         "head at the end": (head_case, MILLION), "sorted": (sorted_case,)})


def test_the_meter_sees_a_consumer_that_holds_its_group(peaks):
    peak, n = peaks["held"].result()
    assert n == MILLION and peak > LIMIT_MB, f"{peak:.1f} MB"


def test_with_head_pairs_every_member_with_the_head_wherever_it_comes():
    for at in (0, 3, 10, 25):
        values = [("m", i) for i in range(25)]
        values.insert(at, ("h", -1))
        out = list(with_head(iter(values), lambda v: v[0] == "h", buffer=4))
        assert sorted(out) == [(("h", -1), ("m", i)) for i in range(25)]
    assert list(with_head(iter([("m", 1), ("m", 2)]), lambda v: v[0] == "h", buffer=1)) == [
        (None, ("m", 1)), (None, ("m", 2))]
    assert list(with_head([], lambda v: True)) == []


def head_case(head_at: int):
    def values():
        for i in range(MILLION + 1):
            yield ("head", 0) if i == head_at else ("member", i)

    def consume(group):
        n = total = 0
        for head, (_, i) in with_head(group, lambda v: v[0] == "head"):
            n, total = n + 1, total + i + head[1]
        return n, total

    return consume, values()


@pytest.mark.parametrize("head_at", [0, MILLION])
def test_with_head_holds_a_buffer_of_a_million_members(peaks, head_at):
    peak, (n, total) = peaks["head at 0" if head_at == 0 else "head at the end"].result()
    expected = sum(range(MILLION + 1)) - head_at
    assert (n, total) == (MILLION, expected)
    assert peak < LIMIT_MB, f"{peak:.1f} MB"


def test_sorted_externally_equals_sorted_across_runs_and_merge_passes(monkeypatch):
    rng = random.Random(4)
    values = [f"id:{rng.randrange(10**9):09d}:{i}" for i in range(5000)]
    monkeypatch.setattr(grouped, "FAN_IN", 3)  # several merge passes
    assert list(sorted_externally(iter(values), key=str, run=64)) == sorted(values)
    assert list(sorted_externally(iter(values[:10]), key=str)) == sorted(values[:10])
    assert list(sorted_externally(iter([]), key=str)) == []


def sorted_case():
    rng = random.Random(1)
    keys = list(range(MILLION))
    rng.shuffle(keys)

    def consume(group):
        previous, n = -1, 0
        for value in sorted_externally(group, key=lambda v: v[0]):
            assert value[0] > previous
            previous, n = value[0], n + 1
        return n

    return consume, ((k, "removal") for k in keys)


def test_sorted_externally_holds_a_run_of_a_million_values(peaks):
    peak, n = peaks["sorted"].result()
    assert n == MILLION and peak < LIMIT_MB, f"{peak:.1f} MB"
