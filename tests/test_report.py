from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distraction.files import write_csv
from distraction.report import FAILURE_COLUMNS, WINDOW_COLUMNS, aggregate


def window_rows(video: str, method: str, pairs: list[tuple[float | None, float]]) -> pd.DataFrame:
    rows = [
        {
            "dataset": "d",
            "video": video,
            "subject": video[:3],
            "recording_task": "clean",
            "task": "hr",
            "method": method,
            "window_start_s": 30.0 * i,
            "window_end_s": 30.0 * (i + 1),
            "true_rate": true,
            "est_rate": est,
            "snr_db": 1.0 * i,
            "snr_db_conventional": 0.5 * i,
            "waveform_mae": 0.5,
        }
        for i, (true, est) in enumerate(pairs)
    ]
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


@pytest.fixture
def evaluated(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    inputs = []
    for video, pairs in {"s01/a": [(60.0, 62.0), (70.0, 69.0)], "s02/a": [(80.0, 84.0)]}.items():
        frame = pd.concat(
            [
                window_rows(video, "can", pairs),
                window_rows(video, "pos", [(t, t) for t, _ in pairs]),
            ]
        )
        path = tmp_path / f"{video.replace('/', '_')}.csv"
        write_csv(frame, path)
        inputs.append(path)
    no_truth = tmp_path / "s03.csv"
    write_csv(window_rows("s03/a", "can", [(None, 75.0)]), no_truth)
    inputs.append(no_truth)
    statuses = []
    for video, status, reason in [
        ("s01/a", "ok", ""),
        ("s04/a", "failed", "/x/s04/a.avi: cannot open video"),
    ]:
        path = tmp_path / f"status_{video.replace('/', '_')}.csv"
        row = {
            "dataset": "d",
            "video": video,
            "subject": video[:3],
            "recording_task": "a",
            "task": "hr",
            "status": status,
            "stage": "prepare" if status == "failed" else "",
            "reason": reason,
        }
        write_csv(pd.DataFrame([row], columns=FAILURE_COLUMNS), path)
        statuses.append(path)
    return inputs, statuses


def test_summary_values_worked_by_hand(
    tmp_path: Path, evaluated: tuple[list[Path], list[Path]]
) -> None:
    inputs, statuses = evaluated
    out = tmp_path / "reports"
    aggregate(inputs, out, statuses=statuses)
    summary = pd.read_csv(out / "summary.csv").set_index("method")
    # CAN errors +2, -1, +4 in three windows with truth; the no-truth window counts, unscored.
    assert summary.loc["can", "mae"] == pytest.approx((2 + 1 + 4) / 3, abs=1e-6)
    assert summary.loc["can", "rmse"] == pytest.approx(np.sqrt((4 + 1 + 16) / 3), abs=1e-6)
    assert summary.loc["can", "pearson_r"] == pytest.approx(
        np.corrcoef([60, 70, 80], [62, 69, 84])[0, 1], abs=1e-6
    )
    assert summary.loc["can", "windows"] == 4 and summary.loc["can", "windows_with_truth"] == 3
    # Bootstrap over the two subjects with truth (s01: |2|, |-1|; s02: |4|): a resample
    # draws s01 twice (MAE 1.5, p = 1/4), each once (7/3, p = 1/2) or s02 twice (4, p = 1/4),
    # so the 95 % interval runs from the lowest to the highest of those.
    assert summary.loc["can", "mae_ci_low"] == pytest.approx(1.5)
    assert summary.loc["can", "mae_ci_high"] == pytest.approx(4.0)
    assert summary.loc["can", "subjects"] == 2
    assert summary.loc["pos", "mae"] == 0.0
    assert summary.loc["pos", "mae_ci_low"] == summary.loc["pos", "mae_ci_high"] == 0.0
    videos = pd.read_csv(out / "videos.csv")
    s01 = videos[(videos["video"] == "s01/a") & (videos["method"] == "can")].iloc[0]
    assert s01["mae"] == pytest.approx(1.5) and s01["windows"] == 2
    windows = pd.read_csv(out / "windows.csv")
    no_truth = windows[windows["video"] == "s03/a"].iloc[0]
    assert no_truth["est_rate"] == 75.0 and np.isnan(no_truth["true_rate"])
    failures = pd.read_csv(out / "failures.csv")
    assert failures["video"].tolist() == ["s04/a"]
    assert failures["reason"].iloc[0] == "/x/s04/a.avi: cannot open video"
    # The HR agreement plot; none for BR, a task not run.
    assert [p.name for p in (out / "agreement").iterdir()] == ["hr.png"]
    assert (out / "agreement" / "hr.png").stat().st_size > 1000


def test_failures_of_an_earlier_version_without_kind_and_retry_are_listed(tmp_path: Path) -> None:
    # A status CSV written before the kind and retry columns (a finished video's, kept by a
    # rerun) is listed with them empty, not refused.
    from distraction.report import read_failures

    old = tmp_path / "old.csv"
    old.write_text(
        "dataset,video,subject,recording_task,task,status,stage,reason\n"
        "d,s01/a,s01,a,hr,failed,prepare,/x/s01/a.avi: cannot open video\n"
    )
    table = read_failures([old])
    assert list(table.columns) == FAILURE_COLUMNS
    assert table[["video", "kind", "retry"]].values.tolist() == [["s01/a", "", ""]]


def test_without_ground_truth_no_error_table_row_and_no_plot(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    write_csv(
        pd.concat([window_rows(v, "can", [(None, 70.0), (None, 72.0)]) for v in ("a", "b")]), path
    )
    out = tmp_path / "reports"
    aggregate([path], out)
    for name in ("summary.csv", "summary_by_recording_task.csv", "comparisons.csv"):
        assert pd.read_csv(out / name).empty, name
    assert list((out / "agreement").iterdir()) == []
    # The rates themselves are still reported.
    assert pd.read_csv(out / "windows.csv")["est_rate"].tolist() == [70.0, 72.0, 70.0, 72.0]


def test_reports_are_byte_identical_across_runs(
    tmp_path: Path, evaluated: tuple[list[Path], list[Path]]
) -> None:
    inputs, statuses = evaluated
    aggregate(inputs, tmp_path / "one", statuses=statuses)
    aggregate(list(reversed(inputs)), tmp_path / "two", statuses=list(reversed(statuses)))
    for name in (
        "windows.csv",
        "videos.csv",
        "summary.csv",
        "summary_by_recording_task.csv",
        "failures.csv",
    ):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), (
            name
        )


def test_comparisons_rank_only_where_the_interval_allows(tmp_path: Path) -> None:
    # Six subjects; the denoised signal is 1 bpm off in every window, CAN 5 bpm off, POS
    # 1 bpm off in half the subjects and 1.5 in the other half (ties cannot be ranked).
    frames = []
    for k in range(6):
        video = f"s{k:02d}/a"
        frames.append(window_rows(video, "denoised", [(60.0, 61.0), (70.0, 71.0)]))
        frames.append(window_rows(video, "can", [(60.0, 65.0), (70.0, 75.0)]))
        pos_error = 1.0 if k % 2 else 1.5
        frames.append(window_rows(video, "pos", [(60.0, 60.0 + pos_error), (70.0, 71.0)]))
    path = tmp_path / "w.csv"
    write_csv(pd.concat(frames), path)
    aggregate([path], tmp_path / "reports")
    table = pd.read_csv(tmp_path / "reports" / "comparisons.csv").set_index("method")
    assert table.loc["can", "mae_difference"] == pytest.approx(1.0 - 5.0)
    # Every resample has the same paired difference (-4): the interval is that point.
    assert table.loc["can", "ci_low"] == pytest.approx(-4.0)
    assert table.loc["can", "ci_high"] == pytest.approx(-4.0)
    assert table.loc["can", "ranking"] == "denoised better"
    assert table.loc["pos", "mae_difference"] == pytest.approx(1.0 - 1.125)
    # Drawing only subjects where POS is as good gives a difference of 0, so the interval
    # reaches up to about 0, and the ranking follows the interval's sign, not the means.
    low, high = table.loc["pos", ["ci_low", "ci_high"]]
    assert low < table.loc["pos", "mae_difference"] < high <= 0
    expected = "denoised better" if high < 0 else "no ranking"
    assert table.loc["pos", "ranking"] == expected
    assert table.loc["can", "subjects"] == 6 and table.loc["can", "windows"] == 12


def test_a_file_with_a_long_legal_name_is_written_atomically(tmp_path: Path) -> None:
    # A 237-byte video stem gives a 241-byte CSV name; the temporary name beside it must not
    # add enough to pass the file system's 255 bytes.
    path = tmp_path / ("v" * 237 + ".csv")
    write_csv(pd.DataFrame({"a": [1.0]}), path)
    assert pd.read_csv(path)["a"].tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_estimates_one_row_per_video_and_task(tmp_path: Path) -> None:
    from distraction.headline import headline
    from distraction.report import ESTIMATE_COLUMNS, estimates
    from distraction.timeline import HRV_COLUMNS, RATE_COLUMNS

    def rates(video: str, values: list[float | None], reason: str) -> Path:
        rows = [
            {"dataset": "d", "video": video, "task": "hr", "time_s": 5.0 + i, "rate": v,
             "peak_rate": 70.0, "quality_db": 4.0 + i, "pulse_db": 0.0,
             "reason": "" if v is not None else reason}
            for i, v in enumerate(values)
        ]  # fmt: skip
        path = tmp_path / f"{video}.rates.csv"
        write_csv(pd.DataFrame(rows, columns=RATE_COLUMNS), path)
        return path

    def status(video: str, state: str, reason: str = "") -> Path:
        path = tmp_path / f"{video}.status.csv"
        row = {"dataset": "d", "video": video, "task": "hr", "status": state, "reason": reason}
        write_csv(pd.DataFrame([row], columns=FAILURE_COLUMNS), path)
        return path

    hrv = tmp_path / "ok.hrv.csv"
    row = {"dataset": "d", "video": "ok", "task": "hr", "status": "ok", "HRV_RMSSD": 41.0,
           "HRV_SDNN": 38.0}  # fmt: skip
    write_csv(pd.DataFrame([row], columns=HRV_COLUMNS), hrv)
    table = estimates(
        [status("ok", "ok"), status("still", "ok"), status("bad", "failed", "/v/bad.avi: no face")],
        [rates("ok", [60.0, None, 64.0, 70.0], "no face"), rates("still", [None, None], "quality"),
         rates("bad", [], "")],
        [hrv],
    )  # fmt: skip
    assert list(table.columns) == ESTIMATE_COLUMNS
    by_video = table.set_index("video")
    ok = by_video.loc["ok"]
    # The median of the three windows with a rate; its quality the median of theirs.
    assert ok["status"] == "ok" and ok["median_rate"] == 64.0 and ok["median_quality_db"] == 6.0
    assert (ok["reliable_windows"], ok["windows"]) == (3, 4) and ok["rmssd_ms"] == 41.0
    still = by_video.loc["still"]
    assert still["status"] == "no reliable estimate" and np.isnan(still["median_rate"])
    assert "quality" in still["reason"]
    assert by_video.loc["bad", "status"] == "failed"
    assert by_video.loc["bad", "reason"] == "/v/bad.avi: no face"
    reports = tmp_path / "reports"
    reports.mkdir()
    write_csv(table, reports / "estimates.csv")
    text = headline(reports)
    assert "d/ok" in text and "64.0" in text and "RMSSD 41 ms" in text
    assert "no reliable estimate" in text and text.endswith(
        f"1 of 3 videos failed -- see {reports / 'failures.csv'}"
    )
