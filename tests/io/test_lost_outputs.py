"""A rerun never trusts its bookkeeping over the files: a finished part that is gone or short is redone.

Each case damages a finished ``embed`` output the way storage does (a deleted part, a part rewritten shorter, a
lost quarantine file), then reruns the same job. The invariant: every input row is again in exactly one place,
its output table or the quarantine, and the rerun says which shard it redid.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.jobs.embed import EmbedConfig, run_embed

from tests.conftest import records_of

pytestmark = [pytest.mark.timeout(300)]

FILES, ROWS = 5, 30
BAD_ROW = "1-7"  # a null text: quarantined, in the shard of file 1


def delete_part(out: Path) -> str:
    (out / "part-00002.parquet").unlink()
    return "part-00002"


def shorten_part(out: Path) -> str:
    part = out / "part-00003.parquet"
    pq.write_table(pq.read_table(part).slice(0, 5), part)
    return "part-00003"


def lose_quarantine(out: Path) -> str:
    (records_of(out) / "quarantine" / "part-00001.parquet").unlink()
    return "part-00001"


# Each case damages its own shard of one finished output; one rerun must redo exactly those shards.
CASES: dict[str, Callable[[Path], str]] = {
    "a part file deleted": delete_part,
    "a part rewritten with fewer rows": shorten_part,
    "a quarantine file deleted": lose_quarantine,
}


def where_rows_are(out: Path) -> tuple[list[str], list[str]]:
    """Every id in the output table, and every id in the quarantine (with a reason)."""
    table = pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))
    quarantine = pa.concat_tables(pq.read_table(p) for p in sorted(records_of(out).glob("quarantine/*.parquet")))
    assert all(quarantine.column("reason").to_pylist())
    return table.column("id").to_pylist(), quarantine.column("id").to_pylist()


@pytest.fixture(scope="module")
def damaged_and_rerun(local_ray, tmp_path_factory, tiny_bert_dir):
    """A finished output, each case's damage done to it, and one rerun: what the rerun said and left."""
    root = tmp_path_factory.mktemp("lost-outputs")
    source, out = root / "src", root / "out"
    source.mkdir()
    for i in range(FILES):
        rows = [{"id": f"{i}-{j}", "text": None if f"{i}-{j}" == BAD_ROW else "the cat sat"} for j in range(ROWS)]
        (source / f"{i}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = load_config(
        EmbedConfig,
        None,
        [
            f"source.path={source}",
            "source.format=jsonl",
            "source.text_column=text",
            "encoder.kind=hf_text",
            f"encoder.model={tiny_bert_dir}",
            f"output.path={out}",
            "source.files_per_shard=1",
        ],
    )
    run_embed(config)
    before = where_rows_are(out)
    assert sorted(before[0] + before[1]) == sorted(f"{i}-{j}" for i in range(FILES) for j in range(ROWS))
    damaged = {case: damage(out) for case, damage in CASES.items()}
    (out / "_SUCCESS").unlink()
    with redirect_stderr(io.StringIO()) as said:
        summary = run_embed(config)
    return before, damaged, summary, said.getvalue(), out


@pytest.mark.parametrize("case", CASES)
def test_a_rerun_redoes_the_shard_whose_part_is_gone_or_short(damaged_and_rerun, case, tally):
    before, damaged, summary, said, out = damaged_and_rerun
    assert f"{damaged[case]}: recorded as finished, but" in said
    assert summary.shards_skipped == FILES - len(CASES)  # only the damaged shards were redone
    table_ids, quarantined = where_rows_are(out)
    damaged_ids = [key for key in before[0] + before[1] if key.startswith(f"{int(damaged[case][-5:])}-")]
    tally.rows(
        case,
        damaged_ids,
        [key for key in table_ids if key in damaged_ids],
        [key for key in quarantined if key in damaged_ids],
    )
    assert sorted(table_ids) == sorted(before[0]) and len(set(table_ids)) == len(table_ids)
    assert quarantined == [BAD_ROW]
    assert (out / "_SUCCESS").exists()
