"""The embedded synthetic corpus: reproducible tracks, valid audio, lyrics per language,
and genre differences the generator promises (drums, distortion, noise)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from genrevae.data.synthetic import (
    COMMON_WORDS,
    STYLES,
    TOPIC_WORDS,
    generate_track,
    make_lyrics,
)

GENRES = tuple(STYLES)
LANGUAGES = ("english", "bangla")


def _track(genre: str, index: int = 0, *, seed: int = 1, duration: float = 0.5,
           sr: int = 11025, languages: tuple[str, ...] = LANGUAGES,
           instrumental_fraction: float = 0.2):
    return generate_track(
        genre, index, languages=languages, duration=duration, sr=sr,
        instrumental_fraction=instrumental_fraction, seed=seed,
    )


def _has_bengali(text: str) -> bool:
    return any("\u0980" <= ch <= "\u09ff" for ch in text)


@pytest.mark.parametrize("genre", ["blues", "classical", "metal", "hiphop"])
def test_same_seed_gives_identical_track(genre):
    """Two calls with the same seed and index give the same audio, lyrics and language."""
    a, b = _track(genre, 3, seed=11), _track(genre, 3, seed=11)
    assert np.array_equal(a.audio, b.audio)
    assert (a.lyrics, a.language, a.track_id) == (b.lyrics, b.language, b.track_id)


@pytest.mark.parametrize(("changed", "kwargs"), [
    ("seed", {"seed": 12}),
    ("index", {"index": 4}),
])
@pytest.mark.parametrize("genre", ["jazz", "rock"])
def test_other_seed_or_index_gives_other_audio(genre, changed, kwargs):
    """Changing the corpus seed or the track index changes the rendered audio."""
    base = _track(genre, 3, seed=11)
    other = _track(genre, **{"index": 3, "seed": 11, **kwargs})
    assert base.audio.shape == other.audio.shape
    assert not np.array_equal(base.audio, other.audio), changed


@pytest.mark.parametrize("sr", [2000, 3000])
def test_low_sample_rate_gives_finite_audio(sr):
    """Notes whose fundamental is above Nyquist render as silence, never as NaN."""
    track = _track("metal", 1, duration=1.0, sr=sr)
    assert np.isfinite(track.audio).all()


@pytest.mark.parametrize(("duration", "sr"), [(0.5, 11025), (1.3, 22050), (0.37, 22050)])
@pytest.mark.parametrize("genre", GENRES)
def test_every_genre_renders_valid_audio(genre, duration, sr):
    """Audio has round(duration*sr) float32 samples, is finite and peaks at most 1."""
    track = _track(genre, 1, duration=duration, sr=sr)
    assert track.audio.shape == (round(duration * sr),)
    assert track.audio.dtype == np.float32
    assert np.all(np.isfinite(track.audio))
    peak = float(np.max(np.abs(track.audio)))
    assert 0.1 < peak <= 1.0
    assert track.genre == genre
    assert track.track_id == f"{genre}.00001"
    assert track.language in LANGUAGES


def test_unknown_genre_raises():
    """A genre with no style is refused with a message naming it."""
    with pytest.raises(ValueError, match="no synthetic style for genre 'polka'"):
        _track("polka")


@pytest.mark.parametrize("genre", GENRES)
def test_lyrics_are_none_or_non_empty_text(genre):
    """Every track's lyrics are either None (instrumental) or a non-blank string."""
    for index in range(6):
        lyrics = _track(genre, index, duration=0.1, sr=8000).lyrics
        assert lyrics is None or (isinstance(lyrics, str) and lyrics.strip())


@pytest.mark.parametrize("genre", [g for g in GENRES if g != "classical"])
def test_lyrics_script_follows_language(genre):
    """Bangla lyrics use Bengali script (U+0980..U+09FF); English lyrics are plain ASCII."""
    for language in LANGUAGES:
        for index in range(3):
            track = _track(genre, index, duration=0.1, sr=8000, languages=(language,),
                           instrumental_fraction=0.0)
            assert track.language == language
            assert track.lyrics is not None
            words = track.lyrics.split()
            if language == "bangla":
                assert _has_bengali(track.lyrics)
                assert all(_has_bengali(w) for w in words)
                assert not any(ch.isascii() and ch.isalpha() for ch in track.lyrics)
            else:
                assert not _has_bengali(track.lyrics)
                assert track.lyrics.isascii()


@pytest.mark.parametrize("fraction", [0.0, 0.2])
def test_classical_is_mostly_instrumental(fraction):
    """Classical tracks are instrumental ~85% of the time whatever instrumental_fraction says,
    while another genre follows instrumental_fraction."""
    n = 20
    classical = [_track("classical", i, duration=0.1, sr=8000, instrumental_fraction=fraction)
                 for i in range(n)]
    rock = [_track("rock", i, duration=0.1, sr=8000, instrumental_fraction=fraction)
            for i in range(n)]
    n_classical = sum(t.lyrics is None for t in classical)
    n_rock = sum(t.lyrics is None for t in rock)
    assert n_classical >= 12
    assert n_rock <= 8
    if fraction == 0.0:
        assert n_rock == 0


def test_instrumental_fraction_one_means_no_lyrics():
    """instrumental_fraction=1 leaves every track without lyrics."""
    tracks = [_track(g, i, duration=0.1, sr=8000, instrumental_fraction=1.0)
              for g in ("blues", "metal") for i in range(5)]
    assert all(t.lyrics is None for t in tracks)


def _mean_descriptors(genre: str, n: int = 4, duration: float = 2.0, sr: int = 22050):
    flatness, onset_rate, zcr = [], [], []
    for index in range(n):
        y = _track(genre, index, seed=5, duration=duration, sr=sr).audio
        flatness.append(float(np.mean(librosa.feature.spectral_flatness(y=y))))
        onset_rate.append(len(librosa.onset.onset_detect(y=y, sr=sr)) / duration)
        zcr.append(float(np.mean(librosa.feature.zero_crossing_rate(y=y))))
    return np.mean(flatness), np.mean(onset_rate), np.mean(zcr)


def test_metal_and_classical_differ_measurably():
    """Metal (fast drums, distortion, noise) is noisier, busier and brighter than classical
    (no drums, clean tones), on average over a few tracks."""
    metal_flat, metal_onsets, metal_zcr = _mean_descriptors("metal")
    classical_flat, classical_onsets, classical_zcr = _mean_descriptors("classical")
    assert metal_flat > 3 * classical_flat
    assert metal_onsets > 1.4 * classical_onsets
    assert metal_zcr > 1.5 * classical_zcr


def _topic_only_share(text: str, genre: str, language: str) -> float:
    topic_only = set(TOPIC_WORDS[language][genre]) - set(COMMON_WORDS[language])
    words = text.split()
    return sum(w in topic_only for w in words) / len(words)


@pytest.mark.parametrize(("genre", "language"), [("metal", "english"), ("jazz", "bangla"),
                                                 ("blues", "english")])
def test_topic_share_controls_topic_words(rng, genre, language):
    """More topic_share gives more genre topic words: none at 0, only topic words at 1,
    and shares in between close to the requested value."""
    shares = [0.0, 0.2, 0.5, 0.8, 1.0]
    observed = []
    for share in shares:
        texts = [make_lyrics(genre, language, rng, topic_share=share) for _ in range(15)]
        observed.append(np.mean([_topic_only_share(t, genre, language) for t in texts]))
        if share == 1.0:
            topic = set(TOPIC_WORDS[language][genre])
            assert all(w in topic for t in texts for w in t.split())
        if share == 0.0:
            common = set(COMMON_WORDS[language])
            assert all(w in common for t in texts for w in t.split())
    assert observed[0] == 0.0
    assert np.all(np.diff(observed) > 0)
    # A few topic words are also common words (blues "rain"), so the expected share of
    # topic-only words is scaled; the chorus repeats, so allow some slack.
    topic = TOPIC_WORDS[language][genre]
    topic_only = set(topic) - set(COMMON_WORDS[language])
    expected = np.asarray(shares) * len(topic_only) / len(topic)
    np.testing.assert_allclose(observed, expected, atol=0.15)


@pytest.mark.parametrize("language", LANGUAGES)
def test_lyrics_repeat_a_chorus(rng, language):
    """Lyrics alternate verses and one chorus that repeats verbatim."""
    text = make_lyrics("rock", language, rng)
    blocks = text.split("\n\n")
    assert len(blocks) >= 4
    choruses = blocks[1::2]
    assert len(set(choruses)) == 1
    assert len(choruses[0].splitlines()) == 2
    assert all(len(b.splitlines()) >= 3 for b in blocks[0::2])
