"""Registers the built-in node types."""

from flov7.nodes import (  # noqa: F401  (imported for their registration)
    ai_agent,
    api_call,
    condition,
    database,
    delay,
    transform,
    webhook,
)

GUIDE_ORDER = ("api_call", "condition", "transform", "delay", "database", "webhook", "ai_agent")
"""The order the integration guide lists node types in; listings follow it."""
