"""Each stage's ``genrevae.pipeline.<stage>.run``, in-process on experiment=tiny (4 genres x
4 synthetic tracks of 6 s: 16 tracks, 32 segments of 3 s, a 4-d latent), in dvc.yaml's
order: each test runs its stage (and any stage before it not yet run) through the harness
of tests/pipeline/conftest.py, then checks the files it writes, their shapes and keys.
Slow tier: the whole tiny pipeline takes about 40 s of CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genrevae.features.audio import handcrafted_columns
from genrevae.io import SEGMENT_KEYS
from tests.pipeline import conftest as harness

staged = harness.staged  # the fixture, made this module's
GENRES = {"blues", "classical", "hiphop", "metal"}
N_TRACKS, N_SEGMENTS, LATENT, N_MELS, LYRICS_DIM = 16, 32, 4, 128, 4


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_check_records_valid_params(staged) -> None:
    root = staged.upto("check")
    assert _json(root / "data/params_checked.json") == {"params": "valid"}


def test_prepare_writes_the_manifest(staged) -> None:
    root = staged.upto("prepare")
    manifest = pd.read_csv(root / "data/prepared/manifest.csv")
    assert len(manifest) == N_TRACKS and manifest["track_id"].is_unique
    assert set(manifest["genre"]) == GENRES
    assert {"train", "test"} <= set(manifest["split"])
    assert all((root / p).is_file() for p in manifest["path"])
    assert list(pd.read_csv(root / "data/prepared/rejected.csv").columns) == [
        "path", "source", "reason", "detail"]


def test_extract_audio_writes_segments_mel_and_features(staged) -> None:
    root = staged.upto("extract_audio")
    audio = root / "data/features/audio"
    segments = pd.read_csv(audio / "segments.csv")
    assert len(segments) == N_SEGMENTS  # two 3-s segments per 6-s track
    assert segments.groupby("track_id").size().eq(2).all()
    assert list(segments.columns[:2]) == list(SEGMENT_KEYS)
    mel = np.load(audio / "mel.npy")
    assert mel.shape[:2] == (N_SEGMENTS, N_MELS) and mel.dtype == np.float32
    handcrafted = np.load(audio / "handcrafted.npy")
    assert handcrafted.shape == (N_SEGMENTS, 57) and np.isfinite(handcrafted).all()
    assert _json(audio / "handcrafted_columns.json") == handcrafted_columns()
    assert pd.read_csv(audio / "skipped.csv").empty


def test_embed_lyrics_writes_one_row_per_track(staged) -> None:
    root = staged.upto("embed_lyrics")
    tracks = pd.read_csv(root / "data/features/lyrics/tracks.csv")
    assert len(tracks) == N_TRACKS and list(tracks.columns[:2]) == ["track_id", "has_lyrics"]
    embedding = np.load(root / "data/features/lyrics/embedding.npy")
    assert embedding.shape == (N_TRACKS, LYRICS_DIM)
    # Instrumental tracks (instrumental_fraction 0.2) have no lyrics, the others do.
    assert 0 < tracks["has_lyrics"].sum() < N_TRACKS


def test_fuse_writes_every_input(staged) -> None:
    root = staged.upto("fuse")
    fused = root / "data/features/fused"
    shapes = {name: np.load(fused / f"{name}.npy").shape
              for name in ("audio", "lyrics", "hybrid", "has_lyrics")}
    assert shapes == {"audio": (N_SEGMENTS, 57), "lyrics": (N_SEGMENTS, LYRICS_DIM),
                      "hybrid": (N_SEGMENTS, 57 + LYRICS_DIM), "has_lyrics": (N_SEGMENTS,)}
    assert isinstance(_json(fused / "scalers.json"), dict)


def test_train_writes_model_latents_and_history(staged) -> None:
    root = staged.upto("train")
    z = np.load(root / "data/latent/z.npy")
    assert z.shape == (N_SEGMENTS, LATENT) and np.isfinite(z).all()  # hybrid: every row
    assert torch.load(root / "models/model.pt", weights_only=False)
    train = _json(root / "metrics/train.json")
    assert {"best_epoch", "epochs_run", "val_loss", "val_recon", "val_kl"} <= set(train)
    assert 1 <= train["best_epoch"] <= train["epochs_run"] <= 3
    history = pd.read_csv(root / "plots/loss.csv")
    assert len(history) == train["epochs_run"] and "val_loss" in history
    assert (root / "plots/loss.png").stat().st_size > 0


def test_cluster_assigns_every_segment_and_track(staged) -> None:
    root = staged.upto("cluster")
    segments = pd.read_csv(root / "data/clusters/assignments.csv")
    assert len(segments) == N_SEGMENTS
    assert {"latent.kmeans", "pca.kmeans", "raw.kmeans"} <= set(segments.columns)
    assert segments["latent.kmeans"].nunique() == len(GENRES)  # k = the number of genres
    tracks = pd.read_csv(root / "data/clusters/track_assignments.csv")
    assert len(tracks) == N_TRACKS and list(tracks.columns[:2]) == ["track_id", "split"]


def test_evaluate_writes_metrics_probe_plots_and_a_run(staged) -> None:
    root = staged.upto("evaluate")
    headline = _json(root / "metrics/headline.json")
    assert {"nmi", "ari", "probe", "recon", "epoch"} <= set(headline)
    assert 0.0 <= headline["nmi"] <= 1.0
    assert {"latent", "pca", "raw", "model", "leakage", "data"} <= set(
        _json(root / "metrics/eval.json"))
    probe = _json(root / "models/probe.json")
    assert set(probe["classes"]) == GENRES
    assert np.asarray(probe["coef"]).shape[1] == LATENT
    assert len(list((root / "plots/eval").glob("*.png"))) >= 5
    assert (root / "mlflow.db").is_file()
    assert len(list((root / "mlartifacts").glob("*/artifacts/headline.json"))) == 1


def test_eda_writes_the_report_and_plots(staged) -> None:
    root = staged.upto("eda")
    report = (root / "reports/eda.md").read_text(encoding="utf-8")
    assert report.startswith("# Exploratory data analysis")
    assert f"{N_TRACKS} tracks in {len(GENRES)} genres" in report
    assert len(list((root / "plots/eda").glob("*.png"))) >= 5
