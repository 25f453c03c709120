"""The model-free tokenizer: the ``tokenizer.json`` backend gives AutoTokenizer's ids, and falls back where it can't."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.encoders.hf_spec import HFTextSpec
from pipeline.encoders.hf_tokenizer import HFTokenizer
from pipeline.encoders.hf_tokenizer_files import read_tokenizer_files

from tests.conftest import TINY_WORDS

# Words outside the tiny vocabulary, upper case, accents, CJK, controls and special-token strings: every path
# of the BERT normalizer and pre-tokenizer.
TEXTS = [
    " ".join(TINY_WORDS),
    "The CAT sat, on the mat!",
    "Ünïcödé café naïve",
    "中文 dog 字符",
    "tab\tnew\nline\r\n\x00 fox",
    "[CLS] the [SEP] [PAD] cat [MASK]",
    "x",
    "the quick brown fox " * 40,  # past the limit: truncated
]


def reference_ids(model_dir: Path, texts: list[str], max_length: int) -> dict[str, list[list[int]]]:
    """What transformers' own tokenizer makes, unpadded and truncated."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return dict(tokenizer(texts, truncation=True, max_length=max_length, padding=False, return_attention_mask=False))


def assert_same_ids(tokenizer: HFTokenizer, model_dir: Path, texts: list[str]) -> None:
    want = reference_ids(model_dir, texts, tokenizer.max_length)
    got = tokenizer.tokenize(texts)
    assert set(got.columns) == {name for name in want if name in ("input_ids", "token_type_ids")}
    for name, rows in want.items():
        flat = got.columns[name]
        assert [flat[a:b].tolist() for a, b in zip(got.offsets[:-1], got.offsets[1:], strict=True)] == rows, name


def copy_tokenizer_files(source: Path, target: Path, **config_changes: object) -> Path:
    """The tokenizer files of ``source`` in ``target``, with ``config_changes`` written into tokenizer_config."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).is_file():
            (target / name).write_bytes((source / name).read_bytes())
    config = json.loads((target / "tokenizer_config.json").read_text())
    config.update(config_changes)
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    return target


def test_tokenizer_json_backend_matches_transformers(tiny_bert_dir: Path) -> None:
    tokenizer = HFTokenizer(HFTextSpec(model=str(tiny_bert_dir)))
    assert tokenizer.backend == "tokenizers" and tokenizer.max_length == 64
    assert tokenizer.columns == ("input_ids", "token_type_ids") and tokenizer.pad_values["input_ids"] == 0
    assert_same_ids(tokenizer, tiny_bert_dir, TEXTS)
    short = HFTokenizer(HFTextSpec(model=str(tiny_bert_dir), max_length=5))
    assert short.tokenize(TEXTS).lengths.max() == 5
    assert_same_ids(short, tiny_bert_dir, TEXTS)


def test_exporter_truncation_and_padding_in_the_json_are_replaced(tiny_bert_dir: Path, tmp_path: Path) -> None:
    # sentence-transformers' exports pin truncation at 128 and fixed padding in tokenizer.json.
    folder = copy_tokenizer_files(tiny_bert_dir, tmp_path / "pinned")
    definition = json.loads((folder / "tokenizer.json").read_text())
    definition["truncation"] = {"max_length": 4, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}
    definition["padding"] = {
        "strategy": {"Fixed": 60},
        "direction": "Right",
        "pad_to_multiple_of": None,
        "pad_id": 0,
        "pad_type_id": 0,
        "pad_token": "[PAD]",
    }
    (folder / "tokenizer.json").write_text(json.dumps(definition))
    tokenizer = HFTokenizer(HFTextSpec(model=str(folder)))
    lengths = tokenizer.tokenize(TEXTS).lengths
    assert tokenizer.backend == "tokenizers" and lengths.max() == 64 and lengths.min() == 3  # "[CLS] x [SEP]"


def test_a_config_that_rewrites_the_json_goes_through_transformers(tiny_bert_dir: Path, tmp_path: Path) -> None:
    # transformers rebuilds the normalizer from do_lower_case; the JSON alone would keep lower-casing.
    folder = copy_tokenizer_files(tiny_bert_dir, tmp_path / "cased", do_lower_case=False)
    tokenizer = HFTokenizer(HFTextSpec(model=str(folder)))
    assert tokenizer.backend == "transformers"
    assert_same_ids(tokenizer, folder, TEXTS)
    # The fallback matters: upper-case words are unknown to the lower-case vocabulary once casing is kept.
    uncased = HFTokenizer(HFTextSpec(model=str(tiny_bert_dir)))
    assert (
        tokenizer.tokenize(["The CAT"]).columns["input_ids"].tolist()
        != uncased.tokenize(["The CAT"]).columns["input_ids"].tolist()
    )


def test_only_families_whose_json_is_the_whole_tokenizer_are_read_directly(tiny_bert_dir: Path, tmp_path: Path) -> None:
    assert read_tokenizer_files(str(tiny_bert_dir)) is not None
    # RoBERTa's add_prefix_space and Llama's add_bos_token rewrite the JSON on load.
    for family in ("RobertaTokenizer", "LlamaTokenizerFast", None):
        folder = copy_tokenizer_files(tiny_bert_dir, tmp_path / str(family), tokenizer_class=family)
        assert read_tokenizer_files(str(folder)) is None, family
    folder = copy_tokenizer_files(tiny_bert_dir, tmp_path / "other-normalizer")
    definition = json.loads((folder / "tokenizer.json").read_text())
    definition["normalizer"] = {"type": "Lowercase"}
    (folder / "tokenizer.json").write_text(json.dumps(definition))
    assert read_tokenizer_files(str(folder)) is None
    (folder / "tokenizer.json").write_text("{not json")
    assert read_tokenizer_files(str(folder)) is None


def test_no_tokenizer_json_or_remote_code_goes_through_transformers(tiny_bert_dir: Path, tmp_path: Path) -> None:
    folder = copy_tokenizer_files(tiny_bert_dir, tmp_path / "vocab-only")
    (folder / "tokenizer.json").unlink()
    tokenizer = HFTokenizer(HFTextSpec(model=str(folder)))
    assert tokenizer.backend == "transformers"
    assert_same_ids(tokenizer, folder, TEXTS)
    assert HFTokenizer(HFTextSpec(model=str(tiny_bert_dir), trust_remote_code=True)).backend == "transformers"


def test_preparing_imports_neither_torch_nor_transformers(tiny_bert_dir: Path) -> None:
    # Each preparation process would otherwise pay ~6 s importing them (the embed benchmark's start-up).
    code = (
        "import sys; from pipeline.encoders import build_tokenizer; "
        f"t = build_tokenizer('hf_text', model={str(tiny_bert_dir)!r}); t.tokenize(['the cat']); "
        "print(t.backend, sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.split() == ["tokenizers", "[]"], out.stderr


def test_rows_are_int_token_ids_in_order(tiny_bert_dir: Path) -> None:
    rows = HFTokenizer(HFTextSpec(model=str(tiny_bert_dir))).tokenize(["the cat", "dog"])
    assert np.issubdtype(rows.columns["input_ids"].dtype, np.integer) and rows.lengths.tolist() == [4, 3]


def test_a_special_token_the_json_lacks_goes_through_transformers(tiny_bert_dir: Path, tmp_path: Path) -> None:
    # transformers adds "<extra>" as a special token on load, so "<extra>" stays one token there.
    folder = copy_tokenizer_files(tiny_bert_dir, tmp_path / "extra", additional_special_tokens=["<extra>"])
    tokenizer = HFTokenizer(HFTextSpec(model=str(folder)))
    assert tokenizer.backend == "transformers"
    assert_same_ids(tokenizer, folder, ["the <extra> cat", *TEXTS])
    from tokenizers import Tokenizer

    alone = Tokenizer.from_file(str(folder / "tokenizer.json")).encode("the <extra> cat").ids
    assert alone != tokenizer.tokenize(["the <extra> cat"]).columns["input_ids"].tolist()  # the guard matters
