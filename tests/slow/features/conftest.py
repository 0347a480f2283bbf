"""The feature tests' fixtures (tests/features/conftest.py), for their slow files here, and
the small corpus the extraction and Dask tests share."""

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
