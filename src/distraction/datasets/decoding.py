"""Decoding frames: images as RGB, and the decoders' stderr messages counted.

Images are read with ``cv2.imdecode`` on the file's bytes so that any path (spaces,
quotes, non-ASCII) works, and converted from OpenCV's BGR to RGB. Decoders conceal corrupt
data and only say so on stderr: :func:`decoder_errors` captures and counts those messages
while frames are decoded.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from distraction.datasets.base import input_error

__all__ = ["DecoderLog", "decoder_errors", "read_image_rgb", "rgb"]


def rgb(bgr: np.ndarray | None, path: Path) -> np.ndarray:
    """A decoded BGR image as contiguous uint8 RGB (a one-line error when none was decoded)."""
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise input_error(path, "cannot decode image")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def read_image_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB; via the bytes so that any path works."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise input_error(path, f"cannot read image ({exc.strerror or exc})") from exc
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return rgb(bgr, path)


# A decoder's report on stderr: FFmpeg's "[mjpeg @ 0x55...] ..." and libjpeg's warnings
# (OpenCV's image decoder prints those for corrupt JPEG files and still returns an image).
_DECODER_LINE = re.compile(
    rb"^(\[[^\]@]+ @ 0x[0-9a-fA-F]+\] |Corrupt JPEG data|Premature end of JPEG file)"
)


@dataclass
class DecoderLog:
    """Decoder messages seen while frames were decoded: their number and the first one."""

    count: int = 0
    first: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sync: Callable[[], None] | None = field(default=None, repr=False)

    def sync(self) -> None:
        """Wait until every message written so far is counted (the capture reads them in
        a thread); after the capture has ended the count is final anyway."""
        if self._sync is not None:
            self._sync()

    def add(self, line: bytes) -> None:
        with self._lock:
            if self.count == 0:
                self.first = line.decode("utf-8", "replace").strip()
            self.count += 1

    def summary(self) -> str:
        """One line: how many messages and the first one ('' when none)."""
        if not self.count:
            return ""
        first = re.sub(r" @ 0x[0-9a-fA-F]+\]", "]", " ".join(self.first.split()))[:120]
        return f"decoder reported {self.count} errors (corrupt frame data), first: {first}"


_capture_lock = threading.Lock()
_active_log: DecoderLog | None = None


@contextlib.contextmanager
def decoder_errors() -> Iterator[DecoderLog]:
    """Capture the decoders' stderr messages while the block runs, and count them.

    OpenCV's FFmpeg and libjpeg write straight to file descriptor 2 and conceal corrupt
    data (a corrupt MJPEG frame still decodes), so the descriptor is pointed at a pipe;
    decoder lines are counted and dropped (thousands for a corrupt file), every other
    line goes on to the real stderr as it comes. Process-wide: a nested use shares the
    outer capture.
    """
    global _active_log
    with _capture_lock:
        outer = _active_log
        if outer is None:
            log = _active_log = DecoderLog()
    if outer is not None:
        yield outer
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    marker = f"\x00distraction-sync-{os.getpid()}-{id(log)}\n".encode()
    synced = threading.Condition()
    seen = [0]

    def sync() -> None:
        with synced:
            target = seen[0] + 1
            os.write(2, marker)
            synced.wait_for(lambda: seen[0] >= target, timeout=10)

    log._sync = sync

    def forward(piece: bytes) -> None:
        try:
            os.write(saved, piece)
        except OSError:  # the real stderr is gone: keep draining the pipe regardless
            pass

    def pump() -> None:
        pending = b""
        with open(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                # Split after every newline or carriage return (progress bars use \r).
                pieces = re.split(rb"(?<=[\r\n])", pending)
                pending = pieces.pop()
                for piece in pieces:
                    if piece == marker:
                        with synced:
                            seen[0] += 1
                            synced.notify_all()
                    elif _DECODER_LINE.match(piece):
                        log.add(piece)
                    else:
                        forward(piece)
        if pending:
            if _DECODER_LINE.match(pending):
                log.add(pending)
            else:
                forward(pending)

    thread = threading.Thread(target=pump, daemon=True, name="stderr")
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield log
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        thread.join()
        log._sync = None
        os.close(saved)
        with _capture_lock:
            _active_log = None
