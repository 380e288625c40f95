"""ConnectedComponents: Large-Star/Small-Star rounds and the final pass against a union-find
reference, for any number of rounds; each grouped step on a one-pass group of 10^6 values."""
import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st

from tests.transforms.test_grouped import LIMIT_MB, MILLION, measures
from transforms.components import (ConnectedComponents, UnionFindFn, attach, both_ways, components, large_star,
                                   larger_first, relabel, residue, small_star, tentative_labels)


def with_min(groups: dict) -> list:
    """{node: [x, ...]} -> [(node, the grouped values a step gets: ("min", min x), ("nbr", x)...)]."""
    return [(n, [("min", min(xs))] + [("nbr", x) for x in xs]) for n, xs in groups.items()]


def star_round(edges) -> list:
    """The edges after one round: a Large-Star step, then a Small-Star step."""
    edges = [e for n, vals in with_min(_grouped(e for edge in edges for e in both_ways(edge)))
             for e in large_star(n, vals)]
    return [e for n, vals in with_min(_grouped(larger_first(e) for e in edges)) for e in small_star(n, vals)]


def rounds_needed(edges, limit: int = 64) -> int:
    """The fewest rounds after which the final pass has no residue left to resolve."""
    for rounds in range(limit + 1):
        if not residue(edges, tentative_labels(edges)):
            return rounds
        edges = star_round(edges)
    raise ValueError(f"no convergence within {limit} rounds")


def union_find(edges) -> dict:
    """{node: smallest node of its component} for every node of an edge."""
    parent = {}

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = root(u), root(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return {x: root(x) for x in list(parent)}


def _grouped(pairs):
    groups = {}
    for k, v in pairs:
        groups.setdefault(k, []).append(v)
    return groups


def chain(n, seed=None):
    """A path of n nodes; with a seed, the nodes' order along the path is shuffled."""
    nodes = list(range(n))
    if seed is not None:
        random.Random(seed).shuffle(nodes)
    return [(nodes[i], nodes[i + 1]) for i in range(n - 1)]


graphs = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda e: e[0] != e[1]),
                  max_size=80)


@settings(max_examples=300, deadline=None)
@given(graphs, st.sampled_from([0, 1, 2, 12]))
def test_components_match_union_find_whatever_the_rounds(edges, rounds):
    assert components(edges, max_rounds=rounds) == union_find(edges)


@settings(max_examples=200, deadline=None)
@given(graphs)
def test_each_step_keeps_components_and_never_adds_edges(edges):
    large = [e for n, vals in with_min(_grouped(e for edge in edges for e in both_ways(edge)))
             for e in large_star(n, vals)]
    small = [e for n, vals in with_min(_grouped(larger_first(e) for e in large)) for e in small_star(n, vals)]
    for before, after in ((edges, large), (large, small)):
        assert len(after) <= len(before)  # edges as a multiset: duplicates are never multiplied
        assert union_find(after) == union_find(before)


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_chains_converge_in_about_log2_rounds_and_fewer_are_completed(n):
    for edges in (chain(n), chain(n, seed=n), [(v, u) for u, v in chain(n)]):
        needed = rounds_needed(edges)
        assert needed <= max(2, n.bit_length() + 1)
        for rounds in {0, needed // 2, max(needed - 1, 0), needed}:
            assert components(edges, rounds) == union_find(edges)


def test_union_find_keeps_the_smallest_root_in_any_order():
    edges = [(5, 9), (9, 2), (7, 8), (3, 5), (8, 4)]
    fn = UnionFindFn()
    for order in (edges, edges[::-1], edges[1::2] + edges[::2]):
        halves = [fn.create_accumulator(), fn.create_accumulator()]
        for i, e in enumerate(order):
            fn.add_input(halves[i % 2], e)
        assert fn.extract_output(fn.merge_accumulators(halves)) == {5: 2, 9: 2, 3: 2, 7: 4, 8: 4}


def test_tuple_nodes_label_by_order_then_id():
    edges = [((5, "b"), (3, "z")), ((3, "z"), (-1, "h")), ((9, "a"), (9, "b"))]
    assert components(edges, 3) == {(5, "b"): (-1, "h"), (3, "z"): (-1, "h"), (-1, "h"): (-1, "h"),
                                    (9, "a"): (9, "a"), (9, "b"): (9, "a")}


def test_beam_components_match_union_find(pipeline):  # and with too few rounds, the final pass
    rng = random.Random(7)
    keys = [rng.randrange(2**64) for _ in range(300)]
    ids = [(k, f"f:{i}") for i, k in enumerate(keys)] + [(-1, "val:1"), (-1, "val:2")]
    random_graph = [tuple(rng.sample(ids, 2)) for _ in range(250)]
    long_chain = [((0, f"c:{u:04d}"), (0, f"c:{v:04d}")) for u, v in chain(100)]  # needs 7 rounds
    edges = random_graph + long_chain + random_graph[:20]  # repeated edges are harmless
    expected = union_find(edges)
    assert rounds_needed(edges) == 7
    with pipeline as p:
        edges = (p | beam.Create(range(len(edges)))  # Create would infer an int64 coder for the keys
                 | beam.Map(edges.__getitem__))
        for rounds in (8, 2, 0):  # enough, too few, none (each round costs ~1 s of Beam stages)
            labels = edges | f"Components{rounds}" >> ConnectedComponents(max_rounds=rounds)
            assert_that(labels, equal_to(sorted(expected.items())), label=f"Labels{rounds}")


def test_max_rounds_is_validated():
    with pytest.raises(ValueError, match="max_rounds must be >= 0"):
        ConnectedComponents(max_rounds=-1)


# --- each grouped step reads a group of 10^6 values once, in bounded memory -------------------------

def hub(n: int, head, head_at: int, tag="nbr"):
    """A hot node's group: n ("nbr", node) values, the head inserted at position head_at."""
    for i in range(n + 1):
        yield head if i == head_at else (tag, (i + 10, f"f:{i}"))


def hub_case(step: str):
    centre, smallest = (5, "f:c"), (0, "f:min")
    fn, head, tag = {"large": (large_star, ("min", smallest), "nbr"), "small": (small_star, ("min", smallest), "nbr"),
                     "attach": (attach, ("min", smallest), "nbr"),
                     "relabel": (relabel, ("root", smallest), "member")}[step]

    def consume(group):
        n = 0
        for v, lab in fn(centre if step != "small" else (2**64, "f:z"), group):
            assert lab == smallest
            n += 1
        return n

    return consume, hub(MILLION, head, MILLION // 2, tag)


STEPS = ["large", "small", "attach", "relabel"]


@pytest.fixture(scope="module")
def hub_peaks():
    """Each step's measure on its hub, run side by side."""
    yield from measures({step: (hub_case, step) for step in STEPS})


@pytest.mark.parametrize("step", STEPS)
def test_steps_on_a_hub_of_a_million_neighbours(hub_peaks, step):
    peak, n = hub_peaks[step].result()
    assert n == MILLION + (step == "small") and peak < LIMIT_MB, f"{peak:.1f} MB"
