"""Candidate HR CANs side by side on a dataset's prepared stores: rates and attention on skin.

    python analysis/can_candidates.py results/train_faces --dataset faces_validation \\
        shipped=src/distraction/weights/hr_can.keras \\
        skin=results/train_faces/training_skin/hr/can.keras

For every store of the dataset, each CAN runs on the stored ``prepared`` group and the chain
runs in memory, as the workflow's jobs run it (:func:`distraction.train.can_chain`, which the
denoiser's training runs too): inverse attention, corruption traces, conditioning and the
linear cancellation. Prints, per condition and CAN, the HR MAE of the CAN's signal and of the
cancellation (30-s windows, scored as the evaluate job scores them), and the gate-1 attention
on skin over background of the clean clips (the renderer's skin map, as in
``analysis/attention_on_skin.py``). Nothing is written; recipes are chosen from this table on
validation identities only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import window_errors


def score(store: Path, model, settings) -> dict:
    from distraction.masks import skin_attention_ratio
    from distraction.store import open_group
    from distraction.train import can_chain, rendered_skin_cover

    prepared = open_group(store, "prepared")
    truth = (settings.waveform, settings.rate)
    mask1, conditioned, features = can_chain(prepared, model, settings, truth=truth)
    wave, rates = (conditioned.truth[name] for name in truth)

    def mae(signal: np.ndarray) -> float:
        return float(np.mean(window_errors(signal, wave, rates, settings.fs_out, settings)))

    return {
        "can": mae(conditioned.can),
        "cancelled": mae(features[:, -1]),
        "skin_ratio": skin_attention_ratio(mask1, rendered_skin_cover(store)),
    }


def main() -> None:
    from distraction.models import load_model
    from distraction.settings import task_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results root holding the dataset's stores")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("models", nargs="+", help="label=path of each candidate .keras CAN")
    args = parser.parse_args()
    settings = task_settings("hr")
    stores = sorted((args.results / args.dataset / "stores").glob("*/*.zarr"))
    if not stores:
        raise SystemExit(f"{args.results / args.dataset}: no stores")
    rows = []
    for item in args.models:
        label, _, path = item.partition("=")
        model = load_model(path)
        for store in stores:
            rows.append(
                {"can_model": label, "condition": store.stem, "subject": store.parent.name}
                | score(store, model, settings)
            )
            print(f"# {label} {store.parent.name}/{store.stem}", flush=True)
    table = pd.DataFrame(rows)
    means = table.groupby(["condition", "can_model"])[["can", "cancelled"]].mean().unstack()
    print(means.to_markdown(floatfmt=".2f"))
    clean = table[table["condition"] == "clean"].pivot(
        index="subject", columns="can_model", values="skin_ratio"
    )
    print(clean.to_markdown(floatfmt=".2f"))
    print("clean clips with skin/background >= 2:", (clean >= 2).sum().to_dict())


if __name__ == "__main__":
    main()
