"""The ``mmse`` format: MMSE-HR (a BP4D+ subset).

Folder names as used by public conversion scripts for the released archive (``('first 10
subjects 2D', 'first 10 subjects Phydata released/Phydata'), ('T10_T11_30Subjects',
'T10_T11_30PhyBPHRData')``; a public MATLAB loader, ``getBUVideo.m``, reads
``.../F013/T1/*.jpg``, ``Pulse Rate_BPM.txt`` at "1000 samples / second", RGB at 25 fps).
The physiology file names are BP4D+'s (rPPG-Toolbox ``BP4DPlusLoader.py``: ``Physiology/
F001/T1/BP_mmHg.txt``, ``Pulse Rate_BPM.txt``, ``Resp_Volts.txt``, ``Respiration
Rate_BPM.txt``)::

    root/first 10 subjects 2D/<F013>/<T1>/*.jpg
    root/first 10 subjects Phydata released/Phydata/<F013>/<T1>/BP_mmHg.txt ...
    root/T10_T11_30Subjects/<M014>/<T10>/*.jpg
    root/T10_T11_30PhyBPHRData/<M014>/<T10>/Pulse Rate_BPM.txt ...

When neither frame folder exists, ``root/<subject>/<task>/*.jpg`` is read instead. The
physiology of a recording is looked up, in order, in the paired physiology folder,
``root/Physiology/<subject>/<task>`` (BP4D+) and the frame folder itself. Text files hold one
value per line (a single row is accepted too), sampled at 1000 Hz from the first frame;
``BP_mmHg.txt`` (the continuous blood-pressure waveform) -> ppg, ``Pulse Rate_BPM.txt`` -> hr,
``Resp_Volts.txt`` -> resp, ``Respiration Rate_BPM.txt`` -> br. Files of different lengths are
cut to the shortest. File names are matched case-insensitively. Frames at 25 fps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distraction.datasets.base import (
    GroundTruth,
    Recording,
    input_error,
    make_ground_truth,
    parse_rows,
    positive,
)
from distraction.datasets.frames import FrameFolderLoader
from distraction.layouts import mmse_frame_files, mmse_physiology_files

__all__ = ["MmseLoader"]


def _read_column(path: Path) -> np.ndarray:
    """One value per line (or all values on one line)."""
    rows = parse_rows(path)
    if not rows:
        raise input_error(path, "file holds no samples")
    if len(rows) == 1:
        return rows[0]
    if any(row.size != 1 for row in rows):
        raise input_error(path, "expected one value per line")
    return np.concatenate(rows)


class MmseLoader(FrameFolderLoader):
    """MMSE-HR: JPG frames per subject/task, physiology text files at 1000 Hz."""

    format = "mmse"
    NOMINAL_FPS = 25.0

    def __init__(
        self,
        name: str,
        root: Path | str,
        *,
        fps: float | None = None,
        ground_truth_rate: float = 1000.0,
    ) -> None:
        super().__init__(name, root, fps=fps)
        self.ground_truth_rate = positive(ground_truth_rate, "ground_truth_rate", self.root)

    def _frames(self, rec: Recording) -> list[tuple[float, Path]]:
        fps = self.frame_rate(rec)
        return [(index / fps, path) for index, path in enumerate(mmse_frame_files(rec.source))]

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """BP waveform (ppg), pulse rate (hr), respiration (resp, br) at 1000 Hz."""
        if rec.ground_truth is None:
            return None
        files = mmse_physiology_files(rec.ground_truth)
        if not files:
            raise input_error(rec.ground_truth, "no physiology files found")
        signals = {key: _read_column(path) for key, path in files.items()}
        n = min(values.size for values in signals.values())
        time = np.arange(n, dtype=np.float64) / self.ground_truth_rate
        return make_ground_truth(
            rec.ground_truth, time, {key: values[:n] for key, values in signals.items()}
        )
