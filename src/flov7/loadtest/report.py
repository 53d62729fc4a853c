"""The load test's report: :class:`LoadTestReport` (``--json`` prints it), and its text."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from flov7.loadtest.runner import BatchResult
from flov7.loadtest.stats import LatencySummary, summarise

__all__ = ["FailedRun", "LatencyReport", "LoadTestReport", "WorkerMemory", "build_report"]

_FAILURES_SHOWN = 20


class LatencyReport(BaseModel):
    """Milliseconds over ``count`` runs (None without any sample)."""

    count: int
    mean_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def of(cls, summary: LatencySummary) -> LatencyReport:
        """The report of a summary in seconds."""

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000.0, 2)

        return cls(
            count=summary.count,
            mean_ms=ms(summary.mean),
            p50_ms=ms(summary.p50),
            p95_ms=ms(summary.p95),
            p99_ms=ms(summary.p99),
            max_ms=ms(summary.max),
        )


class WorkerMemory(BaseModel):
    """The worker's peak memory, and what the figure covers."""

    measured: Literal["in-process", "not-measured"]
    peak_rss_bytes: int | None = None
    detail: str

    @property
    def peak_rss_mib(self) -> float | None:
        """:attr:`peak_rss_bytes` in MiB."""
        return None if self.peak_rss_bytes is None else self.peak_rss_bytes / 2**20


class FailedRun(BaseModel):
    """A run that did not complete."""

    index: int
    execution_id: str | None
    status: str
    error: str | None = None


class LoadTestReport(BaseModel):
    """What a load test measured. Throughput counts every closed run (failed ones too)."""

    via: Literal["client", "api"]
    target: str = Field(description="The Temporal frontend, or the API's base URL.")
    task_queue: str | None = None
    workflow: str
    workflows: int
    concurrency: int
    warmup: int
    completed: int
    failed: int
    wall_seconds: float
    throughput_runs_per_second: float
    start_latency: LatencyReport
    start_latency_measure: str = Field(description="What the start latency covers.")
    end_to_end: LatencyReport
    worker_memory: WorkerMemory
    failures: list[FailedRun] = Field(
        default_factory=list, description=f"The first {_FAILURES_SHOWN} failed runs."
    )

    @property
    def ok(self) -> bool:
        """True when every run completed."""
        return self.failed == 0 and self.completed == self.workflows

    def render(self) -> str:
        """The report as lines of text."""
        lines = [
            f"flov7 load test: {self.workflows} runs of {self.workflow}, "
            f"{self.concurrency} at a time, via {self.via} ({self.target}"
            + (f", task queue '{self.task_queue}')" if self.task_queue else ")"),
            f"  completed {self.completed}, failed {self.failed}"
            + (f", after {self.warmup} warm-up runs" if self.warmup else ""),
            f"  throughput      {self.throughput_runs_per_second:8.2f} runs/s "
            f"({self.wall_seconds:.2f} s wall clock)",
            _latency_line("start latency", self.start_latency),
            f"                  ({self.start_latency_measure})",
            _latency_line("end to end", self.end_to_end),
        ]
        memory = self.worker_memory
        if memory.peak_rss_mib is not None:
            lines.append(f"  worker peak RSS {memory.peak_rss_mib:8.1f} MiB ({memory.detail})")
        else:
            lines.append(f"  worker peak RSS not measured ({memory.detail})")
        for failure in self.failures:
            lines.append(
                f"  FAILED run {failure.index} {failure.execution_id or '(not started)'}: "
                f"{failure.status}: {failure.error or ''}".rstrip(": ")
            )
        if self.failed > len(self.failures):
            lines.append(f"  ... and {self.failed - len(self.failures)} more failed runs")
        return "\n".join(lines)


def _latency_line(label: str, latency: LatencyReport) -> str:
    if latency.count == 0:
        return f"  {label:15s} no samples"
    return (
        f"  {label:15s} p50 {latency.p50_ms:8.1f} ms   p95 {latency.p95_ms:8.1f} ms   "
        f"p99 {latency.p99_ms:8.1f} ms   max {latency.max_ms:8.1f} ms"
    )


def build_report(
    result: BatchResult,
    *,
    via: Literal["client", "api"],
    target: str,
    task_queue: str | None,
    workflow: str,
    warmup: int,
    start_latency_measure: str,
    worker_memory: WorkerMemory,
) -> LoadTestReport:
    """The report of a batch."""
    starts = [s.start_seconds for s in result.samples if s.start_seconds is not None]
    failed = result.failed
    return LoadTestReport(
        via=via,
        target=target,
        task_queue=task_queue,
        workflow=workflow,
        workflows=len(result.samples),
        concurrency=result.concurrency,
        warmup=warmup,
        completed=result.completed,
        failed=len(failed),
        wall_seconds=round(result.wall_seconds, 3),
        throughput_runs_per_second=round(result.throughput, 3),
        start_latency=LatencyReport.of(summarise(starts)),
        start_latency_measure=start_latency_measure,
        end_to_end=LatencyReport.of(summarise([s.end_to_end_seconds for s in result.samples])),
        worker_memory=worker_memory,
        failures=[
            FailedRun(index=s.index, execution_id=s.execution_id, status=s.status, error=s.error)
            for s in failed[:_FAILURES_SHOWN]
        ],
    )
