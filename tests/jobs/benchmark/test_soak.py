"""The soak section's arithmetic: rows per second in whole minutes, from samples of rows written over time."""

from __future__ import annotations

from pipeline.jobs.benchmark.soak import per_minute, startup_seconds


def test_rows_per_second_are_taken_over_whole_minutes_and_a_short_tail_is_left_out():
    samples = [
        {"s": float(s), "rows": rows}
        for s, rows in [(10, 1000), (60, 6000), (70, 7000), (120, 10_000), (130, 10_500), (150, 11_000)]
    ]
    assert per_minute(samples) == [100.0, 66.7]  # [0, 60] and [60, 120] (4,000 rows in 60 s); [120, 150] is a tail
    assert per_minute(samples[:2]) == [100.0]
    assert per_minute(samples[:1]) == []  # under a minute: the section falls back to the job's own rate


def test_minutes_start_when_the_first_rows_are_written_not_at_start_up():
    samples = [{"s": float(s), "rows": rows} for s, rows in [(10, 0), (20, 0), (30, 500), (80, 6000), (140, 9000)]]
    assert startup_seconds(samples) == 20.0
    assert per_minute(samples) == [100.0, 50.0]  # [20, 80]: 6,000 rows in 60 s; [80, 140]: 3,000 rows


def test_the_watcher_counts_rows_from_the_shard_records(tmp_path):
    import json

    from pipeline.jobs.benchmark.soak import Watcher

    shards = tmp_path / "_irp" / "out" / "shards"
    shards.mkdir(parents=True)
    (shards / "part-00000.json").write_text(json.dumps({"rows_out": 40}))
    (shards / "part-00001.json").write_text(json.dumps({"rows_out": 2}))
    (shards / "part-00002.json").write_text("{half written")
    assert Watcher(shards).sample()["rows"] == 42
