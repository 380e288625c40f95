"""ConnectedComponents: label every node of an edge list by the smallest node of its component.

Near-duplicate clusters are the connected components of the confirmed-pair graph, and the graph
of the Pile is too large for one worker. We use the alternating Large-Star / Small-Star algorithm
(Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014): each step is one
GroupByKey over the current edges, never increases their number, keeps every component intact,
and the alternation reaches a fixed point in O(log^2 n) rounds (in practice about log2 of the
longest shortest path). At the fixed point every component is a star around its smallest node.

Beam graphs cannot loop on data, so `max_rounds` rounds (one Large-Star then one Small-Star each)
are unrolled and a final pass checks that every node is a centre or a leaf of one star. If one is
not, the rounds were too few and the run fails loudly instead of returning a wrong clustering.
Nodes are any totally ordered values with a deterministic coder; dedup uses (order_key, id). A
step holds one node's neighbours in memory, so the largest cluster, never the graph, bounds what a
worker holds.

    labels = edges | ConnectedComponents(max_rounds=12)   # (u, v) -> (node, smallest node)
"""
import apache_beam as beam

from transforms.display import PATH_CHARS, printable
from transforms.errors import ConfigError, PileprepError


def both_ways(edge):
    u, v = edge
    yield u, v
    yield v, u


def larger_first(edge):
    u, v = edge
    return (u, v) if u > v else (v, u)


def large_star(node, neighbors):
    """Connect each larger neighbour to the smallest node of the neighbourhood (node included)."""
    neighbors = set(neighbors)
    smallest = min(neighbors | {node})
    return [(v, smallest) for v in sorted(neighbors) if v > node]


def small_star(node, smaller):
    """Connect the node and its smaller neighbours to the smallest of them."""
    members = set(smaller) | {node}
    smallest = min(members)
    return [(v, smallest) for v in sorted(members) if v != smallest]


def not_converged(node, max_rounds: int) -> PileprepError:
    return PileprepError(
        f"near-duplicate clustering did not converge in {max_rounds} rounds: node "
        f"{printable(repr(node), PATH_CHARS)} still links two labels. Raise DedupConfig.max_rounds "
        f"(--dedup-max-rounds) to {max(max_rounds + 4, 2 * max_rounds)} and run again")


def label(node, neighbors, max_rounds: int):
    """(node, its component's smallest node), once the edges have become stars; raises otherwise.

    A centre has only larger neighbours; a leaf has exactly one neighbour, smaller than itself.
    If every node is one or the other, every edge joins a leaf to its centre and each component
    is one star, so no edge joins two labels."""
    neighbors = set(neighbors)
    smallest = min(neighbors)
    if smallest > node:
        return node, node
    if len(neighbors) == 1:
        return node, smallest
    raise not_converged(node, max_rounds)


def _grouped(pairs) -> dict:
    groups: dict = {}
    for k, v in pairs:
        groups.setdefault(k, []).append(v)
    return groups


def components(edges, max_rounds: int) -> dict:
    """The same rounds on one machine: {node: label} for every node of an edge (small inputs, tests)."""
    edges = list(edges)
    for _ in range(max_rounds):
        groups = _grouped(e for edge in edges for e in both_ways(edge))
        edges = [e for node, nbrs in groups.items() for e in large_star(node, nbrs)]
        groups = _grouped(larger_first(edge) for edge in edges)
        edges = [e for node, nbrs in groups.items() for e in small_star(node, nbrs)]
    groups = _grouped(e for edge in edges for e in both_ways(edge))
    return dict(label(node, nbrs, max_rounds) for node, nbrs in groups.items())


class _StarRound(beam.PTransform):
    """One Large-Star then one Small-Star step: two GroupByKeys over the edges."""

    def expand(self, edges):
        edges = (edges
                 | "LargeStarKeys" >> beam.FlatMap(both_ways)
                 | "LargeStarGroup" >> beam.GroupByKey()
                 | "LargeStar" >> beam.FlatMapTuple(large_star))
        return (edges
                | "SmallStarKeys" >> beam.Map(larger_first)
                | "SmallStarGroup" >> beam.GroupByKey()
                | "SmallStar" >> beam.FlatMapTuple(small_star))


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> (node, label) for every node of an edge; label = smallest node of its component."""

    def __init__(self, max_rounds: int = 12):
        super().__init__()
        if max_rounds < 1:
            raise ConfigError(f"max_rounds must be >= 1, got {max_rounds}")
        self.max_rounds = max_rounds

    def expand(self, edges):
        for r in range(self.max_rounds):
            edges = edges | f"Round{r + 1:02d}" >> _StarRound()
        max_rounds = self.max_rounds
        return (edges
                | "LabelKeys" >> beam.FlatMap(both_ways)
                | "LabelGroup" >> beam.GroupByKey()
                | "Label" >> beam.Map(lambda kv: label(kv[0], kv[1], max_rounds)))
