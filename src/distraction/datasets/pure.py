"""The ``pure`` format: PURE (Stricker et al., Ro-Man 2014).

Two layouts are in use and both are accepted: the nested one of rPPG-Toolbox
(``dataset/data_loader/PURELoader.py``) and of the raw release as described in public cache
specs (frames ``Image1392643993642815000.png``: capture time in epoch ns; a stray
``Thumbs.db``; ``06-02`` empty in the public release)::

    root/<NN-MM>/<NN-MM>/Image<timestamp_ns>.png
    root/<NN-MM>/<NN-MM>.json

and the flat one of pyVHR (``pyVHR/datasets/pure.py``)::

    root/<NN-MM>/Image<timestamp_ns>.png
    root/<NN-MM>.json

The JSON holds ``"/FullPackage"`` records (``Timestamp`` in epoch ns, ``Value`` with
``waveform``, ``pulseRate``, ``o2saturation``, ...; pulse oximeter at about 60 Hz) and
``"/Image"`` records (``Timestamp`` per frame, equal to the file-name timestamps). Frame times
come from the file names, relative to the first frame; the oximeter samples are put on the
same clock (so the first one may be slightly negative). ``waveform`` -> ppg,
``pulseRate`` -> hr. Subject = NN, task = MM, recording id ``NN-MM``. Folders without frames
are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distraction.datasets.base import (
    GroundTruth,
    Recording,
    increasing_mask,
    input_error,
    make_ground_truth,
    read_text,
)
from distraction.datasets.frames import FrameFolderLoader
from distraction.layouts import pure_frame_files

__all__ = ["PureLoader"]


class PureLoader(FrameFolderLoader):
    """PURE: ``Image<ns>.png`` frames with a ``<NN-MM>.json`` (nested or flat layout)."""

    format = "pure"
    NOMINAL_FPS = 30.0

    def _frames(self, rec: Recording) -> list[tuple[float, Path]]:
        files = pure_frame_files(rec.source)
        if not files:
            return []
        first = files[0][0]
        # Integer ns differences first: epoch ns do not fit a float64 exactly.
        return [((ns - first) / 1e9, path) for ns, path in files]

    def _first_frame_ns(self, rec: Recording, package: dict) -> int:
        files = pure_frame_files(rec.source)
        if files:
            return files[0][0]
        images = package.get("/Image")
        try:
            return min(int(entry["Timestamp"]) for entry in images)
        except (TypeError, KeyError, ValueError) as exc:
            raise input_error(rec.ground_truth or rec.source, "no frame timestamps") from exc

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """``/FullPackage`` waveform (ppg) and pulseRate (hr) on the frames' clock."""
        if rec.ground_truth is None:
            return None
        path = rec.ground_truth
        try:
            package = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise input_error(path, f"invalid JSON (line {exc.lineno})") from exc
        if not isinstance(package, dict) or not isinstance(package.get("/FullPackage"), list):
            raise input_error(path, "missing '/FullPackage' list")
        entries = package["/FullPackage"]
        if not entries:
            raise input_error(path, "'/FullPackage' is empty")
        try:
            stamps = np.array([int(e["Timestamp"]) for e in entries], dtype=np.int64)
            waveform = np.array([float(e["Value"]["waveform"]) for e in entries])
            pulse = np.array([float(e["Value"]["pulseRate"]) for e in entries])
        except (KeyError, TypeError, ValueError) as exc:
            raise input_error(
                path, "'/FullPackage' entries need Timestamp and Value.waveform/pulseRate"
            ) from exc
        first = self._first_frame_ns(rec, package)
        time = (stamps - first) / 1e9
        keep = increasing_mask(time)
        return make_ground_truth(path, time[keep], {"ppg": waveform[keep], "hr": pulse[keep]})
