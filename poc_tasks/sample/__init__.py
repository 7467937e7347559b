"""`poc-tasks sample`: Koku-shaped synthetic data (an OpenShift cluster and its matched AWS, Azure and GCP bills).

dataset.py writes a whole dataset (SampleConfig, write_sample); cluster.py draws the cluster from a seed;
ocp_frames.py its OCP report rows per day; aws.py, azure.py, gcp.py the matched bills; cloud_files.py how Koku
names and cuts a source's files; scenario.py seeds a tenant from a dataset's scenario.json.
"""

from poc_tasks.sample.dataset import REPORT_TYPES, SampleConfig, scenario_of, write_sample

__all__ = ["REPORT_TYPES", "SampleConfig", "scenario_of", "write_sample"]
