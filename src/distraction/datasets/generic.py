"""The ``generic`` format (this project's own, written by :mod:`distraction.synth`)::

root/<subject>/<task>.<avi|mp4|mkv|mov>
root/<subject>/<task>.csv      optional; columns ``time`` (s) and any of ppg, resp, hr, br
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from distraction.datasets.base import (
    GROUND_TRUTH_COLUMNS,
    GroundTruth,
    Recording,
    input_error,
    make_ground_truth,
)
from distraction.datasets.video import VideoLoader

__all__ = ["GenericLoader"]


class GenericLoader(VideoLoader):
    """``root/<subject>/<task>.<avi|mp4|mkv|mov>`` with an optional ``<task>.csv``."""

    format = "generic"

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """The CSV's ``time`` and signal columns, or ``None`` without a CSV."""
        if rec.ground_truth is None:
            return None
        path = rec.ground_truth
        if not path.is_file():
            raise input_error(path, "ground-truth file not found")
        try:
            table = pd.read_csv(path, skipinitialspace=True, float_precision="round_trip")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise input_error(path, f"cannot parse CSV ({type(exc).__name__})") from exc
        except OSError as exc:
            raise input_error(path, f"cannot read file ({exc.strerror or exc})") from exc
        table.columns = [str(c).strip().lower() for c in table.columns]
        if len(set(table.columns)) != len(table.columns):
            raise input_error(path, "duplicate column names")
        if "time" not in table.columns:
            raise input_error(path, "missing column 'time'")
        present = [c for c in GROUND_TRUTH_COLUMNS if c in table.columns]
        if not present:
            raise input_error(
                path, f"no signal column (expected any of {', '.join(GROUND_TRUTH_COLUMNS)})"
            )
        if table.empty:
            raise input_error(path, "ground truth has no samples")
        values: dict[str, np.ndarray] = {}
        for column in ("time", *present):
            try:
                values[column] = pd.to_numeric(table[column], errors="raise").to_numpy(
                    dtype=np.float64
                )
            except (ValueError, TypeError) as exc:
                raise input_error(path, f"column {column!r} is not numeric") from exc
        return make_ground_truth(
            path, values["time"], {c: values.get(c) for c in GROUND_TRUTH_COLUMNS}
        )
