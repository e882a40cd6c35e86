"""The SLURM profile end to end, on a one-node SLURM cluster started on this machine.

tests/slurm/local_slurm.sh installs (apt-get) and starts munge + slurmctld + slurmd; the
same tiny workflow (two synthetic videos, networks trained from scratch for one epoch) runs
through ``--workflow-profile workflow/profiles/slurm`` and locally with ``--cores 2``, at the
same time, each in its own temporary working directory and results folder. The result tables
must agree to 1e-9 (the CSVs carry 6 decimals, so this asks for identical values: training is
seeded with op determinism, and SLURM jobs see the same CPUs as local ones).

The cluster's node advertises one fake GPU (a GRES without a device) and has a second
partition, so the profile's GPU requests are kept and checked: each network job, grouped or
not, asks for exactly one, on the GPU partition; every job's partition and time limit are
those the profile gives its rules (a group's: at most the sum of its jobs').
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
GPU_PARTITION = "localgpu"
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
    env = {
        **os.environ,
        "LOCAL_SLURM_PARTITION": PARTITION,
        "LOCAL_SLURM_GPU_PARTITION": GPU_PARTITION,
    }

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
    """(comment, account, state, GPU request, partition, time limit) of every job the
    cluster has seen.

    The cluster keeps finished jobs for squeue (MinJobAge); the plugin names a job in its
    comment ("rule_<rule or group>_..."). No slurmdbd here, so no sacct.
    """
    fields = "Comment:80,Account:30,State:15,tres-per-job:20,Partition:20,TimeLimit:15"
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", f"--Format={fields}"],
        env=slurm_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out)
    return [tuple(line.split()[:6]) for line in out.splitlines() if line.strip()]


def _minutes(limit: str) -> int:
    """squeue's time limit (``[D-]H:MM:SS`` or ``MM:SS``) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    return (int(days or 0) * 24 + hours) * 60 + minutes + (seconds > 0)


def _profile_resources(env: dict[str, str]) -> dict[str, dict]:
    """The SLURM profile's resources per rule, as its yte definitions give them in ``env``."""
    import yte

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with open(REPO / "workflow" / "profiles" / "slurm" / "config.yaml") as f:
            profile = yte.process_yaml(f)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    defaults = profile["default-resources"]
    return {rule: {**defaults, **resources} for rule, resources in profile["set-resources"].items()}


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
        "DISTRACTION_SLURM_GPU_PARTITION": GPU_PARTITION,
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
        "rule_reports_": ["N/A"],
        "rule_aggregate": ["N/A"],
        "rule_estimates": ["N/A"],
    }
    assert len(jobs) == sum(map(len, expected_gpus.values())), jobs
    for prefix, gpus in expected_gpus.items():
        matching = [job for job in jobs if job[0].startswith(prefix)]
        assert [job[3] for job in matching] == gpus, (prefix, jobs)

    # Partitions and time limits as the profile sets them. A group's limit is what Snakemake
    # adds up for its jobs that run one after the other: at least its longest job's, at
    # most the sum of all its jobs' (2 videos: 2 x synth_video + prepare, 2 x infer, and
    # 2 x evaluate + timeline with the figures of one video).
    resources = _profile_resources(slurm_env)
    members = {
        "rule_videos_": {"synth_video": 2, "prepare": 2},
        "rule_networks_": {"infer": 2},
        "rule_reports_": {"evaluate": 2, "timeline_hr": 2, "figures": 1},
        "rule_train_can_": {"train_can": 1},
        "rule_train_lstm_": {"train_lstm": 1},
        "rule_export_litert_": {"export_litert": 1},
        "rule_aggregate": {"aggregate": 1},
        "rule_estimates": {"estimates": 1},
    }
    for job in jobs:
        prefix = next(p for p in members if job[0].startswith(p))
        rules = members[prefix]
        partitions = {resources[rule]["slurm_partition"] for rule in rules}
        assert partitions == {job[4]}, job
        runtimes = [resources[rule]["runtime"] for rule, n in rules.items() for _ in range(n)]
        assert max(runtimes) <= _minutes(job[5]) <= sum(runtimes), (job, runtimes)
    assert {job[4] for job in jobs if job[3] != "N/A"} == {GPU_PARTITION}
    assert {job[4] for job in jobs if job[3] == "N/A"} == {PARTITION}

    for name in ("windows.csv", "videos.csv"):
        on_slurm = _read(tmp_path / "slurm" / "results" / "reports" / name)
        on_local = _read(tmp_path / "local" / "results" / "reports" / name)
        assert len(on_slurm) > 0
        pd.testing.assert_frame_equal(on_slurm, on_local, check_exact=False, rtol=0, atol=TOLERANCE)
