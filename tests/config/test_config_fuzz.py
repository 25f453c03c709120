"""Fuzzed configs: whatever YAML and dotted overrides a user passes, a job either accepts them or exits with code 2
and one readable message that names a key; never a Python traceback. No job runs: ``run`` is a stub."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.jobs.benchmark import BenchmarkConfig
from pipeline.jobs.demo import DemoConfig
from pipeline.jobs.embed import EmbedConfig
from pipeline.jobs.entry import run_configured_job
from pipeline.jobs.evaluate import EvaluateConfig
from pipeline.jobs.sync import SyncConfig
from pipeline.jobs.translate_corpus import TranslateConfig

SCHEMAS = [EmbedConfig, TranslateConfig, SyncConfig, EvaluateConfig, BenchmarkConfig, DemoConfig]
# Real keys, so the fuzz reaches deep into the blocks, and junk beside them.
KEYS = [
    "source",
    "output",
    "encoder",
    "translator",
    "anchors",
    "targets",
    "store",
    "upgrade",
    "backfill",
    "execution",
    "path",
    "format",
    "table",
    "dsn",
    "id_column",
    "text_column",
    "vector_column",
    "kind",
    "model",
    "method",
    "options",
    "index",
    "actors",
    "chunk_rows",
    "anchors",
    "rows_per_run",
    "mode",
    "partitions",
    "spaces",
    "labels",
    "target",
    "set",
    "storage_options",
    "overwrite",
    "seed",
    "zzz",
    "",
    "a.b",
    "1",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["parquet", "lancedb", "auto", "hf_text", "-1", "~"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12,
)
DOCUMENTS = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6).map(yaml.safe_dump),
    st.text(alphabet=string.printable, max_size=60),
)  # not YAML at all, or not a mapping
OVERRIDES = st.lists(
    st.one_of(
        st.builds(
            lambda keys, value: ".".join(keys) + "=" + value,
            st.lists(st.sampled_from(KEYS), min_size=1, max_size=3),
            st.text(max_size=10),
        ),
        st.text(alphabet=string.printable, max_size=15),
    ),
    max_size=3,
)


def never_runs(config):
    return ["accepted"]  # a config that happened to be valid: the stub stands in for the job


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schema=st.sampled_from(SCHEMAS), document=DOCUMENTS, overrides=OVERRIDES)
@example(schema=EmbedConfig, document="{}\n", overrides=["-h"])  # found by CI: help is an answer, not an error
def test_any_config_is_accepted_or_refused_with_code_2_and_a_named_key(
    tmp_path, capsys, schema, document, overrides, tally
):
    path = tmp_path / "job.yaml"
    path.write_text(document)
    try:
        code = run_configured_job(["--config", str(path), *overrides], "fuzz", "fuzz", schema, never_runs)
    except SystemExit as e:  # argparse: `-h` gets the help (exit 0), another option-like override (`-x`) its usage
        code = e.code
        out, err = capsys.readouterr()
        tally.said("fuzz", out, err, fuzzed=True)
        if code == 0:
            assert out.startswith("usage: ") and "--config" in out
        else:
            assert code == 2 and "error:" in err
        return
    out, err = capsys.readouterr()
    tally.said("fuzz", out, err, fuzzed=True)
    assert "Traceback" not in out + err
    if code == 0:
        assert out.strip() == "accepted"
        return
    assert code == 2
    problems = [line.strip() for line in err.splitlines()[1:] if line.strip()]
    assert err.startswith("invalid config ") and problems, err
    assert all(":" in line for line in problems), err  # each problem names its key (`key.sub: what is wrong`)
