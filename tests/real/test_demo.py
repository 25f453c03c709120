"""`make demo`'s job, smaller: the real migration MiniLM-L6 -> mpnet through embed and translate_corpus on Ray."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(900)]
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def run_demo(output: Path) -> subprocess.CompletedProcess:
    # Fewer anchors and test articles and shorter mpnet inputs than `make demo`, to keep the suite quick;
    # the MiniLM store of the whole corpus is the same.
    command = [sys.executable, "-m", "jobs.demo", "--config", str(CONFIG), f"output={output}", "anchors=150",
               "test=100", "target_max_length=64"]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=840, check=False)


def test_demo_migrates_the_bbc_store_and_scores_it(tmp_path):
    first = run_demo(tmp_path / "demo")
    assert first.returncode == 0, first.stderr[-4000:]
    ratio = float(re.search(r"on translated vectors [0-9.]+ -> ratio ([0-9.]+)", first.stdout).group(1))
    top10 = float(re.search(r"top-10 ([0-9.]+)", first.stdout).group(1))
    assert ratio >= 0.9 and top10 >= 0.9, first.stdout  # a broken translation scores near chance (0.2)
    for table in ("old_store", "translated_store", "translated_store/_anchors/target", "heldout_target_truth"):
        assert (tmp_path / "demo" / table / "_SUCCESS").exists(), table
    assert "the job embeds the 150 anchor articles" in first.stdout

    again = run_demo(tmp_path / "demo")  # unchanged inputs: every job resumes with nothing left to do
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.count("shards already done)") == 3
    assert re.findall(r"(\d+) of (\d+) shards already done", again.stdout) == [("35", "35")] * 2 + [("2", "2")]
    assert again.stdout.splitlines()[-6:] == first.stdout.splitlines()[-6:]
