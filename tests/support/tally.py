"""The hostile-input tally: each case adds where its rows went, and the run ends with one line that sums them.

The tests assert every case exactly; the tally only counts, so the line printed at the end of ``make test``
(``hostile inputs: ...``) is what the run saw, not a number written by hand.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable

import pytest


@dataclasses.dataclass
class Tally:
    """What the hostile cases of one test run did with their rows and their runs."""

    cases: set[str] = dataclasses.field(default_factory=set)
    fuzzed: int = 0
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    in_failed_shards: int = 0  # rows of a shard the job failed by name (exit 1, no _SUCCESS, redone once fixed)
    lost: int = 0
    doubled: int = 0
    tracebacks: int = 0

    def rows(
        self,
        case: str,
        inputs: Iterable[object],
        written: Iterable[object],
        quarantined: Iterable[object],
        failed: Iterable[object] = (),
    ) -> None:
        """One case's input ids and where they ended: the table, the quarantine, or a failed shard."""
        inputs, written, quarantined, failed = (list(map(str, ids)) for ids in (inputs, written, quarantined, failed))
        found = Counter([*written, *quarantined, *failed])
        self._add(
            case,
            len(inputs),
            len(written),
            len(quarantined),
            len(failed),
            lost=sum(1 for key in inputs if found[key] == 0),
            doubled=sum(found[key] - 1 for key in set(inputs) if found[key] > 1),
        )

    def counts(self, case: str, rows_in: int, rows_out: int, quarantined: int, in_failed_shards: int = 0) -> None:
        """The same by counts, for cases whose repeated ids make ids ambiguous (the test checks which rows)."""
        placed = rows_out + quarantined + in_failed_shards
        self._add(
            case,
            rows_in,
            rows_out,
            quarantined,
            in_failed_shards,
            lost=max(0, rows_in - placed),
            doubled=max(0, placed - rows_in),
        )

    def _add(
        self,
        case: str,
        rows_in: int,
        rows_out: int,
        quarantined: int,
        in_failed_shards: int,
        *,
        lost: int,
        doubled: int,
    ) -> None:
        self.cases.add(case)
        self.rows_in += rows_in
        self.rows_out += rows_out
        self.quarantined += quarantined
        self.in_failed_shards += in_failed_shards
        self.lost += lost
        self.doubled += doubled

    def said(self, case: str, *texts: str, fuzzed: bool = False) -> None:
        """One run's output (a refused config, a job that failed, a fuzzed config); a traceback in it counts."""
        if fuzzed:
            self.fuzzed += 1
        else:
            self.cases.add(case)
        self.tracebacks += any("Traceback" in text for text in texts)

    def line(self) -> str:
        return (
            f"hostile inputs: {len(self.cases)} cases and {self.fuzzed} fuzzed configs; rows in {self.rows_in}, "
            f"out {self.rows_out}, quarantined {self.quarantined}, in named failed shards "
            f"{self.in_failed_shards}; lost {self.lost}, doubled {self.doubled}, tracebacks {self.tracebacks}"
        )


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker, hand this worker's tally to the controller, which prints the sum."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["hostile_tally"] = {**dataclasses.asdict(TALLY), "cases": sorted(TALLY.cases)}


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent when the suite runs in one process
def pytest_testnodedown(node, error) -> None:
    """Add a finished worker's tally to the controller's."""
    theirs = getattr(node, "workeroutput", {}).get("hostile_tally")
    if theirs is None:
        return
    TALLY.cases.update(theirs.pop("cases"))
    for name, count in theirs.items():
        setattr(TALLY, name, getattr(TALLY, name) + count)


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLY.cases or TALLY.fuzzed:
        terminalreporter.write_line(TALLY.line())
