"""Fusing audio and lyrics: train-only standardisation, zeros and a mask for missing lyrics,
the weighted hybrid, observed masks and the on-disk round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats

from genrevae.inputs.fuse import (
    INPUTS,
    LAMBDA_RANGE,
    Fused,
    fuse_features,
    load_input,
    load_scalers,
    observed_mask,
    save_fused,
    scale_audio,
    yeo_johnson,
)
from genrevae.io import OWNED

N_TRACKS, SEGS, D_AUDIO, D_LYRICS = 8, 3, 5, 4
NO_LYRICS = [2, 5]  # tracks without lyrics
TRAIN_TRACKS = 5  # tracks 0..4 are train, 5..7 are not


def _inputs(rng: np.random.Generator):
    """Segment-level audio with arbitrary offsets and scales, per-track lyrics with NaN rows."""
    track_index = np.repeat(np.arange(N_TRACKS), SEGS)
    audio = rng.normal(size=(N_TRACKS * SEGS, D_AUDIO)) * [1, 10, 100, 0.1, 3] + [5, -2, 50, 0, 7]
    lyrics = rng.normal(size=(N_TRACKS, D_LYRICS)).astype(np.float32) * 4 + 2
    lyrics[NO_LYRICS] = np.nan
    is_train = track_index < TRAIN_TRACKS
    return audio, lyrics, track_index, is_train


def _fuse(audio, lyrics, track_index, is_train, aw=1.0, lw=0.5, transform="none") -> Fused:
    return fuse_features(audio, lyrics, track_index, is_train, audio_weight=aw,
                         lyrics_weight=lw, audio_transform=transform)


def test_audio_is_standardised_on_train_rows(rng):
    """Train audio columns have mean 0 and std 1 after scaling; the test rows do not
    define the scaling (their columns are not standardised as a whole)."""
    audio, lyrics, track_index, is_train = _inputs(rng)
    audio[~is_train] += 3 * audio[is_train].std(axis=0)  # test rows far from train rows
    fused = _fuse(audio, lyrics, track_index, is_train)
    assert fused.audio.shape == audio.shape
    assert fused.audio.dtype == np.float32
    np.testing.assert_allclose(fused.audio[is_train].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(fused.audio[is_train].std(axis=0), 1.0, atol=1e-5)
    assert np.all(np.abs(fused.audio.mean(axis=0)) > 0.1)


@pytest.mark.parametrize("shift", [1.0, -50.0, 1e4])
def test_shifting_test_rows_changes_no_train_row(rng, shift):
    """Moving test audio and test-only lyrics leaves every train row of every block intact,
    while the test rows do change."""
    audio, lyrics, track_index, is_train = _inputs(rng)
    base = _fuse(audio, lyrics, track_index, is_train)
    audio2, lyrics2 = audio.copy(), lyrics.copy()
    audio2[~is_train] += shift
    lyrics2[TRAIN_TRACKS:] += shift  # tracks 5..7 have only test segments
    moved = _fuse(audio2, lyrics2, track_index, is_train)
    for name in ("audio", "lyrics", "hybrid"):
        np.testing.assert_array_equal(getattr(moved, name)[is_train],
                                      getattr(base, name)[is_train])
    assert not np.allclose(moved.audio[~is_train], base.audio[~is_train])
    test_with_lyrics = ~is_train & base.has_lyrics
    assert not np.allclose(moved.lyrics[test_with_lyrics], base.lyrics[test_with_lyrics])


def test_lyrics_missing_are_zero_and_unmarked(rng):
    """Segments of tracks without lyrics get zeros and has_lyrics False; the rest are
    standardised on train segments with lyrics."""
    audio, lyrics, track_index, is_train = _inputs(rng)
    fused = _fuse(audio, lyrics, track_index, is_train)
    expected_has = ~np.isin(track_index, NO_LYRICS)
    np.testing.assert_array_equal(fused.has_lyrics, expected_has)
    assert fused.has_lyrics.dtype == bool
    assert fused.lyrics.dtype == np.float32
    assert np.all(np.isfinite(fused.lyrics))
    np.testing.assert_array_equal(fused.lyrics[~expected_has], 0.0)
    fit = expected_has & is_train
    np.testing.assert_allclose(fused.lyrics[fit].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(fused.lyrics[fit].std(axis=0), 1.0, atol=1e-5)


@pytest.mark.parametrize(("aw", "lw"), [(1.0, 0.5), (0.0, 1.0), (2.0, 0.0), (0.3, 3.0)])
def test_hybrid_is_weighted_concatenation(rng, aw, lw):
    """hybrid == [audio_weight * audio | lyrics_weight * lyrics], float32."""
    fused = _fuse(*_inputs(rng), aw=aw, lw=lw)
    assert fused.hybrid.shape == (N_TRACKS * SEGS, D_AUDIO + D_LYRICS)
    assert fused.hybrid.dtype == np.float32
    expected = np.concatenate([aw * fused.audio, lw * fused.lyrics], axis=1)
    np.testing.assert_allclose(fused.hybrid, expected, rtol=1e-6, atol=1e-7)


def test_no_train_rows_raise(rng):
    """Scalers need train rows: none is a ValueError."""
    audio, lyrics, track_index, is_train = _inputs(rng)
    with pytest.raises(ValueError, match="no train segments"):
        _fuse(audio, lyrics, track_index, np.zeros_like(is_train))


@pytest.mark.parametrize(("kind", "width"), [("audio", D_AUDIO), ("lyrics", D_LYRICS),
                                             ("hybrid", D_AUDIO + D_LYRICS)])
def test_observed_mask(kind, width):
    """Audio entries are always observed; lyrics entries only where the track has lyrics."""
    has = np.array([True, False, True, False, False])
    mask = observed_mask(kind, D_AUDIO, D_LYRICS, has)
    assert mask.shape == (5, width)
    assert mask.dtype == bool
    if kind == "audio":
        assert mask.all()
    elif kind == "lyrics":
        np.testing.assert_array_equal(mask, np.repeat(has[:, None], D_LYRICS, axis=1))
    else:
        assert mask[:, :D_AUDIO].all()
        np.testing.assert_array_equal(mask[:, D_AUDIO:], np.repeat(has[:, None], D_LYRICS, 1))


@pytest.mark.parametrize("kind", ["spectrogram", "", "Audio"])
def test_observed_mask_unknown_kind(kind):
    """An unknown input kind is refused, naming it."""
    with pytest.raises(ValueError, match=f"unknown input {kind!r}"):
        observed_mask(kind, 3, 2, np.ones(4, dtype=bool))


@pytest.mark.parametrize("kind", INPUTS)
def test_save_and_load_round_trip(tmp_path, rng, kind):
    """save_fused then load_input returns the block, its observed mask and usable rows
    (for lyrics exactly the rows with lyrics)."""
    fused = _fuse(*_inputs(rng))
    directory = tmp_path / "fused"
    save_fused(directory, fused)
    save_fused(directory, fused)  # overwriting an existing directory works
    assert sorted(p.name for p in directory.iterdir()) == sorted(  # and the output marker
        [*(f"{n}.npy" for n in ("audio", "lyrics", "hybrid", "has_lyrics")), "scalers.json",
         OWNED])
    assert load_scalers(directory) == fused.scalers
    x, observed, usable = load_input(directory, kind)
    np.testing.assert_array_equal(x, getattr(fused, kind))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(
        observed, observed_mask(kind, D_AUDIO, D_LYRICS, fused.has_lyrics))
    expected_usable = fused.has_lyrics if kind == "lyrics" else np.ones(len(x), dtype=bool)
    np.testing.assert_array_equal(usable, expected_usable)
    assert usable.dtype == bool


def test_load_input_unknown_kind(tmp_path, rng):
    """load_input refuses an unknown kind before reading anything."""
    with pytest.raises(ValueError, match="unknown input 'mel'"):
        load_input(tmp_path / "missing", "mel")


@pytest.mark.parametrize(("aw", "lw"), [(1.0, 0.5), (2.0, 0.0)])
def test_scalers_rebuild_the_audio_block(rng, aw, lw):
    """The saved train-split scalers turn raw audio into the fused audio block (what predict
    does for a new song), and carry the weights and the lyrics width."""
    audio, lyrics, track_index, is_train = _inputs(rng)
    fused = _fuse(audio, lyrics, track_index, is_train, aw=aw, lw=lw)
    s = fused.scalers
    rebuilt = (audio - np.asarray(s["audio_mean"])) / np.asarray(s["audio_scale"])
    np.testing.assert_allclose(rebuilt, fused.audio, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s["audio_mean"], audio[is_train].mean(axis=0))
    assert (s["audio_weight"], s["lyrics_weight"], s["lyrics_dim"]) == (aw, lw, D_LYRICS)
    no_lyrics = ~fused.has_lyrics
    np.testing.assert_allclose(fused.hybrid[no_lyrics],
                               np.concatenate([s["audio_weight"] * rebuilt[no_lyrics],
                                               np.zeros((no_lyrics.sum(), D_LYRICS))], axis=1),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("lam", [0.0, 2.0, -0.7, 0.5, 1.0, 1.6, 2.8, -3.0])
def test_yeo_johnson_matches_scipy(rng, lam):
    """The vectorised transform equals SciPy's one-column Yeo-Johnson for exponents on
    both sides of 0 and 2 and at the logarithmic limits 0 and 2 themselves."""
    x = rng.normal(size=(500, 1)) * 3
    np.testing.assert_allclose(yeo_johnson(x, np.array([lam]))[:, 0],
                               scipy.stats.yeojohnson(x[:, 0], lmbda=lam), rtol=1e-12,
                               atol=1e-12)


def _skewed(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Heavy-tailed audio (variance-like columns: log-normal, and one squared normal) in
    the shape of :func:`_inputs`, with more segments for the fit."""
    n_tracks, segs = 40, 3
    track_index = np.repeat(np.arange(n_tracks), segs)
    n = n_tracks * segs
    audio = np.column_stack([rng.lognormal(0, 1.2, n) * 1e-3, rng.lognormal(3, 1.0, n),
                             rng.normal(size=n) ** 2, rng.normal(120, 20, n),
                             -rng.lognormal(0, 1.2, n)])
    lyrics = np.full((n_tracks, 2), np.nan)
    return audio, lyrics, track_index, track_index < 30


def test_yeo_johnson_gaussianises_the_train_audio(rng):
    """With ``yeo_johnson`` the skewed train columns come out with mean 0, std 1 and a
    fraction of their skew (the plain scaling keeps it all); the exponents are saved with the scalers,
    one per feature, and the symmetric column is left nearly as it was."""
    audio, lyrics, track_index, is_train = _skewed(rng)
    plain = _fuse(audio, lyrics, track_index, is_train)
    bent = _fuse(audio, lyrics, track_index, is_train, transform="yeo_johnson")
    train = bent.audio[is_train]
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-5)
    skewed = [0, 1, 2, 4]
    before = np.abs(scipy.stats.skew(plain.audio[is_train][:, skewed]))
    after = np.abs(scipy.stats.skew(train[:, skewed]))
    assert np.all(before > 1.0)
    assert np.all(after < 0.4 * before)
    lambdas = bent.scalers["audio_lambdas"]
    assert len(lambdas) == audio.shape[1]
    assert all(LAMBDA_RANGE[0] <= lam <= LAMBDA_RANGE[1] for lam in lambdas)
    assert abs(lambdas[3] - 1.0) < 0.5  # the normal column needs little bending
    assert "audio_lambdas" not in plain.scalers


def test_yeo_johnson_is_fit_on_train_rows_only(rng):
    """Moving the test rows, even far off the train range, changes no train row and leaves
    every output finite (the powers act on bounded z-scores)."""
    audio, lyrics, track_index, is_train = _skewed(rng)
    base = _fuse(audio, lyrics, track_index, is_train, transform="yeo_johnson")
    moved_audio = audio.copy()
    moved_audio[~is_train] *= 1e6
    moved = _fuse(moved_audio, lyrics, track_index, is_train, transform="yeo_johnson")
    np.testing.assert_array_equal(moved.audio[is_train], base.audio[is_train])
    assert moved.scalers == base.scalers
    assert np.all(np.isfinite(moved.audio))
    assert not np.allclose(moved.audio[~is_train], base.audio[~is_train])


@pytest.mark.parametrize("transform", ["none", "yeo_johnson"])
def test_scale_audio_rebuilds_the_fused_block_bit_for_bit(rng, transform):
    """scale_audio with the saved scalers (predict's path) gives the fused audio block
    exactly, after a JSON round trip of the scalers."""
    audio, lyrics, track_index, is_train = _skewed(rng)
    fused = _fuse(audio.astype(np.float32), lyrics, track_index, is_train, transform=transform)
    scalers = json.loads(json.dumps(fused.scalers))
    np.testing.assert_array_equal(scale_audio(audio.astype(np.float32), scalers), fused.audio)


def test_yeo_johnson_keeps_an_absurd_value_finite_and_extreme(rng):
    """A finite but absurd test value (a feature table may hold one) stays finite after
    the power, even where the fitted exponent is steep, and stays the most extreme row."""
    audio, lyrics, track_index, is_train = _skewed(rng)
    test_row = int(np.flatnonzero(~is_train)[0])
    audio[test_row] = [1e30, -1e30, 1e30, -1e30, -1e30]
    fused = _fuse(audio.astype(np.float32), lyrics, track_index, is_train,
                  transform="yeo_johnson")
    assert np.all(np.isfinite(fused.audio))
    extreme = np.abs(fused.audio).argmax(axis=0)
    assert np.all(extreme == test_row)


def test_yeo_johnson_leaves_a_constant_column_alone(rng):
    """A feature constant on the train rows gets the identity exponent and finite values."""
    audio, lyrics, track_index, is_train = _skewed(rng)
    audio[:, 2] = 0.25
    fused = _fuse(audio, lyrics, track_index, is_train, transform="yeo_johnson")
    assert fused.scalers["audio_lambdas"][2] == 1.0
    assert np.all(np.isfinite(fused.audio))


def test_unknown_audio_transform_is_refused(rng):
    with pytest.raises(ValueError, match="unknown audio transform 'box_cox'"):
        _fuse(*_inputs(rng), transform="box_cox")
