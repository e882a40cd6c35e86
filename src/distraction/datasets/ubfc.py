"""The ``ubfc`` format: UBFC-rPPG "DATASET_2".

Layout from rPPG-Toolbox (ubicomplab/rPPG-Toolbox, ``dataset/data_loader/UBFCrPPGLoader.py``:
``RawData/subject*/vid.avi`` and ``ground_truth.txt``); the file format from the dataset's own
notes (``Dataset_info.txt`` shipped with the data: "Line 1: PPG signal, Line 2: Heart rate
(HR), Line 3: Timestep (seconds, scientific notation)") and the authors' ``UBFC_DATASET.m``
(``dlmread``, rows 1/2/3 = trace/HR/time), also read that way by pyVHR (phuselab/pyVHR,
``pyVHR/datasets/ubfc2.py``)::

    root/<subject folder>/vid.avi
    root/<subject folder>/ground_truth.txt     3 whitespace-separated rows: PPG, HR (bpm), time (s)

Any folder of ``root`` holding a ``vid.avi`` is a recording (``subject1`` ... in DATASET_2).
The ground-truth samples are taken per frame, so their time row is shifted to start at 0.
DATASET_1 (``gtdump.xmp``) is not supported.
"""

from __future__ import annotations

import numpy as np

from distraction.datasets.base import (
    GroundTruth,
    Recording,
    increasing_mask,
    input_error,
    make_ground_truth,
    parse_rows,
)
from distraction.datasets.video import VideoLoader

__all__ = ["UbfcLoader"]


class UbfcLoader(VideoLoader):
    """UBFC-rPPG DATASET_2: ``root/<subject>/vid.avi`` + ``ground_truth.txt``."""

    format = "ubfc"

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """Rows PPG, HR (bpm) and time (s, shifted to start at 0)."""
        if rec.ground_truth is None:
            return None
        path = rec.ground_truth
        if not path.is_file():
            raise input_error(path, "ground-truth file not found")
        rows = parse_rows(path)
        if len(rows) != 3:
            raise input_error(path, f"expected 3 rows (PPG, HR, time), found {len(rows)}")
        ppg, hr, time = rows
        if not (ppg.size == hr.size == time.size):
            raise input_error(
                path,
                f"rows have different lengths (PPG {ppg.size}, HR {hr.size}, time {time.size})",
            )
        if time.size == 0 or not np.all(np.isfinite(time)):
            raise input_error(path, "time row has missing or non-finite values")
        keep = increasing_mask(time)
        time = time[keep] - time[keep][0]
        return make_ground_truth(path, time, {"ppg": ppg[keep], "hr": hr[keep]})
