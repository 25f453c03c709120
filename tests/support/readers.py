"""Every reader our users have, on a published Parquet output: DuckDB's and Polars' recursive globs, pandas and
pyarrow.dataset must each return exactly the table's rows, once each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def ids_each_reader_gets(out: Path) -> dict[str, list[Any]]:
    """The ``id`` column as each reader reads ``out``, sorted."""
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    glob = f"{out}/**/*.parquet"
    return {
        "duckdb": sorted(row[0] for row in duckdb.sql(f"select id from read_parquet('{glob}')").fetchall()),
        "polars": sorted(pl.scan_parquet(glob).select("id").collect()["id"].to_list()),
        "pandas": sorted(pd.read_parquet(out, columns=["id"])["id"].tolist()),
        "pyarrow.dataset": sorted(ds.dataset(out, format="parquet").to_table(columns=["id"]).column("id").to_pylist()),
    }


def assert_every_reader_reads_exactly(out: Path, ids: Sequence[Any]) -> None:
    """Each reader returns exactly ``ids``, each once, and the directory holds nothing but the table."""
    expected = sorted(ids)
    assert len(set(expected)) == len(expected), "the expected ids repeat"
    got = ids_each_reader_gets(out)
    wrong = {reader: (len(found), len(expected)) for reader, found in got.items() if found != expected}
    assert not wrong, f"{out}: readers got other rows than the table's (found, expected): {wrong}"
    names = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert all(
        (name.startswith("part-") and name.endswith(".parquet")) or name in ("_manifest.json", "_SUCCESS")
        for name in names
    ), names
