"""Hostile text sources through the real ``embed`` job on a local Ray: every input row ends in exactly one place.

Each case writes its own file(s), with ids of its own, beside good rows; the cases of one format share one job
(a shard per file), so the table stays cheap to grow. The invariant, per case: the case's ids in the output table
and in the quarantine, together, are exactly its input ids, each once, and every quarantined row says why. A
file whose rows cannot join the table fails its own shard, and the job says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.engine.driver import ShardsFailed
from pipeline.jobs.embed import EmbedConfig, run_embed

from tests.conftest import records_of, staged_parts

pytestmark = [pytest.mark.timeout(600)]

Writer = Callable[[Path, str], list[str]]  # (folder, case prefix) -> every input id it wrote


def good(prefix: str) -> dict[str, str]:
    return {f"{prefix}-good-{i}": "the cat sat on the mat" for i in range(3)}


def parquet(hostile: dict[str, object]) -> Writer:
    def write(folder: Path, prefix: str) -> list[str]:
        rows = {**good(prefix), **{f"{prefix}-{key}": text for key, text in hostile.items()}}
        pq.write_table(pa.table({"id": list(rows), "text": list(rows.values())}), folder / f"{prefix}.parquet")
        return list(rows)

    return write


def jsonl(hostile: bytes, label: str | None = None) -> Writer:
    """Two good lines, the hostile line, one more good line; ``label`` names the hostile row's id, or None
    when it has none (then it is ``<file>@<byte offset>``)."""

    def write(folder: Path, prefix: str) -> list[str]:
        lines = [json.dumps({"id": key, "text": text}).encode() for key, text in good(prefix).items()]
        lines.insert(2, hostile.replace(b"{p}", prefix.encode()))
        (folder / f"{prefix}.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
        where = f"{prefix}.jsonl@{sum(len(line) + 1 for line in lines[:2])}"
        return [*good(prefix), f"{prefix}-{label}" if label else where]

    return write


def csv(body: bytes, keys: list[str]) -> Writer:
    def write(folder: Path, prefix: str) -> list[str]:
        (folder / f"{prefix}.csv").write_bytes(b"id,text\n" + body.replace(b"{p}", prefix.encode()))
        return [f"{prefix}-{key}" for key in keys]

    return write


def two_parquet_files(first: dict[str, list], second: dict[str, list]) -> Writer:
    def write(folder: Path, prefix: str) -> list[str]:
        ids = []
        for name, columns in (("a", first), ("b", second)):
            table = pa.table({**columns, "id": [f"{prefix}-{key}" for key in columns["id"]]})
            pq.write_table(table, folder / f"{prefix}-{name}.parquet")
            ids += table.column("id").to_pylist()
        return ids

    return write


# name -> (format, writer, the case's ids (without its prefix) or `@` for the unparseable line, quarantined)
CASES: dict[str, tuple[str, Writer, set[str]]] = {
    "a null text": ("parquet", parquet({"bad": None}), {"bad"}),
    "an empty text": ("parquet", parquet({"bad": ""}), {"bad"}),
    "a whitespace-only text": ("parquet", parquet({"bad": " \t\n "}), {"bad"}),
    "a 10 MB text": ("parquet", parquet({"huge": "the cat " * (10 << 20 >> 3)}), set()),
    "the text column missing from one file": (
        "parquet",
        two_parquet_files(
            {"id": ["a1", "a2"], "text": ["the cat", "the dog"]}, {"id": ["b1", "b2"], "body": ["the cat", "the dog"]}
        ),
        {"b1", "b2"},
    ),
    "the text column an integer in one file": (
        "parquet",
        two_parquet_files({"id": ["a1", "a2"], "text": ["the cat", "the dog"]}, {"id": ["b1", "b2"], "text": [1, 2]}),
        {"b1", "b2"},
    ),
    "invalid UTF-8 in a JSONL string": ("jsonl", jsonl(b'{"id": "{p}-bad", "text": "caf\xe9"}', "bad"), {"bad"}),
    # The id is named escaped, as the quarantine writes it: the bytes themselves are not text.
    "invalid UTF-8 in a JSONL id": (
        "jsonl",
        jsonl(b'{"id": "{p}-caf\xe9", "text": "the cat"}', r"caf\xe9"),
        {r"caf\xe9"},
    ),
    "a JSONL line that is not JSON": ("jsonl", jsonl(b'{"id": "broken", "text": '), {"@"}),
    "a JSONL line that is JSON but not an object": ("jsonl", jsonl(b"[1, 2]"), {"@"}),
    "a JSONL id that is a number among string ids": ("jsonl", jsonl(b'{"id": 7, "text": "the cat"}'), {"@"}),
    "a CSV field with a quoted newline": (
        "csv",
        csv(b'{p}-q,"the cat\nsat on the mat"\n{p}-r,the dog\n', ["q", "r"]),
        set(),
    ),
    "invalid UTF-8 in a CSV field": ("csv", csv(b"{p}-ok,the cat\n{p}-bad,caf\xe9\n", ["ok", "bad"]), {"bad"}),
}


@pytest.fixture(scope="module")
def hostile_runs(local_ray, tmp_path_factory, tiny_bert_dir) -> dict[str, tuple[list[str], list[str], list[dict]]]:
    """Every case written and embedded, one job per format: ``{case: (input ids, written ids, quarantine)}``."""
    root = tmp_path_factory.mktemp("hostile-text")
    results = {}
    for fmt in sorted({fmt for fmt, _, _ in CASES.values()}):
        source, out = root / fmt, root / f"{fmt}-out"
        source.mkdir()
        inputs = {}
        for i, (case, (case_fmt, write, _)) in enumerate(CASES.items()):
            if case_fmt == fmt:
                inputs[case] = write(source, f"c{i}")
        summary = run_embed(embed_config(source, fmt, out, tiny_bert_dir))
        written, quarantine = where_rows_are(out)
        assert (summary.rows_out, summary.rows_quarantined) == (len(written), len(quarantine))
        assert (out / "_SUCCESS").exists()
        for case, ids in inputs.items():
            prefix = f"c{list(CASES).index(case)}"
            results[case] = (
                ids,
                [key for key in written if key.startswith(f"{prefix}-")],
                [row for row in quarantine if row["id"].startswith((f"{prefix}-", f"{prefix}."))],
            )
    return results


def embed_config(source: Path, fmt: str, out: Path, model: Path) -> EmbedConfig:
    return load_config(
        EmbedConfig,
        None,
        [
            f"source.path={source}",
            f"source.format={fmt}",
            "source.text_column=text",
            "source.files_per_shard=1",
            "encoder.kind=hf_text",
            f"encoder.model={model}",
            f"output.path={out}",
        ],
    )


def where_rows_are(out: Path) -> tuple[list[str], list[dict]]:
    """Every id of the output table (as text), or of its staged parts when a failed shard kept it unpublished,
    and every quarantined row."""
    parts = sorted(out.glob("part-*.parquet")) if (out / "_SUCCESS").exists() else staged_parts(out)
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    quarantine_files = sorted(records_of(out).glob("quarantine/*.parquet"))
    quarantine = pa.concat_tables(pq.read_table(p) for p in quarantine_files).to_pylist() if quarantine_files else []
    assert all(row["reason"] for row in quarantine)
    return [str(i) for i in table.column("id").to_pylist()], quarantine


@pytest.mark.parametrize("case", CASES)
def test_every_row_of_a_hostile_text_source_ends_in_exactly_one_place(hostile_runs, case, tally):
    ids, written, quarantine = hostile_runs[case]
    set_aside = [row["id"] for row in quarantine]
    tally.rows(case, ids, written, set_aside)
    assert sorted(written + set_aside) == sorted(ids)  # nothing lost, nothing doubled
    prefix = f"c{list(CASES).index(case)}"
    expected = {f"{prefix}-{key}" for key in CASES[case][2] if key != "@"}
    expected |= {key for key in ids if "@" in key} if "@" in CASES[case][2] else set()
    assert set(set_aside) == expected


def test_csv_ids_stay_text_so_001_is_not_1_and_files_agree(local_ray, tmp_path, tiny_bert_dir, tally):
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "a.csv").write_text("id,text\n001,the cat\n10,the dog\n")
    (source / "b.csv").write_text("id,text\nx7,the fox\n")
    summary = run_embed(embed_config(source, "csv", out, tiny_bert_dir))
    written, quarantine = where_rows_are(out)
    tally.rows("CSV ids that look like numbers", ["001", "10", "x7"], written, [])
    assert (sorted(written), quarantine, summary.rows_out) == (["001", "10", "x7"], [], 3)
    assert pq.read_schema(next(out.glob("part-*.parquet"))).field("id").type == pa.string()


def test_a_file_whose_ids_have_another_type_fails_its_shard_and_says_why(local_ray, tmp_path, tiny_bert_dir, tally):
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    pq.write_table(pa.table({"id": ["x1", "x2"], "text": ["the cat", "the dog"]}), source / "a.parquet")
    pq.write_table(pa.table({"id": [7, 8], "text": ["the cat", "the dog"]}), source / "b.parquet")
    with pytest.raises(ShardsFailed) as failed:
        run_embed(embed_config(source, "parquet", out, tiny_bert_dir))
    assert list(failed.value.summary.failed) == ["part-00001"]
    assert "one table holds one id type" in failed.value.summary.failed["part-00001"]
    written, quarantine = where_rows_are(out)
    tally.rows("string ids in one file, integer ids in another", ["x1", "x2", 7, 8], written, [], failed=[7, 8])
    assert (sorted(written), quarantine) == (["x1", "x2"], [])  # staged, without the failed file
    assert not out.exists()  # nothing published: readers never see a table missing a shard
