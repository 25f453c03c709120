"""What a night of ``irp sync`` did, as printed and as written to its JSON report."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from pipeline.translate.auto import cv_name

# Row counts of a night. ``encoded`` counts the new and changed rows encoded natively; ``anchors`` the rows a model
# upgrade embedded to fit its translator; ``translated`` the rows it translated; ``backfilled`` the translated rows
# re-encoded natively; ``encoded_before`` the encode shards a killed attempt had finished and this one reused.
COUNTS = (
    "new",
    "changed",
    "unchanged",
    "deleted",
    "encoded",
    "quarantined",
    "anchors",
    "translated",
    "backfilled",
    "encoded_before",
)


@dataclasses.dataclass(frozen=True)
class SyncSummary:
    """What a night did: counts, the published version, seconds per stage.

    Attributes:
        share_translated: of the rows the store holds after the night, the share whose vector is a translation
            (None when the store does not record it).
        translator: a model upgrade's translator: method, options and its cross-validated quality on the anchors.
    """

    run: str
    store: str
    counts: Mapping[str, int]
    published: Mapping[str, Any]
    seconds: Mapping[str, float]
    already_done: bool = False
    share_translated: float | None = None
    translator: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{key} {self.counts.get(key, 0)}" for key in COUNTS)
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.seconds.items())
        lines = [
            f"store:       {self.store}",
            f"run:         {self.run}" + (" (already published: nothing to do)" if self.already_done else ""),
            f"rows:        {counts}",
        ]
        if self.share_translated is not None:
            lines.append(f"translated:  {self.share_translated:.1%} of the store's rows still hold a translation")
        if self.translator:
            lines.append(f"translator:  {describe_translator(self.translator)}")
        published = json.dumps(dict(self.published), sort_keys=True) if self.published else "nothing new"
        return [*lines, f"published:   {published}", f"time:        {stages}"]


def describe_translator(translator: Mapping[str, Any]) -> str:
    """``procrustes {scaling: isotropic}, 2 x 5-fold CV on 1000 anchors: MRR 0.91, top-1 0.86, centered cosine
    0.71``."""
    quality = translator["quality"]
    return (
        f"{translator['method']} {json.dumps(translator['options'], sort_keys=True)}, {cv_name(quality)} "
        f"on {translator['anchors']} anchors: MRR {quality['mrr']:.3f}, top-1 {quality['top1']:.3f}, "
        f"centered cosine {quality['centered_cosine']:.3f}"
    )
