"""``flov7 worker`` serves ``/metrics`` (flov7_*) and the SDK's exporter (temporal_*).

The worker runs as a user runs it (a subprocess, settings from the environment) on
the session's dev server; a ``flov7 run`` handed to it must show up in its metrics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from flov7.temporal.devserver import EmbeddedDevServer, free_ports

from support.cases import WORKFLOWS

FLOV7 = [sys.executable, "-m", "flov7.cli"]


def families(url: str) -> dict[str, float]:
    text = httpx.get(url, timeout=10).text
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_worker_exports_flov7_and_temporal_metrics(
    temporal_server: EmbeddedDevServer, tmp_path: Path
) -> None:
    flov7_port, sdk_port = free_ports(2)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env = {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": f"worker-metrics-{uuid.uuid4().hex[:8]}",
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
        "FLOV7_METRICS_PORT": str(flov7_port),
        "FLOV7_TEMPORAL_METRICS_PORT": str(sdk_port),
    }
    worker = subprocess.Popen(
        [*FLOV7, "worker"], env={**base, **env}, stderr=subprocess.PIPE, text=True
    )
    try:
        assert worker.stderr is not None
        seen: list[str] = []
        while not any("flov7 worker: polling" in line for line in seen):
            line = worker.stderr.readline()
            assert line, f"the worker exited: {''.join(seen)}"
            seen.append(line)
        assert any("/metrics, Temporal SDK metrics on" in line for line in seen), seen
        run = subprocess.run(
            [*FLOV7, "run", str(WORKFLOWS / "linear.json"), "--worker", "never"],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr

        ours = families(f"http://127.0.0.1:{flov7_port}/metrics")
        finished = "flov7_runs_finished_total[('status', 'completed')]"
        assert ours[finished] == 1
        started = [key for key in ours if key.startswith("flov7_runs_started_total")]
        assert len(started) == 1 and "('trigger', 'cli')" in started[0]
        sdk = families(f"http://127.0.0.1:{sdk_port}/metrics")
        assert any(key.startswith("temporal_") for key in sdk)
        assert any(key.startswith("temporal_worker_task_slots_available") for key in sdk)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
