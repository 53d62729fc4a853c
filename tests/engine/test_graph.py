"""Graph structure: parents, cycles, order, components."""

from __future__ import annotations

import itertools

from flov7.engine.graph import Graph
from flov7.spec import parse_workflow


def graph(nodes: list[str], edges: list[tuple[str, str]]) -> Graph:
    return Graph.from_spec(
        parse_workflow(
            {
                "nodes": [{"id": n, "type": "transform"} for n in nodes],
                "edges": [{"id": f"{s}-{t}", "source": s, "target": t} for s, t in edges],
            }
        )
    )


def test_parents_children_roots_in_document_order() -> None:
    g = graph(["a", "b", "c", "d"], [("a", "c"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert g.roots() == ["a", "b"]
    assert g.parents("c") == ["a", "b"]
    assert g.children("a") == ["c", "d"]
    assert g.parents("d") == ["c", "a"]


def test_edges_to_unknown_nodes_are_left_out() -> None:
    g = graph(["a"], [("a", "ghost"), ("ghost", "a")])
    assert g.children("a") == [] and g.parents("a") == []


def test_find_cycle_names_the_nodes() -> None:
    g = graph(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])
    assert g.find_cycle() == ["b", "c", "d", "b"]


def test_self_loop_is_a_cycle() -> None:
    assert graph(["a"], [("a", "a")]).find_cycle() == ["a", "a"]


def test_acyclic_has_no_cycle_even_when_deep() -> None:
    names = [f"n{i}" for i in range(5000)]
    g = graph(names, list(itertools.pairwise(names)))
    assert g.find_cycle() is None
    assert g.topological_order() == names


def test_topological_order_breaks_ties_by_document_order() -> None:
    g = graph(["z", "a", "m"], [("z", "m"), ("a", "m")])
    assert g.topological_order() == ["z", "a", "m"]


def test_components() -> None:
    g = graph(["a", "b", "c", "d"], [("a", "b"), ("c", "d")])
    assert g.components() == [["a", "b"], ["c", "d"]]
