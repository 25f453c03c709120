"""The evaluate job's protocol, decoders, report and table inputs, on small synthetic spaces (no Ray)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.io.tables import embedding_table
from pipeline.jobs.evaluate import EvaluateConfig
from pipeline.jobs.evaluate.protocol import DECOUPLED, AnchorPool, EvaluationPlan, evaluate_direction
from pipeline.jobs.evaluate.report import aggregate, main_table
from pipeline.quality.decoders import MLPDecoder, train_decoder
from pipeline.quality.metrics import macro_f1


def rotated_spaces(n: int = 240, seed: int = 0):
    """Three separable classes; the target is a scaled rotation of the source plus an offset."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n // 3)
    source = rng.normal(size=(n, 8)) + 3.0 * np.eye(3, 8)[labels]
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    return source, 2.0 * source @ rotation + 1.0, labels


def test_macro_f1_by_hand():
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    # class 0: tp 1, claimed 2, actual 2 -> 0.5; class 1: tp 2, claimed 3, actual 2 -> 0.8; class 2: tp 0 -> 0
    assert macro_f1(predicted, labels) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert macro_f1(labels, labels) == 1.0


def test_mlp_decoder_learns_separable_classes_and_keeps_label_values():
    source, _, labels = rotated_spaces()
    names = np.array(["business", "sport", "tech"])[labels]
    decoder = train_decoder("mlp", source, names)
    assert isinstance(decoder, MLPDecoder)
    assert np.mean(decoder.predict(source) == names) > 0.95
    with pytest.raises(ValueError, match="unknown decoder 'svm'"):
        train_decoder("svm", source, names)


def test_protocol_rows_cover_every_run_and_an_exact_rotation_is_recovered():
    source, target, labels = rotated_spaces()
    protocol = EvaluationPlan(
        methods={"procrustes": ("procrustes", {}), "ridge": ("ridge", {"alpha": 1e-6})},
        anchors=60,
        test=60,
        draws=2,
        anchor_sweep=(20, 60, 10_000),
        deltas=(None, 0.7),
        subspaces=(1, 4),
        decoders=("logistic",),
    )
    rows = evaluate_direction(source, target, labels, protocol, "a → b")
    per_draw = 2 + 1 + 2 * 3 + 3  # methods, decoupled, sweep (10 000 > train is skipped), grid without (None, 4)
    assert len(rows) == 2 * per_draw
    main = [r for r in rows if r["experiment"] == "main" and r["label"] == "procrustes"]
    assert all(r["centered_cosine"] == pytest.approx(1.0, abs=1e-6) and r["top1"] == 1.0 for r in main)
    assert all(r["accuracy_ratio"] == 1.0 and r["macro_f1_ratio"] == 1.0 for r in main)
    assert {r["label"] for r in rows if r["experiment"] == "irp_grid"} == {"δ=None, ω=1", "δ=0.7, ω=1", "δ=0.7, ω=4"}
    assert any(r["label"] == DECOUPLED for r in rows)
    draws = {
        r["draw"]: r["mse"]
        for r in rows
        if r["experiment"] == "anchors" and r["n_anchors"] == 20 and r["label"] == "ridge"
    }
    assert draws[0] != draws[1]  # each draw takes other anchors


def test_every_estimator_of_a_draw_is_fitted_on_the_same_anchors():
    """A paired comparison: two labels of one method give the same figures within a draw, so a gap between
    methods in the table is the methods', not their anchors' luck."""
    source, target, labels = rotated_spaces()
    target = np.tanh(target / 4)  # no longer an exact rotation: the fit depends on which anchors it sees
    protocol = EvaluationPlan(
        methods={"first": ("ridge", {}), "procrustes": ("procrustes", {}), "second": ("ridge", {})},
        anchors=40,
        test=60,
        draws=2,
        anchor_sweep=(20, 40),
        deltas=(),
        subspaces=(),
        decoders=("logistic",),
        decoupled=False,
        sweep_methods=("ridge",),
    )
    rows = evaluate_direction(source, target, labels, protocol, "a → b")
    mse = {(r["experiment"], r["label"], r["n_anchors"], r["draw"]): r["mse"] for r in rows}
    for draw in (0, 1):
        assert mse[("main", "first", 40, draw)] == mse[("main", "second", 40, draw)]
        assert mse[("anchors", "ridge", 40, draw)] == mse[("main", "first", 40, draw)]  # one set per count
    assert mse[("main", "first", 40, 0)] != mse[("main", "first", 40, 1)]


def test_anchors_can_come_from_a_separate_pool():
    all_source, all_target, all_labels = rotated_spaces(n=330)
    in_pool = np.arange(330) % 11 == 0  # 30 items of the same two spaces, kept out of the evaluation set
    pool = AnchorPool(all_source[in_pool], all_target[in_pool])
    source, target, labels = all_source[~in_pool], all_target[~in_pool], all_labels[~in_pool]
    protocol = EvaluationPlan(
        methods={"procrustes": ("procrustes", {})},
        anchors=30,
        test=60,
        draws=1,
        anchor_sweep=(10, 40),
        deltas=(),
        subspaces=(),
        decoders=("logistic",),
        decoupled=False,
    )
    rows = evaluate_direction(source, target, labels, protocol, "a → b", pool)
    assert sorted(r["n_anchors"] for r in rows) == [10, 10, 10, 30]  # 40 > the pool's 30: not swept
    main = [r for r in rows if r["experiment"] == "main"]
    assert main[0]["centered_cosine"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="20 anchor candidates cannot give 30"):
        evaluate_direction(source, target, labels, protocol, "a → b", AnchorPool(pool.source[:20], pool.target[:20]))


def test_aggregate_is_mean_and_population_std_over_draws():
    base = {
        "direction": "a → b",
        "experiment": "main",
        "label": "x",
        "n_anchors": 5,
        "decoder": "logistic",
        "native_accuracy": 0.9,
        **{f: 0.0 for f in ("centered_cosine", "cosine", "mse", "top1", "top10", "mrr", "macro_f1_ratio")},
    }
    [entry] = aggregate([{**base, "accuracy_ratio": 0.8}, {**base, "accuracy_ratio": 1.0}])
    assert entry["accuracy_ratio"] == {"mean": pytest.approx(0.9), "std": pytest.approx(0.1)}
    assert entry["draws"] == 2
    table = main_table([entry], "a → b", ["logistic"])
    assert table[2].startswith("| x | 0.000 ± 0.000 | 0.000 ± 0.000 | 0.00e+00 ± 0.0e+00 |")
    assert "0.900 ± 0.100" in table[2]


def test_evaluate_job_on_tables_writes_report_plots_and_json(tmp_path):
    from pipeline.jobs.evaluate import run

    source, target, labels = rotated_spaces(n=150)
    ids = [f"doc{i}" for i in range(150)]
    pq.write_table(embedding_table(ids, source.astype(np.float32)), tmp_path / "a.parquet")
    pq.write_table(embedding_table(ids[::-1], target[::-1].astype(np.float32)), tmp_path / "b.parquet")
    pq.write_table(pa.table({"id": ids, "label": [str(v) for v in labels]}), tmp_path / "labels.parquet")
    config = load_config(
        EvaluateConfig,
        None,
        [
            f"spaces.a.table={tmp_path}/a.parquet",
            f"spaces.b.table={tmp_path}/b.parquet",
            f"labels.path={tmp_path}/labels.parquet",
            "anchors=40",
            "test=50",
            "draws=2",
            "anchor_sweep=[20, 40]",
            "deltas=[null, 0.7]",
            "subspaces=[1, 2]",
            "translators={p: {method: procrustes}}",
            f"output={tmp_path}/report",
        ],
    )
    lines = run(config, say=lambda line: None)
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## a → b" in report and "## b → a" in report and "| p | 1.000 ± 0.000" in report
    for png in ("anchors.png", "irp_grid.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = json.loads((tmp_path / "report" / "report.json").read_text())
    assert {row["direction"] for row in figures["rows"]} == {"a → b", "b → a"}
    assert lines[-1].startswith("written:")


def test_evaluate_config_reports_every_problem():
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(
            EvaluateConfig,
            None,
            [
                "spaces.a.encoder.kind=hf_text",
                "spaces.a.encoder.model=m",
                "spaces.b.table=b.parquet",
                "spaces.c.table=c.parquet",
                "anchor_tables.a=x.parquet",
                "decoders=[logistic, svm]",
                "draws=0",
            ],
        )
    assert caught.value.problems == [
        "spaces: name exactly two, got ['a', 'b', 'c']",
        "anchor_tables: name one table per space ['a', 'b', 'c'], got ['a']",
        "corpus: required when a space embeds it (encoder)",
        "decoders: unknown decoder 'svm'; choose from ['logistic', 'mlp']",
        "draws: must be >= 1",
    ]


def test_a_migrated_index_of_a_rotated_space_keeps_native_recall_both_ways():
    """Documents and queries in two spaces that differ by a scaled rotation: Procrustes migrates exactly, so both
    strategies equal the re-embedded index; the bounds do not depend on the translator."""
    from pipeline.jobs.evaluate.report import migration_table
    from pipeline.jobs.evaluate.retrieval import CORPUS, NATIVE, NO_MIGRATION, QUERIES, evaluate_migration, summarize

    rng = np.random.default_rng(3)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    source_docs = rng.normal(size=(300, 16)) + 0.5
    source_queries = source_docs + 0.9 * rng.normal(size=(300, 16))  # noisy: recall below 1 in both spaces
    documents, queries = (source_docs, 2.0 * source_docs @ rotation), (source_queries, 2.0 * source_queries @ rotation)
    plan = EvaluationPlan(
        methods={"procrustes": ("procrustes", {}), "ridge": ("ridge", {"alpha": 10.0})},
        anchors=100,
        test=120,
        draws=2,
        decoupled=True,
    )
    rows = evaluate_migration(documents, queries, plan, "a → b")
    assert {(r["label"], r["strategy"]) for r in rows} == {
        ("-", NATIVE),
        ("-", NO_MIGRATION),
        *((m, s) for m in ("procrustes", "ridge") for s in (CORPUS, QUERIES)),
    }
    assert len(rows) == 2 * (2 + 2 * 2)  # draws x (bounds + translators x strategies)
    summary = {(e["label"], e["strategy"]): e for e in summarize(rows)}
    native = summary[("-", NATIVE)]
    assert 0.2 < native["recall1"]["mean"] < 0.95  # a real retrieval problem, not a trivial one
    assert summary[("-", NO_MIGRATION)]["mrr"]["mean"] == pytest.approx(native["mrr"]["mean"])  # rotation-invariant
    for strategy in (CORPUS, QUERIES):
        assert summary[("procrustes", strategy)]["mrr_ratio"]["mean"] == pytest.approx(1.0, abs=1e-9)
    assert summary[("ridge", CORPUS)]["mrr_ratio"]["mean"] < 1.0  # heavy shrinkage blurs raw-cosine neighbors
    table = migration_table(summarize(rows), "a → b")
    assert table[2].startswith("| - | native |") and len(table) == 2 + 6


def test_anchors_with_queries_fit_on_each_anchor_document_and_its_query(monkeypatch):
    """Where the map between the spaces bends (as between two real models), a linear fit on documents alone
    serves documents; short queries elsewhere in the space are translated better when their kind is among the
    anchors. And the extra pairs are exactly the anchor documents' own queries."""
    from pipeline.jobs.evaluate import retrieval
    from pipeline.jobs.evaluate.retrieval import QUERIES, QUERY_ANCHORS, evaluate_migration, summarize

    rng = np.random.default_rng(4)
    mixing = rng.normal(size=(16, 16)) / 4

    def bend(x):  # the new model: a smooth non-linear function of the old one
        return x @ mixing + 0.3 * (x @ mixing) ** 2

    base = rng.normal(size=(300, 16))
    source_docs, source_queries = base + 1.5, 0.6 * base - 1.0 + 0.5 * rng.normal(size=(300, 16))
    fits = []
    real_fit = retrieval.fit_translator
    monkeypatch.setattr(
        retrieval, "fit_translator", lambda s, t, *a, **k: fits.append((s, t)) or real_fit(s, t, *a, **k)
    )
    plan = EvaluationPlan(methods={"procrustes": ("procrustes", {})}, anchors=100, test=120, draws=2)
    rows = evaluate_migration(
        (source_docs, bend(source_docs)), (source_queries, bend(source_queries)), plan, "a → b", anchor_queries=True
    )
    mrr = {(e["label"], e["strategy"]): e["mrr"]["mean"] for e in summarize(rows)}
    assert mrr[("procrustes" + QUERY_ANCHORS, QUERIES)] > 2 * mrr[("procrustes", QUERIES)]
    forward_alone, _, forward_both, _ = fits[:4]  # draw 0: documents alone (forward, backward), then with queries
    documents = [int(np.flatnonzero((source_docs == row).all(axis=1))[0]) for row in forward_alone[0]]
    np.testing.assert_array_equal(forward_both[0], np.concatenate([source_docs[documents], source_queries[documents]]))
    np.testing.assert_array_equal(
        forward_both[1], bend(np.concatenate([source_docs[documents], source_queries[documents]]))
    )
    assert (
        len(evaluate_migration((source_docs, bend(source_docs)), (source_queries, bend(source_queries)), plan, "a → b"))
        == len(rows) - 2 * 2
    )  # off: no "+ queries" rows


def test_anchor_passages_add_the_anchor_documents_own_paragraphs_and_no_held_out_ones(monkeypatch):
    """20 anchor documents cannot fix a rotation of a 64-d space; their paragraphs (four each, other points of the
    same space) can, so `+ passages` recovers the native index exactly. The extra pairs are the anchor documents'
    own paragraphs, never a held-out document's."""
    from pipeline.jobs.evaluate import retrieval
    from pipeline.jobs.evaluate.retrieval import (
        CORPUS,
        PASSAGE_ANCHORS,
        QUERIES,
        Passages,
        evaluate_migration,
        summarize,
    )

    rng = np.random.default_rng(5)
    rotation, _ = np.linalg.qr(rng.normal(size=(64, 64)))
    source_docs = rng.normal(size=(200, 64))
    source_queries = source_docs + 0.7 * rng.normal(size=(200, 64))
    owners = rng.permutation(np.repeat(np.arange(200), 4))  # every document has four, in no particular order
    source_passages = source_docs[owners] + rng.normal(size=(800, 64))
    passages = Passages(owners, source_passages, source_passages @ rotation)
    fits = []
    real_fit = retrieval.fit_translator
    monkeypatch.setattr(
        retrieval, "fit_translator", lambda s, t, *a, **k: fits.append((s, t)) or real_fit(s, t, *a, **k)
    )
    plan = EvaluationPlan(methods={"procrustes": ("procrustes", {})}, anchors=20, test=100, draws=2)
    rows = evaluate_migration(
        (source_docs, source_docs @ rotation),
        (source_queries, source_queries @ rotation),
        plan,
        "a → b",
        passages=passages,
    )
    ratio = {(e["label"], e["strategy"]): e["recall1_ratio"]["mean"] for e in summarize(rows)}
    for strategy in (CORPUS, QUERIES):
        assert ratio[("procrustes" + PASSAGE_ANCHORS, strategy)] == pytest.approx(1.0, abs=1e-9)
        assert ratio[("procrustes", strategy)] < 0.5
    alone, _, with_passages, _ = fits[:4]  # draw 0: documents alone (forward, backward), then with paragraphs
    anchors = [int(np.flatnonzero((source_docs == row).all(axis=1))[0]) for row in alone[0]]
    theirs = np.isin(owners, anchors)
    assert theirs.sum() == 4 * 20 and len(with_passages[0]) == 20 + 80
    np.testing.assert_array_equal(with_passages[0], np.concatenate([source_docs[anchors], source_passages[theirs]]))
    np.testing.assert_array_equal(
        with_passages[1], np.concatenate([source_docs[anchors] @ rotation, source_passages[theirs] @ rotation])
    )


def test_anchor_passages_need_text_documents():
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(
            EvaluateConfig,
            None,
            [
                "spaces.a.encoder.kind=hf_text",
                "spaces.a.encoder.model=m",
                "spaces.b.encoder.kind=hf_text",
                "spaces.b.encoder.model=n",
                "corpus.path=c",
                "corpus.format=text",
                "retrieval.queries.path=q",
                "retrieval.queries.format=text",
                "retrieval.documents.path=d",
                "retrieval.documents.format=images",
                "retrieval.anchor_passages=true",
            ],
        )
    assert caught.value.problems == [
        "retrieval.anchor_passages: paragraphs are cut from text documents; these are images"
    ]


def test_the_documents_paragraphs_are_written_once_as_jsonl_files(tmp_path, monkeypatch):
    from pipeline.config import SourceConfig
    from pipeline.io import passage_files as passages

    monkeypatch.setattr(passages, "PASSAGES_PER_FILE", 2)
    folder = tmp_path / "docs"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "1.txt").write_text(
        "Title one\n\n"
        + "First paragraph of one, long enough to keep.\n \n"
        + "short\n\n"
        + "Second paragraph of one, also long enough.\n"
    )
    (folder / "b.txt").write_text("Title two\n" + "Only paragraph of two, long enough to be kept here.")
    documents = SourceConfig(path=str(folder), format="text", text_column="body")
    out = tmp_path / "work" / "_paragraphs"
    out.mkdir(parents=True)
    (out / "part-00007.jsonl").write_text("{}\n")  # left by an earlier, longer set
    source = passages.write_passages(documents, str(out))
    assert (source.path, source.format, source.text_column) == (str(out), "jsonl", "text")
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.jsonl", "part-00001.jsonl"]
    rows = [
        json.loads(line)
        for name in ("part-00000.jsonl", "part-00001.jsonl")
        for line in (out / name).read_text().splitlines()
    ]
    assert rows == [
        {"id": "a/1.txt#p0", "text": "First paragraph of one, long enough to keep."},
        {"id": "a/1.txt#p1", "text": "Second paragraph of one, also long enough."},
        {"id": "b.txt#p0", "text": "Only paragraph of two, long enough to be kept here."},
    ]
    written = [(out / name).stat().st_mtime_ns for name in ("part-00000.jsonl", "part-00001.jsonl")]
    passages.write_passages(documents, str(out))  # unchanged: not rewritten, so a rerun's embed reuses its vectors
    assert [(out / name).stat().st_mtime_ns for name in ("part-00000.jsonl", "part-00001.jsonl")] == written


def test_a_table_whose_ids_repeat_is_refused_not_read_as_its_last_vector(tmp_path):
    """An embedding folder with another table under it (the corpus's folder holding the retrieval set's) reads
    every part: the ids repeat, and a dict would keep the nested table's vectors silently."""
    from pipeline.jobs.evaluate.job import read_table

    (tmp_path / "corpus" / "queries").mkdir(parents=True)
    pq.write_table(embedding_table(["a", "b"], np.eye(2, dtype=np.float32)), tmp_path / "corpus" / "part-0.parquet")
    pq.write_table(
        embedding_table(["a", "b"], -np.eye(2, dtype=np.float32)), tmp_path / "corpus" / "queries" / "part-0.parquet"
    )
    assert list(read_table(str(tmp_path / "corpus" / "queries"))) == ["a", "b"]
    with pytest.raises(ValueError, match="2 ids repeat"):
        read_table(str(tmp_path / "corpus"))
