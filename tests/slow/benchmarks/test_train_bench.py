"""benchmarks/train.py: its generated corpus is what the train stage reads, and bad
arguments are refused in one error line (the timings themselves are the benchmark's)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrevae.inputs.fuse import load_input
from genrevae.io import load_npy

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "train.py"


def _module():
    spec = importlib.util.spec_from_file_location("train_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_corpus_scales_and_is_deterministic(tmp_path: Path) -> None:
    """scale x 960 segments: a segment table split by track, a memory-mappable log-mel of
    128 x 130 per segment, fused audio features; the same bytes for the same seed."""
    bench = _module()
    n = bench.write_corpus(tmp_path / "a", 1)
    assert n == 960
    segments = pd.read_csv(tmp_path / "a" / "audio" / "segments.csv")
    assert len(segments) == n and segments["genre"].nunique() == 8
    assert segments.groupby("track_id")["split"].nunique().max() == 1
    assert set(segments["split"]) == {"train", "val", "test"}
    mel = load_npy(tmp_path / "a" / "audio" / "mel.npy", mmap=True)
    assert mel.shape == (n, 128, 130) and mel.dtype == np.float32
    x, _, usable = load_input(tmp_path / "a" / "fused", "audio")
    assert x.shape == (n, 57) and usable.all()
    bench.write_corpus(tmp_path / "b", 1)
    again = load_npy(tmp_path / "b" / "audio" / "mel.npy", mmap=True)
    assert np.array_equal(mel, again)
    assert bench.write_corpus(tmp_path / "c", 2) == 1920


@pytest.mark.parametrize(("args", "key"), [
    (["--scales", "1,x"], "--scales"), (["--scales", "0"], "--scales"),
    (["--epochs", "0"], "--epochs"), (["--models", "gan"], "--models"),
])
def test_bad_arguments_are_one_error_line(tmp_path: Path, args: list[str], key: str) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *args, "--workdir", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {key}")
