"""The names both sides agree on: queues, task names, provider types (the message contract with Koku).

Kept free of Celery and of poc_tasks.app, so Koku's process can import them without creating the poc_tasks app.
"""

from __future__ import annotations

from poc_tasks.errors import InvalidArgument

__all__ = [
    "QUEUE",
    "QUEUE_XL",
    "OCP",
    "OCP_ON_AWS",
    "OCP_ON_AZURE",
    "OCP_ON_GCP",
    "AWS_DAILY",
    "AZURE_DAILY",
    "GCP_DAILY",
    "DAILY_TYPES",
    "PROVIDER_TYPES",
    "SUMMARY_TASKS",
    "SHADOW_TASK",
    "CLOUD_UUID_ARGUMENT",
    "provider_type",
    "setting_suffix",
]

QUEUE = "poc_aggregation"
QUEUE_XL = "poc_aggregation_xl"  # Koku's get_customer_queue sends large customers to *_xl queues too

OCP = "OCP"
OCP_ON_AWS = "OCP-on-AWS"
OCP_ON_AZURE = "OCP-on-Azure"
OCP_ON_GCP = "OCP-on-GCP"
# The cloud daily summaries (populate_line_item_daily_summary_table_trino of the AWS/Azure/GCP accessors): a
# provider type of their own, since "AWS"/"Azure"/"GCP" already name the OCP-on-cloud runs of those sources.
AWS_DAILY = "AWS-daily"
AZURE_DAILY = "Azure-daily"
GCP_DAILY = "GCP-daily"
DAILY_TYPES: tuple[str, ...] = (AWS_DAILY, AZURE_DAILY, GCP_DAILY)
PROVIDER_TYPES: tuple[str, ...] = (OCP, OCP_ON_AWS, OCP_ON_AZURE, OCP_ON_GCP, *DAILY_TYPES)

SUMMARY_TASKS = {
    OCP: "poc_tasks.summarize_ocp",
    OCP_ON_AWS: "poc_tasks.summarize_ocp_on_aws",
    OCP_ON_AZURE: "poc_tasks.summarize_ocp_on_azure",
    OCP_ON_GCP: "poc_tasks.summarize_ocp_on_gcp",
    AWS_DAILY: "poc_tasks.summarize_aws",
    AZURE_DAILY: "poc_tasks.summarize_azure",
    GCP_DAILY: "poc_tasks.summarize_gcp",
}
SHADOW_TASK = "poc_tasks.shadow_compare"

# The infrastructure source's argument, named as Koku's populate_ocp_on_<cloud>_cost_daily_summary_trino names it.
CLOUD_UUID_ARGUMENT = {
    OCP_ON_AWS: "aws_provider_uuid",
    OCP_ON_AZURE: "azure_provider_uuid",
    OCP_ON_GCP: "gcp_provider_uuid",
}

# Spellings a caller may use: ours, Koku's Provider.PROVIDER_* values of the infrastructure side ("AWS",
# "AWS-local", ...), and snake case. Compared after lower-casing and dropping "-", "_" and spaces.
_ALIASES = {
    "ocp": OCP,
    "openshift": OCP,
    "ocponaws": OCP_ON_AWS,
    "aws": OCP_ON_AWS,
    "awslocal": OCP_ON_AWS,
    "ocponazure": OCP_ON_AZURE,
    "azure": OCP_ON_AZURE,
    "azurelocal": OCP_ON_AZURE,
    "ocpongcp": OCP_ON_GCP,
    "gcp": OCP_ON_GCP,
    "gcplocal": OCP_ON_GCP,
    "awsdaily": AWS_DAILY,
    "azuredaily": AZURE_DAILY,
    "gcpdaily": GCP_DAILY,
}


def provider_type(value: object) -> str:
    """The canonical provider type (OCP, OCP-on-AWS, OCP-on-Azure, OCP-on-GCP, AWS-daily, Azure-daily, GCP-daily);
    InvalidArgument otherwise."""
    if isinstance(value, str):
        found = _ALIASES.get(value.lower().replace("-", "").replace("_", "").replace(" ", ""))
        if found:
            return found
    raise InvalidArgument(f"unknown provider type {value!r}: expected one of {', '.join(PROVIDER_TYPES)}")


def setting_suffix(provider: str) -> str:
    """OCP-on-AWS -> OCP_ON_AWS: the suffix of per-provider settings such as POC_AGGREGATOR_PERCENT_OCP_ON_AWS."""
    return provider_type(provider).upper().replace("-", "_")


# --- Trino off beyond the daily summaries: the EC2 compute summary (routed and sent as a daily summary type:
# populate_ec2_compute_summary_table_trino has the daily summary's arguments) and the OCP infrastructure map.
AWS_EC2_COMPUTE = "AWS-EC2-compute"
OCP_INFRA_MAP = "OCP-infra-map"
DAILY_TYPES = (*DAILY_TYPES, AWS_EC2_COMPUTE)
PROVIDER_TYPES = (*PROVIDER_TYPES, AWS_EC2_COMPUTE, OCP_INFRA_MAP)
SUMMARY_TASKS[AWS_EC2_COMPUTE] = "poc_tasks.summarize_aws_ec2_compute"
SUMMARY_TASKS[OCP_INFRA_MAP] = "poc_tasks.ocp_infrastructure_map"
_ALIASES.update({"awsec2compute": AWS_EC2_COMPUTE, "awsec2": AWS_EC2_COMPUTE, "ocpinframap": OCP_INFRA_MAP,
                 "inframap": OCP_INFRA_MAP})
__all__ += ["AWS_EC2_COMPUTE", "OCP_INFRA_MAP"]
