"""Any failure of one video, not only bad input, becomes a recorded failure: one line naming
the video and the problem, passed on by the later stages, listed by the aggregate (which
also says how many videos failed, and fails on request after writing its reports)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pandas as pd
import pytest
from test_validation import write_video

from distraction.cli import main
from distraction.store import open_group

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"
GROUPS = ("can_hr", "corruption_hr", "denoised_hr")


def _prepare(root: Path, recording: str, store: Path) -> None:
    # Plain frames hold no face: the centre square, not the tracked face.
    args = ["prepare", "--format=generic", f"--root={root}", "--dataset=d", "--crop=centre"]
    assert main([*args, f"--recording={recording}", f"--store={store}", "--record-failures"]) == 0


def _infer(store: Path) -> None:
    args = ["infer", f"--store={store}", "--task=hr", "--engine=keras", "--record-failures"]
    args += [f"--can-model={WEIGHTS / 'hr_can.keras'}", f"--lstm-model={WEIGHTS / 'hr_lstm.keras'}"]
    assert main(args) == 0


def _evaluate(store: Path, tmp_path: Path, name: str) -> pd.Series:
    status = tmp_path / f"{name}.status.csv"
    args = ["evaluate", f"--store={store}", "--task=hr", f"--output={tmp_path / name}.csv"]
    assert main([*args, f"--status={status}", "--record-failures"]) == 0
    return pd.read_csv(status, dtype=str, keep_default_na=False).iloc[0]


def test_a_two_frame_video_is_a_recorded_failure_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Two frames pass preparation (one frame difference), then the conditioning's filter
    # refuses the 1-sample signal with a ValueError naming no file: a bug-like exception,
    # which is recorded (traceback in the log) instead of crashing the job.
    root = tmp_path / "videos"
    write_video(root / "-s01" / "short.avi", 2)
    store = tmp_path / "store.zarr"
    _prepare(root, "-s01/short", store)
    with caplog.at_level(logging.ERROR):
        _infer(store)
    assert "Traceback" in caplog.text and "ValueError" in caplog.text
    video = str(root / "-s01" / "short.avi")
    assert "failed" not in open_group(store, "can_hr").attrs  # the CAN runs on one frame
    for group in GROUPS[1:]:
        attrs = open_group(store, group).attrs
        assert attrs["failed"].startswith(f"{video}: ValueError: ")
        assert "\n" not in attrs["failed"] and attrs["failed_stage"] == "corruption"
    status = _evaluate(store, tmp_path, "short")
    assert (status["status"], status["stage"], status["subject"]) == (
        "failed",
        "corruption",
        "-s01",
    )
    assert status["recording_task"] == "short" and status["reason"].startswith(video)
    # Not bad input: transient, retried by the next run of the same command.
    assert (status["kind"], status["retry"]) == (
        "transient",
        "the next run of the same command retries it",
    )
    # The aggregate lists it and says so in one line; with a maximum fraction of failed
    # videos it exits non-zero, but only after writing every report.
    outdir = tmp_path / "reports"
    statuses = [tmp_path / "short.status.csv"]
    aggregate = ["aggregate", f"--outdir={outdir}", "--inputs", str(tmp_path / "short.csv")]
    aggregate += ["--statuses", *map(str, statuses)]
    with caplog.at_level(logging.INFO):
        assert main(aggregate) == 0
    assert "aggregate: 1 of 1 videos failed (see failures.csv)" in caplog.text
    failures = pd.read_csv(outdir / "failures.csv", dtype=str)
    assert list(failures["video"]) == ["-s01/short"] and video in failures["reason"][0]
    assert list(failures.columns[-3:]) == ["reason", "kind", "retry"]
    assert failures["kind"][0] == "transient"
    (outdir / "summary.csv").unlink()
    assert main([*aggregate, "--max-failed-fraction=0.5"]) == 2
    assert (outdir / "summary.csv").exists()
    check = ["check-failures", f"--failures={outdir / 'failures.csv'}", "--statuses"]
    check += [*map(str, statuses), f"--output={tmp_path / 'check.txt'}"]
    assert main([*check, "--max-failed-fraction=1"]) == 0
    assert main([*check, "--max-failed-fraction=0.5"]) == 2


def test_a_full_disk_in_a_network_stage_names_the_video(
    prepared_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import shutil

    from distraction import chain

    store = tmp_path / "full.zarr"
    shutil.copytree(prepared_store, store)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(chain, "inverse_attention_traces", full_disk)
    _infer(store)
    source = open_group(store, "prepared").attrs["source"]
    reason = open_group(store, "denoised_hr").attrs["failed"]
    assert reason == f"{source}: OSError: [Errno 28] No space left on device"
    assert str(store) not in reason
    assert _evaluate(store, tmp_path, "full")["reason"] == reason


def test_evaluation_failure_is_a_failed_status_row(
    prepared_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from distraction import evaluate

    store = tmp_path / "eval.zarr"
    shutil.copytree(prepared_store, store)
    _infer(store)
    monkeypatch.setattr(evaluate, "method_signals", lambda *a: 1 / 0)
    status = _evaluate(store, tmp_path, "eval")
    assert (status["status"], status["stage"], status["subject"]) == ("failed", "evaluate", "s01")
    source = open_group(store, "prepared").attrs["source"]
    assert status["reason"] == f"{source}: ZeroDivisionError: division by zero"
    assert status["kind"] == "transient" and "next run" in status["retry"]
    assert pd.read_csv(tmp_path / "eval.csv").empty


def test_a_failed_preparation_records_subject_and_task(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    (root / "s02").mkdir(parents=True)
    (root / "s02" / "broken.avi").write_bytes(b"not a video" * 100)
    # Found by its loader: identity from the loader; not found: from the recording id.
    for recording, name in (("s02/broken", "broken"), ("s09/gone", "gone")):
        store = tmp_path / f"{name}.zarr"
        _prepare(root, recording, store)
        status = _evaluate(store, tmp_path, name)
        assert status["status"] == "failed" and status["stage"] == "prepare"
        assert (status["subject"], status["recording_task"]) == tuple(recording.split("/"))
        # An undecodable video stays failed until it is fixed; a missing one may come back.
        kind = "bad input" if name == "broken" else "transient"
        assert status["kind"] == kind, status["reason"]
        if kind == "bad input":
            assert status["retry"].startswith("fix the input, then remove ")
            assert "a rerun alone keeps this record" in status["retry"]
    assert (
        str(root / "s02" / "broken.avi")
        in _evaluate(tmp_path / "broken.zarr", tmp_path, "b")["reason"]
    )
    assert "gone" in status["reason"]


# --- The one failure policy (distraction.failures) ----------------------------------------


def _policy(tmp_path: Path, exc: Exception, *, record: bool = True, inputs=()):
    from distraction.failures import recording_failures

    written = []
    with recording_failures(
        "prepare", "d/s01/a", record=record, write=written.append, store=tmp_path / "s.zarr"
    ) as failure:
        failure.inputs += list(inputs)
        raise exc
    return failure, written


def test_bad_input_is_recorded_without_a_retry_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from distraction.errors import InputError
    from distraction.failures import retry_token

    with caplog.at_level(logging.INFO):
        failure, written = _policy(tmp_path, InputError("a.avi: truncated"))
    assert written == [failure] and failure.reason == "d/s01/a: a.avi: truncated"
    assert failure.kind == "bad input" and "remove the record" in failure.advice
    assert "Traceback" not in caplog.text and "prepare FAILED (bad input" in caplog.text
    assert retry_token(tmp_path / "s.zarr", "prepare") == ""


def test_a_transient_failure_renews_the_retry_token_and_logs_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from distraction.failures import retry_token

    store = tmp_path / "s.zarr"
    tokens = []
    for _ in range(2):
        with caplog.at_level(logging.INFO):
            failure, _ = _policy(tmp_path, OSError(errno.ENOSPC, "No space left on device"))
        assert failure.kind == "transient"
        assert failure.reason == "d/s01/a: OSError: [Errno 28] No space left on device"
        tokens.append(retry_token(store, "prepare"))
    assert "Traceback" in caplog.text and failure.advice.startswith("the next run")
    # Each transient failure a new token: each makes the workflow rerun the job once.
    assert all(tokens) and tokens[0] != tokens[1]
    assert retry_token(store, "infer_hr") == ""  # per job


def test_bad_input_with_a_missing_input_file_is_transient(tmp_path: Path) -> None:
    from distraction.errors import InputError

    gone = tmp_path / "gone.avi"
    failure, _ = _policy(tmp_path, InputError(f"{gone}: cannot open"), inputs=[gone])
    assert failure.kind == "transient"
    (tmp_path / "here.avi").write_bytes(b"x")
    failure, _ = _policy(tmp_path, InputError("cannot open"), inputs=[tmp_path / "here.avi"])
    assert failure.kind == "bad input"


def test_without_recording_the_exception_is_raised_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        _policy(tmp_path, ZeroDivisionError("x"), record=False)
    assert not (tmp_path / "s.zarr").exists()


def test_a_recording_gone_at_job_time_is_a_transient_failure(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    write_video(root / "s01" / "a.avi", 40)
    store = tmp_path / "a.zarr"
    (root / "s01" / "a.avi").rename(tmp_path / "away.avi")
    _prepare(root, "s01/a", store)
    attrs = open_group(store, "prepared").attrs
    assert attrs["failure_kind"] == "transient" and "recording 's01/a' not found" in attrs["failed"]
    assert attrs["retry"] == "the next run of the same command retries it"
    assert (store / ".retry-prepare").is_file()


@pytest.mark.slow
def test_a_rerun_of_the_same_command_retries_a_transient_failure(tmp_path: Path) -> None:
    # The first prepare job finds the disk full (a `distraction` that fails once, first on
    # PATH); the same Snakemake command then retries that video, and only it.
    import subprocess
    import sys

    import yaml
    from test_workflow import snakemake_command, snakemake_env

    root = tmp_path / "videos"
    for name in ("a", "b"):
        write_video(root / "s01" / f"{name}.avi", 40)
    results = tmp_path / "results"
    config = tmp_path / "config.yaml"
    dataset = {"format": "generic", "root": str(root)}
    settings = {"results": str(results), "datasets": {"d": dataset}, "job_server": False}
    config.write_text(yaml.safe_dump({**settings, "prepare": {"crop": "centre"}}))
    flag = tmp_path / "fail-once"
    flag.write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "distraction"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import errno, os, sys\n"
        f"flag = {str(flag)!r}\n"
        "if 's01/a' in ' '.join(sys.argv) and os.path.exists(flag):\n"
        "    os.unlink(flag)\n"
        "    from distraction import prepare\n"
        "    def full(*args, **kwargs):\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    prepare.prepare_recording = full\n"
        "from distraction.cli import main\n"
        "sys.exit(main())\n"
    )
    wrapper.chmod(0o755)
    env = snakemake_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    targets = [str(results / "d" / "stores" / "s01" / f"{n}.zarr/prepared/zarr.json") for n in "ab"]

    def run(*args: str) -> str:
        command = snakemake_command(tmp_path, config, *args, *targets, cores=1)
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    run()
    failed = open_group(results / "d" / "stores" / "s01" / "a.zarr", "prepared").attrs
    assert failed["failure_kind"] == "transient" and "No space left" in failed["failed"]
    assert "failed" not in open_group(results / "d" / "stores" / "s01" / "b.zarr", "prepared").attrs
    plan = run("-n").split("Building DAG of jobs...")[-1]
    assert "wildcards: dataset=d, recording=s01/a" in plan and "recording=s01/b" not in plan
    assert "Params have changed since last execution" in plan
    run()
    assert "failed" not in open_group(results / "d" / "stores" / "s01" / "a.zarr", "prepared").attrs
    assert "Nothing to be done" in run("-n")  # retried once, not on every run


def test_a_failed_timeline_is_recorded_not_raised(
    prepared_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from distraction import metrics

    store = tmp_path / "timeline.zarr"
    shutil.copytree(prepared_store, store)
    _infer(store)

    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(metrics, "rate_series", broken)
    outputs = {kind: tmp_path / f"t.{kind}" for kind in ("rates", "waveforms", "hrv")}
    args = ["timeline", f"--store={store}", "--task=hr", f"--figure={tmp_path / 't.png'}"]
    args += [f"--{kind}={path}" for kind, path in outputs.items()]
    with pytest.raises(MemoryError):
        main(args)
    assert main([*args, "--record-failures"]) == 0
    hrv = pd.read_csv(outputs["hrv"], dtype=str, keep_default_na=False).iloc[0]
    source = open_group(store, "prepared").attrs["source"]
    assert hrv["status"] == "failed"
    assert hrv["reason"] == f"timeline failed: {source}: MemoryError: out of memory"
    assert pd.read_csv(outputs["rates"]).empty and (tmp_path / "t.png").is_file()
    assert (store / ".retry-timeline_hr").is_file()


def test_a_deleted_store_chunk_fails_that_video_and_names_it(
    prepared_store: Path, tmp_path: Path
) -> None:
    # Zarr reads a lost chunk as NaN (the CAN then reads a wrong rate, with status ok); the
    # readers refuse the incomplete group, and the video is a recorded failure naming it.
    import shutil

    store = tmp_path / "lost.zarr"
    shutil.copytree(prepared_store, store)
    source = open_group(store, "prepared").attrs["source"]
    chunks = sorted(p for p in (store / "prepared" / "frames" / "c").rglob("*") if p.is_file())
    assert len(chunks) > 1
    chunks[len(chunks) // 2].unlink()
    _infer(store)
    record = open_group(store, "can_hr").attrs
    assert record["failure_kind"] == "bad input" and record["failed_stage"] == "infer-can"
    assert record["failed"].startswith(f"{source}: {store / 'prepared'}: incomplete group (")
    assert record["failed"].endswith(
        f"redo video {source}: remove {store / 'prepared'} and run again"
    )
    status = _evaluate(store, tmp_path, "lost")
    assert (status["status"], status["reason"]) == ("failed", record["failed"])
    assert (status["dataset"], status["video"]) == ("clips", "s01/flicker")


def test_a_results_folder_made_read_only_fails_the_job_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both the stage and its failure record meet a read-only results folder (as root, the
    # tests cannot make one: the writes are made to fail as the kernel would).
    from distraction import prepare, store

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "a.zarr"))

    monkeypatch.setattr(prepare, "prepare_recording", read_only)
    monkeypatch.setattr(store, "write_failed_group", read_only)
    root = tmp_path / "videos"
    write_video(root / "s01" / "a.avi", 40)
    args = ["prepare", "--format=generic", f"--root={root}", "--dataset=d"]
    args += ["--recording=s01/a", f"--store={tmp_path / 'a.zarr'}", "--record-failures"]
    assert main(args) == 1
    video = root / "s01" / "a.avi"
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line == (
        f"distraction prepare: error: {video}: prepare failed and its failure could not be "
        f"recorded: Read-only file system ({tmp_path / 'a.zarr'}); the failure was: {video}: "
        f"OSError: [Errno 30] Read-only file system: '{tmp_path / 'a.zarr'}'"
    )


@pytest.mark.slow
def test_a_run_with_a_deleted_store_chunk_reports_that_video_as_failed(tmp_path: Path) -> None:
    import subprocess

    import yaml
    from test_workflow import snakemake_command, snakemake_env

    root = tmp_path / "videos"
    for name in ("a", "b"):
        write_video(root / "s01" / f"{name}.avi", 300)
    results = tmp_path / "results"
    config = tmp_path / "config.yaml"
    dataset = {"format": "generic", "root": str(root)}
    settings = {"results": str(results), "datasets": {"d": dataset}, "job_server": False}
    config.write_text(yaml.safe_dump({**settings, "prepare": {"crop": "centre"}}))

    def run(*args: str) -> None:
        command = snakemake_command(tmp_path, config, *args, cores=1)
        result = subprocess.run(
            command, capture_output=True, text=True, env=snakemake_env(), cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr[-3000:]

    run("--until", "prepare")
    frames = results / "d" / "stores" / "s01" / "a.zarr" / "prepared" / "frames" / "c"
    chunks = sorted(p for p in frames.rglob("*") if p.is_file())
    chunks[0].unlink()
    run()
    failures = pd.read_csv(results / "reports" / "failures.csv", dtype=str, keep_default_na=False)
    failed = failures[failures["status"] == "failed"]
    assert list(failed["video"]) == ["s01/a"]
    reason = failed["reason"].iloc[0]
    assert reason.startswith(f"{root / 's01' / 'a.avi'}: ") and "incomplete group" in reason
    assert f"redo video {root / 's01' / 'a.avi'}" in reason
    assert set(failures["video"]) == {"s01/a", "s01/b"}
