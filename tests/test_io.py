"""Artifacts are written atomically and joined by key, never by row order."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genrevae.io import (
    atomic_dir,
    atomic_path,
    copy_npy_rows,
    key_positions,
    load_csv,
    npy_data_offset,
    promote_file,
    save_csv,
    save_json,
    save_npy,
    to_json,
)
from genrevae.predict import Prediction

ROOT = Path(__file__).resolve().parents[1]


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "a.npy"
    save_npy(target, np.arange(3))
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("2")
        raise RuntimeError("killed")
    assert (target / "x.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_csv_round_trip_keeps_ids_as_strings(tmp_path):
    frame = pd.DataFrame({"track_id": ["001", "NA"], "segment_index": [0, 1], "lyrics": ["", "x"]})
    save_csv(tmp_path / "t.csv", frame)
    back = load_csv(tmp_path / "t.csv")
    assert back["track_id"].tolist() == ["001", "NA"]
    assert back["lyrics"].isna().tolist() == [True, False]


def test_promote_file_replaces_the_target_and_keeps_the_source(tmp_path):
    """The target holds the new content (a hard link here), the source stays, and no
    temporary file is left beside the target."""
    src, dst = tmp_path / "work" / "a.npy", tmp_path / "out" / "a.npy"
    src.parent.mkdir()
    save_npy(src, np.arange(4))
    save_npy(dst, np.zeros(2))
    promote_file(src, dst)
    np.testing.assert_array_equal(np.load(dst), np.arange(4))
    assert src.exists() and os.path.samefile(src, dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["a.npy"]


def test_copy_npy_rows_keeps_the_chosen_rows(tmp_path, rng):
    """Row ranges of a 3-d array, copied in small chunks, equal fancy indexing."""
    a = rng.random((10, 3, 4)).astype(np.float32)
    save_npy(tmp_path / "a.npy", a)
    assert npy_data_offset(tmp_path / "a.npy")[1:] == ((10, 3, 4), np.dtype(np.float32))
    copy_npy_rows(tmp_path / "a.npy", tmp_path / "b.npy", [(0, 2), (5, 6), (7, 10)],
                  chunk_bytes=100)
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), a[[0, 1, 5, 7, 8, 9]])


def test_key_positions_aligns_by_key_not_order():
    ref = pd.DataFrame({"track_id": ["a", "a", "b"], "segment_index": [0, 1, 0]})
    rows = ref.iloc[[2, 0, 1]].reset_index(drop=True)
    assert key_positions(ref, rows).tolist() == [2, 0, 1]
    with pytest.raises(KeyError, match="without a match"):
        key_positions(ref, pd.DataFrame({"track_id": ["c"], "segment_index": [0]}))


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


def _strict_loads(text: str):
    """json.loads that refuses the NaN / Infinity tokens Python's json would accept."""
    def refuse(token):
        raise AssertionError(f"invalid JSON token {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan"),
                                 np.float64("inf")])
def test_json_writers_turn_non_finite_into_null(tmp_path, bad):
    payload = {"x": bad, "nested": [1.5, bad, {"y": bad}], "array": np.array([1.0, bad]),
               "n": np.int64(3)}
    expected = {"x": None, "nested": [1.5, None, {"y": None}], "array": [1.0, None], "n": 3}
    assert _strict_loads(to_json(payload)) == expected
    save_json(tmp_path / "m.json", payload)
    assert _strict_loads((tmp_path / "m.json").read_text()) == expected


def test_json_writer_refuses_what_json_cannot_hold(tmp_path):
    """A value that is not JSON fails loudly and leaves no file (nor a temporary one)."""
    with pytest.raises(TypeError):
        save_json(tmp_path / "m.json", {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_predict_json_of_a_nan_prediction_is_valid_json():
    """`genrevae predict --format json` goes through to_json: no bare NaN on stdout."""
    pred = Prediction(path="song.wav", n_segments=1, probabilities={"rock": math.nan},
                      top="rock", nearest_cluster=None, latent=[math.nan, 0.5])
    out = _strict_loads(to_json([pred.as_dict()], ascii_only=False))
    assert out[0]["probabilities"] == {"rock": None} and out[0]["latent"] == [None, 0.5]
