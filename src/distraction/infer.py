"""The network job of one video and task: CAN inference, corruption estimation, denoising.

Each stage reads earlier groups of the video's Zarr store and writes its own group
atomically (:class:`distraction.store.GroupWriter`); the numbers come from
:mod:`distraction.chain` and the networks run on the engine chosen once for the job
(:mod:`distraction.engines`). A video whose earlier stage failed gets the failure passed on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from distraction import chain
from distraction.engines import Network, load_network, predict_can, predict_lstm
from distraction.errors import InputError
from distraction.litert import THREADS
from distraction.masks import HALVES
from distraction.settings import TaskSettings
from distraction.signals import scale_to_unit
from distraction.store import (
    GroupWriter,
    open_group,
    upstream_failure,
    video_of,
    write_failed_group,
)
from distraction.windows import block_bounds

log = logging.getLogger(__name__)

CHANNELS = ("R", "G", "B")
#: The group each network stage writes (``<group>_<task>``).
STAGE_GROUPS: dict[str, str] = {
    "infer-can": "can",
    "corruption": "corruption",
    "denoise": "denoised",
}


#: A network, or a function that loads it: a stage loads its network only once it knows
#: that the video did not fail an earlier stage.
NetworkSource = Network | Callable[[], Network]


def _loaded(network: NetworkSource) -> Network:
    return network() if callable(network) else network


def infer_can(
    store: Path, network: NetworkSource, settings: TaskSettings, *, batch_size: int
) -> dict[str, Any]:
    """Run the CAN over a prepared video; write signal and attention masks to ``can_<task>``.

    Reads and writes one time chunk at a time, so memory does not grow with video length.
    """
    task = settings.task
    if failure := upstream_failure(store, "prepared"):
        write_failed_group(store, f"can_{task}", failure)
        return {"frames": 0, "failed": failure}
    prepared = open_group(store, "prepared")
    n = prepared.sizes["time"]
    chunk = int(prepared["motion"].encoding.get("chunks", (256,))[0])
    network = _loaded(network)
    attrs = {"fps": prepared.attrs["fps"], "task": task, **network.provenance}
    with GroupWriter(store, f"can_{task}", attrs=attrs) as writer:
        writer.coord("time", prepared["time"].values, attrs={"units": "s"})
        signal = writer.create(
            "can_signal",
            ["time"],
            (n,),
            np.float64,
            chunk_len=max(n, 1),
            attrs={"description": "CAN output: derivative of the waveform"},
        )
        mask1 = writer.create(
            "attention_mask",
            ["time", "y34", "x34"],
            (n, 34, 34),
            np.float32,
            chunk_len=chunk,
            attrs={"description": "gate-1 sigmoid mask, before normalisation"},
        )
        mask2 = writer.create(
            "attention_mask2",
            ["time", "y15", "x15"],
            (n, 15, 15),
            np.float32,
            chunk_len=chunk,
            attrs={"description": "gate-2 sigmoid mask, before normalisation"},
        )
        values = np.empty(n)
        for start, stop in tqdm(
            block_bounds(n, chunk), desc=f"CAN {task}", leave=False, mininterval=5
        ):
            m = prepared["motion"][start:stop].values
            a = prepared["appearance"][start:stop].values
            y, g1, g2 = predict_can(network, m, a, batch_size=batch_size)
            values[start:stop] = y
            mask1[start:stop] = g1
            mask2[start:stop] = g2
        signal[:] = values
    return {"frames": n, "engine": network.engine}


def estimate_corruption(store: Path, settings: TaskSettings) -> dict[str, Any]:
    """Inverse masks, corruption traces and the conditioned signals.

    Writes ``corruption_<task>`` holding, at the video rate, the inverse masks (chunked
    (k, 34, 34)) and the R/G/B corruption traces; and, at ``settings.fs_out``, the CAN
    signal and the traces after the paper's conditioning (:func:`distraction.chain.condition`)
    plus the ground truth resampled to that rate.
    """
    task = settings.task
    if failure := upstream_failure(store, f"can_{task}"):
        write_failed_group(store, f"corruption_{task}", failure)
        return {"frames": 0, "samples_out": 0, "failed": failure}
    prepared = open_group(store, "prepared")
    can = open_group(store, f"can_{task}")
    n = prepared.sizes["time"]
    fps = float(prepared.attrs["fps"])
    chunk = int(can["attention_mask"].encoding.get("chunks", (256,))[0])
    times = prepared["time"].values
    traces = np.empty((n, 3))
    regions = None if settings.trace_regions == "whole" else np.empty((n, 12))
    attrs = {
        "fps": fps,
        "fs_out": settings.fs_out,
        "task": task,
        "inverse_mask": settings.inverse_mask,
        "threshold": settings.threshold,
        "trace_regions": settings.trace_regions,
        "band_hz": list(settings.band),
        "detrend_lambda": settings.detrend_lambda,
    }
    with GroupWriter(store, f"corruption_{task}", attrs=attrs) as writer:
        writer.coord("time", times, attrs={"units": "s"})
        writer.coord("channel", list(CHANNELS))
        inverse_array = writer.create(
            "inverse_mask",
            ["time", "y34", "x34"],
            (n, 34, 34),
            np.float32,
            chunk_len=chunk,
            attrs={"mode": settings.inverse_mask, "threshold": settings.threshold},
        )
        for start, stop in block_bounds(n, chunk):
            frames = prepared["frames"][start:stop].values
            inverse, traces[start:stop] = chain.inverse_attention_traces(
                frames, can["attention_mask"][start:stop].values, settings
            )
            inverse_array[start:stop] = inverse
            if regions is not None:
                regions[start:stop] = chain.region_traces(frames, inverse, settings)
        writer.create(
            "corruption_traces",
            ["time", "channel"],
            (n, 3),
            np.float64,
            chunk_len=max(n, 1),
            data=traces,
            attrs={"description": "spatial mean of frame x inverse mask per channel"},
        )
        if regions is not None:
            writer.coord("region_channel", [f"{h}_{c}" for h in HALVES for c in CHANNELS])
            writer.create(
                "region_traces",
                ["time", "region_channel"],
                (n, regions.shape[1]),
                np.float64,
                chunk_len=max(n, 1),
                data=regions,
                attrs={"description": "mean of frame in the inverse mask per half and channel"},
            )
        truth_names = [name for name in (settings.waveform, settings.rate) if name in prepared]
        conditioned = chain.condition(
            can["can_signal"].values,
            traces,
            times,
            fps,
            settings,
            truth={name: prepared[name].values for name in truth_names},
            regions=regions,
        )
        m = len(conditioned.can)
        writer.coord("time_out", conditioned.time_out, attrs={"units": "s", "fs": settings.fs_out})
        writer.create(
            "can_conditioned",
            ["time_out"],
            (m,),
            np.float64,
            chunk_len=max(m, 1),
            data=conditioned.can,
        )
        writer.create(
            "traces_conditioned",
            ["time_out", "channel"],
            (m, 3),
            np.float64,
            chunk_len=max(m, 1),
            data=conditioned.traces,
        )
        if conditioned.regions is not None:
            writer.create(
                "region_traces_conditioned",
                ["time_out", "region_channel"],
                (m, conditioned.regions.shape[1]),
                np.float64,
                chunk_len=max(m, 1),
                data=conditioned.regions,
            )
        for name in truth_names:
            writer.create(
                f"truth_{name}",
                ["time_out"],
                (m,),
                np.float64,
                chunk_len=max(m, 1),
                data=conditioned.truth[name],
            )
    return {"frames": n, "samples_out": m}


def denoise(
    store: Path, network: NetworkSource, settings: TaskSettings, *, batch_size: int
) -> dict[str, Any]:
    """Run the LSTM denoiser over windows of [R, G, B traces, CAN signal] and rebuild one
    continuous waveform by overlap-add; write ``denoised_<task>``.

    With ``settings.cancel_corruption``, what the corruption traces explain linearly is
    first removed from the CAN signal; that signal is stored as ``cancelled`` beside
    ``denoised``. The denoiser must have been trained the same way.
    """
    task = settings.task
    if failure := upstream_failure(store, f"corruption_{task}"):
        write_failed_group(store, f"denoised_{task}", failure)
        return {"windows": 0, "samples_out": 0, "failed": failure}
    corruption = open_group(store, f"corruption_{task}")
    features, cancellation = chain.denoiser_features(
        corruption["can_conditioned"].values,
        corruption["traces_conditioned"].values,
        cancel=settings.cancel_corruption,
        regions_conditioned=chain.stored_regions(corruption),
    )
    m = features.shape[0]
    if m < settings.denoise_window:
        raise InputError(
            f"{store}: {m} samples at {corruption.attrs['fs_out']} Hz is shorter than one "
            f"denoiser window ({settings.denoise_window})"
        )
    network = _loaded(network)
    lstm, n_windows = chain.denoise(
        features, lambda windows: predict_lstm(network, windows, batch_size), settings
    )
    given = features[:, -1]  # the LSTM's own input: the cancelled (or plain) CAN signal
    if settings.denoise_output == "lstm":
        denoised = lstm
    elif settings.denoise_output == "cancelled":
        denoised = scale_to_unit(given, "maxabs")
    else:
        denoised = chain.select_by_quality(
            np.column_stack([given, lstm]), settings, features[:, :-1]
        )
    attrs = {
        "fs_out": corruption.attrs["fs_out"],
        "task": task,
        **network.provenance,
        "window": settings.denoise_window,
        "stride": settings.denoise_stride,
        "overlap": settings.overlap,
        "cancel_corruption": settings.cancel_corruption,
        "output": settings.denoise_output,
        "select_window_s": settings.select_window_s,
    }
    if cancellation is not None:
        attrs["cancelled_variance_fraction"] = cancellation.explained
    with GroupWriter(store, f"denoised_{task}", attrs=attrs) as writer:
        writer.coord("time_out", corruption["time_out"].values, attrs={"units": "s"})
        writer.create(
            "denoised",
            ["time_out"],
            (m,),
            np.float64,
            chunk_len=max(m, 1),
            data=denoised,
            attrs={"description": f"the denoising stage's output ({settings.denoise_output})"},
        )
        writer.create(
            "lstm",
            ["time_out"],
            (m,),
            np.float64,
            chunk_len=max(m, 1),
            data=lstm,
            attrs={"description": "the LSTM denoiser's output"},
        )
        if cancellation is not None:
            writer.create(
                "cancelled",
                ["time_out"],
                (m,),
                np.float64,
                chunk_len=max(m, 1),
                data=cancellation.signal,
                attrs={
                    "description": "conditioned CAN signal minus its least-squares fit on "
                    "the corruption traces and their derivatives (the denoiser's input)"
                },
            )
    summary: dict[str, Any] = {"windows": n_windows, "samples_out": m, "engine": network.engine}
    if cancellation is not None:
        summary["cancelled"] = round(cancellation.explained, 3)
    return summary


def run_stages(
    store: Path,
    settings: TaskSettings,
    stages: list[str],
    *,
    can_model: Path | None = None,
    lstm_model: Path | None = None,
    can_litert: Path | None = None,
    lstm_litert: Path | None = None,
    batch_size: int,
    threads: int = THREADS,
    record_failures: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run network stages of one video in order (``infer-can``, ``corruption``, ``denoise``).

    Each network is loaded just before its stage, on LiteRT (with ``threads`` threads) when
    its export is given, else on TensorFlow. With ``record_failures``, any failure (bad
    input; also a bug or a full disk, whose traceback is logged first) is recorded in the
    stage's group with a one-line reason naming the video, the later stages pass it on, and
    no exception is raised.

    Returns
    -------
    dict
        Each stage's summary (``{"failed": reason}`` for a recorded failure).
    """
    from distraction.failures import recording_failures

    summaries: dict[str, dict[str, Any]] = {}
    for stage in stages:
        if stage not in STAGE_GROUPS:
            raise ValueError(f"stage: expected one of {list(STAGE_GROUPS)}, got {stage!r}")
        group = f"{STAGE_GROUPS[stage]}_{settings.task}"

        def write(failure, group=group, stage=stage):
            # In place of the stage's group: the later stages pass the record on.
            _, identity = video_of(store)
            record = {**failure.attrs(), "failed_stage": stage, **identity}
            write_failed_group(store, group, record)

        with recording_failures(
            stage,
            lambda: video_of(store)[0],
            record=record_failures,
            write=write,
            store=store,
            # The infer job's retry token (the job runs the three stages of one task).
            retry_as=f"infer_{settings.task}",
            output=Path(store) / group,
            strip=str(store),
        ) as failure:
            if stage == "infer-can":
                can = lambda: load_network(can_model, can_litert, "can", threads=threads)  # noqa: E731
                summaries[stage] = infer_can(store, can, settings, batch_size=batch_size)
            elif stage == "corruption":
                summaries[stage] = estimate_corruption(store, settings)
            else:
                lstm = lambda: load_network(lstm_model, lstm_litert, "lstm", threads=threads)  # noqa: E731
                summaries[stage] = denoise(store, lstm, settings, batch_size=batch_size)
        if failure.failed:
            summaries[stage] = {"failed": failure.reason}
    return summaries
