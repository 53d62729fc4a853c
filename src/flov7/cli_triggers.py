"""``flov7 event``: the command-line side of the automation features (docs/triggers.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flov7.config import Settings

EXIT_OK = 0
EXIT_USAGE = 2


def add_event_parser(commands: Any) -> None:
    """``flov7 event EXECUTION_ID NAME [--data JSON]``."""
    event = commands.add_parser(
        "event",
        help="send a named event to a run (for its 'wait' node)",
        description="Deliver an event to a run: its 'wait' node for NAME takes it now, "
        "or when it starts (an event sent early is kept). On Temporal this sends the "
        "'deliver_event' signal; on the local engine only the process running the run "
        "can take it (flov7 serve: use the API). Exit 0 when delivered, 1 when the run "
        "is unknown or closed, 3 when the engine cannot be reached.",
    )
    event.add_argument("execution_id", help="the run's execution id")
    event.add_argument("name", help="the event's name (the wait node's 'event')")
    event.add_argument("--data", help="the event's data as JSON (the wait node's output)")


async def send_event(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``flov7 event``."""
    from flov7.backends import WorkerChoice, open_backend

    data: Any = None
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except json.JSONDecodeError as exc:
            print(f"error: --data is not valid JSON: {exc.msg}", file=sys.stderr)
            return EXIT_USAGE
    async with open_backend(settings, worker=WorkerChoice.NEVER) as backend:
        await backend.send_event(args.execution_id, args.name, data)
    print(f"run {args.execution_id}: event '{args.name}' delivered", file=sys.stderr)
    return EXIT_OK
