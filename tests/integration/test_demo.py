"""The README's first command: `poc-tasks demo` on embedded defaults (no servers), as a child process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_ocp_and_ocp_on_aws_through_an_in_process_worker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_"))}  # embedded defaults only
    proc = subprocess.run(
        [sys.executable, "-m", "poc_tasks.cli", "demo", "--workdir", str(tmp_path / "demo"), "--nodes", "4",
         "--pods", "30", "--days", "2", "--cloud", "aws"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "4/4 report" in out and "Worker unallocated" in out
    assert "rows per table: reporting_ocpusagelineitem_daily_summary=" in out
    assert "OCP on AWS" in out and "total attributed AWS cost:" in out
    total = float(out.split("total attributed AWS cost:")[1].split()[0])
    assert total > 0
