"""`poc-tasks run ocp-cost-model` and the sample's `--with-cost-model`, registered by poc_tasks.cli."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from poc_tasks.errors import InvalidArgument

__all__ = ["add_run_arguments", "add_sample_arguments", "after_sample", "COST_MODEL_FILE", "RUN_HELP",
           "RUN_DESCRIPTION"]

COST_MODEL_FILE = "cost_model.json"  # the sample's cost model, in cost_model_rows() form, beside scenario.json


def _cmd_run(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    from poc_tasks.cost_model.flow import STEPS, apply_cost_model
    from poc_tasks.runspec import OcpRunSpec

    spec = OcpRunSpec.build(args.schema, args.source_uuid, args.cluster_id, args.start, args.end,
                            args.cluster_alias, args.report_period_id)
    rows = None
    if args.load_cost_model:
        try:
            with open(args.load_cost_model, encoding="utf-8") as fh:
                rows = json.load(fh)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"--load-cost-model {args.load_cost_model}: {exc}") from exc
    steps = tuple(args.steps.split(",")) if args.steps else STEPS
    return apply_cost_model(spec, settings, steps=steps, cost_model_rows=rows,
                            price_lists=not args.without_price_lists, vm_tmp_uuid=args.vm_tmp_uuid,
                            use_rtu=args.use_rtu)


RUN_HELP = "the cost-model steps Koku runs on Trino: GPU, VM core, VM hourly, VM and project tag costs"
RUN_DESCRIPTION = ("The steps of Koku's cost-model run that query Trino, for one OCP source over days of one month, "
                   "from the Parquet: GPU monthly tag costs, VM core monthly costs, VM hourly costs, VM and project "
                   "tag costs (default), and when named the unallocated-GPU distribution, the GPU UI table, "
                   "Koku's virtualization temporary table and the virtualization UI table; --use-rtu writes the "
                   "_rtu variants' rates_to_usage rows instead. Reads the source's cost model from Koku's tables; "
                   "needs `run ocp` over the same range first. See docs/cost-model.md.")


def add_run_arguments(p: argparse.ArgumentParser, settings_of: Callable[[argparse.Namespace], Any]) -> None:
    """The cost-model options of `run ocp-cost-model` (the common ones come from poc_tasks.cli)."""
    p.add_argument("--steps", metavar="STEP,...",
                   help="comma list (default: gpu_monthly,vm_core_monthly,vm_hourly,vm_tag_based,project_tag_based; "
                        "also gpu_distribution, gpu_ui_usage_only, vm_tmp_table, vm_ui_summary)")
    p.add_argument("--vm-tmp-uuid", metavar="HEX32", help="vm_tmp_table: the uuid of Koku's tmp_virt_<uuid> to fill")
    p.add_argument("--load-cost-model", metavar="JSON",
                   help="store this cost model (the sample's cost_model.json) in Koku's tables first")
    p.add_argument("--without-price-lists", action="store_true",
                   help="rates from cost_model.rates (Koku with its 'disable price list' flag on)")
    p.add_argument("--use-rtu", action="store_true",
                   help="the _rtu variants: write rates_to_usage (Koku's cost_breakdown_rates_to_usage flag on)")
    p.set_defaults(func=lambda args: _cmd_run(args, settings_of(args)))


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--with-cost-model", action="store_true",
                   help="also GPUs, VMs and a cost model (cost_model.json) for `run ocp-cost-model`")


def after_sample(args: argparse.Namespace, root: str, scenario: dict[str, Any],
                 storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """Add GPUs, VMs and the cost model to a sample just written (no-op without --with-cost-model)."""
    if not getattr(args, "with_cost_model", False):
        return scenario
    import datetime as dt

    from poc_tasks.cost_model.sample_data import add_gpus_and_vms, cost_model_rows
    from poc_tasks.io.fs import filesystem, strip_scheme
    from poc_tasks.io.layout import join

    scenario = add_gpus_and_vms(root, scenario, storage_options)
    rows = cost_model_rows(scenario["source_uuid"], dt.date.fromisoformat(scenario["start_date"]),
                           dt.date.fromisoformat(scenario["end_date"]))
    with filesystem(root, storage_options).open(strip_scheme(join(root, COST_MODEL_FILE)), "w") as fh:
        fh.write(json.dumps(rows, indent=1, default=str) + "\n")
    return scenario
