"""Real stage scripts (subprocesses) killed mid-write or missing an input: the slow part of
tests/test_io.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml

from tests.test_io import (
    RERUN,
    ROOT,
)


def test_killed_prepare_leaves_no_artifact(tmp_path, params):
    """SIGKILL while the corpus is being generated: no manifest and no corpus folder appear
    (only a hidden temporary folder), so DVC never sees a half-written output."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.Popen([sys.executable, str(ROOT / "stages" / "prepare.py")], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prepared = tmp_path / params["paths"]["prepared"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(prepared.glob(".corpus.*/*/*.wav")):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any(prepared.glob(".corpus.*")), "the generator never started"
    assert not (tmp_path / params["paths"]["manifest"]).exists()
    assert not (tmp_path / params["paths"]["corpus"]).exists()



def test_stage_with_a_missing_input_says_so_in_one_line(tmp_path, params):
    """`cluster` run before `train`: one error line naming the missing file and `dvc repro`
    (not a traceback, not libc's "System error")."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "cluster.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "System error" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {params['paths']['segments']}: not found{RERUN}"]
