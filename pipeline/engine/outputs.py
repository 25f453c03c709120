"""What an output already holds, and whether it can be trusted: claiming a directory for one job, the finished
shards a rerun may skip, parts translated by a map no longer fitted, and the one id type a table keeps. The
driver asks before and after running shards."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence

from pipeline.engine.job import ShardResult
from pipeline.engine.translator_files import translator_change
from pipeline.io.shard import Shard
from pipeline.io.sink import OutputDir
from pipeline.translate import FittedTranslator

JOB_FILE = "_job.json"


def claim_output(output: OutputDir, job_fingerprint: str, overwrite: bool) -> None:
    """Mark ``output`` as this job's, or refuse when a different job wrote there (unless ``overwrite``).

    Raises:
        ValueError: the directory holds another job's output; rerun with output.overwrite=true to replace it.
    """
    path = f"{output.root}/{JOB_FILE}"
    if output.fs.exists(path):
        with output.fs.open(path, "r") as f:
            previous = json.load(f).get("job_fingerprint")
        if previous == job_fingerprint:
            return  # same job: resume, keeping finished shards
        if not overwrite:
            raise ValueError(
                f"{output.url} holds the output of a different job (fingerprint {previous[:12]}…, this job "
                f"{job_fingerprint[:12]}…): its config or inputs changed. Use another output.path, or set "
                "output.overwrite=true to replace it"
            )
        output.fs.rm(output.root, recursive=True)
    output.fs.makedirs(output.root, exist_ok=True)
    with output.fs.open(path, "w") as f:
        json.dump({"job_fingerprint": job_fingerprint}, f)


def redo_if_translator_changed(output: OutputDir, translator: FittedTranslator) -> None:
    """Remove every part of ``output`` when they were translated by another map than ``translator`` fits now
    (:func:`translator_change`): one table holds one map's translations."""
    change = translator_change(output, translator)
    parts = sorted(output.part_names()) if change is not None else []
    if not parts:
        return
    print(f"{output.url}: the translator differs from the one its {len(parts)} parts were written with ({change}); "
          "redoing them all", file=sys.stderr, flush=True)
    output.withdraw_success()
    output.forget_parts(parts)


def resumable(output: OutputDir, shards: Sequence[Shard]) -> set[str]:
    """The planned shards ``output`` already holds, cut exactly as planned now; stale parts are removed.

    A part counts only if its recorded shard (file, row group, range) is the one its name stands for today: a
    changed chunk budget, or a file that could not be read before and has more row groups now, renames parts.
    Parts the plan no longer has are removed, so no row is ever in the table twice. A part whose files are gone,
    or hold other row counts than recorded (``OutputDir.broken``), is removed too, and its shard redone. So are
    the half-written temporaries of writes the kill cut short.
    """
    output.remove_temporaries()
    planned = {shard.name: shard.key for shard in shards}
    finished = output.finished_shards()
    output.forget_parts(sorted(output.part_names() - set(planned)))
    current = {name: counts for name, counts in finished.items() if planned.get(name) == counts.get("shard")}
    broken = {name: problem for name, counts in current.items() if (problem := output.broken(name, counts))}
    for name, problem in broken.items():
        print(f"{name}: recorded as finished, but {problem}: redoing its shard", file=sys.stderr, flush=True)
    output.forget_parts(sorted(broken))
    return set(current) - set(broken)


def one_id_type(results: list[ShardResult], outputs: Sequence[OutputDir]) -> list[ShardResult]:
    """Keep one id type in the table: the parts whose ids have another type than the first part's (in shard
    order) are removed, and their shards reported failed with the reason.

    Two files of one source can disagree (``id`` int64 in one, string in another); written as they are, the parts
    would not read back as one table.
    """
    types = {name: counts["id_type"] for name, counts in outputs[0].finished_shards().items() if "id_type" in counts}
    if len(set(types.values())) <= 1:
        return results
    first = min(types)
    wrong = {name: f"its ids are {kind}, but {types[first]} in {first}: one table holds one id type; cast the "
                   "ids to one type in the source and rerun" for name, kind in types.items() if kind != types[first]}
    for output in outputs:
        output.forget_parts(sorted(wrong))
    return [dataclasses.replace(r, failed=wrong[r.shard]) if r.shard in wrong else r for r in results]
