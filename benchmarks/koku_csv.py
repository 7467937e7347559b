"""Koku's CSV -> Parquet conventions shared by the nise converters of the cloud providers (AWS, Azure, GCP), and
the bits of their drivers that are the same (the dataset's scenario.json, replacing a source's folders).

Facts read in Koku's masu/util/common.py and the providers' post-processors; nothing is copied from Koku.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without the package installed
from poc_tasks.io.layout import provider_prefix  # noqa: E402

__all__ = ["normalise", "parse_ciso8601", "read_scenario", "write_scenario", "source_dirs"]


def normalise(name: str) -> str:
    """Koku's strip_characters_from_column_name: runs of non-word characters -> '_', lower case."""
    return re.sub(r"\W+", "_", name).lower()


def parse_ciso8601(text: str) -> dt.datetime:
    """What ciso8601.parse_datetime gives (Azure and GCP converters): an ISO 8601 date or timestamp, naive when the
    text has no offset, tz-aware when it has one. Raises ValueError on anything else, as ciso8601 does."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    return dt.datetime.fromisoformat(text)


def read_scenario(dataset: Path) -> dict:
    path = dataset / "scenario.json"
    if not path.exists():
        raise SystemExit(f"{path} missing: convert the OCP side first (nise_to_koku_parquet.py)")
    return json.loads(path.read_text())


def write_scenario(dataset: Path, scenario: dict) -> None:
    (dataset / "scenario.json").write_text(json.dumps(scenario, indent=1) + "\n")


def source_dirs(dataset: Path, account: str, provider: str, source_uuid: str, overwrite: bool) -> tuple[Path, Path]:
    """The raw and daily `source=<uuid>` folders of a cloud source (every month under them), emptied first when
    `overwrite`; refused when they exist otherwise. Month folders are added by the caller."""
    raw = Path(provider_prefix(str(dataset), account, provider, source_uuid, "0", "0", daily=False)).parents[1]
    daily = Path(provider_prefix(str(dataset), account, provider, source_uuid, "0", "0", daily=True)).parents[1]
    for folder in (raw, daily):
        if folder.exists():
            if not overwrite:
                raise SystemExit(f"{folder} exists; pass --overwrite to replace it")
            shutil.rmtree(folder)
    return raw, daily
