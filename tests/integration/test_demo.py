"""The README's first command: `poc-tasks demo` on embedded defaults (no servers), as a child process, twice:
the same report both times (the runs replace their own rows), an aligned summary, an HTML report whose plots a
real browser (headless Chromium, Debian's package) renders."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poc_tasks.demo_report import COLOURS
from tests.conftest import service_missing

pytestmark = pytest.mark.integration

ARGS = ["--nodes", "4", "--pods", "30", "--days", "2", "--cloud", "aws"]


def _demo(workdir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_"))}  # embedded defaults only
    proc = subprocess.run([sys.executable, "-m", "poc_tasks.cli", "demo", "--workdir", str(workdir), *ARGS],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def _table(out: str) -> list[str]:
    lines = out.split("5/5 report")[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("namespace"))
    end = lines.index("", start)
    return lines[start:end]


@pytest.fixture(scope="module")
def demo_twice(tmp_path_factory) -> tuple[Path, str, str, bytes]:
    workdir = tmp_path_factory.mktemp("demo") / "demo"
    first = _demo(workdir)
    report = workdir / "report.html"
    first_html = report.read_bytes()
    second = _demo(workdir)
    return workdir, first, second, first_html


def test_the_demo_runs_both_steps_and_says_where_the_report_and_the_database_are(demo_twice):
    workdir, out, _second, _html = demo_twice
    assert "Worker unallocated" in out and "OCP on AWS: attributed cost" in out
    assert "rows per table: " in out and "reporting_ocpusagelineitem_daily_summary=" in out
    assert float(out.split("OCP on AWS: attributed cost")[1].split()[0]) > 0
    assert f"HTML report with plots: {workdir.absolute() / 'report.html'}" in out
    assert f"poc-tasks demo --workdir {workdir} --shell" in out
    # the cost-model section: VM and GPU costs beside the usage they price
    assert "cost model: VM and GPU costs" in out and "vm_core_monthly=" in out and "GPU unallocated" in out


def test_a_second_demo_gives_the_same_report(demo_twice):
    workdir, first, second, first_html = demo_twice

    def stable(text: str) -> str:  # the timing line is the only one that may change
        return "\n".join(line for line in text.splitlines() if not line.startswith("time: "))

    assert stable(first) == stable(second)
    assert (workdir / "report.html").read_bytes() == first_html


def test_the_summary_table_is_aligned_and_names_the_empty_namespace_one_way(demo_twice):
    _workdir, out, _second, _html = demo_twice
    header, rule, *rows = _table(out)
    assert set(rule) == {"-"} and len(rule) == len(header)
    columns = ["CPU core-h", "CPU req-h", "mem GiB-h", "PVC GiB-mo", "AWS cost"]  # no always-empty markup column
    width = len(header) - 13 * len(columns)
    assert header.split()[1:] == " ".join(columns).split()
    for row in rows:
        cells = [row.ljust(len(header))[width + 13 * k: width + 13 * (k + 1)] for k in range(len(columns))]
        for cell in cells:  # " " then a right-aligned number, or blank: never a lone "-"
            assert cell == " " * 13 or re.fullmatch(r" +\d+\.\d\d", cell), (row, cell)
    names = [row[:width].strip() for row in rows]
    assert "(volume without a claim)" in names and "(no role)" not in names and "(none)" not in names


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    service_missing("Chromium (Debian package 'chromium')", "no chromium on PATH; .ci/run installs it")
    raise AssertionError("unreachable")


def test_a_browser_renders_the_report_with_its_plots(demo_twice, tmp_path):
    from PIL import Image

    workdir, _out, _second, _html = demo_twice
    browser = _chromium()
    url = (workdir / "report.html").absolute().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    images = re.findall(r"<img src=\"data:image/png;base64,([^\"]+)\" alt=\"([^\"]+)\">", dom)
    assert [alt for _b64, alt in images] == ["Usage and cost per day", "Per namespace (the 15 largest by CPU usage)",
                                             "CPU usage, requests and capacity per node, and cost",
                                             "OCP-on-AWS cost by service"]
    for b64, alt in images:
        width, height = Image.open(io.BytesIO(base64.b64decode(b64))).size
        assert width >= 800 and height >= 250, alt
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--window-size=1200,3000", f"--screenshot={shot}", url], capture_output=True,
                   timeout=120, check=True)
    pixels = Image.open(shot).convert("RGB")
    counts = dict.fromkeys(COLOURS, 0)
    wanted = {name: tuple(int(code[i:i + 2], 16) for i in (1, 3, 5)) for name, code in COLOURS.items()}
    for n, colour in pixels.getcolors(maxcolors=1 << 22):
        for name, rgb in wanted.items():
            if all(abs(a - b) <= 8 for a, b in zip(colour, rgb, strict=True)):
                counts[name] += n
    # the bars are on the page: each series' colour covers a real area of the screenshot
    assert all(n > 3000 for n in counts.values()), counts


def test_demo_shell_opens_psql_on_the_demos_database(demo_twice):
    workdir, out, _second, _html = demo_twice
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_"))}
    query = "SELECT 'rows=' || count(*) FROM org1234567.reporting_ocpusagelineitem_daily_summary;\n"
    proc = subprocess.run([sys.executable, "-m", "poc_tasks.cli", "demo", "--workdir", str(workdir), "--shell"],
                          input=query, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counted = int(re.search(r"rows=(\d+)", proc.stdout).group(1))
    summary_rows = int(re.search(r"reporting_ocpusagelineitem_daily_summary=(\d+)", out).group(1))
    assert counted == summary_rows > 0


def test_demo_for_a_cloud_only_user_shows_its_cost_report(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "poc_tasks.cli", "demo", "--workdir", str(tmp_path / "demo"), "--nodes", "4",
         "--pods", "30", "--days", "2", "--cloud", "gcp", "--cloud-only"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "GCP daily summary" in out and "summarize_ocp" not in out
    assert float(out.split("total GCP cost:")[1].split()[0]) > 0
