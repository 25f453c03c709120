"""The `irp` console script dispatches to the job modules and rejects unknown jobs."""

from __future__ import annotations

import subprocess
import sys

from pipeline.cli import list_jobs, main


def test_unknown_job_is_rejected_with_the_list(capsys):
    assert main(["translate-everything"]) == 2
    assert "unknown job 'translate-everything'" in capsys.readouterr().err


def test_help_lists_jobs(capsys):
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    assert list_jobs() and all(job in printed for job in list_jobs())
    assert main([]) == 2


def test_console_script_and_module_agree_on_job_help():
    via_module = subprocess.run([sys.executable, "-m", "jobs.demo", "--help"], capture_output=True, text=True)
    via_cli = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--help"], capture_output=True, text=True)
    assert via_module.returncode == via_cli.returncode == 0
    assert "--config" in via_module.stdout and "key.sub=value" in via_module.stdout
    assert via_cli.stdout == via_module.stdout
