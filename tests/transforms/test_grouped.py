"""transforms.grouped: one-pass consumers of a group, checked for results and for bounded memory
on groups of 10^6 values (the size of one boilerplate page's copies in the Pile)."""
import random
import tracemalloc

import pytest

from transforms import grouped
from transforms.grouped import sorted_externally, with_head

MILLION = 10**6
LIMIT_MB = 50


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


def peak_mb(consume, values) -> tuple[float, object]:
    """(tracemalloc peak in MB, result) of consume(one-pass values); checks they were read once."""
    group = OnePass(values)
    tracemalloc.start()
    try:
        result = consume(group)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert group.done
    return peak, result


def test_with_head_pairs_every_member_with_the_head_wherever_it_comes():
    for at in (0, 3, 10, 25):
        values = [("m", i) for i in range(25)]
        values.insert(at, ("h", -1))
        out = list(with_head(iter(values), lambda v: v[0] == "h", buffer=4))
        assert sorted(out) == [(("h", -1), ("m", i)) for i in range(25)]
    assert list(with_head(iter([("m", 1), ("m", 2)]), lambda v: v[0] == "h", buffer=1)) == [
        (None, ("m", 1)), (None, ("m", 2))]
    assert list(with_head([], lambda v: True)) == []


@pytest.mark.parametrize("head_at", [0, MILLION])
def test_with_head_holds_a_buffer_of_a_million_members(head_at):
    def values():
        for i in range(MILLION + 1):
            yield ("head", 0) if i == head_at else ("member", i)

    def consume(group):
        n = total = 0
        for head, (_, i) in with_head(group, lambda v: v[0] == "head"):
            n, total = n + 1, total + i + head[1]
        return n, total

    peak, (n, total) = peak_mb(consume, values())
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


def test_sorted_externally_holds_a_run_of_a_million_values():
    rng = random.Random(1)
    keys = list(range(MILLION))
    rng.shuffle(keys)

    def consume(group):
        previous, n = -1, 0
        for value in sorted_externally(group, key=lambda v: v[0]):
            assert value[0] > previous
            previous, n = value[0], n + 1
        return n

    peak, n = peak_mb(consume, ((k, "removal") for k in keys))
    assert n == MILLION and peak < LIMIT_MB, f"{peak:.1f} MB"
