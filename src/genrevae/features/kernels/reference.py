"""The common recipe, kept as the reference our extractor is checked and timed against:
one librosa call per feature, each computing its own STFT, with ``librosa.effects.hpss``
for the harmonic and percussive columns. Reflect padding and the beat tracker's tempo
match how the Kaggle GTZAN tables were made. Slow on purpose; never used by the pipeline.
"""

from __future__ import annotations

import librosa
import numpy as np


def naive_features(y: np.ndarray, sr: int, *, n_mels: int = 128, n_mfcc: int = 20):
    """(log_mel [shape=(n_mels, frames), float32], features [shape=(17 + 2 * n_mfcc,)]) of
    ``y``, in the column order of :func:`genrevae.features.audio.handcrafted_columns`."""
    pad = {"pad_mode": "reflect"}
    harmonic, percussive = librosa.effects.hpss(y=y, pad_mode="reflect")
    parts = [
        librosa.feature.chroma_stft(y=y, sr=sr, **pad),
        librosa.feature.rms(y=y, **pad),
        librosa.feature.spectral_centroid(y=y, sr=sr, **pad),
        librosa.feature.spectral_bandwidth(y=y, sr=sr, **pad),
        librosa.feature.spectral_rolloff(y=y, sr=sr, **pad),
        librosa.feature.zero_crossing_rate(y=y),
        harmonic,
        percussive,
    ]
    values = [v for p in parts for v in (float(np.mean(p)), float(np.var(p)))]
    onset = librosa.onset.onset_strength(y=y, sr=sr, aggregate=np.median, **pad)
    tempo, _ = librosa.beat.beat_track(onset_envelope=onset, sr=sr)
    values.append(float(np.atleast_1d(tempo)[0]))
    for row in librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, **pad):
        values += [float(np.mean(row)), float(np.var(row))]
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=n_mels, **pad)
    return librosa.power_to_db(S=mel).astype(np.float32), np.asarray(values)
