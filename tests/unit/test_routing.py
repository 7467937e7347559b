"""poc_tasks.koku without services: routing, settings, argument checks, and what importing it loads."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from poc_tasks.errors import ConfigurationError, InvalidArgument
from poc_tasks.koku import (
    OCP,
    OCP_ON_AWS,
    OCP_ON_AZURE,
    OCP_ON_GCP,
    QUEUE,
    QUEUE_XL,
    RoutingConfig,
    bucket,
    decide,
    ocp_on_cloud_kwargs,
    ocp_summary_kwargs,
    provider_type,
    queue_for,
    send_ocp_summary,
    shadow_kwargs,
)

SOURCE = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"
AWS_SOURCE = "2b6f1d2e-0c4a-4c1e-9a57-4b8c0f1e2d3a"
# sha256(schema)[:8] as a fraction of 100, computed once with hashlib (python3 -c ...) and written down here
BUCKETS = {"org1234567": 27.664161429947736, "acct10001": 76.0290134188953, "org7654321": 23.999623194333715}
TENANTS = [f"org{n}" for n in range(1_000_000, 1_002_000)]


def on(percent: float, **kw) -> RoutingConfig:
    return RoutingConfig(enabled=True, percent=percent, **kw)


# --- the import contract -----------------------------------------------------------------------------------


def test_importing_poc_tasks_koku_loads_no_heavy_module_and_no_poc_tasks_app() -> None:
    code = (
        "import sys, json\n"
        "import poc_tasks.koku\n"
        "heavy = ['django', 'pandas', 'pyarrow', 's3fs', 'sqlalchemy', 'numpy', 'psycopg2', 'celery',\n"
        "         'poc_tasks.app', 'poc_tasks.tasks', 'poc_tasks.celeryconfig']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_queue_and_task_names_agree_with_the_worker_app() -> None:
    from poc_tasks import app as app_module
    from poc_tasks import tasks

    assert (QUEUE, QUEUE_XL) == (app_module.QUEUE, app_module.QUEUE_XL)
    assert tasks.summarize_ocp.name == "poc_tasks.summarize_ocp"
    assert tasks.shadow_compare.name == "poc_tasks.shadow_compare"


# --- the bucket and the percentages ------------------------------------------------------------------------


def test_bucket_is_sha256_of_the_schema_as_a_percentage() -> None:
    for schema, expected in BUCKETS.items():
        assert bucket(schema) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("percent, expected_share", [(0, 0.0), (10, 0.10), (50, 0.50), (100, 1.0)])
def test_rollout_share_is_deterministic_at_0_10_50_100_percent(percent: float, expected_share: float) -> None:
    first = [decide(t, OCP, on(percent)).use_poc for t in TENANTS]
    again = [decide(t, OCP, on(percent)).use_poc for t in TENANTS]
    assert first == again
    share = sum(first) / len(first)
    if percent in (0, 100):
        assert share == expected_share
    else:  # 2000 tenants: a binomial share within 4 standard deviations
        assert abs(share - expected_share) < 4 * (expected_share * (1 - expected_share) / len(TENANTS)) ** 0.5


def test_a_tenant_switches_exactly_when_the_percentage_passes_its_bucket() -> None:
    assert not decide("org1234567", OCP, on(27.66)).use_poc
    assert decide("org1234567", OCP, on(27.67)).use_poc
    assert not decide("acct10001", OCP, on(76.02)).use_poc
    assert decide("acct10001", OCP, on(76.03)).use_poc


def test_growing_the_percentage_keeps_every_tenant_already_on_poc_tasks() -> None:
    chosen = [{t for t in TENANTS if decide(t, OCP, on(p)).use_poc} for p in (10, 25, 50, 75, 100)]
    for smaller, larger in zip(chosen, chosen[1:], strict=False):
        assert smaller < larger


def test_per_provider_percentage_overrides_the_global_one() -> None:
    cfg = on(100, provider_percent={"OCP-on-AWS": 0}, providers=frozenset({OCP, OCP_ON_AWS}))
    assert decide("org1234567", OCP, cfg).use_poc
    assert not decide("org1234567", OCP_ON_AWS, cfg).use_poc
    assert decide("org1234567", OCP_ON_AWS, cfg).reason == "bucket 27.6642 >= 0 %"


# --- the order of precedence -------------------------------------------------------------------------------


def test_deny_beats_allow_and_the_switch_and_stops_shadowing() -> None:
    cfg = on(100, allow=frozenset({"org1234567"}), deny=frozenset({"org1234567"}), shadow=True)
    d = decide("org1234567", OCP, cfg)
    assert (d.path, d.shadow) == ("trino", False)
    assert "DENY" in d.reason


def test_provider_not_enabled_goes_to_trino_before_anything_else() -> None:
    cfg = on(100, allow=frozenset({"org1234567"}), shadow=True)  # providers default: OCP only
    d = decide("org1234567", "AWS", cfg)
    assert (d.path, d.shadow, d.provider_type) == ("trino", False, OCP_ON_AWS)


def test_switch_off_means_trino_even_for_allowed_tenants_but_they_are_shadowed() -> None:
    cfg = RoutingConfig(enabled=False, percent=100, allow=frozenset({"acct10001"}), shadow=True, shadow_percent=0)
    allowed, other = decide("acct10001", OCP, cfg), decide("org1234567", OCP, cfg)
    assert (allowed.path, allowed.shadow) == ("trino", True)
    assert (other.path, other.shadow) == ("trino", False)


def test_allow_list_wins_over_the_percentage_when_the_switch_is_on() -> None:
    cfg = on(0, allow=frozenset({"acct10001"}))
    assert decide("acct10001", OCP, cfg).use_poc
    assert not decide("org1234567", OCP, cfg).use_poc


def test_shadow_percentage_uses_the_same_bucket() -> None:
    cfg = RoutingConfig(shadow=True, shadow_percent=25)
    assert decide("org7654321", OCP, cfg).shadow  # 23.99 < 25
    assert not decide("org1234567", OCP, cfg).shadow  # 27.66 >= 25
    assert not decide("org7654321", OCP, RoutingConfig(shadow=False)).shadow


def test_poc_runs_are_not_shadowed() -> None:
    d = decide("org1234567", OCP, on(100, shadow=True))
    assert (d.path, d.shadow) == ("poc", False)


# --- settings: Django first, then the environment ----------------------------------------------------------


def test_settings_come_from_the_environment() -> None:
    env = {"USE_POC_AGGREGATOR": "on", "POC_AGGREGATOR_PERCENT": "10%", "POC_AGGREGATOR_PERCENT_OCP_ON_AWS": "25",
           "POC_AGGREGATOR_PROVIDERS": "OCP, AWS", "POC_AGGREGATOR_ALLOW_SCHEMAS": "org1 org2",
           "POC_AGGREGATOR_DENY_SCHEMAS": "acct3", "POC_AGGREGATOR_XL_SCHEMAS": "org9", "POC_AGGREGATOR_MODE": "Inline",
           "POC_AGGREGATOR_TIMEOUT": "90", "POC_SHADOW_COMPARE": "1", "POC_SHADOW_PERCENT": "5"}
    cfg = RoutingConfig.from_settings(source={}, env=env)
    assert cfg == RoutingConfig(enabled=True, percent=10.0, provider_percent={OCP_ON_AWS: 25.0},
                                providers=frozenset({OCP, OCP_ON_AWS}), allow=frozenset({"org1", "org2"}),
                                deny=frozenset({"acct3"}), xl=frozenset({"org9"}), mode="inline", timeout=90.0,
                                shadow=True, shadow_percent=5.0)


def test_defaults_keep_everything_on_trino() -> None:
    cfg = RoutingConfig.from_settings(source={}, env={})
    assert cfg == RoutingConfig()
    assert (cfg.enabled, cfg.shadow, cfg.providers, cfg.mode) == (False, False, frozenset({OCP}), "celery")
    assert decide("org1234567", OCP, cfg).path == "trino"


def test_a_django_style_settings_object_wins_over_the_environment() -> None:
    django = SimpleNamespace(USE_POC_AGGREGATOR=True, POC_AGGREGATOR_PERCENT=50,
                             POC_AGGREGATOR_ALLOW_SCHEMAS=["org42"], POC_AGGREGATOR_DENY_SCHEMAS=None)
    env = {"USE_POC_AGGREGATOR": "false", "POC_AGGREGATOR_PERCENT": "5", "POC_AGGREGATOR_DENY_SCHEMAS": "org43"}
    cfg = RoutingConfig.from_settings(source=django, env=env)
    # defined in Django: Django's value; left None there: the environment's
    assert (cfg.enabled, cfg.percent, cfg.allow, cfg.deny) == (True, 50.0, frozenset({"org42"}),
                                                               frozenset({"org43"}))


@pytest.mark.parametrize("name, value, message", [
    ("POC_AGGREGATOR_PERCENT", "101", "outside 0..100"),
    ("POC_AGGREGATOR_PERCENT", "-1", "outside 0..100"),
    ("POC_AGGREGATOR_PERCENT", "ten", "not a number"),
    ("POC_AGGREGATOR_PERCENT_OCP", "150", "POC_AGGREGATOR_PERCENT_OCP='150' is outside 0..100"),
    ("POC_SHADOW_PERCENT", "nan", "outside 0..100"),
    ("USE_POC_AGGREGATOR", "maybe", "not a boolean"),
    ("POC_AGGREGATOR_PROVIDERS", "OCP,IBM", "unknown provider type 'IBM'"),
    ("POC_AGGREGATOR_ALLOW_SCHEMAS", "org1,public", "'public' is not a Koku tenant schema"),
    ("POC_AGGREGATOR_MODE", "threads", "expected one of celery, inline"),
    ("POC_AGGREGATOR_TIMEOUT", "0", "positive"),
])
def test_malformed_settings_raise_a_configuration_error_naming_the_setting(name: str, value: str,
                                                                           message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RoutingConfig.from_settings(source={}, env={name: value})
    assert name in str(info.value) or message in str(info.value)
    assert message in str(info.value)


def test_a_config_built_in_code_is_validated_too() -> None:
    with pytest.raises(ConfigurationError, match="outside 0..100"):
        RoutingConfig(percent=100.5)
    with pytest.raises(InvalidArgument, match="unknown provider type"):
        RoutingConfig(providers=frozenset({"OCP", "OpenStack"}))


# --- arguments at the boundary -----------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("OCP", OCP), ("ocp", OCP), ("AWS", OCP_ON_AWS), ("AWS-local", OCP_ON_AWS), ("ocp_on_aws", OCP_ON_AWS),
    ("OCP-on-Azure", OCP_ON_AZURE), ("Azure-local", OCP_ON_AZURE), ("GCP", OCP_ON_GCP), ("ocp-on-gcp", OCP_ON_GCP),
])
def test_provider_type_spellings(value: str, expected: str) -> None:
    assert provider_type(value) == expected


@pytest.mark.parametrize("value", ["IBM", "OCI", "", None, 3])
def test_unknown_provider_types_are_refused(value) -> None:
    with pytest.raises(InvalidArgument, match="unknown provider type"):
        decide("org1234567", value, RoutingConfig())


@pytest.mark.parametrize("schema", ["public", "template0", "org1; drop table x", "ORG123", "", None])
def test_non_tenant_schemas_are_refused(schema) -> None:
    with pytest.raises(InvalidArgument, match="not a Koku tenant schema"):
        decide(schema, OCP, RoutingConfig())


def test_ocp_kwargs_are_koku_named_and_json_safe() -> None:
    import datetime as dt

    kwargs = ocp_summary_kwargs(schema_name="org1234567", source_uuid=SOURCE.upper(),
                                start_date=dt.date(2026, 1, 6), end_date="2026-01-10", cluster_id="c1",
                                cluster_alias="Cluster One", report_period_id="7", tracing_id="t-1")
    assert kwargs == {"schema_name": "org1234567", "source_uuid": SOURCE, "cluster_id": "c1",
                      "cluster_alias": "Cluster One", "start_date": "2026-01-06", "end_date": "2026-01-10",
                      "report_period_id": 7, "tracing_id": "t-1"}
    json.dumps(kwargs)
    import inspect

    from poc_tasks.tasks import summarize_ocp

    assert set(kwargs) <= set(inspect.signature(summarize_ocp.run).parameters)


@pytest.mark.parametrize("start, end, message", [
    ("2026-13-01", "2026-01-05", "is not an ISO date"),
    ("01/05/2026", "2026-01-05", "is not an ISO date"),
    ("2026-01-05", "2026-01-01", "is before start_date"),
    ("2026-01-30", "2026-02-02", "not in the same month"),
])
def test_malformed_dates_are_refused(start: str, end: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ocp_summary_kwargs(schema_name="org1234567", source_uuid=SOURCE, start_date=start, end_date=end,
                           cluster_id="c1")
    with pytest.raises(InvalidArgument, match=message):
        shadow_kwargs(schema_name="org1234567", source_uuid=SOURCE, start_date=start, end_date=end)


def test_cloud_kwargs_use_the_accessor_argument_names() -> None:
    kwargs = ocp_on_cloud_kwargs("AWS", schema_name="org1234567", openshift_provider_uuid=SOURCE,
                                 infrastructure_provider_uuid=AWS_SOURCE, start_date="2026-01-01",
                                 end_date="2026-01-05", cluster_id="c1", report_period_id=3, bill_id="9",
                                 markup="0.1", distribution="memory")
    assert kwargs == {"schema_name": "org1234567", "openshift_provider_uuid": SOURCE,
                      "aws_provider_uuid": AWS_SOURCE, "start_date": "2026-01-01", "end_date": "2026-01-05",
                      "report_period_id": 3, "bill_id": 9, "cluster_id": "c1", "markup": 0.1,
                      "distribution": "memory", "tracing_id": None}
    import inspect

    from poc_tasks.tasks import summarize_ocp_on_aws

    assert set(kwargs) <= set(inspect.signature(summarize_ocp_on_aws.run).parameters)
    common = {"schema_name": "org1234567", "openshift_provider_uuid": SOURCE,
              "infrastructure_provider_uuid": AWS_SOURCE, "start_date": "2026-01-01", "end_date": "2026-01-05"}
    gcp = ocp_on_cloud_kwargs("GCP", **common, cluster_id="c1")
    assert "gcp_provider_uuid" in gcp and "aws_provider_uuid" not in gcp
    with pytest.raises(InvalidArgument, match="use ocp_summary_kwargs"):
        ocp_on_cloud_kwargs("OCP", **common, cluster_id="c1")
    with pytest.raises(InvalidArgument, match="cluster_id None"):
        ocp_on_cloud_kwargs("AWS", **common, cluster_id=None)
    with pytest.raises(InvalidArgument, match="distribution 'disk'"):
        ocp_on_cloud_kwargs("AWS", **common, cluster_id="c1", distribution="disk")


class _RecordingApp:
    """Stands in for Koku's Celery app: records send_task calls (the message itself is tested with Redis)."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send_task(self, name, kwargs=None, queue=None, **options):
        self.sent.append((name, kwargs, queue, options))
        return SimpleNamespace(id="x")


def test_send_by_name_on_the_poc_queue_or_the_xl_queue() -> None:
    app = _RecordingApp()
    args = {"schema_name": "org1234567", "source_uuid": SOURCE, "start_date": "2026-01-01",
            "end_date": "2026-01-05", "cluster_id": "c1"}
    send_ocp_summary(app, **args)
    send_ocp_summary(app, **args, xl=True, countdown=5)
    assert [(n, q, o) for n, _k, q, o in app.sent] == [
        ("poc_tasks.summarize_ocp", QUEUE, {}), ("poc_tasks.summarize_ocp", QUEUE_XL, {"countdown": 5})]
    assert queue_for("org9", config=RoutingConfig(xl=frozenset({"org9"}))) == QUEUE_XL
    assert queue_for("org8", config=RoutingConfig(xl=frozenset({"org9"}))) == QUEUE
    with pytest.raises(InvalidArgument):
        send_ocp_summary(app, **{**args, "schema_name": "public"})
    assert len(app.sent) == 2  # nothing went out for the bad call


def test_simulator_cuts_ranges_at_month_boundaries_as_koku_does() -> None:
    import datetime as dt

    from poc_tasks.koku.simulator import month_ranges

    d = dt.date
    assert month_ranges(d(2026, 1, 5), d(2026, 1, 9)) == [(d(2026, 1, 5), d(2026, 1, 9))]
    assert month_ranges(d(2025, 12, 30), d(2026, 2, 2)) == [
        (d(2025, 12, 30), d(2025, 12, 31)), (d(2026, 1, 1), d(2026, 1, 31)), (d(2026, 2, 1), d(2026, 2, 2))]


def test_shadow_hook_skips_provider_types_it_does_not_know_but_checks_the_schema() -> None:
    from poc_tasks.koku import send_shadow_compare_if_selected

    app = _RecordingApp()
    args = {"source_uuid": SOURCE, "start_date": "2026-01-01", "end_date": "2026-01-05",
            "config": RoutingConfig(shadow=True, providers=frozenset({OCP, OCP_ON_AWS}))}
    assert send_shadow_compare_if_selected(app, schema_name="org1234567", provider_type="OCI", **args) is None
    assert send_shadow_compare_if_selected(app, schema_name="org1234567", provider_type="AWS", **args) is None
    assert app.sent == []  # OCP-on-AWS has no comparison yet
    send_shadow_compare_if_selected(app, schema_name="org1234567", provider_type="OCP", **args)
    assert [(n, q) for n, _k, q, _o in app.sent] == [("poc_tasks.shadow_compare", QUEUE)]
    with pytest.raises(InvalidArgument, match="not a Koku tenant schema"):
        send_shadow_compare_if_selected(app, schema_name="public", provider_type="OCP", **args)


# --- markup and distribution from Koku's cost model (the OCP-on-cloud hooks) -----------------------------------

def test_cost_model_arguments_turn_kokus_markup_fraction_back_into_percent() -> None:
    from decimal import Decimal

    from poc_tasks.cloud.spec import markup_fraction
    from poc_tasks.koku import cost_model_arguments

    # what SummarySqlMetadata.build_cost_model_params returns: Decimal(value) / 100, and the OCP distribution
    assert cost_model_arguments({"markup": Decimal("10") / 100, "distribution": "memory"}) == {
        "markup": "10", "distribution": "memory"}
    assert cost_model_arguments({"markup": 0, "distribution": "cpu"}) == {"markup": "0", "distribution": "cpu"}
    odd = Decimal("33.3333333333") / 100
    assert cost_model_arguments({"markup": odd, "distribution": "cpu"})["markup"] == "33.3333333333"
    # the round trip gives the fraction Koku's SQL casts to decimal(24,9)
    assert markup_fraction(cost_model_arguments({"markup": odd, "distribution": "cpu"})["markup"]) == 0.333333333
    with pytest.raises(InvalidArgument, match="lack 'markup' or 'distribution'"):
        cost_model_arguments({"markup": 1})
    with pytest.raises(InvalidArgument, match="not a number"):
        cost_model_arguments({"markup": "ten", "distribution": "cpu"})


def test_a_cloud_run_routed_to_trino_never_reads_the_cost_model() -> None:
    from poc_tasks.koku import summarize_ocp_on_cloud_or_trino

    read = []
    out = summarize_ocp_on_cloud_or_trino(
        OCP_ON_AWS, trino=lambda: "trino", cost_model=lambda: read.append(1) or {"markup": 0, "distribution": "cpu"},
        config=RoutingConfig(enabled=False), schema_name="org1234567", openshift_provider_uuid=SOURCE,
        infrastructure_provider_uuid=AWS_SOURCE, start_date="2026-01-01", end_date="2026-01-05",
        cluster_id="my-cluster")
    assert (out.path, out.result, read) == ("trino", "trino", [])
