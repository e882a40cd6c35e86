"""Split a photo folder's identities into training, validation and test sets.

    python tools/split_faces.py ../shared/faces

Stratified by ``visual_tone`` and ``sex`` of the folder's ``tones.csv``
(:func:`distraction.splits.stratified_split`, 60 / 20 / 20 %, seed 0). Prints each part as
the ``photo_names`` list of a dataset (the lists in ``workflow/configs/faces_*.yaml`` come
from here; ``tests/test_splits.py`` checks that they still do).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from distraction.splits import stratified_split

#: Parts and their fractions of every tone-and-sex group.
FRACTIONS = {"train": 0.6, "validation": 0.2, "test": 0.2}
SEED = 0


def face_split(folder: Path) -> dict[str, list[str]]:
    """The training, validation and test photos of ``folder`` (by its tones.csv)."""
    with (folder / "tones.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return stratified_split(
        [row["file"] for row in rows],
        [f"{row['visual_tone']}/{row['sex']}" for row in rows],
        FRACTIONS,
        SEED,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="photo folder with tones.csv")
    args = parser.parse_args()
    for name, files in face_split(args.folder).items():
        print(f"# {name}: {len(files)} identities")
        print(f"photo_names: [{', '.join(files)}]")


if __name__ == "__main__":
    main()
