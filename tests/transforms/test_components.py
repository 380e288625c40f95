"""ConnectedComponents: Large-Star/Small-Star rounds against a union-find reference."""
import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st

from transforms.components import (ConnectedComponents, both_ways, components, large_star, larger_first,
                                   small_star)
from transforms.errors import PileprepError, find_message


def rounds_needed(edges, limit: int = 64) -> int:
    """The fewest rounds after which `components` succeeds."""
    for rounds in range(limit + 1):
        try:
            components(edges, rounds)
            return rounds
        except PileprepError:
            continue
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
@given(graphs)
def test_components_match_union_find(edges):
    assert components(edges, max_rounds=12) == union_find(edges)


@settings(max_examples=200, deadline=None)
@given(graphs)
def test_each_step_keeps_components_and_never_adds_edges(edges):
    large = [e for n, nbrs in _grouped(e for edge in edges for e in both_ways(edge)).items()
             for e in large_star(n, nbrs)]
    small = [e for n, nbrs in _grouped(larger_first(e) for e in large).items() for e in small_star(n, nbrs)]
    for before, after in ((edges, large), (large, small)):
        assert len(set(map(frozenset, after))) <= len(set(map(frozenset, before)))
        assert union_find(after) == union_find(before)


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_chains_converge_in_about_log2_rounds(n):
    for edges in (chain(n), chain(n, seed=n), [(v, u) for u, v in chain(n)]):
        needed = rounds_needed(edges)
        assert needed <= max(2, n.bit_length() + 1)
        assert components(edges, needed) == union_find(edges)
        if needed > 0:
            with pytest.raises(PileprepError, match="Raise DedupConfig.max_rounds"):
                components(edges, needed - 1)


def test_tuple_nodes_label_by_order_then_id():
    edges = [((5, "b"), (3, "z")), ((3, "z"), (-1, "h")), ((9, "a"), (9, "b"))]
    assert components(edges, 3) == {(5, "b"): (-1, "h"), (3, "z"): (-1, "h"), (-1, "h"): (-1, "h"),
                                    (9, "a"): (9, "a"), (9, "b"): (9, "a")}


def test_beam_components_match_union_find(pipeline):
    rng = random.Random(7)
    keys = [rng.randrange(2**64) for _ in range(300)]
    ids = [(k, f"f:{i}") for i, k in enumerate(keys)] + [(-1, "val:1"), (-1, "val:2")]
    random_graph = [tuple(rng.sample(ids, 2)) for _ in range(250)]
    long_chain = [((0, f"c:{u:04d}"), (0, f"c:{v:04d}")) for u, v in chain(1500)]  # needs 11 rounds
    edges = random_graph + long_chain + random_graph[:20]  # repeated edges are harmless
    expected = union_find(edges)
    with pipeline as p:
        labels = (p | beam.Create(range(len(edges)))  # Create would infer an int64 coder for the keys
                  | beam.Map(edges.__getitem__) | ConnectedComponents(max_rounds=12))
        assert_that(labels, equal_to(sorted(expected.items())))


def test_beam_fails_loudly_when_rounds_are_too_few(pipeline):
    with pytest.raises(Exception) as info:
        with pipeline as p:
            _ = p | beam.Create(chain(200, seed=1)) | ConnectedComponents(max_rounds=2)
    message = find_message(info.value)
    assert message is not None and "did not converge in 2 rounds" in message
    assert "Raise DedupConfig.max_rounds (--dedup-max-rounds) to 6" in message


def test_max_rounds_is_validated():
    with pytest.raises(ValueError, match="max_rounds must be >= 1"):
        ConnectedComponents(max_rounds=0)
