"""benchmarks/probe.py: the span-fit probe against the full-width one on a log-mel folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "probe.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)


def test_reports_both_probes_on_a_wide_input(tmp_path, rng):
    rows = []
    for genre in ("jazz", "metal", "pop"):
        for t in range(8):
            split = "train" if t < 6 else "test"
            rows += [{"track_id": f"{genre}{t}", "segment_index": i, "genre": genre,
                      "split": split} for i in range(3)]
    segments = pd.DataFrame(rows)
    centre = {g: rng.normal(size=(6, 20)) for g in ("jazz", "metal", "pop")}
    mel = np.stack([centre[g] + rng.normal(size=(6, 20)) for g in segments["genre"]])
    np.save(tmp_path / "mel.npy", mel.astype(np.float32))
    segments.to_csv(tmp_path / "segments.csv", index=False)
    proc = _run("--features", str(tmp_path), "--train-segments", "30")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["columns"] == 120 and result["rows"] == 30  # wider than its train rows
    assert result["same_c"] is True
    assert result["span_from_optimum"] < 0.05
    assert result["span_lbfgs_from_optimum"] >= 0 and result["span_lbfgs_s"] > 0
    assert 0 <= result["span_acc"] <= 1 and result["speedup"] > 0


def test_missing_features_are_refused(tmp_path):
    proc = _run("--features", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.startswith("error: --features")
