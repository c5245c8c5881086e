"""The one place that reads the time, so every write stamps consistent UTC timestamps."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
