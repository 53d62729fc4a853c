"""Whether an I/O node runs as a Temporal local activity or as a regular activity.

One rule, used by the driver for both runtimes (the decision travels on
:class:`~flov7.engine.driver.ActivityPolicy`; the local runtime runs every node
in-process and ignores it, with the same results):

1. A node's own ``"execution": "local" | "activity"`` wins.
2. Otherwise a type that does not prefer local activities (``NodeType.execution``:
   ``approval``'s preparing activity, any type without a preference) runs regular.
3. Otherwise the node runs as a local activity when one attempt cannot take longer than
   :data:`LOCAL_ACTIVITY_MAX_ATTEMPT_SECONDS`: the shorter of its attempt timeout
   (``timeout_seconds``, else ``TEMPORAL_ACTIVITY_TIMEOUT_MINUTES``) and the type's own
   bound (``api_call``/``webhook``: ``data.http_timeout_seconds``, 30 s by default, which
   limits the whole exchange). So a default ``api_call`` or ``webhook`` is local; a
   ``database`` or ``ai_agent`` node is local when its ``timeout_seconds`` (or, for
   ``ai_agent``, nothing else: its model may answer slowly) is at most 60 s.

Why a limit: a local activity runs inside the workflow task of the worker that runs the
workflow. It cannot heartbeat, and while it runs the workflow task stays open, so other
branches' completions and signals wait for the SDK's workflow-task heartbeat (seconds).
A long call is better off as a regular activity, which heartbeats and which any worker
may take. Both kinds retry under the same policy and are re-run when the worker running
them dies (a local activity when another worker replays the workflow task).

The inputs are all in the workflow document (the rendered config included), so the
decision is the same on every replay.
"""

from __future__ import annotations

from flov7.nodes.base import NodeConfig, NodeType
from flov7.spec import Execution, NodeSpec

__all__ = ["LOCAL_ACTIVITY_MAX_ATTEMPT_SECONDS", "Execution", "choose_execution"]

LOCAL_ACTIVITY_MAX_ATTEMPT_SECONDS = 60.0
"""Longest attempt a node may take to run as a local activity by default."""


def choose_execution(
    node: NodeSpec,
    node_type: NodeType,
    config: NodeConfig | None,
    attempt_timeout_seconds: float,
) -> Execution:
    """How ``node`` runs on Temporal (see the module docstring for the rule)."""
    if node.execution is not None:
        return node.execution
    if node_type.execution != Execution.LOCAL:
        return Execution.ACTIVITY
    bound = node_type.attempt_bound_seconds(config) if config is not None else None
    longest = attempt_timeout_seconds if bound is None else min(bound, attempt_timeout_seconds)
    if longest <= LOCAL_ACTIVITY_MAX_ATTEMPT_SECONDS:
        return Execution.LOCAL
    return Execution.ACTIVITY
