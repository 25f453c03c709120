"""Unit tests of the transformers text encoder on a tiny random-weight BERT built in the test (no network)."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.encoders import ENCODERS, Encoder, build_encoder, list_encoders
from pipeline.encoders.hf_loading import torch_dtype
from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec, build_hf_text_encoder, pool
from pipeline.encoders.hf_tokenizer import resolve_max_length
from pipeline.encoders.inputs import invalid_text_rows
from pipeline.encoders.specs import spec_from_options

from tests.conftest import TINY_SPECIAL as SPECIAL
from tests.conftest import TINY_WORDS as WORDS

# Lengths differ a lot, so length sorting reorders them and batches carry real padding.
TEXTS = [
    "the cat sat on the mat",
    "dog",
    "the quick brown fox jumps over the lazy dog and ran far away over the river stone",
    "a cat and a dog",
    "stone",
    "the lazy dog sat on a stone by the river and the cat ran",
    "fox jumps",
]


@pytest.fixture(scope="module")
def tiny_model_dir(tiny_bert_dir: Path) -> Path:
    return tiny_bert_dir


@pytest.fixture(scope="module")
def encoders(tiny_model_dir: Path) -> dict[str, HFTextEncoder]:
    """One encoder per pooling, unnormalized, with small batches so that TEXTS span several of them."""
    return {
        p: HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), pooling=p, normalize=False, batch_size=3))
        for p in ("mean", "cls", "last")
    }


@cache
def _reference_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _hidden_alone(enc: HFTextEncoder, text: str) -> np.ndarray:
    """``(t, d)`` float64 last hidden state of one unpadded text, tokenized by transformers (not by our code)."""
    batch = _reference_tokenizer(enc.spec.model)(
        [text], truncation=True, max_length=enc.max_length, return_tensors="pt"
    )
    with torch.inference_mode():
        return enc.model(**batch).last_hidden_state[0].double().numpy()


def test_shape_dtype_and_protocol(encoders: dict[str, HFTextEncoder]) -> None:
    enc = encoders["mean"]
    out = enc.encode(TEXTS)
    assert out.shape == (len(TEXTS), 32) and out.dtype == np.float32
    assert enc.dim == 32 and enc.modality == "text" and isinstance(enc, Encoder)
    assert enc.attn_implementation == "sdpa" and enc.max_length == 64
    assert enc.encode([]).shape == (0, 32)


def test_output_order_is_input_order(encoders: dict[str, HFTextEncoder]) -> None:
    enc = encoders["mean"]
    together = enc.encode(TEXTS)
    alone = np.stack([enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # Permuting the input permutes the output the same way.
    perm = [3, 0, 6, 2, 5, 1, 4]
    np.testing.assert_allclose(enc.encode([TEXTS[i] for i in perm]), together[perm], atol=1e-5)


def test_mean_pooling_matches_float64_masked_mean(encoders: dict[str, HFTextEncoder]) -> None:
    enc = encoders["mean"]
    got = enc.encode(TEXTS)
    want = np.stack([_hidden_alone(enc, t).mean(axis=0) for t in TEXTS])
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(("pooling", "row"), [("cls", 0), ("last", -1)])
def test_cls_and_last_pooling(encoders: dict[str, HFTextEncoder], pooling: str, row: int) -> None:
    got = encoders[pooling].encode(TEXTS)
    want = np.stack([_hidden_alone(encoders[pooling], t)[row] for t in TEXTS])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_normalize_gives_unit_rows(tiny_model_dir: Path, encoders: dict[str, HFTextEncoder]) -> None:
    enc = build_encoder("hf_text", model=tiny_model_dir, normalize=True, batch_size=4)
    out = enc.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    raw = encoders["mean"].encode(TEXTS)
    np.testing.assert_allclose(out, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_truncation_to_max_length(tiny_model_dir: Path, encoders: dict[str, HFTextEncoder]) -> None:
    enc = HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), pooling="mean", normalize=False, max_length=5))
    assert enc.max_length == 5
    # [CLS] + 3 words + [SEP]: the 5-token truncation of the long text.
    np.testing.assert_allclose(enc.encode([TEXTS[2]]), encoders["mean"].encode(["the quick brown"]), atol=1e-5)


def test_bad_inputs_raise_with_row_indices(encoders: dict[str, HFTextEncoder]) -> None:
    texts = ["fine", "", None, "  \n", 3, "also fine"]
    assert invalid_text_rows(texts) == {
        1: "empty or whitespace-only",
        2: "not a str (got NoneType)",
        3: "empty or whitespace-only",
        4: "not a str (got int)",
    }
    with pytest.raises(ValueError, match=r"rows \[1, 2, 3, 4\]"):
        encoders["mean"].encode(texts)
    with pytest.raises(TypeError, match="wrap it in a list"):
        encoders["mean"].encode("a single string")
    assert invalid_text_rows(TEXTS) == {}


def test_pool_last_handles_left_padding() -> None:
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0]])
    np.testing.assert_array_equal(pool(hidden, mask, "last").numpy(), hidden[[0, 1], [3, 2]].numpy())
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool(hidden, mask, "max")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5), t=st.integers(1, 9), d=st.integers(1, 6))
def test_pool_mean_property(seed: int, n: int, t: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    hidden = rng.standard_normal((n, t, d))
    lengths = rng.integers(1, t + 1, size=n)
    mask = (np.arange(t)[None, :] < lengths[:, None]).astype(np.int64)
    got = pool(torch.from_numpy(hidden).float(), torch.from_numpy(mask), "mean").numpy()
    want = np.stack([hidden[i, : lengths[i]].mean(axis=0) for i in range(n)])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_resolve_max_length(tmp_path: Path) -> None:
    assert resolve_max_length(str(tmp_path), 512, None) == 512
    assert resolve_max_length(str(tmp_path), 512, 32) == 32
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    assert resolve_max_length(str(tmp_path), 512, None) == 256
    assert resolve_max_length(str(tmp_path), None, None) == 256  # sentence-transformers' limit alone suffices
    for undeclared in (None, int(1e30)):
        with pytest.raises(ValueError, match="set max_length"):
            resolve_max_length("elsewhere", undeclared, None)


def test_spec_and_registry_validation(tiny_model_dir: Path) -> None:
    assert "hf_text" in ENCODERS and list_encoders() == sorted(ENCODERS)
    assert HFTextSpec(model=tiny_model_dir).model == str(tiny_model_dir)
    with pytest.raises(ValueError, match="pooling must be one of"):
        HFTextSpec(model="m", pooling="max")
    with pytest.raises(ValueError, match="batch_size"):
        HFTextSpec(model="m", batch_size=0)
    with pytest.raises(ValueError, match="bucket must be a positive int or None"):
        HFTextSpec(model="m", bucket=0)
    with pytest.raises(ValueError, match="chunk_size"):
        HFTextSpec(model="m", chunk_size=0)
    with pytest.raises(ValueError, match="raise token_budget or lower max_length"):
        HFTextSpec(model="m", token_budget=100, max_length=128)
    with pytest.raises(ValueError, match="precision must be one of"):
        HFTextSpec(model="m", precision="fp8")
    with pytest.raises(TypeError, match="overlap_tokenization must be true or false"):
        HFTextSpec(model="m", overlap_tokenization=1)
    with pytest.raises(TypeError, match="normalize must be true or false"):
        HFTextSpec(model="m", normalize="yes")
    with pytest.raises(TypeError, match=r"poolign: unknown key \(did you mean 'pooling'\?\)"):
        build_hf_text_encoder(model="m", poolign="mean")
    with pytest.raises(TypeError, match="model: required"):
        build_hf_text_encoder(pooling="mean")
    with pytest.raises(ValueError) as every:  # every problem at once, each with its key
        build_hf_text_encoder(model="m", pooling="max", batch_size="8", bucket=0)
    assert every.value.problems == [
        "pooling: must be one of ['mean', 'cls', 'last'], got 'max'",
        "batch_size: must be int, got '8'",
        "bucket must be a positive int or None, got 0.",
    ]
    with pytest.raises(ValueError, match="unknown encoder kind 'nope'"):
        build_encoder("nope")


def test_old_dtype_key_still_works_for_one_release_and_names_precision() -> None:
    with pytest.warns(FutureWarning, match="dtype is deprecated.*write precision: 'bf16'"):
        spec = spec_from_options(HFTextSpec, "hf_text", {"model": "m", "dtype": "bfloat16"})
    assert spec.precision == "bf16"
    with pytest.raises(ValueError, match="dtype: replaced by precision; give only precision"):
        spec_from_options(HFTextSpec, "hf_text", {"model": "m", "dtype": "float32", "precision": "fp32"})


def _forward_inputs(enc: HFTextEncoder) -> list[dict[str, tuple[int, ...]]]:
    """Record the shape of every input the model's forward receives from now on."""
    seen: list[dict[str, tuple[int, ...]]] = []
    enc.model.register_forward_pre_hook(
        lambda _m, _args, kwargs: seen.append({k: tuple(v.shape) for k, v in kwargs.items() if v is not None}),
        with_kwargs=True,
    )
    return seen


def test_bucketed_token_budget_batches_match_encoding_alone(
    tiny_model_dir: Path, encoders: dict[str, HFTextEncoder]
) -> None:
    # Budget 64 at bucket 8: TEXTS (3 to 19 tokens) span several batches, all of lengths 8, 16 or 24.
    enc = HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), normalize=False, token_budget=64, bucket=8))
    seen = _forward_inputs(enc)
    got = enc.encode(TEXTS)
    alone = np.stack([encoders["mean"].encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(got, alone, atol=1e-5)
    assert len(seen) > 1
    for shapes in seen:
        b, t = shapes["input_ids"]
        assert t % 8 == 0 and b * t <= 64
        assert shapes["attention_mask"] == shapes["token_type_ids"] == (b, t)  # BERT takes token_type_ids


def test_overlapped_tokenization_gives_identical_vectors(tiny_model_dir: Path) -> None:
    texts = TEXTS * 3  # chunk_size 4: six chunks, so the prefetch thread really runs ahead
    spec = {"model": str(tiny_model_dir), "chunk_size": 4, "batch_size": 2}
    on = HFTextEncoder(HFTextSpec(**spec, overlap_tokenization=True)).encode(texts)
    off = HFTextEncoder(HFTextSpec(**spec, overlap_tokenization=False)).encode(texts)
    np.testing.assert_array_equal(on, off)
    np.testing.assert_allclose(on[: len(TEXTS)], on[len(TEXTS) : 2 * len(TEXTS)], atol=1e-6)


def test_tokenizer_error_in_the_prefetch_thread_reaches_the_caller(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), chunk_size=2))
    real = enc.tokenize
    calls: list[int] = []

    def flaky(texts: list[str]):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        if len(calls) == 3:
            raise RuntimeError("tokenizer broke")
        return real(texts)

    monkeypatch.setattr(enc, "tokenize", flaky)
    with pytest.raises(RuntimeError, match="tokenizer broke"):
        enc.encode(TEXTS)


def test_model_without_token_type_ids_gets_none(tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import DistilBertConfig, DistilBertModel

    # The BERT tokenizer makes token_type_ids; DistilBERT's forward has no such argument and would raise.
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (tiny_model_dir / name).is_file():
            (tmp_path / name).write_bytes((tiny_model_dir / name).read_bytes())
    torch.manual_seed(0)
    DistilBertModel(
        DistilBertConfig(
            vocab_size=len(SPECIAL + WORDS), dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=64
        )
    ).save_pretrained(tmp_path)
    enc = HFTextEncoder(HFTextSpec(model=str(tmp_path), normalize=False))
    seen = _forward_inputs(enc)
    got = enc.encode(TEXTS)
    assert got.shape == (len(TEXTS), 32) and all("token_type_ids" not in s for s in seen)
    alone = np.stack([enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(got, alone, atol=1e-5)


def test_bfloat16_model_pools_in_float32(tiny_model_dir: Path, encoders: dict[str, HFTextEncoder]) -> None:
    enc = HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), normalize=False, precision="bf16"))
    assert enc.dtype == torch.bfloat16 and next(enc.model.parameters()).dtype == torch.bfloat16
    got, ref = enc.encode(TEXTS), encoders["mean"].encode(TEXTS)
    assert got.dtype == np.float32
    cos = (got * ref).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.99


def test_precision_and_budget_check(tiny_model_dir: Path) -> None:
    assert torch_dtype("auto", "cpu") == torch.float32
    assert torch_dtype("auto", "cuda:1") == torch.bfloat16
    assert torch_dtype("fp16", "cpu") == torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        torch_dtype("half", "cpu")
    # max_length comes from the tokenizer (64) here, so only the encoder can see that a budget of 32 is too small.
    with pytest.raises(ValueError, match="raise token_budget or lower max_length"):
        HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), token_budget=32))


def test_the_model_free_tokenizer_feeds_encode_to_the_same_vectors(
    tiny_model_dir: Path, encoders: dict[str, HFTextEncoder]
) -> None:
    # The engine tokenizes in CPU tasks that load no model, and the actor's encode runs the forward pass alone.
    from pipeline.encoders import build_tokenizer

    tokenizer = build_tokenizer("hf_text", model=str(tiny_model_dir), pooling="mean", normalize=False)
    assert not hasattr(tokenizer, "model") and tokenizer.max_length == encoders["mean"].max_length
    tokens = tokenizer.tokenize(TEXTS)
    np.testing.assert_array_equal(encoders["mean"].encode(tokens), encoders["mean"].encode(TEXTS))
    np.testing.assert_array_equal(encoders["mean"].encode_tokens(tokens), encoders["mean"].encode(TEXTS))
    assert build_tokenizer("open_clip_text", model="ViT-B-32") is None  # tokenizes inside encode


def test_every_kind_is_one_registry_entry_whose_parts_agree() -> None:
    from pipeline.encoders import ENCODERS, EncoderKind, encoder_spec

    for kind, entry in ENCODERS.items():
        assert isinstance(entry, EncoderKind)
        assert dataclasses.is_dataclass(entry.spec()) and encoder_spec(kind) is entry.spec()
    assert [kind for kind, entry in ENCODERS.items() if entry.tokenizer is not None] == ["hf_text"]
    for unknown in (lambda: encoder_spec("nope"), lambda: build_tokenizer_of("nope")):
        with pytest.raises(ValueError, match="unknown encoder kind 'nope'; choose one of"):
            unknown()


def build_tokenizer_of(kind: str) -> object:
    from pipeline.encoders import build_tokenizer

    return build_tokenizer(kind)


@pytest.mark.gpu
def test_bf16_on_cuda_matches_fp32_on_the_cpu(tiny_model_dir: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    cpu = HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), device="cpu", precision="fp32")).encode(TEXTS)
    gpu = HFTextEncoder(HFTextSpec(model=str(tiny_model_dir), device="cuda", precision="auto")).encode(TEXTS)
    cosines = (cpu * gpu).sum(1) / (np.linalg.norm(cpu, axis=1) * np.linalg.norm(gpu, axis=1))
    assert cosines.min() > 0.99, cosines
