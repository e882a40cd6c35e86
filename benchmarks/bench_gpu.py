"""The networks on TensorFlow-GPU: CAN frames/s and LSTM windows/s, where a GPU is visible.

The shipped HR networks (``src/distraction/weights/hr_can.keras``, ``hr_lstm.keras``) are
loaded on the keras engine as the ``infer`` job loads them there
(:func:`distraction.engines.load_network` after
``configure_devices(seed=None, deterministic=True)``, so with TensorFlow's op determinism,
as the workflow runs them), and run through :func:`distraction.engines.predict_can` on
``--frames`` seeded random 36x36x3 motion/appearance inputs (signal and both attention
masks, at each of ``--batch-sizes``) and :func:`~distraction.engines.predict_lstm` on
``--windows`` random 60-sample windows of the denoiser's input; best of ``--repeats`` timed
runs after one untimed warm-up (tracing, GPU memory). The outputs are compared with the
same networks' LiteRT exports on the CPU (the default engine there), as a check that the
GPU computes the same networks.

Without TensorFlow (the ``gpu`` extra: ``pip install 'distraction[gpu]'``) or without a GPU
visible to it, the script says so and exits 0, measuring nothing (``--json`` records why);
``--on-cpu`` measures on TensorFlow's CPU instead (a check of the script where no GPU is).

    python benchmarks/bench_gpu.py --frames 20000 --batch-sizes 256 1024 4096 --json gpu.json
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import REPO, load_average, print_table, write_json

WEIGHTS = REPO / "src" / "distraction" / "weights"


def skip_reason() -> str | None:
    """Why nothing can be measured here, or None when TensorFlow sees a GPU."""
    try:
        import tensorflow as tf
    except ImportError:
        return "TensorFlow is not installed (the gpu extra: pip install 'distraction[gpu]')"
    if not tf.config.list_physical_devices("GPU"):
        return "no GPU is visible to TensorFlow"
    return None


def best_seconds(run, repeats: int) -> float:
    run()  # warm-up: tracing and the GPU's memory
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--windows", type=int, default=2000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument(
        "--on-cpu", action="store_true", help="measure on TensorFlow's CPU (checks the script)"
    )
    args = parser.parse_args()

    if not args.on_cpu and (reason := skip_reason()):
        print(f"bench_gpu: skipped: {reason}")
        write_json(args.json, {"benchmark": "gpu", "skipped": reason})
        return

    import numpy as np
    import tensorflow as tf

    from distraction.engines import load_network, predict_can, predict_lstm
    from distraction.models import configure_devices

    device = configure_devices(seed=None, deterministic=True)
    gpus = tf.config.list_physical_devices("GPU")
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else None
    name = name or (gpus[0].name if gpus else "CPU")
    print(f"# {device}: {name}; load {load_average()}")
    can = load_network(WEIGHTS / "hr_can.keras", None, "can")
    lstm = load_network(WEIGHTS / "hr_lstm.keras", None, "lstm")
    rng = np.random.default_rng(0)
    size = can.input_shapes()[0]
    motion = rng.standard_normal((args.frames, *size)).astype(np.float32)
    appearance = rng.standard_normal((args.frames, *size)).astype(np.float32)
    windows = rng.standard_normal((args.windows, *lstm.input_shapes()[0])).astype(np.float32)

    rows = []
    for batch in args.batch_sizes:
        seconds = best_seconds(
            lambda batch=batch: predict_can(can, motion, appearance, batch), args.repeats
        )
        rows.append(
            {"network": "CAN", "batch": batch, "items": args.frames, "seconds": seconds,
             "per_s": args.frames / seconds, "unit": "frames"}
        )  # fmt: skip
        print(f"# CAN batch {batch}: {args.frames / seconds:.0f} frames/s", flush=True)
    for batch in args.batch_sizes:
        seconds = best_seconds(lambda batch=batch: predict_lstm(lstm, windows, batch), args.repeats)
        rows.append(
            {"network": "LSTM", "batch": batch, "items": args.windows, "seconds": seconds,
             "per_s": args.windows / seconds, "unit": "windows"}
        )  # fmt: skip
    print_table(rows, ["network", "batch", "items", "seconds", "per_s", "unit"])

    # The same networks on LiteRT (CPU): the GPU must compute the same outputs.
    can_cpu = load_network(WEIGHTS / "hr_can.keras", WEIGHTS / "hr_can.tflite", "can")
    lstm_cpu = load_network(WEIGHTS / "hr_lstm.keras", WEIGHTS / "hr_lstm.tflite", "lstm")
    check = slice(0, min(args.frames, 1024))
    gpu_signal = predict_can(can, motion[check], appearance[check], 256)[0]
    cpu_signal = predict_can(can_cpu, motion[check], appearance[check], 256)[0]
    gpu_lstm = predict_lstm(lstm, windows[:256], 256)
    cpu_lstm = predict_lstm(lstm_cpu, windows[:256], 256)
    difference = {
        "can_signal_max_abs": float(np.abs(gpu_signal - cpu_signal).max()),
        "lstm_max_abs": float(np.abs(gpu_lstm - cpu_lstm).max()),
    }
    print(f"{device} (keras) vs LiteRT on the CPU, largest difference: {difference}")
    write_json(
        args.json,
        {
            "benchmark": "gpu",
            "device": name,
            "tensorflow": tf.__version__,
            "python": sys.version.split()[0],
            "runs": rows,
            "gpu_vs_litert_cpu": difference,
        },
    )


if __name__ == "__main__":
    main()
