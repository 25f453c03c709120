"""`make demo`: translate real MiniLM-L6 embeddings of BBC News into mpnet space, offline, and score them.

Until the Ray pipeline lands this runs the translation core directly: embed the packaged BBC News corpus with
both packaged models, fit each configured translator on anchors from the train split, translate the held-out
articles, and print how well the target's own decoder and index serve the translated vectors.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from pipeline.cli import run_configured_job
from pipeline.config import DemoConfig


def main(argv: list[str] | None = None) -> int:
    return run_configured_job(argv, "irp demo", __doc__.splitlines()[0], DemoConfig, run)


def run(config: DemoConfig) -> list[str]:
    """Embed, split, and print one table per direction (as it goes: embedding takes minutes)."""
    from pipeline.evaluation import make_split, train_decoder
    from pipeline.packaged import load_bbc_news

    corpus = load_bbc_news(max_chars=config.max_chars)
    print(f"BBC News: {len(corpus.texts)} articles, {len(corpus.label_names)} classes, first {config.max_chars} chars")
    spaces = {name: _embed(name, corpus.texts) for name in (config.source_model, config.target_model)}
    split = make_split(len(corpus.texts), config.anchors, config.test, seed=config.seed)
    print(f"split: {len(split.train)} train ({len(split.anchors)} of them anchors), {len(split.test)} held out\n")
    for source, target in ((config.source_model, config.target_model), (config.target_model, config.source_model)):
        decoder = train_decoder(spaces[target][split.train], corpus.labels[split.train])
        print(f"{source} -> {target}")
        print(f"  {'translator':<26} {'centred cos':>11} {'top-1':>6} {'top-10':>6}   stitched/native accuracy")
        for label, translator in config.translators.items():
            _print_row(label, translator, spaces[source], spaces[target], corpus.labels, split, decoder)
        print()
    return []


def _print_row(label, translator, source, target, labels, split, decoder) -> None:
    from pipeline.evaluation import evaluate_translation

    row = evaluate_translation(source, target, labels, split, translator.method, translator.options, decoder)
    chosen = f"  (chose {row['method']} {row['options']})" if translator.method == "auto" else ""
    print(
        f"  {label:<26} {row['centred_cosine']:>11.3f} {row['top1']:>6.3f} {row['top10']:>6.3f}   "
        f"{row['stitched_accuracy']:.3f}/{row['native_accuracy']:.3f} = {row['accuracy_ratio']:.3f}{chosen}"
    )


def _embed(model_name: str, texts: list[str]) -> np.ndarray:
    import transformers

    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
    from pipeline.packaged import packaged_model_dir

    transformers.utils.logging.disable_progress_bar()  # one line per model is enough
    start = time.perf_counter()
    encoder = HFTextEncoder(HFTextSpec(model=str(packaged_model_dir(model_name)), pooling="mean", normalize=True))
    vectors = encoder.encode(texts)
    took = time.perf_counter() - start
    print(f"embedded with {model_name}: {vectors.shape} in {took:.0f} s ({len(texts) / took:.0f} texts/s)", flush=True)
    return vectors


if __name__ == "__main__":
    sys.exit(main())
