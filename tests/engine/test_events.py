"""The event mailbox, and request edges that start while their source still waits."""

from __future__ import annotations

from flov7.engine.events import MAX_PENDING_EVENTS, EventMailbox
from flov7.engine.interpreter import Interpreter
from flov7.spec import WorkflowSpec


def test_each_event_is_taken_once_oldest_first_and_by_name() -> None:
    mailbox = EventMailbox()
    mailbox.deliver("paid", 1, "t1")
    mailbox.deliver("other", 2, "t2")
    mailbox.deliver("paid", 3, "t3")
    assert mailbox.has("paid") and not mailbox.has("nope")
    first = mailbox.take("paid")
    assert first is not None and first.data == 1 and first.received_at == "t1"
    second = mailbox.take("paid")
    assert second is not None and second.data == 3
    assert mailbox.take("paid") is None
    assert mailbox.pending_names() == ["other"]


def test_the_mailbox_is_bounded() -> None:
    mailbox = EventMailbox()
    for index in range(MAX_PENDING_EVENTS + 5):
        mailbox.deliver("e", index, "t")
    assert len(mailbox.pending_names()) == MAX_PENDING_EVENTS
    taken = mailbox.take("e")
    assert taken is not None and taken.data == 5


def _approval_graph(on_error: str = "fail") -> Interpreter:
    spec = WorkflowSpec.model_validate(
        {
            "id": "w",
            "nodes": [
                {"id": "ask", "type": "approval", "data": {}, "on_error": on_error},
                {"id": "send", "type": "transform", "data": {"mapping": {"u": "inputs.url"}}},
                {"id": "after", "type": "transform", "data": {"mapping": {"ok": "inputs.ok"}}},
            ],
            "edges": [
                {"id": "e1", "source": "ask", "target": "send", "sourceHandle": "request"},
                {"id": "e2", "source": "ask", "target": "after"},
            ],
        }
    )
    return Interpreter(spec)


def test_request_edges_start_on_the_offer_and_normal_edges_at_the_end() -> None:
    interpreter = _approval_graph()
    assert interpreter.advance("t0") == ["ask"]
    interpreter.offer("ask", {"url": "u"})
    assert interpreter.advance("t1") == ["send"]
    assert interpreter.scope_for("send", {})["inputs"] == {"url": "u"}
    interpreter.complete("send", {"u": "u"}, attempts=1, now="t2")
    assert interpreter.advance("t2") == []
    interpreter.complete("ask", {"ok": True}, attempts=1, now="t3")
    assert interpreter.advance("t3") == ["after"]  # send is not started twice
    assert interpreter.scope_for("after", {})["inputs"] == {"ok": True}


def test_a_node_that_fails_before_its_offer_skips_its_request_edges() -> None:
    interpreter = _approval_graph(on_error="continue")
    interpreter.advance("t0")
    interpreter.fail("ask", {"type": "X", "message": "m"}, attempts=1, now="t1")
    assert interpreter.advance("t1") == ["after"]
    assert interpreter.states["send"].status == "skipped"
