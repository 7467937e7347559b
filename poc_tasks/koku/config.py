"""The routing settings: where they are read from, how they are parsed, what they default to.

Every value is looked up by its name, first in Koku's Django settings (when Django is installed and configured
and the setting is defined), then in the environment, then the default below. Koku usually reads its
settings.py values from the environment itself, so either place works; a value both define comes from Django.
A malformed value raises ConfigurationError naming the setting: a misconfigured rollout fails loudly instead
of silently sending every customer one way.

| setting                              | default  | meaning                                                    |
|--------------------------------------|----------|------------------------------------------------------------|
| USE_POC_AGGREGATOR                   | False    | master switch of phase 2+: poc_tasks writes the tables     |
| POC_AGGREGATOR_PERCENT               | 100      | share of tenants (stable hash of the schema) on poc_tasks  |
| POC_AGGREGATOR_PERCENT_<TYPE>        | (global) | the same for one provider type (TYPE: OCP, OCP_ON_AWS, ...) |
| POC_AGGREGATOR_PROVIDERS             | OCP      | provider types poc_tasks may take                          |
| POC_AGGREGATOR_ALLOW_SCHEMAS         | (none)   | tenants always on poc_tasks (when the switch is on)        |
| POC_AGGREGATOR_DENY_SCHEMAS          | (none)   | tenants never on poc_tasks, never shadowed                 |
| POC_AGGREGATOR_XL_SCHEMAS            | (none)   | tenants whose runs go to the poc_aggregation_xl queue      |
| POC_AGGREGATOR_MODE                  | celery   | celery: send and wait; inline: run in Koku's own process   |
| POC_AGGREGATOR_TIMEOUT               | 3600     | seconds to wait for a sent run before falling back         |
| POC_SHADOW_COMPARE                   | False    | phase 1: compare Trino's rows with poc_tasks' after a run  |
| POC_SHADOW_PERCENT                   | 100      | share of tenants shadowed (same hash as the rollout)       |
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from poc_tasks.errors import ConfigurationError, InvalidArgument
from poc_tasks.koku.names import OCP, PROVIDER_TYPES, provider_type, setting_suffix
from poc_tasks.validate import validate_schema

__all__ = ["RoutingConfig", "MODES", "setting", "parse_bool", "parse_percent", "parse_schemas", "parse_providers"]

MODES = ("celery", "inline")
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_SPLIT = re.compile(r"[\s,;]+")


def _django_settings() -> Any | None:
    """Koku's settings when this runs inside a configured Django process, else None (no Django needed)."""
    try:
        from django.conf import settings as dj  # type: ignore[import-not-found]

        return dj if dj.configured else None
    except Exception:  # noqa: BLE001 - Django missing or unusable: the environment alone
        return None


def setting(name: str, source: Any = None, env: Mapping[str, str] | None = None) -> Any:
    """The raw value of a setting: `source` (an object or mapping, e.g. Django settings) first, then `env`.

    With neither given: Django's settings when configured, then os.environ. None when nowhere defined.
    """
    if source is None:
        source = _django_settings()
    if source is not None:
        value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
        if value is not None:
            return value
    return (os.environ if env is None else env).get(name)


def parse_bool(name: str, value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean (use true/false, on/off, 1/0)")


def parse_percent(name: str, value: Any, default: float = 100.0) -> float:
    """A percentage 0..100 (a trailing % is allowed); anything else raises ConfigurationError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = float(str(value).strip().removesuffix("%")) if not isinstance(value, int | float) else float(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number between 0 and 100") from None
    if isinstance(value, bool) or math.isnan(number) or not 0.0 <= number <= 100.0:
        raise ConfigurationError(f"{name}={value!r} is outside 0..100")
    return number


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in _SPLIT.split(value.strip()) if v]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ConfigurationError(f"{value!r} is not a list")


def parse_schemas(name: str, value: Any) -> frozenset[str]:
    """A list of tenant schema names (comma or space separated, or a Python list); each must be a tenant."""
    out = set()
    for item in _items(value):
        try:
            out.add(validate_schema(item))
        except InvalidArgument as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
    return frozenset(out)


def parse_providers(name: str, value: Any, default: Iterable[str] = (OCP,)) -> frozenset[str]:
    items = _items(value) if value is not None else list(default)
    out = set()
    for item in items:
        try:
            out.add(provider_type(item))
        except InvalidArgument as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
    return frozenset(out)


def _positive(name: str, value: Any, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={value!r} is not a number of seconds") from None
    if not number > 0 or math.isinf(number):
        raise ConfigurationError(f"{name}={value!r} must be a positive number of seconds")
    return number


@dataclass(frozen=True)
class RoutingConfig:
    """Everything the routing decision and the hooks read; validated when built (see the module table)."""

    enabled: bool = False
    percent: float = 100.0
    provider_percent: Mapping[str, float] = field(default_factory=dict)
    providers: frozenset[str] = frozenset({OCP})
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    xl: frozenset[str] = frozenset()
    mode: str = "celery"
    timeout: float = 3600.0
    shadow: bool = False
    shadow_percent: float = 100.0

    def __post_init__(self) -> None:
        # normalised in place (frozen dataclass): percentages as floats, provider types in canonical spelling
        set_ = object.__setattr__
        set_(self, "percent", parse_percent("POC_AGGREGATOR_PERCENT", self.percent))
        set_(self, "shadow_percent", parse_percent("POC_SHADOW_PERCENT", self.shadow_percent))
        set_(self, "provider_percent", {
            provider_type(p): parse_percent(f"POC_AGGREGATOR_PERCENT_{setting_suffix(p)}", v)
            for p, v in self.provider_percent.items()
        })
        set_(self, "providers", frozenset(provider_type(p) for p in self.providers))
        for name in ("allow", "deny", "xl"):
            set_(self, name, frozenset(validate_schema(s) for s in getattr(self, name)))
        if self.mode not in MODES:
            raise ConfigurationError(f"POC_AGGREGATOR_MODE={self.mode!r}: expected one of {', '.join(MODES)}")
        _positive("POC_AGGREGATOR_TIMEOUT", self.timeout, 1.0)

    @classmethod
    def from_settings(cls, source: Any = None, env: Mapping[str, str] | None = None) -> RoutingConfig:
        """Read every setting (Django settings, then the environment; or `source` / `env` when given)."""

        def get(name: str) -> Any:
            return setting(name, source, env)

        per_provider = {}
        for provider in PROVIDER_TYPES:
            name = f"POC_AGGREGATOR_PERCENT_{setting_suffix(provider)}"
            if get(name) is not None:
                per_provider[provider] = parse_percent(name, get(name))
        mode = str(get("POC_AGGREGATOR_MODE") or "celery").strip().lower()
        return cls(
            enabled=parse_bool("USE_POC_AGGREGATOR", get("USE_POC_AGGREGATOR")),
            percent=parse_percent("POC_AGGREGATOR_PERCENT", get("POC_AGGREGATOR_PERCENT")),
            provider_percent=per_provider,
            providers=parse_providers("POC_AGGREGATOR_PROVIDERS", get("POC_AGGREGATOR_PROVIDERS")),
            allow=parse_schemas("POC_AGGREGATOR_ALLOW_SCHEMAS", get("POC_AGGREGATOR_ALLOW_SCHEMAS")),
            deny=parse_schemas("POC_AGGREGATOR_DENY_SCHEMAS", get("POC_AGGREGATOR_DENY_SCHEMAS")),
            xl=parse_schemas("POC_AGGREGATOR_XL_SCHEMAS", get("POC_AGGREGATOR_XL_SCHEMAS")),
            mode=mode,
            timeout=_positive("POC_AGGREGATOR_TIMEOUT", get("POC_AGGREGATOR_TIMEOUT"), 3600.0),
            shadow=parse_bool("POC_SHADOW_COMPARE", get("POC_SHADOW_COMPARE")),
            shadow_percent=parse_percent("POC_SHADOW_PERCENT", get("POC_SHADOW_PERCENT")),
        )

    def percent_for(self, provider: str) -> float:
        """The rollout percentage of one provider type: its own setting, else the global one."""
        return self.provider_percent.get(provider_type(provider), self.percent)
