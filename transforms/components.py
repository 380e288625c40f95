"""ConnectedComponents: label every node of an edge list by the smallest node of its component.

Near-duplicate clusters are the connected components of the confirmed-pair graph, and the graph
of the Pile is too large for one worker. We use the alternating Large-Star / Small-Star algorithm
(Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014): each step keeps every
component intact, never adds an edge, and the alternation turns every component into a star around
its smallest node in O(log^2 n) rounds (in practice about log2 of the longest shortest path).

No worker holds a node's neighbourhood, however large the cluster (../shared/DESIGN.md §9): a step
first finds each node's smallest neighbour with a CombinePerKey (partial minima, before the
shuffle), then groups that minimum with the node's neighbours and streams them once
(transforms/grouped.py with_head), emitting the star's edges as they pass.

Beam graphs cannot loop on data, so `max_rounds` rounds are unrolled; then `Finish` completes what
they left, so the job never fails at its end: every node takes its smallest neighbour p(u) as a
tentative label, edges whose two ends have different tentative labels become edges between labels
(the residue), and a union-find over the residue (one CombineGlobally) maps each of its labels to
the smallest label of its component. A node's label is that of p(u). When the rounds converged the
residue is empty; each round shrinks it (about halving the labels of a long chain), so
`max_rounds` trades rounds on many workers against the residue one worker resolves. Nodes are any
totally ordered values with a deterministic coder; dedup uses (order_key, id).

    labels = edges | ConnectedComponents(max_rounds=12)   # (u, v) -> (node, smallest node)
"""
import apache_beam as beam

from transforms.errors import ConfigError
from transforms.grouped import with_head


def both_ways(edge):
    u, v = edge
    yield u, v
    yield v, u


def larger_first(edge):
    u, v = edge
    return (u, v) if u > v else (v, u)


def _is_min(value) -> bool:
    return value[0] == "min"


def large_star(node, values):
    """Each larger neighbour -> the smallest node of the neighbourhood (node included). values:
    ("min", smallest neighbour) once and ("nbr", neighbour) per edge, read once."""
    for (_, smallest), (_, v) in with_head(values, _is_min):
        if v > node:
            yield v, min(smallest, node)


def small_star(node, values):
    """The node and each smaller neighbour -> the smallest of them. values: ("min", smallest
    smaller neighbour) once and ("nbr", smaller neighbour) per edge, read once."""
    smallest = None
    for (_, smallest), (_, v) in with_head(values, _is_min):
        if v != smallest:
            yield v, smallest
    if smallest is not None:
        yield node, smallest


def relabel(node, values):
    """(member, label) for each ("member", m) with this tentative label, given ("root", r) when
    the residue resolved it to r; a label outside the residue is its own root."""
    for head, (_, member) in with_head(values, lambda v: v[0] == "root"):
        yield member, node if head is None else head[1]


def _step_input(keyed, tag_label: str):
    """(node, x) pairs -> (node, ("min", min x)) and (node, ("nbr", x)), flattened, for a step."""
    return ((keyed | f"{tag_label}Min" >> beam.CombinePerKey(min)
             | f"{tag_label}TagMin" >> beam.MapTuple(lambda n, m: (n, ("min", m))),
             keyed | f"{tag_label}TagNbr" >> beam.MapTuple(lambda n, v: (n, ("nbr", v))))
            | f"{tag_label}Both" >> beam.Flatten())


class _StarRound(beam.PTransform):
    """One Large-Star then one Small-Star step: a CombinePerKey and a GroupByKey each."""

    def expand(self, edges):
        edges = (_step_input(edges | "LargeStarKeys" >> beam.FlatMap(both_ways), "LargeStar")
                 | "LargeStarGroup" >> beam.GroupByKey()
                 | "LargeStar" >> beam.FlatMapTuple(large_star))
        return (_step_input(edges | "SmallStarKeys" >> beam.Map(larger_first), "SmallStar")
                | "SmallStarGroup" >> beam.GroupByKey()
                | "SmallStar" >> beam.FlatMapTuple(small_star))


def attach(node, values):
    """(x, the node's label) for each ("nbr", x) grouped with ("min", label): an edge end learns
    the tentative label of the other end."""
    for (_, lab), (_, x) in with_head(values, _is_min):
        yield x, lab


class UnionFindFn(beam.CombineFn):
    """Residue edges (a, b) -> {label: smallest label of its residue component}, labels that are
    their own root left out. The union of two components keeps the smaller root, so the result
    does not depend on the order edges arrive in."""

    def create_accumulator(self):
        return {}

    @staticmethod
    def _root(parent, x):
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])  # path halving
            x = parent[x]
        return x

    def add_input(self, parent, edge):
        a, b = (self._root(parent, x) for x in edge)
        if a != b:
            parent[max(a, b)] = min(a, b)
        return parent

    def merge_accumulators(self, accumulators):
        merged = {}
        for parent in accumulators:
            for x, p in parent.items():
                self.add_input(merged, (x, p))
        return merged

    def extract_output(self, parent):
        return {x: self._root(parent, x) for x in parent}


def _grouped(pairs) -> dict:
    groups: dict = {}
    for k, v in pairs:
        groups.setdefault(k, []).append(v)
    return groups


def _with_min(groups: dict) -> list:
    return [(n, [("min", min(xs))] + [("nbr", x) for x in xs]) for n, xs in groups.items()]


def components(edges, max_rounds: int) -> dict:
    """The same rounds and final pass on one machine: {node: label} for every node of an edge
    (small inputs, tests)."""
    edges = list(edges)
    for _ in range(max_rounds):
        groups = _grouped(e for edge in edges for e in both_ways(edge))
        edges = [e for n, vals in _with_min(groups) for e in large_star(n, vals)]
        groups = _grouped(larger_first(edge) for edge in edges)
        edges = [e for n, vals in _with_min(groups) for e in small_star(n, vals)]
    return finish(edges)


def tentative_labels(edges) -> dict:
    """{node: the smallest of the node and its neighbours}: a label in the node's component."""
    return {n: min(min(xs), n) for n, xs in _grouped(e for edge in edges for e in both_ways(edge)).items()}


def residue(edges, labels: dict) -> list:
    """The edges between different tentative labels, as edges between those labels."""
    return [(labels[u], labels[v]) for u, v in edges if labels[u] != labels[v]]


def finish(edges) -> dict:
    """{node: label} once the rounds are done, whatever they left: Finish on one machine."""
    labels = tentative_labels(edges)
    fn = UnionFindFn()
    roots = fn.extract_output(fn.merge_accumulators([fn.add_input(fn.create_accumulator(), e)
                                                     for e in residue(edges, labels)]))
    return {n: roots.get(lab, lab) for n, lab in labels.items()}


class Finish(beam.PTransform):
    """Edges after the rounds -> (node, label): tentative labels, the residue between them
    resolved by one union-find, and every node relabelled through its tentative label."""

    def expand(self, edges):
        tentative = (edges | "BothWays" >> beam.FlatMap(both_ways)
                     | "SmallestNeighbour" >> beam.CombinePerKey(min)
                     | "Tentative" >> beam.MapTuple(lambda n, m: (n, min(n, m))))
        tagged = tentative | "TagLabel" >> beam.MapTuple(lambda n, lab: (n, ("min", lab)))
        far_end = ((tagged, edges | "ByFirstEnd" >> beam.MapTuple(lambda u, v: (u, ("nbr", v))))
                   | "LabelAndFirstEnds" >> beam.Flatten() | "GroupFirstEnds" >> beam.GroupByKey()
                   | "AttachFirst" >> beam.FlatMapTuple(attach))  # (v, p(u))
        roots = ((tagged, far_end | "BySecondEnd" >> beam.MapTuple(lambda v, pu: (v, ("nbr", pu))))
                  | "LabelAndSecondEnds" >> beam.Flatten() | "GroupSecondEnds" >> beam.GroupByKey()
                  | "AttachSecond" >> beam.FlatMapTuple(attach)  # (p(u), p(v))
                  | "Residue" >> beam.Filter(lambda e: e[0] != e[1])
                  | "ResolveResidue" >> beam.CombineGlobally(UnionFindFn())
                  | "Roots" >> beam.FlatMap(lambda roots: sorted(roots.items())))
        return ((roots | "TagRoot" >> beam.MapTuple(lambda lab, r: (lab, ("root", r))),
                 tentative | "ByLabel" >> beam.MapTuple(lambda n, lab: (lab, ("member", n))))
                | "RootsAndMembers" >> beam.Flatten() | "GroupByLabel" >> beam.GroupByKey()
                | "Relabel" >> beam.FlatMapTuple(relabel))


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> (node, label) for every node of an edge; label = smallest node of its component."""

    def __init__(self, max_rounds: int = 12):
        super().__init__()
        if max_rounds < 0:
            raise ConfigError(f"max_rounds must be >= 0, got {max_rounds}")
        self.max_rounds = max_rounds

    def expand(self, edges):
        for r in range(self.max_rounds):
            edges = edges | f"Round{r + 1:02d}" >> _StarRound()
        return edges | "Finish" >> Finish()
