"""`make demo`: translate real MiniLM-L6 embeddings of BBC News into mpnet space, offline, and score them.

Until the Ray pipeline lands this runs the translation core directly: embed the packaged BBC News corpus with
both packaged models, fit each translator on 800 anchors from the train split, translate the held-out articles,
and print how well mpnet's own decoder and index serve the translated vectors.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
from pipeline.evaluation import evaluate_translation, make_split, train_decoder
from pipeline.packaged import load_bbc_news, packaged_model_dir

METHODS = {  # label -> (method, options)
    "irp (paper's plain pinv)": ("irp", {"delta": None, "subspaces": 1}),
    "irp (defaults)": ("irp", {}),
    "procrustes": ("procrustes", {}),
    "ridge": ("ridge", {}),
    "auto": ("auto", {}),
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    corpus = load_bbc_news(max_chars=args.max_chars)
    print(f"BBC News: {len(corpus.texts)} articles, {len(corpus.label_names)} classes, first {args.max_chars} chars")
    spaces = {name: _embed(name, corpus.texts) for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2")}
    split = make_split(len(corpus.texts), args.anchors, args.test, seed=args.seed)
    print(f"split: {len(split.train)} train ({len(split.anchors)} of them anchors), {len(split.test)} held out\n")
    for source_name, target_name in (("all-MiniLM-L6-v2", "all-mpnet-base-v2"), ("all-mpnet-base-v2", "all-MiniLM-L6-v2")):
        source, target = spaces[source_name], spaces[target_name]
        decoder = train_decoder(target[split.train], corpus.labels[split.train])
        print(f"{source_name} -> {target_name}")
        print(f"  {'method':<26} {'centred cos':>11} {'top-1':>6} {'top-10':>6} {'stitched/native acc':>20}")
        for label, (method, options) in METHODS.items():
            row = evaluate_translation(source, target, corpus.labels, split, method, options, decoder)
            chosen = f"  (chose {row['method']} {row['options']})" if method == "auto" else ""
            print(
                f"  {label:<26} {row['centred_cosine']:>11.3f} {row['top1']:>6.3f} {row['top10']:>6.3f} "
                f"{row['stitched_accuracy']:>8.3f}/{row['native_accuracy']:.3f} = {row['accuracy_ratio']:.3f}{chosen}"
            )
        print()
    return 0


def _embed(model_name: str, texts: list[str]) -> np.ndarray:
    start = time.perf_counter()
    encoder = HFTextEncoder(HFTextSpec(model=str(packaged_model_dir(model_name)), pooling="mean", normalize=True))
    vectors = encoder.encode(texts)
    took = time.perf_counter() - start
    print(f"embedded with {model_name}: {vectors.shape} in {took:.0f} s ({len(texts) / took:.0f} texts/s)")
    return vectors


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=int, default=800, help="anchors drawn from the train split")
    parser.add_argument("--test", type=int, default=725, help="held-out articles to translate and score")
    parser.add_argument("--max-chars", type=int, default=512, help="characters of each article to embed")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
