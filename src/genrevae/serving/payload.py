"""A song sent as its encoded bytes (WAV, MP3, FLAC, OGG), predicted as `genrevae predict`
predicts a file: the bytes go to a private temporary file that the same predictor reads.

A payload over :func:`max_bytes` is refused before it is written anywhere; one that is
not audio, too short, silent or damaged is refused with the predictor's own reason, the
temporary file's name replaced by the song's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from genrevae.errors import AudioError, ConfigError
from genrevae.serving.predict import Prediction, Predictor

MAX_MB_ENV = "GENREVAE_MAX_PAYLOAD_MB"
# An hour of 16-bit 44.1-kHz stereo WAV is about 600 MB; the predictor reads only the
# first features.max_seconds (600 s by default, about 100 MB as WAV), so a request of more
# than that carries audio nobody listens to.
DEFAULT_MAX_MB = 100.0


def max_bytes() -> int:
    """The largest song accepted, from ``GENREVAE_MAX_PAYLOAD_MB`` (default 100)."""
    text = os.environ.get(MAX_MB_ENV, "").strip()
    if not text:
        return int(DEFAULT_MAX_MB * 1e6)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{MAX_MB_ENV}: expected a positive number of megabytes, got {text!r}")
    return int(value * 1e6)


def predict_bytes(predictor: Predictor, audio: bytes, name: str, *,
                  limit: int | None = None) -> Prediction:
    """The prediction for a song given as bytes; ``name`` is what answers and errors call
    it. Raises AudioError (reason too_large, empty or the decoder's)."""
    limit = max_bytes() if limit is None else limit
    if not isinstance(audio, bytes | bytearray):
        raise AudioError(f"{name}: expected the song's bytes, got {type(audio).__name__}",
                         "not_audio")
    if len(audio) > limit:
        raise AudioError(f"{name}: {len(audio) / 1e6:.1f} MB is more than the "
                         f"{limit / 1e6:g} MB a song may have ({MAX_MB_ENV})", "too_large")
    if not audio:
        raise AudioError(f"{name}: empty payload", "empty")
    # The decoder recognises the format by content; the suffix only helps a human reading
    # an error in the server's log.
    suffix = Path(name).suffix if Path(name).suffix.lower() in {
        ".wav", ".mp3", ".flac", ".ogg", ".aiff", ".aif"} else ""
    fd, tmp = tempfile.mkstemp(prefix="genrevae-song-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(audio)
        try:
            prediction = predictor.predict(tmp)
        except AudioError as exc:
            raise AudioError(str(exc).replace(tmp, name), exc.reason) from None
    finally:
        os.unlink(tmp)
    return Prediction(path=name, n_segments=prediction.n_segments,
                      probabilities=prediction.probabilities, top=prediction.top,
                      nearest_cluster=prediction.nearest_cluster, latent=prediction.latent)
