"""The stage harness: stage times recorded by real stage processes, and the start of a
pipeline execution read from them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genrevae.pipeline import runlog
from tests.conftest import ROOT

STAGE = '''
import sys, time
from genrevae.errors import DataError
from genrevae.pipeline.runner import run_stage


def main(cfg, args):
    time.sleep(0.05)
    if "{fail}" == "yes":
        raise DataError("no usable input")


run_stage(main, "A stage for the harness test.")
'''


def _run(root: Path, name: str, params: Path, *, fail: bool = False
         ) -> subprocess.CompletedProcess:
    script = root / f"{name}.py"
    script.write_text(STAGE.replace("{fail}", "yes" if fail else "no"))
    return subprocess.run([sys.executable, str(script), "--params", str(params)], cwd=root,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def params_file(tmp_path: Path, tiny_params: dict) -> Path:
    import yaml

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params))
    return path


def test_stages_record_start_end_and_status(tmp_path: Path, params_file: Path) -> None:
    workspace = tmp_path
    before = time.time()
    assert _run(workspace, "train", params_file).returncode == 0
    failed = _run(workspace, "cluster", params_file, fail=True)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1] == "error: no usable input"
    entries = json.loads((workspace / runlog.STAGE_TIMES).read_text())
    assert [(e["stage"], e["status"]) for e in entries] == [("train", "ok"), ("cluster", "error")]
    assert all(before <= e["start"] <= e["end"] for e in entries)
    assert entries[0]["end"] <= entries[1]["start"]


def test_pipeline_started_is_the_first_stage_since_the_last_evaluate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / runlog.STAGE_TIMES).parent.mkdir()
    entries = [
        {"stage": "train", "start": 100.0, "end": 110.0, "status": "ok"},
        {"stage": "evaluate", "start": 120.0, "end": 130.0, "status": "ok"},  # last run's
        {"stage": "cluster", "start": 200.0, "end": 210.0, "status": "ok"},
        {"stage": "evaluate", "start": 220.0, "end": 221.0, "status": "error"},  # a failure
        {"stage": "cluster", "start": 230.0, "end": 240.0, "status": "ok"},
        {"stage": "evaluate", "start": 250.0},  # the one asking
    ]
    (tmp_path / runlog.STAGE_TIMES).write_text(json.dumps(entries))
    assert runlog.pipeline_started() == 200.0
    (tmp_path / runlog.STAGE_TIMES).write_text("not json")
    assert time.time() - runlog.pipeline_started() < 5  # no record: now


def test_under_dvc_the_pipeline_starts_with_its_own_dvc_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` ends with eda, after evaluate: the next `dvc exp run`'s evaluate must not
    take that eda's start as its own pipeline's start."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / runlog.STAGE_TIMES).parent.mkdir()
    previous, current = [11, 1000], [22, 5000]
    entries = [
        {"stage": "evaluate", "start": 100.0, "end": 110.0, "status": "ok", "runner": previous},
        {"stage": "eda", "start": 120.0, "end": 130.0, "status": "ok", "runner": previous},
        {"stage": "check", "start": 400.0, "end": 401.0, "status": "ok", "runner": current},
        {"stage": "train", "start": 410.0, "end": 450.0, "status": "ok", "runner": current},
        {"stage": "evaluate", "start": 460.0, "runner": current},  # the one asking
    ]
    (tmp_path / runlog.STAGE_TIMES).write_text(json.dumps(entries))
    assert runlog.pipeline_started() == 400.0


def _me() -> tuple[int, int]:
    """This process as a live runner: (pid, start time) as /proc tells them."""
    import os

    info = runlog._proc(os.getpid())
    return os.getpid(), info[2]


def _dead() -> tuple[int, int]:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout), 12345


@pytest.fixture
def in_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    return tmp_path / "params.yaml"


def test_one_pipeline_keeps_its_params(in_workspace: Path) -> None:
    """Stages of one dvc process may run while the params stay as its first stage read
    them; an edit in between stops the next stage."""
    runner = _me()
    runlog.claim_params("check", in_workspace, runner)
    runlog.claim_params("train", in_workspace, runner)
    in_workspace.write_text("seed: 2\n")
    with pytest.raises(runlog.ConcurrentRunError, match="changed while this pipeline ran"):
        runlog.claim_params("cluster", in_workspace, runner)


def test_a_second_live_pipeline_is_refused_and_stops_the_first(in_workspace: Path) -> None:
    first, second = _me(), (_me()[0] + 1, 0)
    runlog.claim_params("check", in_workspace, first)
    with pytest.raises(runlog.ConcurrentRunError, match=r"another pipeline .* is running") as info:
        runlog.claim_params("check", in_workspace, second)
    assert "dvc exp run --queue" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(runlog.ConcurrentRunError, match="started in this workspace while"):
        runlog.claim_params("train", in_workspace, first)


def test_a_finished_pipeline_hands_over(in_workspace: Path) -> None:
    runlog.claim_params("evaluate", in_workspace, _dead())
    in_workspace.write_text("seed: 3\n")  # the next `dvc exp run` rewrote it
    runlog.claim_params("check", in_workspace, _me())
    assert json.loads(runlog.PIPELINE.read_text())["runner"] == list(_me())


def test_a_stage_run_by_hand_claims_nothing(in_workspace: Path) -> None:
    assert runlog.dvc_runner() is None  # pytest is not dvc
    runlog.claim_params("train", in_workspace)
    assert not runlog.PIPELINE.exists()


def test_the_runner_is_the_dvc_process_above_the_stage(tmp_path: Path) -> None:
    """A real process chain: a program named `dvc` runs a shell, which runs the stage."""
    dvc = tmp_path / "dvc"
    dvc.write_text(f"#!{sys.executable}\n"
                   "import os, subprocess, sys\n"
                   "print(os.getpid(), flush=True)\n"
                   "subprocess.run(['/bin/sh', '-c', sys.argv[1]], check=True)\n")
    dvc.chmod(0o755)
    child = f"{sys.executable} -c 'from genrevae.pipeline import runlog; print(runlog.dvc_runner()[0])'"
    out = subprocess.run([str(dvc), child], capture_output=True, text=True, check=True,
                         timeout=60).stdout.split()
    assert out[0] == out[1]


@pytest.mark.parametrize(("argv", "expected"), [
    (["/venv/bin/python", "/venv/bin/dvc", "exp", "run", "-n", "a", "-S", "latent_dim=5",
      "--set-param", "model.beta=2", "--set-param=seed=3", "-Smodel=ae"],
     ["latent_dim=5", "model.beta=2", "seed=3", "model=ae"]),
    (["dvc", "exp", "run"], []),
    (["dvc", "repro"], None),
    (["dvc", "exp", "show"], None),
])
def test_exp_run_overrides_from_the_command_line(argv, expected) -> None:
    assert runlog.exp_run_overrides(argv) == expected


def test_params_composed_as_the_exp_run_asked(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A first stage recomposes conf/ with its `dvc exp run`'s -S values and compares."""
    import shutil

    from genrevae.config.compose import compose_params

    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    monkeypatch.chdir(tmp_path)
    params = compose_params(["latent_dim=5"], conf_dir="conf", output=tmp_path / "params.yaml")
    argv = ["dvc", "exp", "run", "-S", "latent_dim=5"]
    assert runlog._composed_as_asked(params, argv) is True
    # DVC writes null as `null`, `genrevae params` as nothing: the values are what count.
    params.write_text(params.read_text().replace("  root:\n", "  root: null\n"))
    assert "root: null" in params.read_text()
    assert runlog._composed_as_asked(params, argv) is True
    assert runlog._composed_as_asked(params, ["dvc", "exp", "run", "-S", "latent_dim=6"]) is False
    assert runlog._composed_as_asked(params, ["dvc", "repro"]) is None


def test_run_inline_seeds_once_the_stage_is_imported(tmp_path, tiny_params, monkeypatch) -> None:
    """run_inline imports the stage's module, then seeds, then runs it, as a stage's script
    does: a stage that loads torch has it seeded before it builds a model (no stage seeds
    again)."""
    from types import SimpleNamespace

    from genrevae.pipeline import runner
    from tests.pipeline.conftest import tiny_project

    order: list[str] = []
    stage = SimpleNamespace(run=lambda cfg: order.append("run"))
    monkeypatch.setattr(runner, "importlib", SimpleNamespace(
        import_module=lambda name: order.append(f"import {name}") or stage))
    monkeypatch.setattr(runner, "seed_everything", lambda seed: order.append(f"seed {seed}"))
    monkeypatch.setattr(runner, "claim_outputs", lambda cfg, stage: None)
    runner.run_inline("train", tiny_project(tmp_path, tiny_params) / "params.yaml")
    assert order == ["import genrevae.pipeline.train", f"seed {tiny_params['seed']}", "run"]
