"""The stage harness: stage times recorded by real stage processes, and the start of a
pipeline execution read from them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genrevae import runlog

STAGE = '''
import sys, time
from genrevae.errors import DataError
from genrevae.stage import run_stage


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
def params_file(tmp_path: Path, params: dict) -> Path:
    import yaml

    from .conftest import tiny_params

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(params)))
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
