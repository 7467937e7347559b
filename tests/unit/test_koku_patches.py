"""integration/koku/*.patch against the named Koku commit: they apply in order and every patched Python file compiles.

Needs Koku's git history (KOKU_GIT_DIR, default the mirror at /work/.mirror); skipped where there is none (CI).
The patches are applied to a throw-away index in a scratch repository that borrows the mirror's objects through
git's alternates, so nothing is checked out and nothing is written into the mirror.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

KOKU_COMMIT = "768be82535f8e75523d966b4797e954ad054b52f"
PATCHES = sorted((Path(__file__).resolve().parents[2] / "integration" / "koku").glob("*.patch"))
KOKU_GIT_DIR = Path(os.environ.get("KOKU_GIT_DIR", "/work/.mirror/project-koku+koku/repo"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    objects = KOKU_GIT_DIR / "objects"
    if not objects.is_dir():
        objects = KOKU_GIT_DIR / ".git" / "objects"
    if not objects.is_dir():
        pytest.skip(f"no Koku git history at {KOKU_GIT_DIR} (set KOKU_GIT_DIR)")
    repo = tmp_path / "scratch.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    (repo / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}\n")
    try:
        _git(repo, "cat-file", "-e", f"{KOKU_COMMIT}^{{commit}}")
    except subprocess.CalledProcessError:
        pytest.skip(f"Koku commit {KOKU_COMMIT[:9]} is not in {KOKU_GIT_DIR}")
    _git(repo, "read-tree", KOKU_COMMIT)
    return repo


def test_patches_are_numbered_in_order() -> None:
    numbers = [int(re.match(r"(\d{4})-", p.name).group(1)) for p in PATCHES]
    assert numbers == list(range(1, len(PATCHES) + 1)), [p.name for p in PATCHES]
    assert len(PATCHES) >= 10  # 0007/0008 Trino off (3.4); 0009 the cost model; 0010 the daily shadow
    assert "0010-cloud-daily-shadow.patch" in [p.name for p in PATCHES]


def test_patches_apply_in_order_and_patched_files_compile(scratch: Path) -> None:
    touched: set[str] = set()
    for patch in PATCHES:
        result = subprocess.run(["git", "--git-dir", str(scratch), "apply", "--cached", str(patch)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{patch.name} does not apply after the ones before it: {result.stderr}"
        touched.update(line.split("\t")[2] for line in _git(scratch, "apply", "--numstat", str(patch)).splitlines())
    assert touched
    for path in sorted(touched):
        source = _git(scratch, "show", f":{path}")
        if path.endswith(".py"):
            compile(source, path, "exec")  # a SyntaxError names the file and line


def test_trino_off_hooks_keep_kokus_body_under_a_private_name(scratch: Path) -> None:
    hooks = {
        "koku/masu/database/aws_report_db_accessor.py": ["populate_line_item_daily_summary_table_trino",
                                                         "populate_ec2_compute_summary_table_trino"],
        "koku/masu/database/azure_report_db_accessor.py": ["populate_line_item_daily_summary_table_trino"],
        "koku/masu/database/gcp_report_db_accessor.py": ["populate_line_item_daily_summary_table_trino",
                                                         "fetch_invoice_month_dates", "get_gcp_topology_trino"],
        "koku/masu/database/ocp_report_db_accessor.py": ["get_ocp_infrastructure_map_trino",
                                                         "get_max_min_timestamp_from_parquet"],
    }
    for patch in PATCHES:
        _git(scratch, "apply", "--cached", str(patch))
    for path, names in hooks.items():
        source = _git(scratch, "show", f":{path}")
        for name in names:
            assert len(re.findall(rf"\n    def {name}\(", source)) == 1, (path, name)
            assert len(re.findall(rf"\n    def _{name}\(", source)) == 1, (path, name)
            assert f"self._{name}(" in source, (path, name)
        assert not re.search(r"^(from|import) poc_tasks", source, re.M), f"{path}: a module-level poc_tasks import"



def test_cost_model_hooks_name_every_step_and_keep_kokus_trino_statements(scratch: Path) -> None:
    """0009: every step poc_tasks.koku.cost_model can send is called from Koku's accessor, each hook passes Koku's
    own Trino statement as the fallback, and the GPU look-up keeps its Trino body under a private name."""
    from poc_tasks.koku.cost_model import COST_MODEL_STEPS, OPTIONAL_STEPS, RTU_STEPS

    for patch in PATCHES:
        _git(scratch, "apply", "--cached", str(patch))
    path = "koku/masu/database/ocp_report_db_accessor.py"
    source = _git(scratch, "show", f":{path}")
    for step in COST_MODEL_STEPS + OPTIONAL_STEPS:
        assert re.search(rf'(self\._poc_cost_model_step\(\s*|: )"{step}"', source), f"{path}: no hook sends {step}"
    calls = _calls(source, "self._poc_cost_model_step(")
    assert len(calls) == 7  # one per step, the tag-based loop's one call for its three families
    assert "def _trino_reporting_period_has_gpu_data(" in source
    assert "trino=lambda: self._trino_reporting_period_has_gpu_data(source_uuid, start_date)" in source
    # Koku's use_rtu reaches every step that has an _rtu variant (and no other), and no hook keeps the _rtu
    # statements on Trino any more
    with_rtu = [c for c in calls if "use_rtu=use_rtu" in c]
    assert len(with_rtu) == 4, with_rtu  # vm_hourly, vm_core_monthly, gpu_distribution, the tag-based families
    named = {m.group(1) for c in with_rtu if (m := re.match(r'self\._poc_cost_model_step\(\s*"([a-z_]+)"', c))}
    families = set(re.findall(r'metric_constants\.OCP_\w+: "([a-z_]+)"', source))
    assert named | families == set(RTU_STEPS), (named, families)
    assert all('"vm_ui_summary"' not in c and '"gpu_ui_usage_only"' not in c and '"vm_tmp_table"' not in c
               for c in with_rtu)
    assert "use_rtu or cost_model_key" not in source and "if use_rtu:\n            return trino()" not in source
    assert "step = poc_steps_of.get(name)" in source
    # vm_ui_summary replaces the whole virtualization UI method; Koku's body (with the vm_tmp_table hook) is the
    # fallback, under a private name
    [ui] = [c for c in calls if '"vm_ui_summary"' in c]
    assert "self._koku_populate_virtualization_ui_summary_table(params)" in ui
    assert len(re.findall(r"\n    def _koku_populate_virtualization_ui_summary_table\(", source)) == 1
    assert not re.search(r"^(from|import) poc_tasks", source, re.M), f"{path}: a module-level poc_tasks import"


def _calls(source: str, opener: str) -> list[str]:
    """The text of every call starting with `opener` (up to its matching parenthesis)."""
    out = []
    for start in [m.start() for m in re.finditer(re.escape(opener), source)]:
        depth, i = 0, start + len(opener) - 1
        while True:
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            if depth == 0:
                break
            i += 1
        out.append(source[start:i + 1])
    return out


def test_every_name_the_patches_import_from_poc_tasks_koku_exists() -> None:
    """A hook calling a function poc_tasks.koku does not export fails only inside Koku, at run time."""
    import poc_tasks.koku as koku_api

    names = set()
    for patch in PATCHES:
        added = "\n".join(line[1:] for line in patch.read_text().splitlines() if line.startswith("+"))
        for block in re.findall(r"from poc_tasks\.koku import \(?([\w\s,]+?)\)?\n", added):
            names.update(n.split(" as ")[0].strip() for n in block.split(",") if n.strip())
    assert "shadow_daily_summary_if_selected" in names and "summarize_daily_or_trino" in names
    assert sorted(n for n in names if not hasattr(koku_api, n)) == []


def test_cloud_daily_shadow_hooks_run_after_trino_and_koku_s_tag_mapping(scratch: Path) -> None:
    """0010: each cloud summary updater sends its shadow comparison last (after Trino's chunks, the tag mapping and
    the bill timestamps), with the bill, markup and (GCP) invoice range Trino ran with, inside a try that only
    logs: a comparison never affects Koku's summary."""
    import ast

    updaters = {
        "koku/masu/processor/aws/aws_report_parquet_summary_updater.py": ("AWS-daily", "AWS-EC2-compute"),
        "koku/masu/processor/azure/azure_report_parquet_summary_updater.py": ("Azure-daily",),
        "koku/masu/processor/gcp/gcp_report_parquet_summary_updater.py": ("GCP-daily",),
    }
    for patch in PATCHES:
        _git(scratch, "apply", "--cached", str(patch))
    for path, kinds in updaters.items():
        source = _git(scratch, "show", f":{path}")
        [hook] = [n for n in ast.walk(ast.parse(source))
                  if isinstance(n, ast.FunctionDef) and n.name == "_poc_tasks_shadow"]
        [guard] = hook.body[1:]  # the docstring, then one try
        assert isinstance(guard, ast.Try) and [ast.unparse(h.type) for h in guard.handlers] == ["Exception"]
        assert "shadow_daily_summary_if_selected" in ast.unparse(guard.body[0])  # the import is inside the try
        assert not re.search(r"^(from|import) poc_tasks", source, re.M), f"{path}: a module-level poc_tasks import"
        last_mapping = source.rindex("update_line_item_daily_summary_with_tag_mapping(")
        for kind in kinds:
            [call] = [m.start() for m in re.finditer(rf'self\._poc_tasks_shadow\(\s*"{kind}"', source)]
            assert call > last_mapping, (path, kind)
            if kind != "AWS-EC2-compute":
                assert call > source.rindex("bill.save()"), (path, kind)
        if "gcp" in path:
            assert re.search(r'"GCP-daily", invoice_start, invoice_end, current_bill_id, markup_value, '
                             r"invoice_month=invoice_month", source)
