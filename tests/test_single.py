"""A lone video run in one process (distraction.single) against the same video through
Snakemake: the same files, the same rates to the sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

#: A demo face (the shipped HR networks were trained on photographed people).
FACE = Path(__file__).resolve().parents[1] / "src/distraction/synth/faces/face_035.jpg"


def test_in_process_run_gives_the_workflows_outputs(tmp_path: Path) -> None:
    from distraction.run import run_job
    from distraction.synth.photo import write_photo_clip

    video = tmp_path / "in" / "clip.avi"
    video.parent.mkdir()
    write_photo_clip(
        FACE, video, tmp_path / "truth.csv", condition="clean", subject_index=2,
        scene="varied", duration_s=12.0, width=240, height=180, seed=2,
    )  # fmt: skip
    outs = {mode: tmp_path / mode for mode in ("single", "workflow")}
    for mode, out in outs.items():
        run_job(video, out, "hr", cores="2", in_process=mode == "single")

    def outputs(out: Path) -> set[str]:
        skip = (".snakemake", "logs", "config.yaml", ".distraction-run.lock")
        return {
            p.relative_to(out).as_posix()
            for p in out.rglob("*")
            if p.is_file()
            and not p.relative_to(out).as_posix().startswith(skip)
            and ".zarr/" not in p.as_posix()
            and p.name != ".snakemake_timestamp"  # Snakemake's mark of a folder output
        }

    assert outputs(outs["single"]) == outputs(outs["workflow"])
    timeline = Path("videos/timeline/hr")
    for name in ("clip.rates.csv", "clip.waveforms.csv", "clip.hrv.csv"):
        single, workflow = (pd.read_csv(out / timeline / name) for out in outs.values())
        pd.testing.assert_frame_equal(single, workflow, check_exact=True)
    rates = pd.read_csv(outs["single"] / timeline / "clip.rates.csv")
    # 10-s windows in 1-s steps over 11.97 s of frame differences; both reliable.
    assert len(rates) == 2 and rates["rate"].notna().all()
    for name in ("estimates.csv", "failures.csv"):
        single, workflow = (pd.read_csv(out / "reports" / name) for out in outs.values())
        pd.testing.assert_frame_equal(single, workflow, check_exact=True)
