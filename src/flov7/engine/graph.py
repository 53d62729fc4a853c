"""Graph structure of a workflow: parents, children, cycles. Pure and deterministic.

Everything here iterates lists in document order, never sets: workflow code replays on
other processes, where a set's iteration order (hash seed) may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from flov7.spec import EdgeSpec, WorkflowSpec


@dataclass(frozen=True)
class Graph:
    """Adjacency of a workflow, restricted to edges whose ends both exist."""

    node_ids: tuple[str, ...]
    incoming: dict[str, tuple[EdgeSpec, ...]]
    outgoing: dict[str, tuple[EdgeSpec, ...]]

    @classmethod
    def from_spec(cls, spec: WorkflowSpec) -> Graph:
        """Build the graph; edges to unknown nodes are left out (the validator reports them)."""
        node_ids = tuple(dict.fromkeys(node.id for node in spec.nodes))
        known = dict.fromkeys(node_ids)
        incoming: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in node_ids}
        outgoing: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in node_ids}
        for edge in spec.edges:
            if edge.source in known and edge.target in known:
                outgoing[edge.source].append(edge)
                incoming[edge.target].append(edge)
        return cls(
            node_ids=node_ids,
            incoming={k: tuple(v) for k, v in incoming.items()},
            outgoing={k: tuple(v) for k, v in outgoing.items()},
        )

    def parents(self, node_id: str) -> list[str]:
        """Distinct parent ids in edge order."""
        return list(dict.fromkeys(edge.source for edge in self.incoming[node_id]))

    def children(self, node_id: str) -> list[str]:
        """Distinct child ids in edge order."""
        return list(dict.fromkeys(edge.target for edge in self.outgoing[node_id]))

    def roots(self) -> list[str]:
        """Nodes without incoming edges, in document order."""
        return [node_id for node_id in self.node_ids if not self.incoming[node_id]]

    def find_cycle(self) -> list[str] | None:
        """One cycle as a node-id path (first node repeated at the end), or None."""
        white, grey, black = 0, 1, 2
        colour = dict.fromkeys(self.node_ids, white)
        for start in self.node_ids:
            if colour[start] != white:
                continue
            # Iterative DFS: workflows can be thousands of nodes deep.
            path: list[str] = [start]
            iterators = [iter(self.children(start))]
            colour[start] = grey
            while iterators:
                child = next(iterators[-1], None)
                if child is None:
                    colour[path.pop()] = black
                    iterators.pop()
                elif colour[child] == grey:
                    return [*path[path.index(child) :], child]
                elif colour[child] == white:
                    colour[child] = grey
                    path.append(child)
                    iterators.append(iter(self.children(child)))
        return None

    def topological_order(self) -> list[str]:
        """Kahn's order, ties broken by document order. Assumes no cycle."""
        remaining = {node_id: len(self.parents(node_id)) for node_id in self.node_ids}
        order: list[str] = []
        ready = [node_id for node_id in self.node_ids if remaining[node_id] == 0]
        while ready:
            node_id = ready.pop(0)
            order.append(node_id)
            for child in self.children(node_id):
                remaining[child] -= 1
                if remaining[child] == 0:
                    ready.append(child)
        return order

    def components(self) -> list[list[str]]:
        """Weakly connected components, each in document order."""
        neighbours: dict[str, list[str]] = {n: [] for n in self.node_ids}
        for node_id in self.node_ids:
            for child in self.children(node_id):
                neighbours[node_id].append(child)
                neighbours[child].append(node_id)
        seen: dict[str, None] = {}
        result: list[list[str]] = []
        for start in self.node_ids:
            if start in seen:
                continue
            members: dict[str, None] = {start: None}
            stack = [start]
            while stack:
                for other in neighbours[stack.pop()]:
                    if other not in members:
                        members[other] = None
                        stack.append(other)
            seen.update(members)
            result.append([n for n in self.node_ids if n in members])
        return result
