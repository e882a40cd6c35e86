"""Dataset loaders: stream RGB frames and read ground truth of listed recordings.

Every loader follows the small :class:`DatasetLoader` protocol so the preparation stage can
treat all datasets alike: recordings are listed in a deterministic (natural) order by
:mod:`distraction.layouts` (the one listing of every format, which the workflow also uses
while Snakemake parses), frames are streamed one at a time as ``(timestamp_s, uint8 RGB
(H, W, 3))`` and the ground truth is returned at its own sampling rate with a time axis in
seconds from the first frame. The loaders only read.

One module per format, each describing its layout and where it comes from:
:mod:`~distraction.datasets.generic` (this project's own, also the workflow's synthetic
datasets), :mod:`~distraction.datasets.folder` (any folder of videos),
:mod:`~distraction.datasets.ubfc` (UBFC-rPPG), :mod:`~distraction.datasets.pure` (PURE) and
:mod:`~distraction.datasets.mmse` (MMSE-HR). Shared parts: :mod:`~distraction.datasets.base`
(types, errors, ground-truth checks), :mod:`~distraction.datasets.video` (video files),
:mod:`~distraction.datasets.frames` (folders of frame images) and
:mod:`~distraction.datasets.decoding` (RGB decoding, the decoders' stderr messages counted).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from distraction.datasets.base import DatasetLoader, GroundTruth, Recording, input_error
from distraction.datasets.decoding import DecoderLog, decoder_errors
from distraction.datasets.folder import FolderLoader
from distraction.datasets.generic import GenericLoader
from distraction.datasets.mmse import MmseLoader
from distraction.datasets.pure import PureLoader
from distraction.datasets.ubfc import UbfcLoader
from distraction.layouts import FORMATS

__all__ = [
    "DatasetLoader",
    "DecoderLog",
    "FolderLoader",
    "GenericLoader",
    "GroundTruth",
    "MmseLoader",
    "PureLoader",
    "Recording",
    "UbfcLoader",
    "decoder_errors",
    "get_loader",
]

_LOADERS: dict[str, Callable[..., DatasetLoader]] = {
    "generic": GenericLoader,
    "folder": FolderLoader,
    "ubfc": UbfcLoader,
    "pure": PureLoader,
    "mmse": MmseLoader,
    # The workflow renders synthetic datasets in the generic layout.
    "synth": GenericLoader,
}


def get_loader(fmt: str, name: str, root: Path | str, **options: object) -> DatasetLoader:
    """Build the loader of a dataset.

    Parameters
    ----------
    fmt : str
        One of :data:`distraction.layouts.FORMATS` or ``synth`` (case-insensitive).
    name : str
        The configured dataset name, copied into every :class:`Recording`.
    root : Path or str
        The dataset's root folder.
    **options
        ``fps`` (all formats): nominal frame rate overriding the container's or the dataset's
        documented one; ``ground_truth_rate`` (``mmse``, default 1000 Hz).

    Returns
    -------
    DatasetLoader

    Raises
    ------
    InputError
        Unknown format or option, missing root.
    """
    key = str(fmt).strip().lower()
    if key not in _LOADERS:
        raise input_error(
            root, f"unknown dataset format {fmt!r} (expected one of {', '.join(FORMATS)})"
        )
    try:
        return _LOADERS[key](name, root, **options)
    except TypeError as exc:
        raise input_error(root, f"invalid option for dataset format {key!r}: {exc}") from exc
