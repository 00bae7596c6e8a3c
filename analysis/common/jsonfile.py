"""Strict JSON for every analysis's summary: null where Python would write NaN.

``json.dumps`` writes float NaN and infinity as the bare words NaN and Infinity, which are not
JSON: jq, browsers and most non-Python readers refuse the file. Every summary goes through
``write_json``, which turns them (and pandas' NA) into null and numpy scalars into numbers, then
serializes with ``allow_nan=False`` so that a value it missed fails here, not in a reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def strict(value: Any) -> Any:
    """``value`` with non-finite floats and missing values as None, numpy scalars as Python."""
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON (null, never NaN), indented."""
    Path(path).write_text(json.dumps(strict(obj), indent=2, allow_nan=False))
