"""Log format (auto: JSON off a terminal, text on one), correlation fields, secret masking."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from flov7.observability import correlation
from flov7.observability.logging import log_handler, register_secrets, resolve_format


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def emit(stream: io.StringIO, fmt: str, message: str, *args: object, **extra: object) -> str:
    logger = logging.getLogger(f"flov7.test.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(log_handler(stream, fmt))
    logger.info(message, *args, extra=extra)
    return stream.getvalue().strip()


@pytest.mark.parametrize(
    ("stream", "fmt", "expected"),
    [
        (io.StringIO(), "auto", "json"),
        (Terminal(), "auto", "text"),
        (Terminal(), "json", "json"),
        (io.StringIO(), "text", "text"),
    ],
)
def test_auto_format_follows_the_terminal(stream: io.StringIO, fmt: str, expected: str) -> None:
    assert resolve_format(fmt, stream) == expected


def test_json_lines_carry_the_bound_correlation_fields() -> None:
    with correlation.bound(request_id="req-1", execution_id="ex-1", node_id="n1", attempt=2):
        line = emit(io.StringIO(), "auto", "hello %s", "world", event="node_started")
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert (entry["request_id"], entry["execution_id"], entry["node_id"]) == ("req-1", "ex-1", "n1")
    assert entry["attempt"] == 2
    assert entry["event"] == "node_started"


def test_text_lines_show_the_correlation_fields() -> None:
    with correlation.bound(request_id="req-2", workflow_id="wf"):
        line = emit(Terminal(), "auto", "plain")
    assert line.endswith("plain [request_id=req-2 workflow_id=wf]")
    assert not line.startswith("{")


def test_registered_secrets_are_masked_in_messages_arguments_extras_and_tracebacks() -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    register_secrets([secret, "abc"])  # too short to mask: ignored
    stream = io.StringIO()
    logger = logging.getLogger("flov7.test.secrets")
    logger.propagate = False
    logger.addHandler(log_handler(stream, "json"))
    logger.warning("token %s in an argument", secret, extra={"url": f"https://x/?k={secret}"})
    try:
        raise RuntimeError(f"driver said {secret}")
    except RuntimeError:
        logger.exception("failed")
    text = stream.getvalue()
    assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"] == "token *** in an argument"
    assert first["url"] == "https://x/?k=***"
    assert "driver said ***" in second["exception"]


def test_request_ids_must_be_tokens() -> None:
    assert correlation.safe_request_id("abc-123") == "abc-123"
    assert correlation.safe_request_id("a\nb") != "a\nb"
    assert correlation.safe_request_id("x" * 200) != "x" * 200
    assert len(correlation.safe_request_id(None)) == 32
