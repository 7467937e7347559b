"""Koku's units: hours from seconds, GB = 2^30 bytes (GiB), GB-months over the days of the usage month."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np

SECONDS_PER_HOUR = 3600.0
BYTES_PER_GB = 2.0**30
GB_FACTOR = 2.0**-30  # power(2, -30): multiplying by it is exact, as in Koku's SQL


def hours(seconds: np.ndarray) -> np.ndarray:
    return seconds / SECONDS_PER_HOUR


def gigabyte_hours(byte_seconds: np.ndarray) -> np.ndarray:
    return byte_seconds / SECONDS_PER_HOUR * GB_FACTOR


def gigabytes(nbytes: np.ndarray) -> np.ndarray:
    return nbytes * GB_FACTOR


def days_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def gigabyte_months(byte_seconds: np.ndarray, day: dt.date) -> np.ndarray:
    """byte-seconds / (86400 x days in the month of usage_start) x 2^-30."""
    return byte_seconds / (86400 * days_in_month(day)) * GB_FACTOR
