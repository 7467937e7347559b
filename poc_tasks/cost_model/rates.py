"""The cost model of a source as Koku reads it (masu/database/cost_model_db_accessor.py CostModelDBAccessor).

Koku keeps a cost model in ``cost_model`` (rates JSON, markup, distribution_info, currency), maps it to sources in
``cost_model_map`` and, since the price-list migrations (cost_models 0010-0013), keeps the rates that apply in
``price_list`` rows (validity dates, rates JSON) attached by ``price_list_cost_model_map`` (priority) and
normalised into ``cost_model_rate`` rows. The updater resolves the rates for the first day of each month:

- the cost model: the first, by name, mapped to the source (``CostModel.objects.filter(...).first()`` under
  ``Meta.ordering = ["name"]``);
- the effective price list: among the lists mapped to the model whose validity covers the day, the lowest priority;
  no such list means no rates at all (Koku's "zero costs");
- plain rates (``infrastructure_rates`` / ``supplementary_rates``): the ``cost_model_rate`` rows of that list
  without a tag key, summed per (metric, cost type), a NULL default_rate counting 0;
- tag rates (``metric_to_tag_params_map``): from the list's rates JSON, one parameter set per tag rate:
  ``rate_type``, ``tag_key``, ``value_rates`` {value: rate} and ``default_rate`` (the value marked default).

``price_lists=False`` is Koku with its Unleash flag ``disable price list`` on: the rates JSON of ``cost_model``
itself, and every ``cost_model_rate`` row of every list mapped to the model.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.db.connection import qualified
from poc_tasks.errors import InvalidArgument

__all__ = ["CostModelInputs", "TagRateParams", "load_cost_model", "amortized_monthly_rate", "days_in_month",
           "INFRASTRUCTURE", "SUPPLEMENTARY", "GPU_MONTH", "VM_CORE_MONTH", "VM_MONTH", "VM_HOUR", "VM_CORE_HOUR",
           "PROJECT_MONTH"]

Connection = psycopg2.extensions.connection

INFRASTRUCTURE, SUPPLEMENTARY = "Infrastructure", "Supplementary"
# api/metrics/constants.py
VM_MONTH, VM_HOUR = "vm_cost_per_month", "vm_cost_per_hour"
VM_CORE_MONTH, VM_CORE_HOUR = "vm_core_cost_per_month", "vm_core_cost_per_hour"
PROJECT_MONTH, GPU_MONTH = "project_per_month", "gpu_cost_per_month"
DISTRIBUTION_TYPES = ("cpu", "memory")


@dataclass(frozen=True)
class TagRateParams:
    """One tag rate of a metric (an entry of Koku's metric_to_tag_params_map[metric])."""

    rate_type: str
    tag_key: str
    value_rates: dict[str, float] | None = None  # absent in Koku when the rate has only a default value
    default_rate: float | None = None


@dataclass
class CostModelInputs:
    uuid: str | None
    currency: str = "USD"
    distribution_info: dict[str, Any] = field(default_factory=dict)
    markup: dict[str, Any] = field(default_factory=dict)
    price_list_uuid: str | None = None
    infrastructure_rates: dict[str, float] = field(default_factory=dict)
    supplementary_rates: dict[str, float] = field(default_factory=dict)
    tag_params: dict[str, list[TagRateParams]] = field(default_factory=dict)
    # CostModelDBAccessor.rate_info_map: (metric, cost_type, tag_key or "") -> (rate uuid, custom_name), what the
    # _rtu statements write as rate_id and custom_name
    rate_info: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)

    def rate_ref(self, metric: str, rate_type: str, tag_key: str = "") -> tuple[str | None, str | None]:
        """(rate_id, custom_name) of a rate as Koku looks it up; (None, None) when the map has no such rate."""
        return self.rate_info.get((metric, rate_type, tag_key or ""), (None, None))

    @property
    def distribution(self) -> str:
        """distribution_info["distribution_type"], default "cpu" (api/metrics/constants.py)."""
        value = self.distribution_info.get("distribution_type", "cpu")
        if value not in DISTRIBUTION_TYPES:
            raise InvalidArgument(f"cost model {self.uuid}: distribution_type {value!r} is not one of "
                                  f"{', '.join(DISTRIBUTION_TYPES)}")
        return value

    def monthly_rate(self, metric: str) -> tuple[str | None, float | None]:
        """(rate type, rate) of a plain metric as _update_monthly_cost picks it: infrastructure first."""
        if self.infrastructure_rates.get(metric):
            return INFRASTRUCTURE, self.infrastructure_rates[metric]
        if self.supplementary_rates.get(metric):
            return SUPPLEMENTARY, self.supplementary_rates[metric]
        return None, None

    @property
    def has_tag_rates(self) -> bool:
        return bool(self.tag_params)


def days_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def amortized_monthly_rate(rate: float | None, day: dt.date) -> Decimal | None:
    """masu.util.ocp.common.get_amortized_monthly_cost_model_rate: Decimal(rate) / days in the month."""
    if rate is None:
        return None
    return Decimal(rate) / days_in_month(day)


def _fetch(conn: Connection, query: sql.Composable, params: tuple) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _tag_params(rates_json: Any, where: str) -> dict[str, list[TagRateParams]]:
    """CostModelDBAccessor.metric_to_tag_params_map over a rates JSON list."""
    if not rates_json:
        return {}
    if not isinstance(rates_json, list):
        raise InvalidArgument(f"{where}: rates must be a JSON list, got {type(rates_json).__name__}")
    out: dict[str, list[TagRateParams]] = {}
    for i, rate in enumerate(rates_json):
        tag_rate = rate.get("tag_rates") if isinstance(rate, dict) else None
        if not tag_rate:
            continue
        try:
            metric = rate.get("metric", {}).get("name")
            cost_type = rate["cost_type"]
            value_rates: dict[str, float] = {}
            default: float | None = None
            for tv in tag_rate.get("tag_values"):
                if tv.get("default"):
                    default = float(tv.get("value"))
                else:
                    value_rates[tv.get("tag_value")] = float(tv.get("value"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(f"{where}: rates[{i}] is not a valid tag rate ({type(exc).__name__}: {exc})") from exc
        params = TagRateParams(cost_type, tag_rate.get("tag_key"), value_rates or None, default)
        out.setdefault(metric, []).append(params)
    return out


def load_cost_model(conn: Connection, schema: str, provider_uuid: str, effective_on: dt.date,
                    *, price_lists: bool = True) -> CostModelInputs:
    """The cost model, rates and tag rates that apply to a source for the month of `effective_on`.

    A source without a cost model gives ``CostModelInputs(uuid=None)`` (no rates: Koku removes cost-model rows).
    """
    row = _fetch(
        conn,
        sql.SQL("SELECT cm.uuid::text, cm.currency, cm.distribution_info, cm.markup, cm.rates FROM {} cm"
                " JOIN {} m ON m.cost_model_id = cm.uuid WHERE m.provider_uuid = %s ORDER BY cm.name, cm.uuid LIMIT 1"
                ).format(qualified(schema, "cost_model"), qualified(schema, "cost_model_map")),
        (provider_uuid,),
    )
    if not row:
        return CostModelInputs(uuid=None)
    cm_uuid, currency, distribution_info, markup, cm_rates = row[0]
    inputs = CostModelInputs(cm_uuid, currency or "USD", distribution_info or {}, markup or {})
    if price_lists:
        pl = _fetch(
            conn,
            sql.SQL("SELECT pl.uuid::text, pl.rates FROM {} m JOIN {} pl ON pl.uuid = m.price_list_id"
                    " WHERE m.cost_model_id = %s AND pl.effective_start_date <= %s AND pl.effective_end_date >= %s"
                    " ORDER BY m.priority, m.id LIMIT 1"
                    ).format(qualified(schema, "price_list_cost_model_map"), qualified(schema, "price_list")),
            (cm_uuid, effective_on, effective_on),
        )
        if not pl:
            return inputs
        inputs.price_list_uuid, rates_json = pl[0]
        rate_rows = _fetch(
            conn,
            sql.SQL("SELECT metric, cost_type, default_rate::float8 FROM {} WHERE price_list_id = %s AND tag_key = ''"
                    " ORDER BY uuid").format(qualified(schema, "cost_model_rate")),
            (inputs.price_list_uuid,),
        )
        where = f"price list {inputs.price_list_uuid}"
        info_rows = _fetch(
            conn,
            sql.SQL("SELECT metric, cost_type, tag_key, uuid::text, custom_name FROM {} WHERE price_list_id = %s"
                    " ORDER BY uuid").format(qualified(schema, "cost_model_rate")),
            (inputs.price_list_uuid,),
        )
    else:
        rates_json = cm_rates
        rate_rows = _fetch(
            conn,
            sql.SQL("SELECT r.metric, r.cost_type, r.default_rate::float8 FROM {} r JOIN {} m"
                    " ON m.price_list_id = r.price_list_id WHERE m.cost_model_id = %s AND r.tag_key = ''"
                    " ORDER BY r.uuid").format(qualified(schema, "cost_model_rate"),
                                               qualified(schema, "price_list_cost_model_map")),
            (cm_uuid,),
        )
        where = f"cost model {cm_uuid}"
        # Koku orders these by descending priority and the last one of a key wins: the lowest priority's rate
        info_rows = _fetch(
            conn,
            sql.SQL("SELECT r.metric, r.cost_type, r.tag_key, r.uuid::text, r.custom_name FROM {} r JOIN {} m"
                    " ON m.price_list_id = r.price_list_id WHERE m.cost_model_id = %s"
                    " ORDER BY m.priority DESC, m.id DESC, r.uuid").format(
                qualified(schema, "cost_model_rate"), qualified(schema, "price_list_cost_model_map")),
            (cm_uuid,),
        )
    for metric, cost_type, value in rate_rows:
        target = {INFRASTRUCTURE: inputs.infrastructure_rates, SUPPLEMENTARY: inputs.supplementary_rates}.get(cost_type)
        if target is None:
            raise InvalidArgument(f"{where}: rate {metric} has cost_type {cost_type!r}, expected "
                                  f"{INFRASTRUCTURE} or {SUPPLEMENTARY}")
        target[metric] = target.get(metric, 0.0) + (value if value is not None else 0.0)
    inputs.tag_params = _tag_params(rates_json, where)
    for metric, cost_type, tag_key, rate_uuid, custom_name in info_rows:
        inputs.rate_info[(metric, cost_type, tag_key or "")] = (rate_uuid, custom_name)
    return inputs
