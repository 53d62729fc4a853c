"""Prefect's side of bench/chain.py: a chain of N GET calls, one Prefect task per call.

Run by the Python of a separate Prefect venv (bench/requirements-prefect.txt), never by
the project's venv: it imports neither flov7 nor temporalio. bench/chain.py starts it
once and drives it; to try it alone::

    python3 -m venv /work/prefect-venv
    /work/prefect-venv/bin/pip install -r bench/requirements-prefect.txt
    /work/prefect-venv/bin/python bench/prefect_chain.py http://127.0.0.1:8000/quick
    run 40
    quit

It starts Prefect's ephemeral local server (its default when no PREFECT_API_URL is
set: a uvicorn subprocess over SQLite in PREFECT_HOME), makes one warm-up run, prints
``{"ready": true, ...}``, then for each line ``run N`` on stdin runs the flow once and
prints one JSON line: ``seconds`` (wall clock around the flow call, measured here, so
that the parent's pipe round trip is not counted), ``done`` (calls answered 200) and
``retries`` / ``retry_wait`` (the client's retries of 503 answers during that run, see
:class:`RetryCounter`). Everything else Prefect prints goes to stderr.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any, TextIO

# Offline and private, before Prefect reads its settings at import: no telemetry from
# the client (DO_NOT_TRACK) or from the ephemeral server (analytics), no configured
# server or Cloud workspace, and a PREFECT_HOME of its own (the parent passes one; run
# alone, a temporary one) so that no user profile or earlier database is picked up.
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "true"
for _name in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE"):
    os.environ.pop(_name, None)
if "PREFECT_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="prefect-bench-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["PREFECT_HOME"] = _home

import httpx  # noqa: E402
import prefect  # noqa: E402
from prefect import flow, task  # noqa: E402

# The protocol's channel: the real stdout, kept aside. File descriptor 1 then points to
# stderr, so that nothing else (Prefect, or the server subprocess, which inherits it)
# can write into the protocol.
PROTOCOL: TextIO = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

# One client shared by every task, as Flov7's worker and the hand-written Temporal
# workflows share one; opened in the event loop that serves the runs.
CLIENT: httpx.AsyncClient | None = None


@task
async def get(url: str) -> dict[str, Any]:
    """One GET: status and parsed JSON body, as a Flov7 ``api_call`` node outputs."""
    assert CLIENT is not None
    response = await CLIENT.get(url)
    return {"status_code": response.status_code, "body": response.json()}


@flow
async def chain(url: str, length: int) -> int:
    """``length`` GET calls in a row, each its own task run."""
    done = 0
    for _ in range(length):
        result = await get(url)
        done += result["status_code"] == 200
    return done


class RetryCounter(logging.Filter):
    """Counts the Prefect client's retries of retryable answers (a 503 when the
    ephemeral server's SQLite is locked by its own background writers), which the
    client logs at DEBUG only. Installed on the ``prefect.client`` logger with that
    logger lowered to DEBUG; it drops every DEBUG record, so Prefect's output is
    unchanged."""

    WAIT = re.compile(r"Another attempt will be made in ([0-9.]+)s")

    def __init__(self) -> None:
        super().__init__()
        self.retries = 0
        self.wait = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        match = self.WAIT.search(record.getMessage())
        if match:
            self.retries += 1
            self.wait += float(match.group(1))
        return False


def send(message: dict[str, Any]) -> None:
    """One protocol line."""
    PROTOCOL.write(json.dumps(message) + "\n")


async def timed(url: str, length: int, counter: RetryCounter) -> dict[str, Any]:
    """One flow run and what it took."""
    retries, wait = counter.retries, counter.wait
    start = time.perf_counter()
    done = await chain(url, length)
    seconds = time.perf_counter() - start
    return {
        "length": length,
        "seconds": seconds,
        "done": done,
        "retries": counter.retries - retries,
        "retry_wait": round(counter.wait - wait, 3),
    }


async def main(url: str) -> int:
    global CLIENT
    counter = RetryCounter()
    client_logger = logging.getLogger("prefect.client")
    client_logger.addFilter(counter)
    client_logger.setLevel(logging.DEBUG)
    async with httpx.AsyncClient() as CLIENT:
        # Starts the ephemeral server and creates the flow and its database rows.
        warm = await timed(url, 2, counter)
        send({"ready": True, "prefect": prefect.__version__, "warm_up": warm})
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not line or line[0] == "quit":
                return 0
            if line[0] != "run" or len(line) != 2 or not line[1].isdigit():
                send({"error": f"expected 'run N' or 'quit', got {' '.join(line)!r}"})
                continue
            try:
                send(await timed(url, int(line[1]), counter))
            except Exception as error:  # the parent reports it and stops
                send({"error": f"{type(error).__name__}: {error}"})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} URL   (then 'run N' lines on stdin)")
    sys.exit(asyncio.run(main(sys.argv[1])))
