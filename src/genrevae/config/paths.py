"""The ``paths`` section: every file and folder the stages read and write, written once
(in ``conf/config.yaml``). Its values are checked only for type: any path is valid."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PathsConfig:
    checked: str
    prepared: str
    manifest: str
    rejected: str
    split_report: str
    table: str
    corpus: str
    audio_features: str
    segments: str
    mel: str
    handcrafted: str
    handcrafted_columns: str
    skipped: str
    lyrics_features: str
    lyrics_embedding: str
    lyrics_tracks: str
    fused: str
    model: str
    latent: str
    train_metrics: str
    loss_history: str
    loss_plot: str
    assignments: str
    track_assignments: str
    eval_metrics: str
    headline: str
    eval_plots: str
    probe: str
    eda_plots: str
    eda_report: str
