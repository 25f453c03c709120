"""What a shard job did, as it goes (progress lines) and at the end (:class:`Summary`, written into every manifest)."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Mapping
from typing import Any

from pipeline.engine.job import ShardResult
from pipeline.io.shard import Shard


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a job did, printed at the end and written into each output's manifest.

    Every output of a job receives the same rows (a row rejected for one output is rejected for all), so the
    row counts hold for each output table.

    Attributes:
        quarantine: where each output's quarantined rows are (``{output: folder}``), when any row was set aside.
    """

    outputs: tuple[str, ...]
    shards: int
    shards_skipped: int
    rows_in: int
    rows_out: int
    rows_quarantined: int
    seconds: float
    stage_seconds: Mapping[str, float]
    workers: tuple[Mapping[str, Any], ...] = ()
    failed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # {part name: reason}
    quarantine: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds else 0.0

    def task_peaks(self) -> dict[str, float]:
        """The highest peak memory of any prepare and any write task process, in MB."""
        return {
            stage: max((w.get(f"{stage}_peak_rss_mb", 0.0) for w in self.workers), default=0.0)
            for stage in ("prepare", "write")
        }

    def lines(self) -> list[str]:
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.stage_seconds.items())
        return [
            *(f"output:      {url}" for url in self.outputs),
            f"shards:      {self.shards} ({self.shards_skipped} already done, skipped)",
            f"rows:        {self.rows_in} in, {self.rows_out} out, {self.rows_quarantined} quarantined"
            + (" (each output)" if len(self.outputs) > 1 else ""),
            *(f"quarantine:  {folder}" for folder in self.quarantine.values()),
            f"time:        {self.seconds:.1f} s, {self.rows_per_second:.1f} rows/s (worker time: {stages})",
            f"workers:     {len(self.workers)} model process(es)"
            + "".join(
                f"; pid {w['pid']} on GPU {w['cuda_visible_devices'] or '-'}, peak {w['peak_rss_mb']:.0f} MB"
                for w in self.workers
            )
            + "".join(f"; {stage} tasks peak {peak:.0f} MB" for stage, peak in self.task_peaks().items()),
            *(f"FAILED:      {name} ({reason})" for name, reason in self.failed.items()),
        ]


class ShardsFailed(RuntimeError):
    """Some shards' inputs could not be read: the rest are staged, nothing is published (readers keep the previous
    version), and a rerun (after the inputs are fixed) does only the failed shards."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"{len(summary.failed)} shard(s) failed: {', '.join(summary.failed)}")
        self.summary = summary


def summarize(
    outputs: list[str], shards: list[Shard], outcomes: list[ShardResult], seconds: float, quarantine: Mapping[str, str]
) -> Summary:
    failed = {r.shard: r.failed for r in outcomes if r.failed is not None}
    results = [r for r in outcomes if r.failed is None]
    stage_seconds: dict[str, float] = {}
    for result in results:
        for stage, spent in result.seconds.items():
            stage_seconds[stage] = stage_seconds.get(stage, 0.0) + spent
    quarantined = sum(r.rows_quarantined for r in results)
    return Summary(
        outputs=tuple(outputs),
        shards=len(shards),
        shards_skipped=len(shards) - len(outcomes),
        rows_in=sum(r.rows_in for r in results),
        rows_out=sum(r.rows_out for r in results),
        rows_quarantined=quarantined,
        seconds=seconds,
        stage_seconds=stage_seconds,
        workers=tuple(_workers(results)),
        failed=failed,
        quarantine=dict(quarantine) if quarantined else {},
    )


def _workers(results: list[ShardResult]) -> list[dict[str, Any]]:
    """One entry per actor process, with the highest peak memory any of its chunks reported (its own, and that
    of the prepare and write tasks that handled them)."""
    by_pid: dict[int, dict[str, Any]] = {}
    for result in results:
        known = by_pid.setdefault(result.worker["pid"], dict(result.worker))
        for key in ("peak_rss_mb", "prepare_peak_rss_mb", "write_peak_rss_mb"):
            known[key] = max(known.get(key, 0.0), result.worker.get(key, 0.0))
    return list(by_pid.values())


class Progress:
    """Progress lines to stderr with rows/s and an ETA, so long jobs never look hung.

    A line per finished shard would flood the log of a job with thousands of small shards, so lines come at
    most every ``every_s`` seconds, plus one for the last shard.
    """

    def __init__(self, total_shards: int, every_s: float = 5.0) -> None:
        self.total, self.done, self.rows = total_shards, 0, 0
        self.every_s = every_s
        self.started = self.last_line = time.perf_counter()

    def update(self, result: ShardResult) -> None:
        if result.failed is not None:
            print(f"shard {result.shard} FAILED: {result.failed}", file=sys.stderr, flush=True)
        self.done += 1
        self.rows += result.rows_in
        now = time.perf_counter()
        if now - self.last_line < self.every_s and self.done < self.total:
            return
        self.last_line = now
        elapsed = now - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"[{self.done}/{self.total} shards] last {result.shard}: {result.rows_out} rows, "
            f"{result.rows_quarantined} quarantined; {self.rows / elapsed:.1f} rows/s, eta {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )
