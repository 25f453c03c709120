"""`irp <job>` and `python -m jobs.<job>` run the same `main` for every job; unknown jobs are rejected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.cli import ALIASES, list_jobs, main
from pipeline.jobs import JOBS


def test_unknown_job_is_rejected_with_the_list(capsys):
    assert main(["translate-everything"]) == 2
    assert "unknown job 'translate-everything'" in capsys.readouterr().err


def test_help_lists_jobs(capsys):
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    assert list_jobs() and all(job in printed for job in list_jobs())
    assert set(list_jobs()) == {*JOBS, *ALIASES}
    assert main([]) == 2


@pytest.mark.parametrize("job", JOBS)
def test_console_script_and_module_agree_on_every_jobs_help(job, capsys):
    with pytest.raises(SystemExit) as done:
        main([job, "--help"])
    assert done.value.code == 0
    via_cli = capsys.readouterr().out
    via_module = subprocess.run([sys.executable, "-m", f"jobs.{job}", "--help"], capture_output=True, text=True)
    assert via_module.returncode == 0, via_module.stderr[-2000:]
    assert via_cli == via_module.stdout
    assert "--config" in via_cli or "--out" in via_cli  # gpu_check takes its own flags, not a config


def test_an_alias_runs_its_job(capsys):
    with pytest.raises(SystemExit):
        main(["translate", "--help"])
    assert "irp translate_corpus" in capsys.readouterr().out
