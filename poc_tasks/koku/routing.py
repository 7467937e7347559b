"""Which path summarises a (tenant, provider type): Koku's Trino SQL or poc_tasks, and whether to shadow it.

The order of precedence (the first rule that applies decides):

1. the schema is on POC_AGGREGATOR_DENY_SCHEMAS          -> Trino, no shadow run
2. the provider type is not on POC_AGGREGATOR_PROVIDERS   -> Trino, no shadow run
3. USE_POC_AGGREGATOR is off                              -> Trino (shadowed if selected, see below)
4. the schema is on POC_AGGREGATOR_ALLOW_SCHEMAS          -> poc_tasks
5. bucket(schema) < the provider type's rollout percentage -> poc_tasks
6. otherwise                                              -> Trino (shadowed if selected)

A Trino run is shadowed when POC_SHADOW_COMPARE is on and the schema is on the allow list or
bucket(schema) < POC_SHADOW_PERCENT. A poc_tasks run is never shadowed (there are no Trino rows to compare).

bucket(schema) is the first 8 bytes of sha256(schema) read as a fraction of 100: a fixed point in [0, 100) per
tenant. A tenant on poc_tasks at 10 % stays on it at 25, 50 and 75 %, and the same tenants are chosen for every
provider type at equal percentages; 0 % chooses nobody, 100 % everybody.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from poc_tasks.koku.config import RoutingConfig
from poc_tasks.koku.names import provider_type
from poc_tasks.validate import validate_schema

__all__ = ["Decision", "bucket", "decide", "TRINO", "POC"]

TRINO = "trino"
POC = "poc"


@dataclass(frozen=True)
class Decision:
    path: str  # "poc" or "trino"
    shadow: bool  # run a phase-1 shadow comparison after Trino's run
    reason: str  # which rule decided, for logs
    schema_name: str
    provider_type: str
    bucket: float

    @property
    def use_poc(self) -> bool:
        return self.path == POC


def bucket(schema_name: str) -> float:
    """The tenant's fixed point in [0, 100): sha256 of the schema name, first 8 bytes, as a percentage."""
    digest = hashlib.sha256(validate_schema(schema_name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 * 100.0


def decide(schema_name: str, provider: str, config: RoutingConfig | None = None) -> Decision:
    """Route one summary (see the module docstring for the order of the rules).

    Raises InvalidArgument for a schema that is not a tenant name or an unknown provider type, and
    ConfigurationError (when `config` is None and the settings are read) for malformed settings.
    """
    schema = validate_schema(schema_name)
    kind = provider_type(provider)
    cfg = config if config is not None else RoutingConfig.from_settings()
    point = bucket(schema)

    def trino(reason: str, may_shadow: bool = True) -> Decision:
        shadow = may_shadow and cfg.shadow and (schema in cfg.allow or point < cfg.shadow_percent)
        return Decision(TRINO, shadow, reason, schema, kind, point)

    if schema in cfg.deny:
        return trino("schema is on POC_AGGREGATOR_DENY_SCHEMAS", may_shadow=False)
    if kind not in cfg.providers:
        return trino(f"{kind} is not on POC_AGGREGATOR_PROVIDERS", may_shadow=False)
    if not cfg.enabled:
        return trino("USE_POC_AGGREGATOR is off")
    if schema in cfg.allow:
        return Decision(POC, False, "schema is on POC_AGGREGATOR_ALLOW_SCHEMAS", schema, kind, point)
    percent = cfg.percent_for(kind)
    if point < percent:
        return Decision(POC, False, f"bucket {point:.4f} < {percent:g} %", schema, kind, point)
    return trino(f"bucket {point:.4f} >= {percent:g} %")
