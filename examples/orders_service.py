"""The local targets of examples/first_workflow.json: an orders API, a webhook receiver
and the SQLite database the workflow writes to. Standard library only.

    python examples/orders_service.py                  # http://127.0.0.1:8765, examples/orders.db
    python examples/orders_service.py --port 9000 --db /tmp/orders.db

- ``GET /orders/<id>``: an order as JSON (``{"id", "customer", "amount"}``), 404 if unknown;
- ``POST /hooks/orders``: a webhook receiver; each delivery is printed and kept;
- ``GET /hooks/orders``: the deliveries received so far, as a JSON list.

On start it creates the database file (if missing) with the table ``fetched_orders`` the
workflow inserts into. Flov7 reaches all this only when allowed: loopback addresses are
refused by the SSRF guard unless ``FLOV7_OUTBOUND_ALLOWLIST`` lists them, and the
``database`` node knows the file as the named database ``orders``
(``FLOV7_DATABASE_ORDERS=sqlite:///examples/orders.db``). See the README's first steps.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ORDERS = {
    7: {"id": 7, "customer": "ACME", "amount": 250},
    8: {"id": 8, "customer": "Globex", "amount": 40},
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS fetched_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    customer TEXT NOT NULL,
    amount NUMERIC NOT NULL
)
"""


def create_database(path: Path) -> None:
    """Create the example's SQLite file and table (nothing happens if they exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute(SCHEMA)


class _Handler(BaseHTTPRequestHandler):
    deliveries: list[Any] = []
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/hooks/orders":
            with self.lock:
                self._reply(200, list(self.deliveries))
            return
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "orders" and parts[1].isdigit():
            order = ORDERS.get(int(parts[1]))
            if order is not None:
                self._reply(200, order)
                return
        self._reply(404, {"error": f"no such resource: {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/hooks/orders":
            self._reply(404, {"error": f"no such resource: {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        delivery = json.loads(self.rfile.read(length) or b"null")
        with self.lock:
            self.deliveries.append(delivery)
        print(f"webhook delivery: {json.dumps(delivery)}", flush=True)
        self._reply(200, {"received": True})

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Create the database, then serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", type=Path, default=Path("examples/orders.db"))
    args = parser.parse_args(argv)
    create_database(args.db)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    print(
        f"orders service on http://127.0.0.1:{server.server_address[1]} "
        f"(database {args.db})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
