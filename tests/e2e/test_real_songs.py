"""Real songs with real lyrics in two languages (../shared/data/previews_en_de), and GTZAN on
its published split, through the real `dvc exp run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import stages_run

GENRES = ("rock", "pop", "rap")
ARTISTS_PER_GENRE = 10


@pytest.fixture(scope="module")
def previews(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """A subset of the previews corpus (30-s 44.1 kHz stereo MP3s): one song of each of up
    to ten artists per genre, half English and half German, with the lyrics table cut to
    them."""
    table = pd.read_csv(shared_data / "previews_en_de.csv")
    root = tmp_path_factory.mktemp("previews") / "songs"
    picked = []
    for genre in GENRES:
        rows = table[table["genre"] == genre].sort_values(["artist", "track_id"])
        # Alternate the languages so both reach every split.
        artists = rows.groupby("artist")["language"].first().sort_index()
        chosen = [*artists[artists == "en"].index[:ARTISTS_PER_GENRE // 2],
                  *artists[artists == "de"].index[:ARTISTS_PER_GENRE // 2]]
        picked.append(rows[rows["artist"].isin(chosen)].groupby("artist").head(1))
    subset = pd.concat(picked)
    for t in subset.itertuples():
        (root / t.genre).mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data / "previews_en_de" / t.genre / f"{t.track_id}.mp3",
                    root / t.genre / f"{t.track_id}.mp3")
    lyrics = root.parent / "lyrics.csv"
    subset.to_csv(lyrics, index=False)
    return root, lyrics


def _previews_run(project, previews, name: str, *overrides: str):
    root, lyrics = previews
    args = ["-S", "data=folder", "-S", f"data.root={root}", "-S", f"data.lyrics={lyrics}",
            "-S", "data.language=unknown", "-S", "train.epochs=2"]
    for o in overrides:
        args += ["-S", o]
    return project.dvc("exp", "run", "-n", name, *args, timeout=900)


def _manifest(project) -> pd.DataFrame:
    return pd.read_csv(project.root / "data/prepared/manifest.csv")


def test_previews_with_hybrid_input(project, previews):
    proc = _previews_run(project, previews, "previews-hybrid", "model.input=hybrid")
    assert {"prepare", "extract_audio", "embed_lyrics", "train", "evaluate"} <= \
        stages_run(proc.stdout)
    m = _manifest(project)
    assert set(m["language"]) == {"en", "de"} and m["lyrics"].notna().all()
    # The lyrics table's artists group the split: no artist straddles train and test.
    assert (m.groupby("artist")["split"].nunique() == 1).all()
    assert m["sample_rate"].eq(44100).all() and m["channels"].eq(2).all()
    head = json.loads((project.root / "metrics/headline.json").read_text())
    # Language NMI exactly when the test tracks hold both languages (they do on this subset).
    assert (head["nmi_lang"] is None) == (m.loc[m["split"] == "test", "language"].nunique() < 2)
    assert head["nmi_lang"] is not None
    assert 0.0 <= head["nmi"] <= 1.0 and 0.0 <= head["probe"] <= 1.0
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    assert metrics["data"]["n_tracks"] == len(m)
    assert metrics["data"]["n_segments"] == 10 * len(m)  # 30-s songs, 3-s segments


def test_previews_with_cvae_conditioned_on_language(project, previews):
    # Character n-grams: a lyrics backend for two languages that share no vocabulary.
    proc = _previews_run(project, previews, "previews-cvae", "model=cvae",
                         "model.input=hybrid", "lyrics=char")
    # The audio features of the previous run are reused: only the lyrics and model changed.
    assert {"embed_lyrics", "train"} <= stages_run(proc.stdout)
    assert not stages_run(proc.stdout) & {"prepare", "extract_audio"}
    import torch

    checkpoint = torch.load(project.root / "models/model.pt", weights_only=True)
    meta = checkpoint["meta"]
    assert meta["condition"] == "language" and meta["condition_categories"] == ["de", "en"]
    head = json.loads((project.root / "metrics/headline.json").read_text())
    assert head["nmi_lang"] is not None


def test_previews_with_audio_input(project, previews):
    proc = _previews_run(project, previews, "previews-audio", "model.input=audio")
    assert "train" in stages_run(proc.stdout)
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    # The lyrics alone, apart from any model: a probe for genre and one for language.
    probe = metrics["leakage"]["lyrics_probe"]
    assert probe["language"] is not None and 0.0 <= probe["language"]["accuracy"] <= 1.0
    # And for genre inside each language: English and German both have test tracks.
    within = probe["genre_within_language"]
    assert within is not None and within["n_groups"] == 2
    assert 0.0 <= within["accuracy"] <= 1.0 and 0.0 <= within["majority_accuracy"] <= 1.0


def test_previews_with_sentence_embeddings_of_the_lyrics(project, previews):
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("the optional sentence extra is not installed (make test installs it)")
    proc = _previews_run(project, previews, "previews-sentence", "model.input=lyrics",
                         "lyrics=sentence")
    assert {"embed_lyrics", "train"} <= stages_run(proc.stdout)
    head = json.loads((project.root / "metrics/headline.json").read_text())
    assert head["nmi_lang"] is not None


def test_previews_conv_vae_on_the_log_mel(project, previews):
    proc = _previews_run(project, previews, "previews-conv", "model=conv_vae")
    assert "train" in stages_run(proc.stdout)
    assert not stages_run(proc.stdout) & {"prepare", "extract_audio"}
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    assert metrics["model"]["latent_dim"] == 4


def test_gtzan_table_on_the_fault_filtered_split(project, shared_data):
    table = shared_data / "gtzan_features_30_sec.csv"
    proc = project.dvc("exp", "run", "-n", "kaggle-fault-filtered", "-S", "data=features_table",
                       "-S", f"data.root={table}", "-S", "data.split=gtzan_fault_filtered",
                       "-S", f"data.metadata={shared_data / 'gtzan_artists.csv'}",
                       "-S", "train.epochs=2", timeout=900)
    assert "prepare" in stages_run(proc.stdout)
    m = _manifest(project)
    assert m["split"].value_counts().to_dict() == {"train": 443, "test": 290, "val": 197}
    rejected = pd.read_csv(project.root / "data/prepared/rejected.csv")
    assert rejected["reason"].value_counts().to_dict() == {"not_in_split": 56, "duplicate": 14}
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    assert metrics["data"]["n_tracks"] == 930
