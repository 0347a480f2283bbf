"""Fixtures of the feature tests: a few seconds of real music (generated music-like audio
when ../shared/data is absent), and small generated clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrevae.data.synthetic import generate_track
from tests.conftest import shared_or_generated

SR = 22050


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """Three seconds of a real GTZAN recording (float32), or of generated music-like audio
    when ../shared/data is absent."""
    return np.ascontiguousarray(shared_or_generated("jazz/jazz.00000.wav")[5 * SR : 8 * SR])


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Two good generated WAVs (2 s and 1.5 s), a text file named .wav and a 0.5-s clip."""
    d = tmp_path_factory.mktemp("clips")
    for name, genre, seconds in (("long", "metal", 2.0), ("short_ok", "jazz", 1.5),
                                 ("tiny", "blues", 0.5)):
        y = generate_track(genre, 0, languages=("english",), duration=seconds, sr=SR,
                           instrumental_fraction=0.2, seed=3).audio
        sf.write(d / f"{name}.wav", y, SR, subtype="FLOAT")
    (d / "bad.wav").write_text("not audio at all\n", encoding="utf-8")
    return d
