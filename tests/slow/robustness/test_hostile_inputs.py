"""Hostile inputs, generated: truncations of a real WAV at many points, random bytes behind
real headers, NaN / infinite / huge / denormal samples, zero-length and one-sample files,
extreme sample rates and channel counts, link trees. Each must be used correctly or
rejected with a reason, with no traceback and nothing written into the source tree; the
suite prints how many inputs it tried and how many were rejected, by reason."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from genrevae.data import sources
from genrevae.data.audio import MAX_PEAK, load_audio
from genrevae.errors import AudioError
from genrevae.features.audio import handcrafted_columns
from tests.conftest import ROOT, SHARED_DATA

SR = 22050
MIN_SECONDS = 1.0
# Reasons a damaged or odd file may get; which one can depend on where a cut falls.
DAMAGE = {"undecodable", "empty", "too_short"}
REAL_WAV = SHARED_DATA / "gtzan_sample" / "blues" / "blues.00000.wav"


def _music(path: Path, seconds: float = 2.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(path.as_posix().encode()))
    t = np.arange(round(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(t.size)
    return np.repeat(y[:, None], channels, axis=1) * rng.uniform(0.5, 1, channels)


def _write(path: Path, y: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype)


def _hostile_tree(root: Path, rng: np.random.Generator) -> dict[str, set[str]]:
    """Write the inputs under ``root/<genre>/``; return rel path -> acceptable outcomes
    ("used" or rejection reasons)."""
    expect: dict[str, set[str]] = {}

    def add(rel: str, outcome: set[str]) -> Path:
        expect[rel] = outcome
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        return root / rel

    for genre in ("a", "b"):  # enough good tracks that the corpus splits
        for i in range(3):
            _write(add(f"{genre}/good{i}.wav", {"used"}), _music(root / genre / f"{i}"),
                   subtype="PCM_16")

    # Truncations of a real WAV (the shared GTZAN clip when present, else a generated one).
    real = root.parent / "real.wav"
    if REAL_WAV.is_file():
        real.write_bytes(REAL_WAV.read_bytes())
    else:
        _write(real, _music(real, seconds=30.0), subtype="PCM_16")
    data = real.read_bytes()
    bytes_per_second = SR * 2
    for cut in (0, 1, 4, 12, 36, 43, 44, 45, 100, 1000, bytes_per_second // 2,
                44 + bytes_per_second - 2, 44 + 2 * bytes_per_second + 1, len(data) // 2,
                len(data) - 1):
        used_ok = cut - 44 >= MIN_SECONDS * bytes_per_second
        add(f"a/cut_{cut}.wav", {"used"} if used_ok else DAMAGE).write_bytes(data[:cut])
    # Random bytes behind real headers (WAV, FLAC, OGG): garbage samples or a decode error.
    for fmt, ext in (("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg")):
        ref = root.parent / f"ref.{ext}"
        sf.write(ref, _music(ref)[:, 0], SR, format=fmt)
        head = ref.read_bytes()[:64 if fmt == "WAV" else 200]
        for n in (10, 5000, 200_000):
            noise = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
            outcome = {"used", "silent", "out_of_range", "non_finite", *DAMAGE}
            add(f"b/noise_{n}.{ext}", outcome).write_bytes(head + noise)
    # Samples no recording holds.
    y = _music(root / "bad")[:, 0]
    for name, samples, subtype, reason in (
        ("nan", np.where(np.arange(y.size) == 7, np.nan, y), "FLOAT", "non_finite"),
        ("inf", np.where(np.arange(y.size) == 7, np.inf, y), "FLOAT", "non_finite"),
        ("all_nan", np.full(y.size, np.nan), "DOUBLE", "non_finite"),
        ("huge", y * 1e30, "FLOAT", "out_of_range"),
        ("just_over", np.where(np.arange(y.size) == 7, 1.01 * MAX_PEAK, y), "FLOAT",
         "out_of_range"),
        ("denormal", np.full(y.size, 1e-40), "FLOAT", "silent"),
        ("zeros", np.zeros(y.size), "PCM_16", "silent"),
    ):
        _write(add(f"b/{name}.wav", {reason}), samples, subtype=subtype)
    add("b/zero_length.wav", {"empty"}).write_bytes(b"")
    _write(add("b/header_only.wav", {"empty"}), np.zeros(0))
    _write(add("b/one_sample.wav", {"too_short"}), np.array([0.5]))
    # Extreme rates and channel counts.
    for sr, outcome in ((1, "bad_sample_rate"), (999, "bad_sample_rate"), (1000, "used"),
                        (8000, "used"), (192_000, "used"), (768_000, "used"),
                        (1_000_000, "bad_sample_rate")):
        _write(add(f"a/rate_{sr}.wav", {outcome}), _music(root / f"r{sr}", 1.5, sr=max(sr, 1)),
               sr=sr)
    for channels in (2, 6, 64):
        _write(add(f"a/channels_{channels}.wav", {"used"}),
               _music(root / f"c{channels}", channels=channels))
    # Links and odd entries.
    (add("a/dangling.wav", {"broken_link"})).symlink_to(root.parent / "nowhere.wav")
    (add("b/loop", {"link_loop"})).symlink_to(root)
    add(".hidden_folder/x.wav", set())
    _write(root / ".hidden_folder" / "x.wav", y)
    expect[".hidden_folder"] = {"hidden"}
    del expect[".hidden_folder/x.wav"]
    return expect


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root = base / "source"
    expect = _hostile_tree(root, np.random.default_rng(11))
    return root, expect


def _params(params: dict, root: Path) -> dict:
    raw = copy.deepcopy(params)
    raw["data"].update(name="folder", root=str(root), synthetic=None)
    return raw


def _snapshot(root: Path) -> dict[str, int]:
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            out[str(path)] = path.lstat().st_mtime_ns
    return out


def test_every_hostile_input_is_used_or_rejected_with_its_reason(hostile, params, capsys):
    from genrevae.config import from_dict

    root, expect = hostile
    before = _snapshot(root)
    prepared = sources.build_manifest(
        from_dict(_params(params, root)).data, seed=1, corpus_dir=root.parent / "corpus",
        min_seconds=MIN_SECONDS, feature_columns=handcrafted_columns())
    got = {Path(p).relative_to(root).as_posix(): "used" for p in prepared.manifest["path"]}
    got |= {Path(p).relative_to(root).as_posix(): r
            for p, r in zip(prepared.rejected["path"], prepared.rejected["reason"], strict=True)}
    assert set(got) == set(expect), "every input is used or listed, nothing else"
    wrong = {rel: (got[rel], sorted(ok)) for rel, ok in expect.items() if got[rel] not in ok}
    assert not wrong
    assert prepared.rejected["detail"].str.len().gt(0).all()
    assert _snapshot(root) == before and not (root.parent / "corpus").exists()
    reasons = Counter(prepared.rejected["reason"])
    with capsys.disabled():
        print(f"\nhostile inputs: {len(expect)} tried, {len(prepared.manifest)} used, "
              f"{len(prepared.rejected)} rejected: "
              + ", ".join(f"{n} {r}" for r, n in reasons.most_common()))


def test_used_inputs_decode_to_bounded_finite_audio(hostile, params):
    """What prepare keeps, the decoder turns into finite float32 within full scale
    (MAX_PEAK); what it refuses, the decoder refuses with an AudioError, never another."""
    root, expect = hostile
    for rel in expect:
        path = root / rel
        if path.is_dir() or rel.startswith("."):
            continue
        try:
            y = load_audio(path, sr=SR)
        except AudioError as exc:
            assert str(exc).startswith(str(path)) and exc.reason
            continue
        assert y.dtype == np.float32 and np.isfinite(y).all()
        assert np.abs(y).max() <= 2 * MAX_PEAK  # resampling may overshoot a little


def test_prepare_stage_on_hostile_tree_exits_cleanly(hostile, params, tmp_path):
    """The real stage: exit 0, no traceback, rejected.csv lists what was refused."""
    root, expect = hostile
    raw = _params(params, root)
    raw["features"]["segment_seconds"] = MIN_SECONDS
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "prepare.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    rejected = pd.read_csv(tmp_path / raw["paths"]["rejected"])
    refused = {rel for rel, ok in expect.items() if "used" not in ok}
    assert refused <= {Path(p).relative_to(root).as_posix() for p in rejected["path"]}


class _Payload:
    """Unpickling this creates a file: the proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_payload_as_the_model_runs_nothing(tmp_path: Path) -> None:
    """A `model.pt` carrying a pickled payload, given to `genrevae predict --model`: one
    `error:` line naming the file, exit 2, and the payload never runs."""
    import json

    import torch

    models = tmp_path / "models"
    models.mkdir()
    marker = tmp_path / "payload-ran"
    torch.save({"state_dict": {}, "model": {}, "meta": {}, "x": _Payload(marker)},
               models / "model.pt")
    (models / "probe.json").write_text(json.dumps({"classes": ["a", "b"]}))
    song = tmp_path / "song.wav"
    sf.write(song, _music(song, seconds=4.0), SR)
    proc = subprocess.run([sys.executable, "-m", "genrevae.cli", "predict", str(song),
                           "--model", str(models)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {models / 'model.pt'}: holds objects")
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
