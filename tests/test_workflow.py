"""End-to-end: the Snakemake workflow on a tiny synthetic dataset, and incremental reruns."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from distraction.report import WINDOW_COLUMNS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp: Path, **overrides: object) -> Path:
    text = (REPO / "tests" / "data" / "tiny_config.yaml").read_text()
    config = yaml.safe_load(text.replace("RESULTS", str(tmp / "results")))
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_command(tmp: Path, config: Path, *args: str, cores: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp),
        "--configfile",
        str(config),
        "--cores",
        str(cores),
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / "default"),
        *args,
    ]


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    # The rules call the `distraction` console script of this interpreter's environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def snakemake(
    tmp: Path, config: Path, *args: str, cores: int = 2
) -> subprocess.CompletedProcess[str]:
    command = snakemake_command(tmp, config, *args, cores=cores)
    result = subprocess.run(command, capture_output=True, text=True, env=snakemake_env(), cwd=tmp)
    if result.returncode != 0:
        logs = "\n".join(p.read_text()[-2000:] for p in (tmp / "results" / "logs").rglob("*.log"))
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-5000:]}\n{logs}")
    return result


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    table = dry_run_output.split("Job stats:")[-1]
    for line in table.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("workflow")
    config = write_config(tmp)
    # Its terminal output, kept in order as a terminal shows it (unbuffered, one stream).
    result = subprocess.run(
        snakemake_command(tmp, config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**snakemake_env(), "PYTHONUNBUFFERED": "1"},
        cwd=tmp,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    (tmp / "terminal.txt").write_text(result.stdout)
    return tmp


def test_outputs_of_a_full_run(workflow_run: Path) -> None:
    results = workflow_run / "results"
    windows = pd.read_csv(results / "reports" / "windows.csv")
    assert list(windows.columns) == WINDOW_COLUMNS
    # 3 training clips of 25 s and 1 test clip of 35 s: one 30-s window only for the test clip.
    assert set(windows["video"]) == {"s50/flicker"}
    assert set(windows["method"]) == {
        "can",
        "cancelled",
        "lstm",
        "denoised",
        "green",
        "ica",
        "chrom",
        "pos",
    }
    assert windows["true_rate"].between(40, 140).all()
    summary = pd.read_csv(results / "reports" / "summary.csv")
    assert set(summary["method"]) == set(windows["method"])
    # Sliding 30-s windows every 5 s: the 35-s clip has two (from 0 and 5 s).
    assert (summary["windows"] == 2).all()
    store = results / "te" / "stores" / "s50" / "flicker.zarr"
    for group in ("prepared", "can_hr", "corruption_hr", "denoised_hr"):
        ds = xr.open_zarr(store / group, consolidated=False)
        assert ds.attrs["fps"] == 30.0 if group != "denoised_hr" else ds.attrs["fs_out"] == 30.0
    can = xr.open_zarr(store / "can_hr", consolidated=False)
    assert can["attention_mask"].shape[1:] == (34, 34)
    assert can["attention_mask2"].shape[1:] == (15, 15)
    # Masks are chunked along time.
    assert can["attention_mask"].encoding["chunks"][1:] == (34, 34)
    # No GPU here: the networks ran on LiteRT, from the models exported once per network.
    for group, kind in (("can_hr", "can"), ("denoised_hr", "lstm")):
        attrs = xr.open_zarr(store / group, consolidated=False).attrs
        assert attrs["engine"] == "litert"
        assert attrs["litert_model"] == str(results / "models" / f"hr_{kind}.tflite")
    for name in ("can.keras", "can.json", "can_curves.csv", "can_curves.png", "lstm.keras"):
        assert (results / "training" / "hr" / name).exists()
    # Subject-wise 2-fold cross-validation before the final model: each training subject is
    # tested exactly once and never in the fold that trained on it.
    for kind in ("can", "lstm"):
        sidecar = json.loads((results / "training" / "hr" / f"{kind}.json").read_text())
        folds = sidecar["metrics"]["cross_validation"]
        assert len(folds) == 2
        tested = [r for fold in folds for r in fold["test_recordings"]]
        assert sorted(tested) == ["tr/s00/clean", "tr/s01/clean", "tr/s02/clean"]
        assert all(np.isfinite(fold["test_pearson_r"]) for fold in folds)
        assert "te/s50/flicker" not in sidecar["training_recordings"]
    figures = results / "reports" / "figures"
    assert (figures / "te" / "s50" / "flicker.hr.masks.png").stat().st_size > 1000
    # No temporary folders or files are left behind anywhere.
    assert not [p for p in results.rglob("*.tmp")]


def test_a_run_ends_with_its_headline(workflow_run: Path) -> None:
    # The estimates table is the last thing a run prints, after Snakemake's own last lines
    # (the log's path, the run time), so that no log buries it.
    terminal = (workflow_run / "terminal.txt").read_text()
    reports = workflow_run / "results" / "reports"
    headline = terminal[terminal.rindex(f"Estimates per video ({reports / 'estimates.csv'}):") :]
    assert terminal.index("Complete log(s): ") < terminal.index(headline)
    lines = headline.rstrip("\n").splitlines()
    assert lines[-1] == terminal.rstrip("\n").splitlines()[-1]
    # Its rows are estimates.csv's videos (this module's first test reads the same run).
    estimates = pd.read_csv(reports / "estimates.csv", dtype=str)
    videos = [f"{d}/{v}" for d, v in zip(estimates["dataset"], estimates["video"], strict=True)]
    assert [line.split()[0] for line in lines[2 : 2 + len(videos)]] == videos
    assert lines[-1] == f"{len(set(videos))} video(s), none failed."


def test_the_html_report_opens_with_the_estimates(workflow_run: Path) -> None:
    # Its first page is the workflow's description, which starts with estimates.csv's table.
    report = workflow_run / "report.html"
    snakemake(workflow_run, workflow_run / "config.yaml", "--report", str(report))
    html = report.read_text()
    start = html.index("workflow_desc = ") + len("workflow_desc = ")
    first_page = json.loads(html[start : html.index("\n", start)].rstrip(";"))
    estimates = pd.read_csv(workflow_run / "results" / "reports" / "estimates.csv", dtype=str)
    table = first_page[: first_page.index("</table>")]
    assert first_page.index("<table") < first_page.index("distraction measured")
    assert "Estimates per video" in table
    header = ['<th class="head">' + column + "</th>" for column in estimates.columns]
    assert all(cell in table for cell in header)
    assert all(f"<td>{video}</td>" in table for video in estimates["video"])


def test_nothing_to_do_after_a_run(workflow_run: Path) -> None:
    config = workflow_run / "config.yaml"
    result = snakemake(workflow_run, config, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def _interrupt_during_a_store_write(tmp: Path, config: Path, cores: int) -> Path:
    """Start the workflow and SIGKILL it (Snakemake and its jobs) while a job is writing a
    group of a video's Zarr store; return that group's temporary folder."""
    log = (tmp / "killed_run.log").open("w")
    process = subprocess.Popen(
        snakemake_command(tmp, config, cores=cores),
        cwd=tmp,
        env=snakemake_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            # Group folders only: a store's root metadata file is also written through a
            # ``.zarr.json.<uuid>.tmp`` file, which is not a group.
            writing = sorted(
                p
                for p in (tmp / "results").glob("*/stores/*/*.zarr/.*.tmp")
                if not p.name.startswith(".zarr.json.")
            )
            if writing:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return writing[0]
            if process.poll() is not None:
                raise AssertionError("the run ended before a store write could be interrupted")
            time.sleep(0.002)
        raise AssertionError("no store write started within 10 minutes")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_a_killed_run_resumes_to_identical_results(workflow_run: Path, tmp_path: Path) -> None:
    """Kill a run during a Zarr write, resume it, and get byte-identical CSVs.

    The fixture's run used 2 cores; this one uses 1, so equal outputs also show that the core
    count does not change results (TensorFlow's own thread pool is the same in both).
    """
    config = write_config(tmp_path)
    partial = _interrupt_during_a_store_write(tmp_path, config, cores=1)
    group = partial.name.split(".")[1]  # .<group>.<uuid>.tmp
    # Nothing partial under the final name: the interrupted group does not exist yet (unless
    # the write finished in the instant between seeing its folder and the kill). Snakemake
    # creates the folder of the job's output (the group's zarr.json) before the job starts,
    # so an empty folder may stand there; a group is readable only with its zarr.json.
    if partial.exists():
        assert not (partial.parent / group / "zarr.json").exists()
    # After a crash Snakemake's lock stays; --rerun-incomplete is in the profile.
    snakemake(tmp_path, config, "--unlock", cores=1)
    snakemake(tmp_path, config, cores=1)
    assert not list((tmp_path / "results").rglob("*.tmp"))
    assert (partial.parent / group / "zarr.json").exists()
    for dataset in ("tr", "te"):
        for kind in ("eval", "status"):
            expected = sorted((workflow_run / "results" / dataset / kind).rglob("*.csv"))
            assert expected
            for path in expected:
                resumed = tmp_path / path.relative_to(workflow_run)
                assert resumed.read_bytes() == path.read_bytes(), resumed
    store = Path("results/te/stores/s50/flicker.zarr/denoised_hr")
    np.testing.assert_array_equal(
        xr.open_zarr(tmp_path / store, consolidated=False)["denoised"].values,
        xr.open_zarr(workflow_run / store, consolidated=False)["denoised"].values,
    )


def test_adding_a_video_runs_only_its_jobs(workflow_run: Path, tmp_path: Path) -> None:
    shutil.copy(workflow_run / "config.yaml", tmp_path / "unused.yaml")
    config = write_config(workflow_run, datasets__te__synth__subjects=2)
    jobs = planned_jobs(snakemake(workflow_run, config, "-n").stdout)
    per_video = {"synth_video", "prepare", "infer", "evaluate", "timeline_hr"}
    assert jobs == {**dict.fromkeys(per_video, 1), "aggregate": 1, "estimates": 1, "all": 1}


def test_changing_an_evaluation_setting_reruns_only_evaluation(workflow_run: Path) -> None:
    config = write_config(workflow_run, evaluation__hr_window_s=20)
    jobs = planned_jobs(snakemake(workflow_run, config, "-n").stdout)
    # Every video is re-evaluated (4 clips are now long enough for a 20-s window), nothing upstream.
    # The estimates table reads the evaluation's status of each video.
    assert jobs == {"evaluate": 4, "aggregate": 1, "estimates": 1, "all": 1}


def test_bad_videos_are_reported_and_videos_without_truth_are_evaluated(workflow_run: Path) -> None:
    # Spaces, quotes and non-ASCII letters in folder and file names: the rules quote paths.
    root = workflow_run / "own vidéos 'x'"
    subject = "s 01 'ü'"
    (root / subject).mkdir(parents=True)
    (root / "s02").mkdir()
    # A recording without ground truth: the test clip's video alone.
    shutil.copy(
        workflow_run / "results" / "te" / "videos" / "s50" / "flicker.avi",
        root / subject / "rest.avi",
    )
    (root / "s02" / "broken.avi").write_bytes(b"this is not a video" * 200)
    config = write_config(
        workflow_run,
        datasets={
            **yaml.safe_load((workflow_run / "config.yaml").read_text())["datasets"],
            "own": {"format": "generic", "root": str(root)},
        },
    )
    snakemake(workflow_run, config)
    reports = workflow_run / "results" / "reports"
    failures = pd.read_csv(reports / "failures.csv")
    broken = failures[failures["video"] == "s02/broken"].iloc[0]
    assert broken["status"] == "failed" and broken["stage"] == "prepare"
    assert str(root / "s02" / "broken.avi") in broken["reason"]
    windows = pd.read_csv(reports / "windows.csv")
    own = windows[windows["dataset"] == "own"]
    assert set(own["video"]) == {f"{subject}/rest"}
    assert own["est_rate"].notna().all()
    assert own[["true_rate", "snr_db", "waveform_mae"]].isna().all().all()
    # The other datasets' windows are still there.
    assert "te" in set(windows["dataset"])


def test_denoiser_only_datasets_retrain_only_the_denoiser(workflow_run: Path) -> None:
    config = write_config(workflow_run, training__lstm_extra_datasets=["te"])
    jobs = planned_jobs(snakemake(workflow_run, config, "-n").stdout)
    # The LSTM now also trains on te; the CAN's training set is unchanged.
    assert jobs.get("train_lstm") == 1
    assert "train_can" not in jobs and "prepare" not in jobs


def test_a_can_only_dataset_retrains_that_task_s_can_and_denoiser(workflow_run: Path) -> None:
    config = write_config(
        workflow_run,
        training__can_extra_datasets={"hr": ["te"], "br": []},
        training__can_select_by={"hr": "rate", "br": "loss"},
    )
    result = snakemake(workflow_run, config, "-n", "--printshellcmds")
    jobs = planned_jobs(result.stdout)
    assert jobs.get("train_can") == 1 and jobs.get("train_lstm") == 1
    assert "prepare" not in jobs
    # The CAN trains on te's clip as well, and keeps its epoch by validation HR error.
    command = next(line for line in result.stdout.splitlines() if "train-can" in line)
    assert "te/stores/s50/flicker.zarr" in command and '"can_select_by":{"hr":"rate"}' in command
    # Excluding recordings by pattern takes them out of the CAN's training set only.
    config = write_config(
        workflow_run,
        training__can_extra_datasets={"hr": ["te"], "br": []},
        training__can_exclude={"hr": ["te/*/flicker", "tr/s01/*"], "br": []},
    )
    result = snakemake(workflow_run, config, "-n", "--printshellcmds")
    lines = result.stdout.splitlines()
    can = next(line for line in lines if "train-can" in line)
    lstm = next(line for line in lines if "train-lstm" in line)
    assert "flicker" not in can and "tr/stores/s01" not in can and "tr/stores/s00" in can
    assert "te/stores/s50/flicker.zarr" in lstm and "tr/stores/s01" in lstm


def test_switching_off_the_cancellation_retrains_the_denoiser_and_reruns_inference(
    workflow_run: Path,
) -> None:
    config = write_config(workflow_run, denoise__cancel_corruption={"hr": False, "br": False})
    result = snakemake(workflow_run, config, "-n", "--printshellcmds")
    jobs = planned_jobs(result.stdout)
    # The denoiser's inputs change, so it is retrained and every video's network stages
    # rerun (then evaluation); the CAN and the prepared videos are untouched.
    assert jobs.get("train_lstm") == 1 and jobs.get("infer") == 4
    assert "train_can" not in jobs and "prepare" not in jobs
    lines = result.stdout.splitlines()
    for command in ("distraction train-lstm", "distraction infer"):
        line = next(line for line in lines if command in line)
        assert '"cancel_corruption":{"hr":false}' in line


def test_unchanged_model_weights_do_not_trigger_inference(workflow_run: Path) -> None:
    config = write_config(workflow_run)
    model = workflow_run / "results" / "training" / "hr" / "can.keras"
    stat = model.stat()
    os.utime(model, (stat.st_atime + 100, stat.st_mtime + 100))
    jobs = planned_jobs(snakemake(workflow_run, config, "-n").stdout)
    assert "infer" not in jobs and "export_litert" not in jobs


def test_switching_the_engine_reruns_only_the_network_stages(workflow_run: Path) -> None:
    config = write_config(workflow_run, models__engine="keras")
    result = snakemake(workflow_run, config, "-n", "--printshellcmds")
    jobs = planned_jobs(result.stdout)
    # Every video's network job reruns on TensorFlow (then evaluation and reports); nothing
    # is exported, trained or prepared again.
    assert jobs.get("infer") == 4
    assert not {"export_litert", "train_can", "train_lstm", "prepare"} & set(jobs)
    line = next(line for line in result.stdout.splitlines() if "distraction infer" in line)
    assert "--engine=keras" in line and "--can-litert" not in line


def _checkout_copy(destination: Path) -> Path:
    """What a clone holds that the workflow reads: Snakefile, config.yaml, workflow/, envs/,
    src/."""
    destination.mkdir(parents=True)
    shutil.copy2(REPO / "Snakefile", destination / "Snakefile")
    shutil.copy2(REPO / "config.yaml", destination / "config.yaml")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "workflow", destination / "workflow", ignore=ignore)
    shutil.copytree(REPO / "src", destination / "src", ignore=ignore)
    shutil.copytree(REPO / "envs", destination / "envs")
    return destination


def test_a_moved_checkout_plans_nothing_and_its_stores_open_without_warnings(
    tmp_path: Path,
) -> None:
    """Results do not depend on where the checkout lies (the shipped weights are inputs by a
    path relative to the working directory), and each group of a store opens with a plain
    ``xr.open_zarr`` without a warning (consolidated metadata, no .snakemake_timestamp)."""
    checkout = _checkout_copy(tmp_path / "first" / "distraction")
    config = {
        "task": "hr",
        "results": "results",
        "datasets": {
            "demo": {
                "format": "synth",
                "synth": {"first_subject": 50, "subjects": 1, "conditions": ["clean"],
                          "duration_s": 35, "width": 96, "height": 72},
            }
        },
    }  # fmt: skip
    (checkout / "mine.yaml").write_text(yaml.safe_dump(config))

    def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable, "-m", "snakemake", "--snakefile", "Snakefile", "--configfile",
            "mine.yaml", "--cores", "2", "--workflow-profile", "workflow/profiles/default", *args,
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, env=snakemake_env(), cwd=folder
        )
        assert result.returncode == 0, result.stderr[-5000:]
        return result

    run(checkout)
    moved = tmp_path / "elsewhere" / "deeper" / "distraction"
    shutil.copytree(checkout, moved, symlinks=True)
    shutil.rmtree(tmp_path / "first")
    result = run(moved, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]

    store = moved / "results" / "demo" / "stores" / "s50" / "clean.zarr"
    assert not list(store.rglob(".snakemake_timestamp"))
    for group in ("prepared", "can_hr", "corruption_hr", "denoised_hr"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = xr.open_zarr(store / group)
        assert ds.attrs and ds.data_vars


def test_any_failure_of_a_video_reaches_the_report_and_can_fail_the_run(
    workflow_run: Path,
) -> None:
    # A subject folder starting with '-' (carried: the rules pass --option=value), a 2-frame
    # video (passes preparation, then the conditioning's filter raises a ValueError naming
    # no file) and a file that is no video (fails preparation).
    root = workflow_run / "odd"
    shutil.copy(
        workflow_run / "results" / "te" / "videos" / "s50" / "flicker.avi",
        (root / "-s03").mkdir(parents=True) or root / "-s03" / "rest.avi",
    )
    (root / "s04").mkdir()
    writer = cv2.VideoWriter(
        str(root / "s04" / "two.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 30, (48, 40)
    )
    for _ in range(2):
        writer.write(np.full((40, 48, 3), 120, np.uint8))
    writer.release()
    (root / "s05").mkdir()
    (root / "s05" / "broken.avi").write_bytes(b"this is not a video" * 200)
    datasets = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())[
        "datasets"
    ]
    config = write_config(
        workflow_run,
        datasets={**datasets, "odd": {"format": "generic", "root": str(root)}},
        report__max_failed_fraction=0.25,
    )
    command = snakemake_command(workflow_run, config)
    result = subprocess.run(
        command, capture_output=True, text=True, env=snakemake_env(), cwd=workflow_run
    )
    # 2 of 7 videos failed, more than 25 %: the run fails, after every report is written.
    assert result.returncode != 0
    reports = workflow_run / "results" / "reports"
    failures = pd.read_csv(reports / "failures.csv", dtype=str, keep_default_na=False)
    odd = failures[failures["dataset"] == "odd"].set_index("video")
    assert list(odd.index) == ["s04/two", "s05/broken"]
    assert list(odd["subject"]) == ["s04", "s05"] and list(odd["recording_task"]) == [
        "two",
        "broken",
    ]
    assert odd.loc["s05/broken", "stage"] == "prepare"
    for video in odd.index:
        assert odd.loc[video, "reason"].startswith(f"{root / video}.avi: "), odd.loc[video]
    assert "ValueError" in odd.loc["s04/two", "reason"]
    windows = pd.read_csv(reports / "windows.csv", dtype={"video": str})
    assert set(windows[windows["dataset"] == "odd"]["video"]) == {"-s03/rest"}
    assert "te" in set(windows["dataset"])
    logs = workflow_run / "results" / "logs"
    assert (
        "aggregate: 2 of 7 videos failed, 3 skipped (see failures.csv)"
        in (logs / "aggregate.log").read_text()
    )
    check = (logs / "check_failures.log").read_text().strip().splitlines()[-1]
    assert check == (
        f"distraction check-failures: error: {reports / 'failures.csv'}: 2 of 7 videos failed, "
        "more than report.max_failed_fraction 0.25 allows"
    )
    # The bug-like failure's traceback is in its job's log.
    assert "Traceback" in (logs / "odd" / "infer_hr" / "s04" / "two.log").read_text()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("dotdot", "datasets: name '..' must not start with '.'"),
        ("empty_results", "results: must not be empty"),
    ],
)
def test_config_names_that_cannot_be_carried_stop_the_workflow_up_front(
    tmp_path: Path, case: str, expected: str
) -> None:
    datasets = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())[
        "datasets"
    ]
    overrides: dict[str, object] = {}
    if case == "dotdot":
        overrides["datasets"] = {**datasets, "..": {"format": "synth"}}
    else:
        overrides["results"] = ""
    config = write_config(tmp_path, **overrides)
    command = snakemake_command(tmp_path, config, "-n")
    result = subprocess.run(
        command, capture_output=True, text=True, env=snakemake_env(), cwd=tmp_path
    )
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr, result.stdout[-3000:]
    assert not (tmp_path / "results").exists()


def test_the_cross_dataset_example_trains_on_one_layout_and_tests_on_another(
    tmp_path: Path,
) -> None:
    # workflow/configs/pure_to_ubfc.yaml with its roots pointed at tiny fake trees: the plan
    # trains on PURE's recordings only and evaluates UBFC-rPPG's with those networks.
    pure, ubfc = tmp_path / "PURE", tmp_path / "UBFC"
    for name in ("01-01/01-01/Image1.png", "01-02/01-02/Image1.png"):
        (pure / name).parent.mkdir(parents=True, exist_ok=True)
        (pure / name).touch()
    for subject in ("subject1", "subject3"):
        (ubfc / subject).mkdir(parents=True)
        (ubfc / subject / "vid.avi").touch()
    config = yaml.safe_load((REPO / "workflow" / "configs" / "pure_to_ubfc.yaml").read_text())
    config["datasets"]["pure"]["root"] = str(pure)
    config["datasets"]["ubfc"]["root"] = str(ubfc)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, path, "-n", "--printshellcmds")
    jobs = planned_jobs(result.stdout)
    assert jobs["train_can"] == jobs["train_lstm"] == 1
    assert jobs["prepare"] == 4 and jobs["infer"] == 4 and jobs["evaluate"] == 4
    lines = result.stdout.splitlines()
    can = next(line for line in lines if "distraction train-can" in line)
    assert "pure/stores/01-01.zarr" in can and "ubfc/stores" not in can
    infer = [line for line in lines if "distraction infer" in line]
    assert any("ubfc/stores/subject1.zarr" in line for line in infer)
    assert all("pure_to_ubfc/training/hr/can.keras" in line for line in infer)
