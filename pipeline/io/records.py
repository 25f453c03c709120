"""The records folder of one output: what a job keeps about the table it writes, where no reader of the table looks.

Layout (the folder itself is placed by :mod:`pipeline.io.stores.layout`)::

    job.json              the claim: which job writes this output (its fingerprint)
    shards/<part>.json    a finished shard: its row counts, the shard it was cut from, what the table staged
    quarantine/<part>.parquet   the shard's rejected rows: id, reason, source
    translator/           the fitted translator (safetensors + JSON)
    manifest.json         the last run's manifest (a Parquet table also carries it as its _manifest.json)
    anchors/              anchor tables a translate job embedded (outputs with records and claims of their own)
    staging/<run>/        parts a Parquet table stages before a publish moves them in
    work/                 scratch of the run in progress (the duplicate-id pass); removed when the run ends

A shard's counts are written after its rows are staged and its quarantine is written, so a shard with counts is
complete: a killed job resumes by skipping those shards.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from pipeline.io.folder import Folder

JOB_FILE = "job.json"
SHARDS_DIR = "shards"
QUARANTINE_DIR = "quarantine"
TRANSLATOR_DIR = "translator"
MANIFEST = "manifest.json"
ANCHORS_DIR = "anchors"
WORK_DIR = "work"
QUARANTINE_SCHEMA = pa.schema([("id", pa.string()), ("reason", pa.string()), ("source", pa.string())])


class Records(Folder):
    """The records folder of one output (see the module docstring)."""

    def claim(self, job_fingerprint: str, overwrite: bool, table: str) -> None:
        """Mark the records as ``job_fingerprint``'s, or refuse when a different job wrote them (unless
        ``overwrite``, which clears them: the anchors folder keeps its own claims).

        Raises:
            ValueError: another job's output is there; rerun with output.overwrite=true to replace it.
        """
        previous = self.refuse_foreign(job_fingerprint, overwrite, table)
        if previous == job_fingerprint:
            return  # the same job: resume, keeping finished shards
        if previous is not None:
            for path in self.fs.ls(self.root, detail=False):
                if posixpath.basename(path.rstrip("/")) != ANCHORS_DIR:
                    self.fs.rm(path, recursive=True)
        self.write_json(JOB_FILE, {"job_fingerprint": job_fingerprint})

    def refuse_foreign(self, job_fingerprint: str, overwrite: bool, table: str) -> str | None:
        """Raise when another job's output is here and ``overwrite`` is off; the fingerprint found, or None. A job
        asks before it spends time on work it keeps in these records (embedding an anchor set, say).

        Raises:
            ValueError: another job's output is there; rerun with output.overwrite=true to replace it.
        """
        previous = self.claimed_by()
        if previous is not None and previous != job_fingerprint and not overwrite:
            raise ValueError(
                f"{table} holds the output of a different job (fingerprint {previous[:12]}…, this job "
                f"{job_fingerprint[:12]}…): its config or inputs changed. Use another output.path, or set "
                "output.overwrite=true to replace it"
            )
        return previous

    def claimed_by(self) -> str | None:
        """The fingerprint of the job these records belong to, or None."""
        claim = self.read_json(JOB_FILE)
        return None if claim is None else claim.get("job_fingerprint")

    def finished(self) -> dict[str, dict[str, Any]]:
        """``{part name: counts}`` of every shard completely written, by this run or an earlier one."""
        folder = self.path(SHARDS_DIR)
        if not self.fs.exists(folder):
            return {}
        finished = {}
        for path in self.fs.glob(posixpath.join(folder, "part-*.json")):
            with self.fs.open(path, "r") as f:
                finished[posixpath.basename(path).removesuffix(".json")] = json.load(f)
        return finished

    def record(self, name: str, quarantine: pa.Table | None, counts: Mapping[str, Any]) -> None:
        """A shard is done: its rejected rows (if any), then its counts, each written atomically."""
        if quarantine is not None and quarantine.num_rows:
            self.write_table(self.quarantine_file(name), quarantine.cast(QUARANTINE_SCHEMA))
        self.write_text(f"{SHARDS_DIR}/{name}.json", json.dumps(dict(counts)))

    def forget(self, names: Iterable[str]) -> None:
        """Forget these shards: their counts first (so a kill half-way leaves them unfinished), then their
        quarantine."""
        for name in names:
            self.remove(f"{SHARDS_DIR}/{name}.json")
            self.remove(self.quarantine_file(name))

    @staticmethod
    def quarantine_file(name: str) -> str:
        return f"{QUARANTINE_DIR}/{name}.parquet"

    def quarantine_url(self) -> str:
        """Where the quarantined rows are, for the summary to print."""
        return f"{self.url.rstrip('/')}/{QUARANTINE_DIR}"

    def work(self) -> Folder:
        """The scratch folder of the run in progress."""
        return self.sub(WORK_DIR)


def quarantine_table(
    rows: Mapping[int, str], ids: pa.Array, source: str, unreadable: Mapping[str, str] | None = None
) -> pa.Table:
    """Rejected rows of a shard: their ids (as text), the reason, and where they came from; then the records that
    could not be read into rows at all, under ``<file>@<byte offset>`` in place of an id."""
    index = sorted(rows)
    unreadable = unreadable or {}
    return pa.table(
        {
            "id": [None if ids[i].as_py() is None else str(ids[i].as_py()) for i in index] + list(unreadable),
            "reason": [rows[i] for i in index] + list(unreadable.values()),
            "source": [source] * (len(index) + len(unreadable)),
        },
        schema=QUARANTINE_SCHEMA,
    )
