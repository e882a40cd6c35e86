"""Record the face box of each photo the renderer animates, so renders do not depend on OpenCV.

    python tools/record_photo_faces.py ../shared/faces/*.jpg src/distraction/synth/faces/*.jpg \\
        --out src/distraction/synth/photo_faces.csv

Runs OpenCV's frontal-face Haar cascade (:func:`distraction.facetrack.detect_faces`, the
largest face of the whole photo: the box the renderer used on OpenCV 4) and writes one row per
distinct photo file: its name, SHA-256 and box. Needs an OpenCV that ships the cascade
(OpenCV 4 wheels); OpenCV 5 wheels ship none, and would detect with BlazeFace instead, which
places faces differently (the reason for the table).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import cv2


def main() -> None:
    from distraction.atomic import write_text
    from distraction.blazeface import BlazeFace
    from distraction.facetrack import detect_faces, face_detector
    from distraction.files import file_sha256
    from distraction.synth.photo import read_photo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    detector = face_detector()
    if isinstance(detector, BlazeFace):
        raise SystemExit(f"OpenCV {cv2.__version__} ships no Haar cascade: run with OpenCV 4")
    rows = {}
    for path in args.photos:
        faces = detect_faces(detector, read_photo(path))
        if len(faces) == 0:
            raise SystemExit(f"{path}: no frontal face found")
        x, y, w, h = (repr(float(v)) for v in faces[0][:4])
        rows.setdefault(file_sha256(path), (path.name, x, y, w, h))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["photo", "sha256", "x", "y", "w", "h"])
    for sha256, (name, x, y, w, h) in sorted(rows.items(), key=lambda item: item[1][0]):
        writer.writerow([name, sha256, x, y, w, h])
    write_text(args.out, text.getvalue())
    print(f"{args.out}: {len(rows)} photos (OpenCV {cv2.__version__})")


if __name__ == "__main__":
    main()
