"""The load test behind ``flov7 load-test`` and the guide's ``test-temporal-load.py``.

Starts N runs of one workflow, at most C at a time, through the Temporal client (the
run service) or through the REST API, and reports throughput, start and end-to-end
latency percentiles, failures and the worker's peak memory.

One concept per module:

- :mod:`~flov7.loadtest.options`: what the user asked for (:class:`LoadTestOptions`);
- :mod:`~flov7.loadtest.workload`: the workflow each run executes, and the local HTTP
  server the default one calls (:mod:`~flov7.loadtest.answering_server`);
- :mod:`~flov7.loadtest.drivers`: one run, started and followed through the client or
  the API (:class:`RunSample`);
- :mod:`~flov7.loadtest.runner`: N runs at concurrency C (:class:`BatchResult`);
- :mod:`~flov7.loadtest.stats`: percentiles; :mod:`~flov7.loadtest.memory`: peak RSS;
- :mod:`~flov7.loadtest.report`: the typed report (:class:`LoadTestReport`) and its text;
- :mod:`~flov7.loadtest.targets`: what the runs go to (embedded or given Temporal,
  in-process or given API), composed from the settings;
- :mod:`~flov7.loadtest.session`: all of it, from options to report
  (:func:`run_load_test`).

It sits at the command-line level: it composes the backends and the API app, and no
other Flov7 package imports it.
"""

from __future__ import annotations

from flov7.loadtest.options import LoadTestError, LoadTestOptions, Via, WorkerPolicy
from flov7.loadtest.report import LatencyReport, LoadTestReport, WorkerMemory
from flov7.loadtest.session import run_load_test

__all__ = [
    "LatencyReport",
    "LoadTestError",
    "LoadTestOptions",
    "LoadTestReport",
    "Via",
    "WorkerMemory",
    "WorkerPolicy",
    "run_load_test",
]
