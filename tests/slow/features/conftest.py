"""The feature tests' fixtures (tests/features/conftest.py), for their slow files here, and
the small corpus the extraction and Dask tests share."""

import copy
from pathlib import Path

import numpy as np
import soundfile as sf

from genrevae.data.synthetic import generate_track
from tests.features.conftest import clip, clips  # noqa: F401

SR = 22050


def write_corpus(folder: Path, genres: list[str]) -> list[str]:
    """One generated track per genre (2 to 3.5 s), an undecodable file after the first
    half and a silent one at the end: the paths, in that order."""
    paths = []
    for i, genre in enumerate(genres):
        y = generate_track(genre, i, languages=("english",), duration=2.0 + (i % 4) * 0.5,
                           sr=SR, instrumental_fraction=0.2, seed=5).audio
        sf.write(folder / f"{genre}.wav", y, SR, subtype="FLOAT")
        paths.append(str(folder / f"{genre}.wav"))
    (folder / "bad.wav").write_text("not audio\n", encoding="utf-8")
    sf.write(folder / "silent.wav", np.zeros(SR * 2, dtype=np.float32), SR)
    half = len(paths) // 2
    return [*paths[:half], str(folder / "bad.wav"), *paths[half:], str(folder / "silent.wav")]


def stage_params(params: dict, folder: Path, **features) -> dict:
    """``params`` with the extract_audio stage's paths under ``folder`` (its manifest at
    ``folder/manifest.csv``, its outputs in ``folder/features/audio``) and ``features``
    set."""
    p = copy.deepcopy(params)
    out = folder / "features" / "audio"
    p["paths"].update(manifest=str(folder / "manifest.csv"), audio_features=str(out),
                      segments=str(out / "segments.csv"), mel=str(out / "mel.npy"),
                      handcrafted=str(out / "handcrafted.npy"),
                      handcrafted_columns=str(out / "handcrafted_columns.json"),
                      skipped=str(out / "skipped.csv"))
    p["features"].update(features)
    return p
