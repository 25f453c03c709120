"""The ``soak`` benchmark section: one long ``translate_corpus`` run (5,000,000 x 384 by default), watched from
outside every 10 s, to show that throughput holds and the actors' memory stays flat over the whole run.

Only on request (``sections=[soak]``): it takes minutes and writes gigabytes.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.config import OutputConfig
from pipeline.io.records import SHARDS_DIR
from pipeline.io.stores.layout import records_of
from pipeline.jobs.benchmark.config import BenchmarkConfig
from pipeline.jobs.benchmark.inputs import translate_job, vector_corpus
from pipeline.jobs.benchmark.report import section

EVERY_S = 10.0


class Watcher(threading.Thread):
    """Samples, every ``EVERY_S``: seconds since start, rows written (from the job's shard records), and the
    resident memory of Ray's worker processes (the actors, and the tasks that translate stored vectors whole):
    the largest one, and all of them together."""

    def __init__(self, shards: Path) -> None:
        super().__init__(daemon=True)
        self.shards, self.stopped = shards, threading.Event()
        self.samples: list[dict[str, float]] = []
        self.started = time.perf_counter()

    def run(self) -> None:
        while not self.stopped.wait(EVERY_S):
            self.samples.append(self.sample())

    def sample(self) -> dict[str, float]:
        import psutil

        rows = 0
        for path in self.shards.glob("part-*.json"):
            try:
                rows += json.loads(path.read_text())["rows_out"]
            except (OSError, ValueError):
                continue  # being written
        workers = []
        for process in psutil.process_iter(["cmdline", "memory_info"]):
            command = " ".join(process.info["cmdline"] or [])
            if command.startswith("ray::") and "Agent" not in command and process.info["memory_info"] is not None:
                workers.append(process.info["memory_info"].rss / (1 << 20))
        return {
            "s": round(time.perf_counter() - self.started, 1),
            "rows": rows,
            "worker_rss_mb": round(max(workers, default=0.0)),
            "workers_rss_mb": round(sum(workers)),
        }

    def finish(self) -> list[dict[str, float]]:
        self.stopped.set()
        self.join()
        return [*self.samples, self.sample()]


def per_minute(samples: list[dict[str, float]]) -> list[float]:
    """Rows per second in each whole minute from the first rows written (a shorter tail at the end is left out);
    the start-up before them (Ray, actors, the translator) is :func:`startup_seconds`."""
    rates, last = [], {"s": startup_seconds(samples), "rows": 0}
    for sample in samples:
        if sample["s"] - last["s"] >= 60:
            rates.append(round((sample["rows"] - last["rows"]) / (sample["s"] - last["s"]), 1))
            last = sample
    return rates


def startup_seconds(samples: list[dict[str, float]]) -> float:
    """Seconds until the last sample with no row written yet."""
    return max((sample["s"] for sample in samples if sample["rows"] == 0), default=0.0)


def bench_soak(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """Throughput of the last minute against the first, with the whole timeline and the actors' memory."""
    corpus = vector_corpus(work, config.soak_rows, config.rows_per_shard, config.dims[0])
    os.sync()  # the corpus's gigabytes reach the disk now, not while the first minutes are measured
    records = Path(records_of(OutputConfig(str(work / "out"))))
    for folder in (work / "out", records):  # an earlier run's records would count as rows written
        shutil.rmtree(folder, ignore_errors=True)
    watcher = Watcher(records / SHARDS_DIR)
    watcher.start()
    summary = translate_job(config, work, corpus)
    samples = watcher.finish()
    rates = per_minute(samples) or [round(summary.rows_per_second, 1)]  # a run under a minute: one rate
    memory = [sample["worker_rss_mb"] for sample in samples if sample["worker_rss_mb"]] or [0]
    return section(
        "rows/s",
        rates[-1],
        rates[0],
        "last minute",
        "first minute",
        rows=summary.rows_out,
        seconds=round(summary.seconds, 1),
        startup_seconds=startup_seconds(samples),
        rows_per_second=round(summary.rows_per_second, 1),
        rows_per_second_each_minute=rates,
        worker_rss_mb_first_last_max=[memory[0], memory[-1], max(memory)],
        samples=samples,
    )
