"""``flov7 event`` and ``flov7 schedule``: the command-line side of the automation
features (docs/triggers.md). Answers go to stdout as JSON, messages to stderr."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flov7.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
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


def add_schedule_parser(commands: Any) -> None:
    """``flov7 schedule create|list|show|pause|resume|trigger|backfill|delete``."""
    schedule = commands.add_parser(
        "schedule",
        help="manage schedules of stored workflows",
        description="Schedules start runs of a stored workflow on cron lines or an "
        "interval: Temporal Schedules, or with ENABLE_TEMPORAL_FEATURES=false the local "
        "scheduler of `flov7 serve` (this command only manages them there). Prints the "
        "schedule as JSON. Exit 1 for an unknown schedule or an invalid field, 3 when "
        "the engine cannot be reached.",
    )
    actions = schedule.add_subparsers(dest="schedule_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a schedule")
    create.add_argument("workflow_id", help="the stored workflow to run")
    create.add_argument("--id", dest="schedule_id", help="schedule id (default: generated)")
    create.add_argument("--cron", action="append", help="cron line (5 fields); repeat for several")
    create.add_argument("--every", type=float, help="or: fire every this many seconds")
    create.add_argument("--timezone", help="IANA time zone (default UTC)")
    create.add_argument("--input", dest="run_input", help="run input (JSON object)")
    create.add_argument("--version", help="workflow version, or 'latest' (default)")
    create.add_argument(
        "--overlap",
        choices=[
            "skip",
            "buffer_one",
            "buffer_all",
            "cancel_other",
            "terminate_other",
            "allow_all",
        ],
    )
    create.add_argument("--catchup-window", type=float, help="seconds (missed fires)")
    create.add_argument("--jitter", type=float, help="seconds of random delay per fire")
    create.add_argument("--paused", action="store_true", help="create it paused")
    create.add_argument("--note")
    actions.add_parser("list", help="list schedules")
    for name, text in (
        ("show", "show a schedule: next fire times, recent runs"),
        ("pause", "stop firing"),
        ("resume", "fire again"),
        ("trigger", "start one run now"),
        ("delete", "delete it (its runs stay)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("schedule_id")
        if name in ("pause", "resume"):
            action.add_argument("--note")
    backfill = actions.add_parser("backfill", help="start the runs of a past window")
    backfill.add_argument("schedule_id")
    backfill.add_argument("start", help="ISO 8601, e.g. 2026-12-01T00:00:00Z")
    backfill.add_argument("end", help="ISO 8601 (exclusive)")


async def manage_schedules(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``flov7 schedule``."""
    from flov7.backends import WorkerChoice, open_backend
    from flov7.store.database import Database
    from flov7.store.repository import Repository
    from flov7.triggers.schedules import (
        ScheduleCreate,
        ScheduleFieldError,
        ScheduleNotFoundError,
        SchedulesUnavailableError,
        resolve_target,
        schedules_of,
    )

    request: ScheduleCreate | None = None
    if args.schedule_action == "create":
        request = _create_request(args, ScheduleCreate)
        if request is None:
            return EXIT_USAGE
    try:
        async with (
            Database.open(settings.flov7.resolved_database_url) as database,
            open_backend(settings, database=database, worker=WorkerChoice.NEVER) as backend,
        ):
            schedules = await schedules_of(backend)
            action = args.schedule_action
            answer: Any = None
            if request is not None:
                request.check()
                target = await resolve_target(
                    Repository(database), request.workflow_id, request.version
                )
                schedule_id = request.schedule_id or _new_id(request.workflow_id)
                answer = await schedules.create(schedule_id, request, target)
            elif action == "list":
                answer = await schedules.list(None, 100)
            elif action == "show":
                answer = await schedules.get(args.schedule_id)
            elif action in ("pause", "resume"):
                change = schedules.pause if action == "pause" else schedules.resume
                await change(args.schedule_id, args.note)
                answer = await schedules.get(args.schedule_id, details=False)
            elif action == "trigger":
                await schedules.trigger(args.schedule_id)
                print(f"schedule {args.schedule_id}: one run started", file=sys.stderr)
            elif action == "backfill":
                start, end = _when(args.start), _when(args.end)
                if start is None or end is None or end <= start:
                    print(
                        "error: start and end must be ISO 8601 times, end after start",
                        file=sys.stderr,
                    )
                    return EXIT_USAGE
                await schedules.backfill(args.schedule_id, start, end)
                print(f"schedule {args.schedule_id}: backfilling", file=sys.stderr)
            else:
                await schedules.delete(args.schedule_id)
                print(f"schedule {args.schedule_id} deleted", file=sys.stderr)
    except (ScheduleFieldError, ScheduleNotFoundError, SchedulesUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if answer is not None:
        print(answer.model_dump_json(indent=2))
    return EXIT_OK


def _create_request(args: argparse.Namespace, model: Any) -> Any:
    from pydantic import ValidationError

    fields: dict[str, Any] = {"workflow_id": args.workflow_id}
    if args.run_input is not None:
        try:
            fields["input"] = json.loads(args.run_input)
        except json.JSONDecodeError as exc:
            print(f"error: --input is not valid JSON: {exc.msg}", file=sys.stderr)
            return None
    if args.version is not None:
        fields["version"] = int(args.version) if args.version.isdigit() else args.version
    given = {
        "schedule_id": args.schedule_id,
        "cron": args.cron,
        "interval_seconds": args.every,
        "timezone": args.timezone,
        "overlap": args.overlap,
        "catchup_window_seconds": args.catchup_window,
        "jitter_seconds": args.jitter,
        "paused": args.paused or None,
        "note": args.note,
    }
    fields.update({key: value for key, value in given.items() if value is not None})
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'schedule'}: {e['msg']}" for e in exc.errors()
        )
        print(f"error: {problems}", file=sys.stderr)
        return None


def _new_id(workflow_id: str) -> str:
    import uuid

    return f"{workflow_id}-{uuid.uuid4().hex[:8]}"


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
