"""How much more the shipped (or any trained) CANs attend to skin than to the rest of the frame.

For every recording of a synthetic dataset in a finished workflow run, reads the gate-1
attention masks of ``can_<task>`` and the clip's skin map on the same grid
(:func:`distraction.train.rendered_skin_cover`: ``videos/sNNN/<condition>.skin.png``, written by
``distraction synth``, cropped as the first frame was: the cover the skin loss trains on), and
prints ``distraction.masks.skin_attention_ratio`` per recording and task (target: > 2 for HR).

    python analysis/attention_on_skin.py results/train_synth --dataset synth_validation
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _common import print_table


def main(argv: list[str] | None = None) -> int:
    from distraction.masks import skin_attention_ratio
    from distraction.store import open_group
    from distraction.train import rendered_skin_cover

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the run's results folder")
    parser.add_argument("--dataset", default="synth_validation")
    parser.add_argument("--condition", default="clean")
    parser.add_argument("--target", type=float, default=2.0, help="ratio the HR CAN must pass")
    args = parser.parse_args(argv)
    stores = sorted((args.results / args.dataset / "stores").glob(f"*/{args.condition}.zarr"))
    if not stores:
        raise SystemExit(f"{args.results / args.dataset}: no stores of condition {args.condition}")
    rows = []
    for store in stores:
        subject = store.parent.name
        # The skin cover the CAN's skin loss is trained against (the crop of the first frame).
        cover = rendered_skin_cover(store)
        row: dict = {"recording": f"{subject}/{args.condition}"}
        for task in ("hr", "br"):
            if (store / f"can_{task}").is_dir():
                masks = open_group(store, f"can_{task}")["attention_mask"].values
                row[task] = skin_attention_ratio(masks, cover)
        rows.append(row)
    tasks = [t for t in ("hr", "br") if any(t in r for r in rows)]
    rows.append(
        {"recording": "mean", **{t: float(np.nanmean([r[t] for r in rows])) for t in tasks}}
    )
    print_table(rows, ["recording", *tasks])
    if "hr" in tasks:
        low = [r["recording"] for r in rows[:-1] if not r["hr"] > args.target]
        print(
            f"HR CAN skin/background > {args.target:g} on {len(rows) - 1 - len(low)} of "
            f"{len(rows) - 1} recordings" + (f" (not: {', '.join(low)})" if low else "")
        )
        return 1 if low else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
