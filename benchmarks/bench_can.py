"""CAN inference speed (frames/s) on this machine, after the model is built and traced.

Builds ``distraction.models.build_can("hr")`` (random initialisation: speed does not depend
on the weights), feeds seeded random 36x36x3 motion/appearance inputs through
``distraction.engines.predict_can`` (signal + both attention masks, as ``infer-can`` does)
and keeps the best of ``--repeats`` timed runs per batch size. Like the ``infer-can`` CLI, op
determinism is enabled first (``configure_devices(seed=None, deterministic=True)``) unless
``--no-deterministic``. With ``--engine litert`` the same network is exported
(``distraction.litert.export_litert``) and run by ``predict_can_litert`` on LiteRT instead.

    python benchmarks/bench_can.py --frames 3000 --batch-sizes 64 256 512 --json can.json
    python benchmarks/bench_can.py --frames 3000 --engine litert
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
from _common import load_average, print_table, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--task", choices=["hr", "br"], default="hr")
    parser.add_argument("--no-deterministic", action="store_true")
    parser.add_argument("--engine", choices=["keras", "litert"], default="keras")
    parser.add_argument("--json")
    args = parser.parse_args()

    import tempfile
    from pathlib import Path

    import numpy as np
    import tensorflow as tf

    from distraction.engines import predict_can
    from distraction.models import build_can, configure_devices, save_model

    started = time.perf_counter()
    device = configure_devices(seed=None, deterministic=not args.no_deterministic)
    model = build_can(args.task)
    if args.engine == "litert":
        from distraction.litert import export_litert, load_litert

        scratch = Path(tempfile.mkdtemp(prefix="bench_can_"))
        export_litert(save_model(model, scratch / "can.keras"), scratch / "can.tflite")
        model, device = load_litert(scratch / "can.tflite"), "CPU (litert)"
    rng = np.random.default_rng(0)
    shape = (args.frames, 36, 36, 3)
    motion = rng.standard_normal(shape, dtype=np.float32)
    appearance = rng.standard_normal(shape, dtype=np.float32)
    # First call traces the tf.function (one trace for every batch size: batch dim is None).
    predict_can(model, motion[:8], appearance[:8], batch_size=8)
    setup_s = time.perf_counter() - started

    rows = []
    for batch in args.batch_sizes:
        predict_can(model, motion[:batch], appearance[:batch], batch_size=batch)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            predict_can(model, motion, appearance, batch_size=batch)
            times.append(time.perf_counter() - t0)
        best = min(times)
        rows.append(
            {
                "batch_size": batch,
                "best_s": best,
                "frames_per_s": args.frames / best,
                "median_frames_per_s": args.frames / sorted(times)[len(times) // 2],
            }
        )
    print(
        f"# device {device}, engine {args.engine}, {args.frames} frames, TF intra/inter threads "
        f"{tf.config.threading.get_intra_op_parallelism_threads()}/"
        f"{tf.config.threading.get_inter_op_parallelism_threads()} (0 = all cores), "
        f"deterministic={not args.no_deterministic}, model build+trace {setup_s:.1f} s, "
        f"load {load_average()}"
    )
    print_table(rows, ["batch_size", "best_s", "frames_per_s", "median_frames_per_s"])
    print("target: >= 500 frames/s")
    write_json(
        args.json,
        {
            "benchmark": "can",
            "device": device,
            "engine": args.engine,
            "frames": args.frames,
            "deterministic": not args.no_deterministic,
            "setup_s": setup_s,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
