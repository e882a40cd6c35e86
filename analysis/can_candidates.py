"""Candidate HR CANs side by side on a dataset's prepared stores: rates and attention on skin.

    python analysis/can_candidates.py results/train_faces --dataset faces_validation \\
        shipped=src/distraction/weights/hr_can.keras \\
        skin=results/train_faces/training_skin/hr/can.keras

For every store of the dataset, each CAN runs on the stored ``prepared`` group and the chain
runs in memory, as the workflow's jobs run it (:func:`distraction.train.lstm_example_from_can`
does the same for training): inverse attention, corruption traces, conditioning and the
linear cancellation. Prints, per condition and CAN, the HR MAE of the CAN's signal and of the
cancellation (30-s windows, scored as the evaluate job scores them), and the gate-1 attention
on skin over background of the clean clips (the renderer's skin map, as in
``analysis/attention_on_skin.py``). Nothing is written; recipes are chosen from this table on
validation identities only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from _common import rate_errors


class _Truth(dict):
    """A ``corruption_<task>``-like mapping of conditioned truth for :func:`rate_errors`."""

    def __init__(self, truth: dict, fs_out: float) -> None:
        super().__init__({f"truth_{k}": _Values(v) for k, v in truth.items()})
        self.attrs = {"fs_out": fs_out}


class _Values:
    def __init__(self, values: np.ndarray) -> None:
        self.values = values


def score(store: Path, model, settings) -> dict:
    from distraction import chain
    from distraction.engines import predict_can
    from distraction.masks import skin_attention_ratio, skin_cover
    from distraction.store import open_group
    from distraction.train import skin_map_of

    prepared = open_group(store, "prepared")
    signal, mask1, _ = predict_can(
        model, prepared["motion"].values, prepared["appearance"].values, 256
    )
    frames = prepared["frames"].values
    inverse, traces = chain.inverse_attention_traces(frames, mask1, settings)
    conditioned = chain.condition(
        signal,
        traces,
        prepared["time"].values,
        float(prepared.attrs["fps"]),
        settings,
        truth={name: prepared[name].values for name in (settings.waveform, settings.rate)},
        regions=chain.region_traces(frames, inverse, settings),
    )
    features, _ = chain.denoiser_features(
        conditioned.can,
        conditioned.traces,
        cancel=True,
        regions_conditioned=conditioned.regions,
    )
    truth = _Truth(conditioned.truth, settings.fs_out)
    skin = cv2.imread(str(skin_map_of(store)), cv2.IMREAD_GRAYSCALE)
    box = tuple(int(v) for v in prepared["crop_box"].values[0])
    return {
        "can": float(np.mean(rate_errors(conditioned.can, truth, settings))),
        "cancelled": float(np.mean(rate_errors(features[:, -1], truth, settings))),
        "skin_ratio": skin_attention_ratio(mask1, skin_cover(skin, box, mask1.shape[-1])),
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
