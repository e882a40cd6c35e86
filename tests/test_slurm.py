"""The SLURM profile end to end, on a one-node SLURM cluster started on this machine.

tests/slurm/local_slurm.sh installs (apt-get) and starts munge + slurmctld + slurmd; the
same tiny workflow (two synthetic videos, networks trained from scratch for one epoch) runs
through ``--workflow-profile workflow/profiles/slurm`` and locally with ``--cores 2``, at the
same time, each in its own temporary working directory and results folder. The result tables
must agree to 1e-9 (the CSVs carry 6 decimals, so this asks for identical values: training is
seeded with op determinism, and SLURM jobs see the same CPUs as local ones).

The cluster's node advertises one fake GPU (a GRES without a device), so the profile's GPU
requests are kept and checked: each network job, grouped or not, asks for exactly one.
Skipped only when the cluster cannot exist here (SLURM not installable, no root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "slurm" / "local_slurm.sh"
PARTITION = "local"
ACCOUNT = "distraction_test"
# Exit statuses of local_slurm.sh start for "this machine cannot host the test cluster".
CANNOT_INSTALL, FOREIGN_CONFIG = 3, 4
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def slurm_conf(tmp_path_factory) -> Path:
    """A running one-node cluster; yields its slurm.conf and tears everything down after."""
    if shutil.which("bash") is None:
        pytest.skip("bash not found: local_slurm.sh cannot run")
    workdir = tmp_path_factory.mktemp("slurm") / "cluster"
    env = {**os.environ, "LOCAL_SLURM_PARTITION": PARTITION}

    def stop() -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(workdir)], env=env, check=False)

    start = subprocess.run(
        ["bash", str(SCRIPT), "start", str(workdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if start.returncode in (CANNOT_INSTALL, FOREIGN_CONFIG):
        stop()
        pytest.skip(f"no local SLURM cluster possible here: {start.stderr.strip()[-400:]}")
    if start.returncode != 0:
        logs = "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
            for log in sorted((workdir / "log").glob("*.log"))
        )
        stop()
        pytest.fail(f"local_slurm.sh start failed ({start.returncode}):\n{start.stderr}\n{logs}")
    try:
        yield workdir / "etc" / "slurm.conf"
    finally:
        stop()


def _write_config(root: Path) -> Path:
    """The tiny workflow: 2 synthetic 24 s videos, trained on and evaluated (12 s windows)."""
    results = root / "results"
    config = {
        "task": "hr",
        "results": str(results),
        "datasets": {
            "tiny": {
                "format": "synth",
                "synth": {
                    "first_subject": 0,
                    "subjects": 2,
                    "conditions": ["flicker"],
                    "duration_s": 24,
                    "width": 64,
                    "height": 48,
                },
            }
        },
        "models": {
            "hr_can": str(results / "training" / "hr" / "can.keras"),
            "hr_lstm": str(results / "training" / "hr" / "lstm.keras"),
        },
        "training": {"folds": 1, "can_epochs": 1, "lstm_epochs": 1},
        "evaluation": {"hr_window_s": 12},
    }
    (root / "work").mkdir(parents=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _snakemake(root: Path, profile: str, *extra: str, env: dict[str, str]) -> subprocess.Popen:
    """Starts snakemake on the repository's Snakefile, metadata (.snakemake) under ``root``."""
    config = _write_config(root)
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(root / "work"),
        "--configfile",
        str(config),
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / profile),
        *extra,
    ]
    log = (root / "snakemake.log").open("w")
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen, root: Path, deadline: float) -> None:
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.returncode != 0:
        text = (root / "snakemake.log").read_text(errors="replace")
        pytest.fail(f"snakemake in {root} failed ({proc.returncode}):\n{text[-6000:]}")


def _jobs(slurm_env: dict[str, str]) -> list[tuple[str, ...]]:
    """(comment, account, state, GPU request) of every job the cluster has seen.

    The cluster keeps finished jobs for squeue (MinJobAge); the plugin names a job in its
    comment ("rule_<rule or group>_...").
    """
    fields = "Comment:80,Account:30,State:15,tres-per-job:20,StartTime:22,EndTime:22"
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", f"--Format={fields}"],
        env=slurm_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out)
    return [tuple(line.split()[:4]) for line in out.splitlines() if line.strip()]


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    keys = [c for c in frame.columns if frame[c].dtype == object]
    return frame.sort_values(keys + list(frame.columns.difference(keys))).reset_index(drop=True)


def test_slurm_profile_matches_local_run(slurm_conf: Path, tmp_path: Path) -> None:
    venv_bin = str(Path(sys.executable).parent)
    base_env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    slurm_env = {
        **base_env,
        "SLURM_CONF": str(slurm_conf),
        # The profile's variables (its GPU request stays: the test node has a fake GPU).
        "DISTRACTION_SLURM_PARTITION": PARTITION,
        "DISTRACTION_SLURM_ACCOUNT": ACCOUNT,
    }
    # Both runs at once: the SLURM one spends much of its time waiting between status polls.
    deadline = time.monotonic() + 600
    slurm = _snakemake(
        tmp_path / "slurm",
        "slurm",
        # No slurmdbd here, so no sacct; the cluster keeps finished jobs for squeue.
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        env=slurm_env,
    )
    local = _snakemake(tmp_path / "local", "default", "--cores", "2", env=base_env)
    started = time.monotonic()
    _wait(slurm, tmp_path / "slurm", deadline)
    print(f"SLURM run: {time.monotonic() - started:.0f} s")
    _wait(local, tmp_path / "local", deadline)
    print(f"both runs: {time.monotonic() - started:.0f} s")

    jobs = _jobs(slurm_env)
    assert jobs, "no job went through SLURM"
    assert {job[2] for job in jobs} == {"COMPLETED"}
    assert {job[1] for job in jobs} == {ACCOUNT}
    # The per-video rules went in the profile's two groups, one SLURM job each here, and
    # the network jobs asked for one GPU each (a group of two videos too: not two GPUs).
    # The two trained networks are exported for the litert engine in a job each, on CPU.
    expected_gpus = {
        "rule_videos_": ["N/A"],
        "rule_train_can_": ["gres:gpu:1"],
        "rule_train_lstm_": ["gres:gpu:1"],
        "rule_export_litert_": ["N/A", "N/A"],
        "rule_networks_": ["gres:gpu:1"],
        "rule_aggregate": ["N/A"],
    }
    assert len(jobs) == sum(map(len, expected_gpus.values())), jobs
    for prefix, gpus in expected_gpus.items():
        matching = [job for job in jobs if job[0].startswith(prefix)]
        assert [job[3] for job in matching] == gpus, (prefix, jobs)

    for name in ("windows.csv", "videos.csv"):
        on_slurm = _read(tmp_path / "slurm" / "results" / "reports" / name)
        on_local = _read(tmp_path / "local" / "results" / "reports" / name)
        assert len(on_slurm) > 0
        pd.testing.assert_frame_equal(on_slurm, on_local, check_exact=False, rtol=0, atol=TOLERANCE)
