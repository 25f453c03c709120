"""Smoke test of `python -m jobs.gpu_check` on the CPU with a tiny random BERT: every figure written, no Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[3]
WORDS = "the a cat dog sat on mat and ran far away quick brown fox government said plans trade energy".split()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizer

    path = tmp_path_factory.mktemp("tiny-bert-gpu-check")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=64).save_pretrained(path)
    torch.manual_seed(0)
    # vocab_size above 1000: the bare-forward figure draws random ids from [1000, vocab_size) as for real models.
    config = BertConfig(
        vocab_size=1100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    return path


def test_gpu_check_runs_on_cpu_and_imports_no_ray(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report" / "gpu_check.json"
    # A fresh interpreter, so that sys.modules shows what the script itself imported; no GPU, so the CPU path.
    code = (
        "import sys; from jobs.gpu_check import main; rc = main(sys.argv[1:]); "
        "leaked = [m for m in ('ray', 'open_clip') if m in sys.modules]; "
        "assert not leaked, f'gpu_check imported {leaked}'; sys.exit(rc)"
    )
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, "--model-dir", str(tiny_model_dir), "--out", str(out), "--n", "16"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["texts"]["n"] == 16
    assert report["bare_forward"]["sentences_per_s"] > 0
    for key in (
        "bucket32_end_to_end_per_s",
        "bucket32_no_overlap_end_to_end_per_s",
        "no_bucket_end_to_end_per_s",
        "bucket32_pretokenized_per_s",
        "no_bucket_pretokenized_per_s",
        "tokenize_only_per_s",
    ):
        assert report["encoder"][key] > 0, key
    assert report["translation"]["float32_vectors_per_s"] > 0 and report["translation"]["bfloat16_vectors_per_s"] > 0
    assert report["translation"]["float32_max_abs_err_vs_numpy"] < 1e-4
    assert report["parity"]["ok"] and report["parity"]["texts"] == 16
    # The engine's own stages ran without Ray: every text through prepare processes, the model and the writer.
    stages = report["engine_stages"]
    assert stages["rows"] == 32 and stages["chunks"] == 4 and stages["end_to_end_per_s"] > 0
    assert set(stages["stage_seconds"]) == {"read", "prepare", "encode", "translate", "write"}
    assert "parity bf16 vs fp32 CPU, min cosine" in proc.stdout
    # The same ratio format as the CPU benchmark, Markdown beside the JSON.
    assert set(report["sections"]) >= {
        "encoder_vs_bare_forward",
        "bucketing",
        "translation_bf16",
        "engine_stages_vs_bare_forward",
    }
    assert all(s["ours"] > 0 and s["baseline"] > 0 for s in report["sections"].values())
    assert "| section | ours | baseline |" in out.with_suffix(".md").read_text()
