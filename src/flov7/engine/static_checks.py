"""Static checks of what expressions and templates refer to, before anything runs.

The expression language is lenient at run time (a missing key reads as null), so a
mistyped reference would otherwise surface, if at all, as a null far downstream. Here,
for every expression (``condition``, ``transform``) and ``{{ }}`` template of a node:

- a bare name must be one the scope has (``inputs``, ``input``, ``nodes``,
  ``execution``): ``unknown_name``;
- ``nodes.<id>`` must name a node of the workflow (``unknown_node_reference``) that is
  upstream of this one (``not_upstream``: its output could never be there), and be
  followed by ``output`` or ``status`` (``unknown_node_field``);
- ``execution.<key>`` must be one of :data:`EXECUTION_KEYS` (a warning otherwise);
- where a parent's output shape is known from its type (``GET /node-types`` serves it,
  see :mod:`flov7.nodes.outputs`), reading a key it cannot have is a *warning*
  (``unknown_output_field``: "api_call outputs have no 'data'; did you mean 'body'?");
- a node that reads ``inputs`` from several parents whose outputs share keys gets a
  warning (``inputs_overlap``): the merge keeps the last parent's value;
- a literal ``url`` must be an absolute ``http(s)://`` URL (``invalid_url``).

Pure and deterministic (it runs inside workflow code with the rest of the validator):
only lists and dicts in document order.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flov7.engine.expressions import compile_expression, template_sources
from flov7.engine.expressions.functions import FUNCTIONS
from flov7.engine.expressions.names import NAME_ALIASES
from flov7.engine.fields import DATA_PRESENTATION_KEYS, PRESENTATION_KEYS
from flov7.engine.graph import Graph
from flov7.errors import ExpressionError
from flov7.nodes.base import NodeType
from flov7.nodes.outputs import PASSTHROUGH, is_closed, property_names
from flov7.nodes.registry import get_node_type
from flov7.spec import NodeSpec, OnError, WorkflowSpec
from flov7.suggestions import closest

SCOPE_NAMES = ("inputs", "input", "nodes", "execution")
"""The names every expression can use (see ``Interpreter.scope_for``)."""

NODE_VIEW_KEYS = ("output", "status")
"""What ``nodes.<id>`` holds."""

EXECUTION_KEYS = ("execution_id", "run_id", "workflow_id", "attempt", "node_id")
"""What ``execution`` holds (both runtimes build it; the node id is added per node)."""

ERROR_HANDLE = "error"


@dataclass(frozen=True)
class Finding:
    """One problem (or, with ``warning``, a likely one) in a node's expressions."""

    code: str
    node_id: str
    field: str
    message: str
    suggestion: str | None = None
    warning: bool = False


@dataclass(frozen=True)
class _Reference:
    """An access chain with constant keys: ``inputs.body.id`` is ('inputs', ['body', 'id'])."""

    root: str
    keys: tuple[str, ...]

    def text(self, keys: tuple[str, ...] | None = None) -> str:
        return ".".join((self.root, *(self.keys if keys is None else keys)))


def static_findings(spec: WorkflowSpec, graph: Graph) -> list[Finding]:
    """Every finding of every node, in document order. ``graph`` must have no cycle."""
    checker = StaticChecker(spec, graph)
    for _ in checker.steps():
        pass
    return checker.findings


class StaticChecker:
    """The static checks of one workflow, node by node (see :meth:`steps`)."""

    def __init__(self, spec: WorkflowSpec, graph: Graph) -> None:
        """``graph`` must have no cycle."""
        self.spec = spec
        self.graph = graph
        self.findings: list[Finding] = []
        """What :meth:`steps` found so far, in document order."""
        self.nodes = {node.id: node for node in spec.nodes}
        self._output_memo: dict[str, tuple[str, ...] | None] = {}
        self._ancestor_memo: dict[str, tuple[str, ...]] = {}
        self._branch_memo: dict[str, dict[str, str]] = {}
        # Large documents repeat expressions (generated chains, fan-outs): what an
        # expression's syntax tree says depends on its source only, so read it once.
        self._expression_memo: dict[str, _Expression | None] = {}
        self._soft_failing = {
            edge.source for edge in spec.edges if edge.source_handle == ERROR_HANDLE
        }

    def steps(self) -> Iterator[str]:
        """Check the nodes one at a time, yielding each node's id before checking it.

        A caller inside a Temporal workflow task can stop between two nodes (and end the
        task) to keep a large document's validation under the SDK's deadlock detection.
        """
        for node in self.spec.nodes:
            yield node.id
            node_type = get_node_type(node.type)
            if node_type is not None and node.id in self.graph.incoming:
                self.findings.extend(self._node_findings(node, node_type))

    def _node_findings(self, node: NodeSpec, node_type: NodeType) -> Iterator[Finding]:
        yield from self._url_findings(node, node_type)
        reads_inputs: str | None = None
        for path, source, raw in _sources_of(node, node_type):
            expression = self._expression(source)
            if expression is None:
                continue  # The validator reports it as invalid_expression/template.
            where = f"template '{raw}'" if raw else f"expression '{source}'"
            yield from self._expression_findings(node, path, where, expression)
            if reads_inputs is None and "inputs" in expression.names_read:
                reads_inputs = path
        if reads_inputs is not None:
            yield from self._overlap_findings(node, reads_inputs)

    def _expression(self, source: str) -> _Expression | None:
        if source not in self._expression_memo:
            try:
                tree = compile_expression(source).tree
            except ExpressionError:
                self._expression_memo[source] = None
            else:
                self._expression_memo[source] = _Expression.of(tree)
        return self._expression_memo[source]

    # -- names and references --------------------------------------------------------

    def _expression_findings(
        self, node: NodeSpec, path: str, where: str, expression: _Expression
    ) -> Iterator[Finding]:
        for name in expression.names:
            if name in SCOPE_NAMES or name in NAME_ALIASES or name in expression.called:
                continue
            suggestion = closest(name, SCOPE_NAMES)
            hint = f"did you mean '{suggestion}'? " if suggestion else ""
            yield Finding(
                "unknown_name",
                node.id,
                path,
                f"Unknown name '{name}' in {where}; {hint}An expression can use "
                f"{', '.join(repr(n) for n in SCOPE_NAMES)} and functions",
                suggestion,
            )
        for reference in expression.references:
            if reference.root == "nodes":
                yield from self._node_reference(node, path, where, reference)
            elif reference.root == "inputs" and reference.keys:
                yield from self._inputs_reference(node, path, where, reference)
            elif reference.root == "execution" and reference.keys:
                key = reference.keys[0]
                if key not in EXECUTION_KEYS:
                    suggestion = closest(key, EXECUTION_KEYS)
                    hint = f"; did you mean '{suggestion}'?" if suggestion else ""
                    yield Finding(
                        "unknown_output_field",
                        node.id,
                        path,
                        f"execution has no '{key}'{hint} ('{reference.text()}' in {where}; "
                        f"execution has {', '.join(repr(k) for k in EXECUTION_KEYS)}). "
                        "It would read as null",
                        f"execution.{suggestion}" if suggestion else None,
                        warning=True,
                    )

    def _node_reference(
        self, node: NodeSpec, path: str, where: str, reference: _Reference
    ) -> Iterator[Finding]:
        if not reference.keys:
            return
        target = reference.keys[0]
        if target not in self.nodes:
            suggestion = closest(target, self.nodes)
            hint = f"; did you mean '{suggestion}'?" if suggestion else ""
            yield Finding(
                "unknown_node_reference",
                node.id,
                path,
                f"'{reference.text()}' in {where}: no node has id '{target}'{hint}",
                f"nodes.{suggestion}" if suggestion else None,
            )
            return
        if target == node.id or target not in self._ancestors(node.id):
            why = (
                "a node cannot read its own output"
                if target == node.id
                else f"no path of edges leads from '{target}' to '{node.id}', so its output "
                "is never available here"
            )
            yield Finding(
                "not_upstream",
                node.id,
                path,
                f"'{reference.text()}' in {where}: node '{target}' is not upstream of "
                f"'{node.id}': {why}",
            )
            return
        if len(reference.keys) < 2:
            return
        view_key = reference.keys[1]
        if view_key not in NODE_VIEW_KEYS:
            fixed = reference.text((target, "output", *reference.keys[1:]))
            yield Finding(
                "unknown_node_field",
                node.id,
                path,
                f"'{reference.text()}' in {where}: nodes.{target} has only 'output' and "
                f"'status'; did you mean '{fixed}'?",
                fixed,
            )
            return
        if view_key == "output" and len(reference.keys) >= 3:
            keys = self._output_keys(target)
            field_name = reference.keys[2]
            if keys is not None and field_name not in keys:
                yield self._shape_warning(
                    node,
                    path,
                    where,
                    reference,
                    field_name,
                    keys,
                    [target],
                    prefix=("nodes", target, "output"),
                )

    def _inputs_reference(
        self, node: NodeSpec, path: str, where: str, reference: _Reference
    ) -> Iterator[Finding]:
        parents = self.graph.parents(node.id)
        if not parents:
            return  # A root's inputs are the run's input: not known in advance.
        keys = self._inputs_keys(node.id)
        field_name = reference.keys[0]
        if keys is not None and field_name not in keys:
            yield self._shape_warning(
                node, path, where, reference, field_name, keys, parents, prefix=("inputs",)
            )

    def _shape_warning(
        self,
        node: NodeSpec,
        path: str,
        where: str,
        reference: _Reference,
        field_name: str,
        keys: tuple[str, ...],
        sources: list[str],
        prefix: tuple[str, ...],
    ) -> Finding:
        suggestion = closest(field_name, keys)
        if suggestion is None and field_name == "data" and "body" in keys:
            suggestion = "body"  # The guide's own 'inputs.data' after an api_call.
        types = list(dict.fromkeys(self.nodes[source].type for source in sources))
        if len(types) == 1 and not self._is_passthrough(sources[0]):
            subject = f"{types[0]} outputs have no '{field_name}'"
        else:
            subject = f"{'.'.join(prefix)} has no '{field_name}' here"
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        fixed = None
        if suggestion is not None:
            fixed = ".".join((*prefix, suggestion, *reference.keys[len(prefix) :]))
        origin = ", ".join(f"'{source}'" for source in sources)
        return Finding(
            "unknown_output_field",
            node.id,
            path,
            f"{subject}{hint} ('{reference.text()}' in {where}; from {origin}, whose output "
            f"has {', '.join(repr(key) for key in keys)}). It would read as null",
            fixed,
            warning=True,
        )

    def _overlap_findings(self, node: NodeSpec, path: str) -> Iterator[Finding]:
        parents = [
            edge.source
            for edge in self.graph.incoming[node.id]
            if edge.source_handle != ERROR_HANDLE
        ]
        parents = list(dict.fromkeys(parents))
        if len(parents) < 2:
            return
        # Parents by output key; a key is shared once a parent holding it can be active
        # with an earlier one holding it too. Not every pair of parents: a join of
        # 20,000 parents would compare 200 million.
        position = {parent: index for index, parent in enumerate(parents)}
        holders: dict[str, list[str]] = {}
        for parent in parents:
            for key in self._output_keys(parent) or ():
                holders.setdefault(key, []).append(parent)
        found: list[tuple[int, int, str]] = []
        for key, sharing in holders.items():
            later = self._first_together(sharing)
            if later is not None:
                keys = self._output_keys(later) or ()
                found.append((position[later], keys.index(key), key))
        # In the order a scan of parents (and of each one's keys) meets them.
        shared = dict.fromkeys(key for _, _, key in sorted(found))
        if shared:
            names = ", ".join(f"'{key}'" for key in shared)
            yield Finding(
                "inputs_overlap",
                node.id,
                path,
                f"inputs merges the outputs of {', '.join(repr(p) for p in parents)}, which "
                f"share {names}: the last parent in edge order wins. Read each one as "
                f"nodes.<id>.output.<key> to be sure which you get",
                warning=True,
            )

    def _first_together(self, parents: list[str]) -> str | None:
        """The first of ``parents`` that can be active with an earlier one (not on
        opposite branches of one node), or None."""
        for index, parent in enumerate(parents):
            for other in parents[:index]:
                if not self._exclusive(parent, other):
                    return parent
        return None

    # -- output shapes ---------------------------------------------------------------

    def _output_keys(self, node_id: str) -> tuple[str, ...] | None:
        """Every key ``node_id``'s output can have, or None when it is not known."""
        if node_id in self._output_memo:
            return self._output_memo[node_id]
        self._output_memo[node_id] = None  # Guards a cycle the validator reports anyway.
        node = self.nodes[node_id]
        node_type = get_node_type(node.type)
        schema = node_type.output_schema_for(node.data) if node_type else None
        keys: tuple[str, ...] | None = None
        if schema is not None and schema.get(PASSTHROUGH):
            inner = self._inputs_keys(node_id) if self.graph.parents(node_id) else None
            keys = None if inner is None else (*inner, *property_names(schema))
        elif is_closed(schema):
            keys = property_names(schema)
        if keys is not None and (node.on_error != OnError.FAIL or node_id in self._soft_failing):
            keys = (*keys, "error")
        result = None if keys is None else tuple(dict.fromkeys(keys))
        self._output_memo[node_id] = result
        return result

    def _inputs_keys(self, node_id: str) -> tuple[str, ...] | None:
        """Every key ``inputs`` of ``node_id`` can have (its parents merged), or None."""
        keys: list[str] = []
        for edge in self.graph.incoming[node_id]:
            if edge.source_handle == ERROR_HANDLE:
                keys.append("error")
                continue
            parent = self._output_keys(edge.source)
            if parent is None:
                return None
            keys.extend(parent)
        return tuple(dict.fromkeys(keys)) if keys else None

    def _is_passthrough(self, node_id: str) -> bool:
        node_type = get_node_type(self.nodes[node_id].type)
        schema = node_type.output_schema_for(self.nodes[node_id].data) if node_type else None
        return bool(schema and schema.get(PASSTHROUGH))

    def _exclusive(self, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` sit on opposite branches of one node (true/false of
        a condition, or the error and normal edges of one node): never both active."""
        branches_a, branches_b = self._branches(a), self._branches(b)
        return any(branches_b.get(key, value) != value for key, value in branches_a.items())

    def _branches(self, node_id: str) -> dict[str, str]:
        """The branch each branching node must have taken for ``node_id`` to run."""
        if node_id in self._branch_memo:
            return self._branch_memo[node_id]
        self._branch_memo[node_id] = {}
        per_edge: list[dict[str, str]] = []
        for edge in self.graph.incoming[node_id]:
            branches = dict(self._branches(edge.source))
            source_type = get_node_type(self.nodes[edge.source].type)
            if edge.source_handle == ERROR_HANDLE:
                branches[edge.source] = ERROR_HANDLE
            elif source_type is not None and edge.source_handle in source_type.branch_handles:
                branches[edge.source] = str(edge.source_handle)
            elif edge.source in self._soft_failing:
                branches[edge.source] = "ok"
            per_edge.append(branches)
        common: dict[str, str] = {}
        if per_edge:
            first, *rest = per_edge
            common = {
                key: value
                for key, value in first.items()
                if all(other.get(key) == value for other in rest)
            }
        self._branch_memo[node_id] = common
        return common

    def _ancestors(self, node_id: str) -> tuple[str, ...]:
        if node_id not in self._ancestor_memo:
            found: dict[str, None] = {}
            stack = self.graph.parents(node_id)
            while stack:
                current = stack.pop()
                if current not in found:
                    found[current] = None
                    stack.extend(self.graph.parents(current))
            self._ancestor_memo[node_id] = tuple(found)
        return self._ancestor_memo[node_id]

    # -- URLs ------------------------------------------------------------------------

    def _url_findings(self, node: NodeSpec, node_type: NodeType) -> Iterator[Finding]:
        if "url" not in node_type.config_model.model_fields:
            return
        url = node.data.get("url")
        if not isinstance(url, str) or not url.strip():
            return  # Missing or empty: the config check reports it.
        problem, suggestion = url_problem(url)
        if problem is not None:
            yield Finding("invalid_url", node.id, "data.url", problem, suggestion)


def url_problem(url: str) -> tuple[str | None, str | None]:
    """Why ``url`` can never be sent (and a corrected URL), or ``(None, None)``.

    A templated URL is checked up to its first ``{{``: ``ftp://{{ host }}`` is refused,
    ``{{ input.url }}`` is known only at run time.
    """
    literal = url.split("{{", 1)[0]
    templated = literal != url
    undecided = not literal or "https://".startswith(literal) or "http://".startswith(literal)
    if templated and "://" not in literal and undecided:
        return None, None  # The template supplies the scheme: known at run time only.
    parts = urlsplit(literal.strip())
    scheme = parts.scheme.lower()
    after_colon = literal.strip()[len(scheme) + 1 : len(scheme) + 2]
    if scheme and "://" not in literal and not after_colon.isdigit():
        # 'mailto:x@y', 'file:x' (but not 'localhost:8080/x', a host and a port).
        return (
            f"url '{url}' uses '{scheme}:': only http:// and https:// URLs are sent",
            None,
        )
    if scheme and "://" in literal:
        if scheme not in ("http", "https"):
            return (
                f"url '{url}' uses '{scheme}://': only http:// and https:// URLs are sent",
                None,
            )
        if not parts.netloc and not templated:
            return f"url '{url}' has no host: write it as {scheme}://host/path", None
        if " " in parts.netloc:
            return f"url '{url}' is not a URL: its host contains a space", None
        return None, None
    host = literal.strip().split("/", 1)[0].rsplit(":", 1)[0]  # 'localhost:8080' too
    looks_like_host = (
        bool(host) and " " not in literal.strip() and ("." in host or host == "localhost")
    )
    suggestion = f"https://{url.strip()}" if looks_like_host else None
    hint = f"; did you mean '{suggestion}'?" if suggestion else "."
    return (
        f"url '{url}' is not an absolute http(s) URL{hint} Write it as "
        "https://host/path (templates may fill in parts: https://api/{{ inputs.id }})",
        suggestion,
    )


# -- reading expressions ------------------------------------------------------------


def _sources_of(node: NodeSpec, node_type: NodeType) -> Iterator[tuple[str, str, str | None]]:
    """``(field path, expression source, template text or None)`` of every expression."""
    # The node type says which of its fields are expressions (and walks them).
    for path, source in node_type.expressions(node.data):
        yield f"data.{path}", source, None
    skipped = (
        *node_type.expression_fields,
        *node_type.literal_fields,
        *PRESENTATION_KEYS,
        *DATA_PRESENTATION_KEYS,
    )
    for key, value in node.data.items():
        if key not in skipped:
            yield from _template_leaves(value, f"data.{key}")


def _template_leaves(value: Any, path: str) -> Iterator[tuple[str, str, str | None]]:
    if isinstance(value, str):
        for raw, source in template_sources(value):
            yield path, source, raw
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _template_leaves(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _template_leaves(item, f"{path}[{index}]")


def _names(parts: list[ast.AST]) -> list[str]:
    return list(
        dict.fromkeys(
            node.id for node in parts if isinstance(node, ast.Name) and node.id not in FUNCTIONS
        )
    )


@dataclass(frozen=True)
class _Expression:
    """What the checks read from one expression's syntax tree."""

    names: tuple[str, ...]
    """Bare names, functions left out, in first-use order."""
    names_read: frozenset[str]
    """Every bare name (functions included)."""
    called: frozenset[str]
    """Names called as functions."""
    references: tuple[_Reference, ...]

    @classmethod
    def of(cls, tree: ast.AST) -> _Expression:
        parts = _walk(tree)  # once per expression: every check reads it
        return cls(
            names=tuple(_names(parts)),
            names_read=frozenset(node.id for node in parts if isinstance(node, ast.Name)),
            called=frozenset(
                call.func.id
                for call in parts
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            ),
            references=tuple(_references(parts)),
        )


def _walk(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree``, outer ones first (as :func:`ast.walk`).

    Not :func:`ast.walk` itself: it imports ``collections`` inside the function on every
    call, and inside Temporal's workflow sandbox (where validation runs) each of those
    imports goes through the sandbox's importer: validating 8,000 nodes then took long
    enough to trip the SDK's 2 s deadlock detection.
    """
    nodes: list[ast.AST] = [tree]
    index = 0
    while index < len(nodes):
        nodes.extend(ast.iter_child_nodes(nodes[index]))
        index += 1
    return nodes


def _references(parts: list[ast.AST]) -> list[_Reference]:
    """The longest constant-key access chain of every name (``a.b["c"][0]`` -> a, b, c),
    from an expression's nodes in :func:`_walk` order."""
    inner: set[int] = set()
    methods = {
        id(node.func)
        for node in parts
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    chains: list[_Reference] = []
    for node in parts:  # Outer accesses come before the ones they contain.
        if not isinstance(node, ast.Attribute | ast.Subscript) or id(node) in inner:
            continue
        keys: list[str] = []
        current: ast.expr = node
        if isinstance(node, ast.Attribute) and id(node) in methods:
            inner.add(id(node))
            current = node.value  # '.upper()' is a method call, not a key.
        while isinstance(current, ast.Attribute | ast.Subscript):
            inner.add(id(current))
            if isinstance(current, ast.Attribute):
                keys.append(current.attr)
            elif isinstance(current.slice, ast.Constant) and isinstance(current.slice.value, str):
                keys.append(current.slice.value)
            else:
                keys.clear()  # A computed key or index: only what comes before it counts.
            current = current.value
        if isinstance(current, ast.Name):
            chains.append(_Reference(current.id, tuple(reversed(keys))))
    return chains
