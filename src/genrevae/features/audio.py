"""Audio features per segment: the log-mel spectrogram and the Kaggle GTZAN handcrafted set.

The public API: :func:`handcrafted_columns`, :func:`n_frames`, :func:`batch_features`,
:func:`segment_features`, and the reduction of per-frame features to one row per segment.

Everything spectral comes from one STFT per segment, and the segments of a track are
computed as one batch: the magnitude gives the spectral centroid, bandwidth and roll-off
and the two HPSS median filters; the power gives the mel spectrogram (hence the log-mel,
the MFCCs and the onset envelope the tempo is estimated from) and the chroma, whose
tuning is estimated from the same power spectrogram; the complex STFT, masked, gives the
harmonic and percussive signals. Only RMS and the zero-crossing rate, which are defined
on the waveform, read ``y``. Column names follow the Kaggle ``features_30_sec.csv`` /
``features_3_sec.csv`` tables.

Two conventions reproduce that table (within 1% on the real GTZAN clips, see
tests/features/test_kaggle_compat.py): frames are centred with *reflect* padding, the
default of the librosa releases the table was made with (0.10 switched to zero padding),
and the tempo is the beat tracker's estimate, whose onset envelope aggregates mel bands
with the median rather than the mean.

The values equal those of one librosa call per feature (the "naive recipe", see
tests/features/test_audio_features.py) within 1e-4 relative, at a fraction of its cost
(benchmarks/README.md). Each feature family holds its compiled kernels, each tested
against the librosa or scipy function it replaces:

* :mod:`~genrevae.features.kernels.spectral`: the STFT (librosa's: a float64 FFT of the
  float64-windowed float32 frames, rounded to complex64), the dB scale, centroid,
  bandwidth, roll-off, RMS and zero-crossing rate (from running sums);
* :mod:`~genrevae.features.kernels.hpss`: harmonic/percussive separation with an exact sliding
  median in place of scipy's generic rank filter;
* :mod:`~genrevae.features.kernels.chroma`: the tuning (piptrack on the band it keeps) and the
  chroma bank per tuning;
* :mod:`~genrevae.features.kernels.rhythm`: the onset envelope and the tempo;
* :mod:`~genrevae.features.kernels.banks`: windows and filter banks, built once per shape and
  cached.

:mod:`~genrevae.features.kernels.frontend` runs the families over a batch on the CPU;
:mod:`~genrevae.features.kernels.frontend_torch` does the same in torch (``device='cuda'``: on the
GPU), with the same values within rounding.

:class:`genrevae.features.extraction.CorpusExtraction` runs this over a corpus: across
processes (or on the GPU), into preallocated memory-mapped arrays, resumable after a kill.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from genrevae.features.kernels.banks import Setup, setup
from genrevae.features.kernels.frontend import Front, front_numpy, mean_var
from genrevae.features.kernels.rhythm import onset_strength, tempo
from genrevae.features.kernels.spectral import n_frames

__all__ = ["batch_features", "handcrafted_columns", "n_frames", "segment_features"]

_SPECTRAL = (
    "chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
    "zero_crossing_rate", "harmony", "perceptr",
)


def handcrafted_columns(n_mfcc: int = 20) -> list[str]:
    """Names of the handcrafted features, in the Kaggle GTZAN table's order."""
    cols = [f"{name}_{stat}" for name in _SPECTRAL for stat in ("mean", "var")]
    cols.append("tempo")
    cols += [f"mfcc{i}_{stat}" for i in range(1, n_mfcc + 1) for stat in ("mean", "var")]
    return cols


def _reduce(front: Front, st: Setup, n_mfcc: int) -> np.ndarray:
    """(B, 17 + 2 n_mfcc) handcrafted features in :func:`handcrafted_columns` order."""
    nb = len(front.log_mel)
    parts = [
        mean_var(front.chroma), mean_var(front.rms), mean_var(front.centroid),
        mean_var(front.bandwidth), mean_var(front.rolloff), mean_var(front.zcr),
        front.harmonic, front.percussive,
    ]
    bpm = tempo(onset_strength(front.log_mel, n_fft=st.n_fft, hop=st.hop), sr=st.sr, hop=st.hop)
    mfcc = np.stack([scipy.fft.dct(m, axis=0, type=2, norm="ortho")[:n_mfcc] for m in front.log_mel])
    mfcc = mfcc.astype(np.float64)
    mfcc_stats = np.stack([mfcc.mean(axis=2), mfcc.var(axis=2)], axis=2).reshape(nb, -1)
    return np.concatenate([*parts, bpm[:, None], mfcc_stats], axis=1)


def batch_features(
    segments: np.ndarray, *, sr: int, n_fft: int, hop_length: int, n_mels: int, n_mfcc: int,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel spectrograms and handcrafted features of equal-length segments.

    Parameters
    ----------
    segments : np.ndarray [shape=(B, n)]
        Mono audio at ``sr`` Hz, one segment per row.
    device : str
        ``cpu`` (numpy and numba) or a torch device (``cuda``, ``cuda:1``, or ``torch-cpu``
        to run the torch path on the CPU); same values within 1e-4 relative.

    Returns
    -------
    log_mel : np.ndarray [shape=(B, n_mels, 1 + n // hop_length), dtype=float32]
        Mel power in dB (ref 1.0, top_db 80 per segment), as ``librosa.feature.mfcc`` uses it.
    features : np.ndarray [shape=(B, len(handcrafted_columns(n_mfcc))), dtype=float64]
    """
    y = np.ascontiguousarray(np.atleast_2d(segments), dtype=np.float32)
    st = setup(sr, n_fft, hop_length, n_mels)
    if device == "cpu":
        front = front_numpy(y, st)
    else:
        from genrevae.features.kernels.frontend_torch import front_torch  # torch only when asked for

        front = front_torch(y, st, "cpu" if device == "torch-cpu" else device)
    return front.log_mel, _reduce(front, st, n_mfcc)


def segment_features(
    y: np.ndarray, *, sr: int, n_fft: int, hop_length: int, n_mels: int, n_mfcc: int
) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel spectrogram and handcrafted features of one segment, from one STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``sr`` Hz.

    Returns
    -------
    log_mel : np.ndarray [shape=(n_mels, 1 + n // hop_length), dtype=float32]
        Mel power in dB (ref 1.0, top_db 80), as ``librosa.feature.mfcc`` uses it.
    features : np.ndarray [shape=(len(handcrafted_columns(n_mfcc)),), dtype=float64]
    """
    log_mel, feats = batch_features(np.asarray(y)[None], sr=sr, n_fft=n_fft,
                                    hop_length=hop_length, n_mels=n_mels, n_mfcc=n_mfcc)
    return log_mel[0], feats[0]
