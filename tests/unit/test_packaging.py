"""A quiet install: the project's own packaging (pyproject.toml) makes setuptools print no warning, for the
editable install `./dev` does. Lines about this machine's pip configuration (an extra index whose package
folders are missing: "Location ... is ignored") are not the project's and are left out."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_is_an_spdx_string_and_every_extra_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    for name, requirements in project["optional-dependencies"].items():
        for requirement in requirements:
            assert "==" in requirement, (name, requirement)


def test_an_editable_install_prints_no_warning_from_the_projects_packaging(tmp_path):
    # an empty environment, filled by this environment's pip (the one ./dev installs with, which shows the build
    # backend's warnings), exactly as ./dev runs it: -q -e
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                           "--no-deps", "--no-cache-dir", "-e", str(ROOT)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines()
             if "is ignored: it is neither a file nor a directory" not in line
             and "new release of pip" not in line and "pip install --upgrade pip" not in line]
    noisy = [line for line in lines if "warning" in line.lower() or "deprecat" in line.lower()]
    assert noisy == [], "\n".join(lines)
