"""The ``folder`` format: any folder of videos, every video under the root at any depth::

    root/**/<name>.<avi|mp4|mkv|mov>
    root/**/<name>.csv             optional; the generic format's columns

The recording id is the video's path relative to the root without its extension
(``clip``, ``day1/clip``); the subject is the video's first folder under the root, or the
file name's stem for a video directly in the root (each loose video is its own subject);
the task is the stem. Hidden files and folders are skipped.
"""

from __future__ import annotations

from pathlib import Path

from distraction.datasets.base import Recording
from distraction.datasets.generic import GenericLoader
from distraction.layouts import folder_recording

__all__ = ["FolderLoader"]


class FolderLoader(GenericLoader):
    """Every video under ``root`` at any depth, with an optional CSV of the same stem
    (the generic format's columns, read as the generic loader reads them)."""

    format = "folder"

    def from_video(self, video: Path) -> Recording:
        """The recording of one video file under the root (no scan of the root)."""
        return folder_recording(self.root, video, self.name)
