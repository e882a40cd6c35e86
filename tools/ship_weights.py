"""Copy networks trained by the workflow into the package as its shipped weights.

    python tools/ship_weights.py results/train_synth/training src/distraction/weights

For each task folder (hr, br) of the training output, loads can.keras and lstm.keras in safe
mode, saves them without optimizer state as <task>_can.keras / <task>_lstm.keras, copies
their provenance sidecars as <task>_can.json / <task>_lstm.json, and exports each for the
litert engine as <task>_<kind>.tflite (+ .tflite.json), so the workflow needs no export job
for the shipped networks.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from distraction.litert import export_litert
from distraction.models import load_model, save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("training", type=Path, help="<results>/training of a training run")
    parser.add_argument("weights", type=Path, help="destination, src/distraction/weights")
    args = parser.parse_args()
    for task_dir in sorted(p for p in args.training.iterdir() if p.is_dir()):
        for kind in ("can", "lstm"):
            model_path = task_dir / f"{kind}.keras"
            if not model_path.exists():
                continue
            target = args.weights / f"{task_dir.name}_{kind}.keras"
            save_model(load_model(model_path), target)
            shutil.copyfile(task_dir / f"{kind}.json", target.with_suffix(".json"))
            export_litert(target, target.with_suffix(".tflite"))
            metrics = json.loads((task_dir / f"{kind}.json").read_text())["metrics"]
            print(f"{target}: {target.stat().st_size / 1e6:.2f} MB, metrics {metrics}")


if __name__ == "__main__":
    main()
