"""Workflow validation: one report listing every problem, each naming node and field.

Used before a run starts (CLI, API, ``WorkflowValidation``) and by ``WorkflowExecution``
itself, which refuses an invalid document instead of half-running it. Pure code: it
runs inside Temporal workflow code too.

Besides the document's shape, node types, configs, edges, cycles and connectivity, it
reports unknown and misplaced fields with suggestions (:mod:`flov7.engine.fields`) and
what expressions and templates refer to (:mod:`flov7.engine.static_checks`); every code
is listed in docs/workflows.md ("Validation").
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from flov7.engine.expressions import check_expression, has_template, template_errors
from flov7.engine.fields import (
    edge_field_problems,
    node_field_problems,
    timeout_warnings,
    workflow_field_problems,
)
from flov7.engine.graph import Graph
from flov7.engine.static_checks import StaticChecker
from flov7.errors import ExpressionError, WorkflowDocumentError
from flov7.messages import error_message, error_suggestion
from flov7.nodes.base import NodeKind, NodeType
from flov7.nodes.registry import get_node_type, node_types
from flov7.spec import NodeSpec, OnError, WorkflowSpec, parse_workflow
from flov7.suggestions import did_you_mean

ERROR_HANDLE = "error"


@dataclass(frozen=True)
class Issue:
    """One problem (or warning) found in a document."""

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None
    suggestion: str | None = None
    """What was probably meant: a field path (``data.method``), a node type, a name."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form; keys with no value are left out."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_workflow`."""

    issues: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    spec: WorkflowSpec | None = None

    @property
    def valid(self) -> bool:
        """True when there is no issue (warnings do not count)."""
        return not self.issues

    def as_dict(self) -> dict[str, Any]:
        """The guide's shape: ``valid``, ``issues``, ``warnings`` (plus counts)."""
        return {
            "valid": self.valid,
            "issues": [issue.as_dict() for issue in self.issues],
            "warnings": [warning.as_dict() for warning in self.warnings],
            "node_count": len(self.spec.nodes) if self.spec else 0,
            "edge_count": len(self.spec.edges) if self.spec else 0,
        }

    def summary(self) -> str:
        """Human-readable lines, one per issue."""
        lines = [f"- {_where(issue)}{issue.message}" for issue in self.issues]
        return "\n".join(lines) if lines else "valid"


def _where(issue: Issue) -> str:
    if issue.node_id is not None:
        place = f"node '{issue.node_id}'"
    elif issue.edge_id is not None:
        place = f"edge '{issue.edge_id}'"
    else:
        return ""
    return f"{place}{f' ({issue.field})' if issue.field else ''}: "


MAX_WORKFLOW_NODES = 25_000
"""Most nodes one workflow document may have (``too_many_nodes`` beyond).

A run is one Temporal workflow: its document is parsed in one workflow task, which the
SDK fails when it holds the thread for 2 s (deadlock detection), and then retries for
ever. Parsing 25,000 nodes takes about 0.5 s of CPU here; the rest of the validation
and the run itself are paced over several tasks (:func:`validation_steps`). Larger
graphs are split into sub-workflows (``workflow`` nodes, ``for_each`` over a stored
workflow)."""

MAX_WORKFLOW_EDGES = 2 * MAX_WORKFLOW_NODES
"""Most edges one workflow document may have (``too_many_edges`` beyond), for the same
reason as :data:`MAX_WORKFLOW_NODES` (a fan-out and fan-in has two edges per node)."""

# What each part of the validation costs, in the steps that pace a run's workflow tasks
# (engine/driver.py: MAX_STEPS_PER_CHECKPOINT, about 0.35 s of CPU here). Calibrated on
# 20,000-node documents at about 0.7 us of CPU per step: parsing 17 us per node and
# 4 us per edge, the node checks about 15 us, the graph 4 us per node and edge, the
# static checks about 14 us per node. Counted from the document, never timed, so that
# a replay ends its workflow tasks at the same places (Temporal determinism).
PARSE_STEPS_PER_NODE = 25
PARSE_STEPS_PER_EDGE = 6
CHECK_STEPS_PER_NODE = 22
CHECK_STEPS_PER_EDGE = 3
GRAPH_STEPS_PER_NODE = 6
GRAPH_STEPS_PER_EDGE = 6
STATIC_STEPS_PER_NODE = 20


def validate_workflow(
    document: Any,
    *,
    strict: bool = True,
    static_checks: bool = True,
    max_nodes: int | None = MAX_WORKFLOW_NODES,
) -> ValidationReport:
    """Validate a workflow document (dict or :class:`WorkflowSpec`).

    ``strict=False`` leaves out the checks added after runs could already be in flight
    (unknown and misplaced fields, expression references, URLs, output shapes), for the
    replay of a run started before them: a workflow must decide as it first did.
    ``static_checks=False`` leaves out the expression-reference checks only (a
    ``for_each`` body, whose expressions see names the body alone does not define).
    ``max_nodes``: more nodes than this (or edges than twice this) is an issue before
    anything else is read (None: no limit, for replays of runs started before it).
    """
    steps = validation_steps(
        document, strict=strict, static_checks=static_checks, max_nodes=max_nodes
    )
    while True:
        try:
            next(steps)
        except StopIteration as done:
            report: ValidationReport = done.value
            return report


def validation_steps(
    document: Any,
    *,
    strict: bool = True,
    static_checks: bool = True,
    max_nodes: int | None = MAX_WORKFLOW_NODES,
) -> Generator[int, None, ValidationReport]:
    """:func:`validate_workflow` in steps: before each piece of work, yields what it is
    about to cost (in the steps that pace workflow tasks); returns the report.

    Workflow code validating a large document ends its workflow task at a yield when
    that piece would take the task past its budget (Temporal fails a task that holds
    the thread for 2 s); the costs are counted from the document, so replays stop at the
    same places. Every other caller runs it to the end in one go.
    """
    report = ValidationReport()
    if max_nodes is not None and _too_large(document, max_nodes, report):
        return report
    yield _parse_cost(document)
    try:
        spec = parse_workflow(document)
    except WorkflowDocumentError as exc:
        cause = exc.__cause__
        errors = cause.errors() if isinstance(cause, ValidationError) else []
        for index, (where, message) in enumerate(exc.problems or [("document", str(exc))]):
            error = errors[index] if index < len(errors) else None
            report.issues.append(
                Issue(
                    "invalid_document",
                    f"{where}: {message}",
                    _node_at(document, error["loc"]) if error else None,
                    field=where,
                    suggestion=error_suggestion(error) if error else None,
                )
            )
        return report
    report.spec = spec
    for problem in workflow_field_problems(spec) if strict else []:
        report.warnings.append(
            Issue(problem.code, problem.message, field=problem.field, suggestion=problem.suggestion)
        )
    if not spec.nodes:
        report.issues.append(Issue("empty_workflow", "The workflow has no nodes", field="nodes"))
        return report
    _check_ids(spec, report)
    for edge in spec.edges if strict else []:
        yield CHECK_STEPS_PER_EDGE
        for problem in edge_field_problems(edge):
            report.warnings.append(
                Issue(
                    problem.code,
                    problem.message,
                    edge_id=edge.id,
                    field=problem.field,
                    suggestion=problem.suggestion,
                )
            )
    for node in spec.nodes:
        yield CHECK_STEPS_PER_NODE * (1 + _body_nodes(node))
        _check_node(node, report, spec.defaults.activity_timeout_seconds, strict=strict)
    edge_steps = (CHECK_STEPS_PER_EDGE + GRAPH_STEPS_PER_EDGE) * len(spec.edges)
    yield edge_steps + GRAPH_STEPS_PER_NODE * len(spec.nodes)
    _check_edges(spec, report)
    graph = Graph.from_spec(spec)
    cycle = graph.find_cycle()
    if cycle:
        report.issues.append(
            Issue(
                "cycle",
                "Cycle between nodes: " + " -> ".join(cycle),
                node_id=cycle[0],
                field="edges",
            )
        )
    _check_connectivity(spec, graph, report)
    if cycle is None and strict and static_checks:
        checker = StaticChecker(spec, graph)
        for _ in checker.steps():
            yield STATIC_STEPS_PER_NODE
        for finding in checker.findings:
            issue = Issue(
                finding.code,
                finding.message,
                finding.node_id,
                field=finding.field,
                suggestion=finding.suggestion,
            )
            (report.warnings if finding.warning else report.issues).append(issue)
    return report


def _parse_cost(document: Any) -> int:
    """What parsing ``document`` costs, from the length of its lists."""
    if not isinstance(document, dict):
        return 0
    nodes, edges = document.get("nodes"), document.get("edges")
    return PARSE_STEPS_PER_NODE * (len(nodes) if isinstance(nodes, list) else 0) + (
        PARSE_STEPS_PER_EDGE * (len(edges) if isinstance(edges, list) else 0)
    )


def _body_nodes(node: NodeSpec) -> int:
    """How many nodes the bodies nested in ``node`` (``for_each``) have."""
    node_type = get_node_type(node.type)
    count = 0
    for _, body in node_type.bodies(node.data) if node_type is not None else []:
        inner = body.get("nodes") if isinstance(body, dict) else None
        count += len(inner) if isinstance(inner, list) else 0
    return count


def _too_large(document: Any, max_nodes: int, report: ValidationReport) -> bool:
    """Report a document over the size limits (before parsing it); True if it is."""
    if not isinstance(document, dict):
        return False  # parse_workflow says what is wrong with it
    for key, code, limit in (
        ("nodes", "too_many_nodes", max_nodes),
        ("edges", "too_many_edges", 2 * max_nodes),
    ):
        items = document.get(key)
        if isinstance(items, list) and len(items) > limit:
            report.issues.append(
                Issue(
                    code,
                    f"The workflow has {len(items):,} {key}; one workflow runs at most "
                    f"{limit:,} (each run is one Temporal workflow, whose document is read "
                    "in one workflow task). Split it: move parts into stored workflows "
                    "called by 'workflow' nodes, or repeat one with 'for_each'",
                    field=key,
                )
            )
    return bool(report.issues)


def _node_at(document: Any, loc: tuple[int | str, ...]) -> str | None:
    """The id of the node an error location points into (``nodes[2]...``), if any."""
    if len(loc) < 2 or loc[0] != "nodes" or not isinstance(loc[1], int):
        return None
    nodes = document.get("nodes") if isinstance(document, dict) else None
    if isinstance(nodes, list) and 0 <= loc[1] < len(nodes) and isinstance(nodes[loc[1]], dict):
        node_id = nodes[loc[1]].get("id")
        return node_id if isinstance(node_id, str) else None
    return None


def _check_ids(spec: WorkflowSpec, report: ValidationReport) -> None:
    seen: dict[str, None] = {}
    for node in spec.nodes:
        if node.id in seen:
            report.issues.append(
                Issue(
                    "duplicate_node_id", f"Node id '{node.id}' is used twice", node.id, field="id"
                )
            )
        seen[node.id] = None
    seen_edges: dict[str, None] = {}
    for edge in spec.edges:
        if edge.id in seen_edges:
            report.issues.append(
                Issue("duplicate_edge_id", f"Edge id '{edge.id}' is used twice", edge_id=edge.id)
            )
        seen_edges[edge.id] = None


def _check_node(
    node: NodeSpec, report: ValidationReport, attempt_seconds: float, *, strict: bool
) -> None:
    node_type = get_node_type(node.type)
    if node_type is None:
        known = ", ".join(node_types())
        hint, suggestion = did_you_mean(node.type, node_types())
        report.issues.append(
            Issue(
                "unknown_node_type",
                f"Unknown node type '{node.type}'{hint or '.'} Known types: {known}",
                node.id,
                field="type",
                suggestion=suggestion,
            )
        )
        return
    if strict and node.execution is not None and node_type.kind != NodeKind.ACTIVITY:
        # Only I/O nodes run as activities; elsewhere the field changes nothing.
        report.warnings.append(
            Issue(
                "execution_ignored",
                f"'execution' applies to I/O nodes (api_call, webhook, database, ai_agent); "
                f"a {node.type} node runs {_where_it_runs(node_type)}, so it is ignored",
                node.id,
                field="execution",
            )
        )
    if strict:
        for problem in timeout_warnings(node, node_type, attempt_seconds):
            report.warnings.append(
                Issue(problem.code, problem.message, node.id, field=problem.field)
            )
        for problem in node_field_problems(node, node_type):
            report.issues.append(
                Issue(
                    problem.code,
                    problem.message,
                    node.id,
                    field=problem.field,
                    suggestion=problem.suggestion,
                )
            )
    _check_config(node, node_type, report)
    _check_expressions_and_literals(node, node_type, report)


def _where_it_runs(node_type: NodeType) -> str:
    return {
        NodeKind.PURE: "inside the workflow",
        NodeKind.TIMER: "as a durable timer",
        NodeKind.EVENT: "as a durable wait",
        NodeKind.COMPOSITE: "its own nodes as they say",
    }.get(node_type.kind, "as it must")


def _check_expressions_and_literals(
    node: NodeSpec, node_type: NodeType, report: ValidationReport
) -> None:
    for path, expression in _expressions_of(node, node_type):
        try:
            check_expression(expression)
        except ExpressionError as exc:
            report.issues.append(Issue("invalid_expression", str(exc), node.id, field=path))
    for name in node_type.literal_fields:
        value = node.data.get(name)
        if isinstance(value, str) and has_template(value):
            report.issues.append(
                Issue(
                    "template_not_allowed",
                    f"'{name}' is used exactly as written: templates are not allowed here, "
                    "so that run data cannot change it; pass values as named :params in "
                    "'params' instead",
                    node.id,
                    field=f"data.{name}",
                )
            )
    if node.on_error == OnError.CONTINUE and node_type.branch_handles:
        report.issues.append(
            Issue(
                "on_error_continue_on_branch",
                f"on_error 'continue' cannot choose a branch of a {node.type}: route its "
                "failures with an edge whose sourceHandle is 'error' instead",
                node.id,
                field="on_error",
            )
        )
    templated = {
        k: v
        for k, v in node.data.items()
        if k not in node_type.expression_fields and k not in node_type.literal_fields
    }
    for path, message in template_errors(templated):
        report.issues.append(Issue("invalid_template", message, node.id, field=f"data.{path}"))
    for path, body in node_type.bodies(node.data):
        # A nested graph (for_each body) is validated like a workflow of its own; its
        # issues name the outer node and the inner node's place.
        # Its expressions also see `item`, `index` and the outer run's scope, which the
        # static checks of a whole workflow do not know: those are left out here.
        for issue in validate_workflow(body, static_checks=False).issues:
            where = [f"data.{path}"]
            if issue.node_id is not None:
                where.append(f"nodes.{issue.node_id}")
            elif issue.edge_id is not None:
                where.append(f"edges.{issue.edge_id}")
            if issue.field:
                where.append(issue.field)
            report.issues.append(Issue(issue.code, issue.message, node.id, field=".".join(where)))


def _check_config(node: NodeSpec, node_type: NodeType, report: ValidationReport) -> None:
    try:
        node_type.config_model.model_validate(node.data)
    except ValidationError as exc:
        for err in exc.errors():
            location = [str(part) for part in err["loc"]]
            if _is_templated(node.data, err["loc"]):
                continue  # Known only at run time, once the template is rendered.
            field = "data" + "".join(f".{part}" for part in location)
            suggestion = error_suggestion(err)
            report.issues.append(
                Issue(
                    "invalid_config",
                    f"{node.type}: {error_message(err)}",
                    node.id,
                    field=field,
                    suggestion=suggestion,
                )
            )


def _is_templated(data: Any, loc: tuple[int | str, ...]) -> bool:
    current = data
    for part in loc:
        if isinstance(current, str):
            break
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(current, str) and has_template(current)


def _expressions_of(node: NodeSpec, node_type: NodeType) -> list[tuple[str, str]]:
    return [(f"data.{path}", text) for path, text in node_type.expressions(node.data)]


def _check_edges(spec: WorkflowSpec, report: ValidationReport) -> None:
    nodes = {node.id: node for node in spec.nodes}
    has_error_edge: dict[str, None] = {}
    for edge in spec.edges:
        for end, node_id in (("source", edge.source), ("target", edge.target)):
            if node_id not in nodes:
                report.issues.append(
                    Issue(
                        "missing_node",
                        f"Edge {end} '{node_id}' is not a node of this workflow",
                        edge_id=edge.id,
                        field=end,
                    )
                )
        source = nodes.get(edge.source)
        if source is None:
            continue
        if edge.source_handle == ERROR_HANDLE:
            has_error_edge[source.id] = None
            if source.on_error == OnError.CONTINUE:
                report.warnings.append(
                    Issue(
                        "error_edge_ignored",
                        f"Node '{source.id}' has on_error 'continue', so its 'error' edge "
                        f"'{edge.id}' is never taken",
                        edge_id=edge.id,
                        field="sourceHandle",
                    )
                )
            continue
        source_type = get_node_type(source.type)
        if (
            source_type is not None
            and source_type.branch_handles
            and edge.source_handle not in source_type.branch_handles
        ):
            allowed = " or ".join(f"'{h}'" for h in source_type.branch_handles)
            got = "none" if edge.source_handle is None else f"'{edge.source_handle}'"
            report.issues.append(
                Issue(
                    "missing_branch_handle",
                    f"Edge leaving {source.type} node '{source.id}' needs sourceHandle "
                    f"{allowed} (got {got})",
                    edge_id=edge.id,
                    field="sourceHandle",
                )
            )
    for node in spec.nodes:
        if node.on_error == OnError.ERROR_HANDLE and node.id not in has_error_edge:
            report.warnings.append(
                Issue(
                    "no_error_edge",
                    "on_error is 'error' but no edge leaves this node with sourceHandle "
                    "'error': a failure ends this branch",
                    node.id,
                    field="on_error",
                )
            )


def _check_connectivity(spec: WorkflowSpec, graph: Graph, report: ValidationReport) -> None:
    if len(spec.nodes) < 2:
        return
    for node_id in graph.node_ids:
        if not graph.incoming[node_id] and not graph.outgoing[node_id]:
            report.warnings.append(
                Issue(
                    "disconnected_node",
                    "Node has no edges; it runs on its own at the start of the run",
                    node_id,
                )
            )
