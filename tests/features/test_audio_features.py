"""Per-segment audio features: column names in the Kaggle GTZAN order, shapes, values equal
to plain librosa calls on the waveform, and robust batch extraction."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from genrevae.config import FeaturesConfig
from genrevae.data.synthetic import generate_track
from genrevae.errors import AudioError
from genrevae.features.audio import (
    TrackFeatures,
    batch_features,
    extract_many,
    handcrafted_columns,
    n_frames,
    resolve_jobs,
    segment_features,
    track_features,
)
from genrevae.features.reference import naive_features

SR = 22050


def _cfg(n_jobs: int = 1) -> FeaturesConfig:
    return FeaturesConfig(sample_rate=SR, segment_seconds=1.0, n_fft=2048, hop_length=512,
                          n_mels=128, n_mfcc=20, n_jobs=n_jobs)


def _synthetic(genre: str = "rock", index: int = 0, seconds: float = 2.0) -> np.ndarray:
    return generate_track(genre, index, languages=("english",),
                          duration=seconds, sr=SR, instrumental_fraction=0.2, seed=3).audio


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory):
    """Two good synthetic WAVs (2 s and 1.5 s), a text file named .wav and a 0.5-s clip."""
    d = tmp_path_factory.mktemp("wavs")
    sf.write(d / "long.wav", _synthetic("metal", 0, 2.0), SR, subtype="FLOAT")
    sf.write(d / "short_ok.wav", _synthetic("jazz", 1, 1.5), SR, subtype="FLOAT")
    (d / "bad.wav").write_text("not audio at all\n", encoding="utf-8")
    sf.write(d / "tiny.wav", _synthetic("blues", 2, 0.5), SR, subtype="FLOAT")
    return d


def test_handcrafted_columns_length_and_order():
    """57 distinct names: 8 spectral (mean, var) pairs, tempo, then 20 MFCC pairs."""
    cols = handcrafted_columns()
    assert len(cols) == 57
    assert len(set(cols)) == 57
    assert cols[:4] == ["chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var"]
    assert cols[16] == "tempo"
    assert cols[-2:] == ["mfcc20_mean", "mfcc20_var"]


@pytest.mark.parametrize("n_mfcc", [1, 13, 20, 40])
def test_handcrafted_columns_follow_n_mfcc(n_mfcc):
    """The MFCC block has one (mean, var) pair per coefficient."""
    cols = handcrafted_columns(n_mfcc)
    assert len(cols) == 17 + 2 * n_mfcc
    assert cols[-1] == f"mfcc{n_mfcc}_var"


def test_handcrafted_columns_match_kaggle_header(shared_data):
    """The names equal the Kaggle table's feature columns (all but filename, length, label)."""
    with (shared_data / "gtzan_features_30_sec.csv").open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:2] == ["filename", "length"]
    assert header[-1] == "label"
    assert handcrafted_columns() == header[2:-1]


@pytest.mark.parametrize(("n_samples", "hop", "n_mels", "n_mfcc"), [
    (22050, 512, 128, 20),
    (11025, 256, 64, 13),
    (16000, 512, 40, 10),
])
def test_segment_features_shapes(n_samples, hop, n_mels, n_mfcc):
    """log-mel is (n_mels, 1 + n // hop) float32 within an 80-dB range; features are finite."""
    y = _synthetic("disco", 0, 1.0)[:n_samples]
    log_mel, feats = segment_features(y, sr=SR, n_fft=2048, hop_length=hop, n_mels=n_mels,
                                      n_mfcc=n_mfcc)
    assert log_mel.shape == (n_mels, 1 + n_samples // hop) == (n_mels, n_frames(n_samples, hop))
    assert log_mel.dtype == np.float32
    assert float(log_mel.max() - log_mel.min()) <= 80.0 + 1e-3
    assert feats.shape == (len(handcrafted_columns(n_mfcc)),)
    assert np.all(np.isfinite(feats))


def _naive_reference(y: np.ndarray, sr: int) -> np.ndarray:
    """One librosa call per feature on the waveform (genrevae.features.reference)."""
    return naive_features(y, sr)[1]


def _assert_matches_reference(y: np.ndarray) -> None:
    _, feats = segment_features(y, sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
    reference = _naive_reference(y, SR)
    cols = handcrafted_columns()
    # Harmonic/percussive means are ~0, so relative error is meaningless there.
    atol = np.array([1e-6 if c in ("harmony_mean", "perceptr_mean") else 0.0 for c in cols])
    bad = [(c, f, r) for c, f, r, a in zip(cols, feats, reference, atol, strict=True)
           if abs(f - r) > a + 1e-4 * abs(r)]
    assert not bad, bad


def test_segment_features_equal_naive_librosa_on_generated_track():
    """On a 2-s synthetic track every feature equals the direct librosa computation."""
    _assert_matches_reference(_synthetic("rock", 4, 2.0))


def test_segment_features_equal_naive_librosa_on_real_gtzan(shared_data):
    """On the first 3 s of a real GTZAN WAV every feature equals librosa's direct value."""
    y, sr = sf.read(shared_data / "gtzan_sample" / "blues" / "blues.00000.wav", dtype="float32")
    assert sr == SR
    _assert_matches_reference(np.ascontiguousarray(y[: 3 * SR]))


def test_batch_features_equal_naive_librosa_on_real_segments(shared_data):
    """Four consecutive 3-s segments of a real WAV, computed as one batch: every segment's
    features equal the naive recipe on that segment alone."""
    y, sr = sf.read(shared_data / "gtzan_sample" / "metal" / "metal.00000.wav", dtype="float32")
    assert sr == SR
    segments = y[: 4 * 3 * SR].reshape(4, 3 * SR)
    _, feats = batch_features(segments, sr=SR, n_fft=2048, hop_length=512, n_mels=128,
                              n_mfcc=20)
    cols = handcrafted_columns()
    for seg, ours in zip(segments, feats, strict=True):
        ref = _naive_reference(seg, SR)
        bad = [(c, f, r) for c, f, r in zip(cols, ours, ref, strict=True)
               if abs(f - r) > (1e-6 if c in ("harmony_mean", "perceptr_mean") else 0)
               + 1e-4 * abs(r)]
        assert not bad, bad


def test_batch_features_do_not_depend_on_the_batch():
    """A segment's log-mel and features are bit-identical alone and inside a batch."""
    y = _synthetic("reggae", 2, 3.0).reshape(3, SR)
    kw = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
    mel_all, feats_all = batch_features(y, **kw)
    for i in range(3):
        mel, feats = batch_features(y[i : i + 1], **kw)
        np.testing.assert_array_equal(mel[0], mel_all[i])
        np.testing.assert_array_equal(feats[0], feats_all[i])


def test_torch_path_matches_numpy_path(shared_data):
    """The torch implementation (run here on the CPU; features.device=cuda runs it on a
    GPU) gives the numpy path's values within 1e-4 relative, on real and generated audio."""
    pytest.importorskip("torch")
    real, _ = sf.read(shared_data / "gtzan_sample" / "disco" / "disco.00000.wav", dtype="float32")
    segments = np.stack([real[SR : 2 * SR], _synthetic("metal", 1, 1.0)])
    kw = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
    mel, feats = batch_features(segments, **kw)
    mel_t, feats_t = batch_features(segments, device="torch-cpu", **kw)
    np.testing.assert_allclose(mel_t, mel, rtol=0, atol=1e-3)  # dB
    # Absolute slack where values are ~0: the harmonic/percussive means by construction,
    # an MFCC mean by chance (a sum of float32 dB values, ~1e-5 dB apart between the two).
    atol = np.array([1e-6 if c in ("harmony_mean", "perceptr_mean")
                     else 1e-4 if c.startswith("mfcc") and c.endswith("_mean") else 0.0
                     for c in handcrafted_columns()])
    assert np.all(np.abs(feats_t - feats) <= atol + 1e-4 * np.abs(feats))


def test_track_features_cuts_full_segments(wav_dir):
    """A 2-s file in 1-s segments gives 2 segments at offsets 0 and 1 s, each equal to
    segment_features of its slice; a 1.5-s file gives 1 segment (tail dropped)."""
    cfg = _cfg()
    tf = track_features(wav_dir / "long.wav", cfg)
    assert isinstance(tf, TrackFeatures)
    np.testing.assert_array_equal(tf.offsets, [0.0, 1.0])
    assert tf.log_mel.shape == (2, 128, n_frames(SR, 512))
    assert tf.handcrafted.shape == (2, 57)
    y, _ = sf.read(wav_dir / "long.wav", dtype="float32")
    mel1, feats1 = segment_features(y[SR:2 * SR], sr=SR, n_fft=2048, hop_length=512,
                                    n_mels=128, n_mfcc=20)
    np.testing.assert_array_equal(tf.log_mel[1], mel1)
    np.testing.assert_array_equal(tf.handcrafted[1], feats1)
    assert track_features(wav_dir / "short_ok.wav", cfg).handcrafted.shape == (1, 57)


def test_track_features_refuses_clip_shorter_than_a_segment(wav_dir):
    """A 0.5-s clip with 1-s segments raises AudioError naming the file and durations."""
    path = wav_dir / "tiny.wav"
    with pytest.raises(AudioError, match=r"tiny\.wav: 0\.50 s is shorter than one 1-s segment"):
        track_features(path, _cfg())


def test_extract_many_reports_bad_files_and_keeps_order(wav_dir):
    """Bad files yield a reason string, not an exception; results follow input order."""
    paths = [str(wav_dir / n) for n in ("long.wav", "bad.wav", "short_ok.wav", "tiny.wav")]
    results = extract_many(paths, _cfg(1), progress=False)
    assert [type(r) for r in results] == [TrackFeatures, str, TrackFeatures, str]
    assert results[0].handcrafted.shape[0] == 2
    assert results[2].handcrafted.shape[0] == 1
    assert results[1].startswith(paths[1]) and "cannot decode" in results[1]
    assert "shorter than one" in results[3]


def test_extract_many_is_identical_with_two_processes(wav_dir):
    """n_jobs=2 (a process pool) gives exactly the arrays and reasons of n_jobs=1."""
    paths = [str(wav_dir / n) for n in ("short_ok.wav", "bad.wav", "long.wav")]
    serial = extract_many(paths, _cfg(1), progress=False)
    parallel = extract_many(paths, _cfg(2), progress=False)
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel, strict=True):
        assert type(a) is type(b)
        if isinstance(a, str):
            assert a == b
        else:
            np.testing.assert_array_equal(a.offsets, b.offsets)
            np.testing.assert_array_equal(a.log_mel, b.log_mel)
            np.testing.assert_array_equal(a.handcrafted, b.handcrafted)


def test_extract_many_empty_input():
    """No paths, no results."""
    assert extract_many([], _cfg(2), progress=False) == []


@pytest.mark.parametrize("n_jobs", [1, 3, 7])
def test_resolve_jobs_positive_is_kept(n_jobs):
    """A positive n_jobs is used as is."""
    assert resolve_jobs(n_jobs) == n_jobs


def test_resolve_jobs_zero_means_available_cores():
    """n_jobs=0 means one worker per usable core (at least one)."""
    assert resolve_jobs(0) >= 1
