"""Decoding audio to mono float32 at a target rate, refusing unusable files with an
AudioError that names the file, and cutting equal-length segments."""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrevae.data.audio import (
    MAX_PEAK,
    _peak_and_non_finite,
    count_segments,
    cut_segments,
    load_audio,
    mix_down,
    probe_audio,
    resample,
    segment_length,
    stream_audio,
)
from genrevae.errors import AudioError


def _sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def _peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


def test_stereo_is_mixed_to_mono_exactly(tmp_path, rng):
    """Without resampling, the result is the mean of the channels, as contiguous float32."""
    left = rng.uniform(-0.5, 0.5, 4000)
    right = rng.uniform(-0.5, 0.5, 4000)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    y = load_audio(path, sr=22050)
    assert y.dtype == np.float32
    assert y.ndim == 1
    assert y.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(y, ((left + right) / 2).astype(np.float32), atol=1e-7)


def test_stereo_44100_is_mixed_and_resampled(tmp_path):
    """A 1-s 440-Hz stereo WAV at 44100 Hz loads as 22050 mono samples whose spectrum peaks
    at 440 Hz with the average of the channel amplitudes."""
    path = tmp_path / "stereo44k.wav"
    stereo = np.stack([_sine(440, 1.0, 44100, 0.6), _sine(440, 1.0, 44100, 0.2)], axis=1)
    sf.write(path, stereo, 44100, subtype="PCM_16")
    y = load_audio(path, sr=22050)
    assert y.shape == (22050,)
    assert abs(_peak_hz(y, 22050) - 440) <= 1.0
    middle = y[2000:-2000]
    assert abs(float(np.max(np.abs(middle))) - 0.4) < 0.01


@pytest.mark.parametrize(("native_sr", "target_sr", "freq"), [
    (44100, 22050, 440.0),
    (48000, 22050, 5000.0),
    (16000, 22050, 1000.0),
    (22050, 16000, 3000.0),
    (22050, 22050, 250.0),
])
def test_resampling_keeps_duration_and_pitch(tmp_path, native_sr, target_sr, freq):
    """Resampling to ``sr`` keeps the duration (within one sample) and the sine's frequency."""
    path = tmp_path / f"mono{native_sr}.flac"
    sf.write(path, _sine(freq, 1.5, native_sr), native_sr)
    y = load_audio(path, sr=target_sr)
    assert abs(len(y) - 1.5 * target_sr) <= 1
    assert abs(_peak_hz(y, target_sr) - freq) <= 1.0


def _valid_wav_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, _sine(440, 0.5, 22050), 22050, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _zero_byte(path: Path) -> None:
    path.write_bytes(b"")


def _text_file(path: Path) -> None:
    path.write_text("this is not audio\n" * 20, encoding="utf-8")


def _corrupt_header(path: Path) -> None:
    data = bytearray(_valid_wav_bytes())
    data[:12] = b"JUNKJUNKJUNK"  # the RIFF/WAVE signature and chunk size
    path.write_bytes(bytes(data))


def _silent(path: Path) -> None:
    sf.write(path, np.zeros(22050), 22050, subtype="PCM_16")


def _no_frames(path: Path) -> None:
    sf.write(path, np.zeros(0), 22050, subtype="PCM_16")


def _missing(path: Path) -> None:
    pass


@pytest.mark.parametrize(("make", "reason"), [
    (_zero_byte, "empty file \\(0 bytes\\)"),
    (_text_file, "cannot decode audio"),
    (_corrupt_header, "cannot decode audio"),
    (_silent, "silent"),
    (_no_frames, "no audio samples"),
    (_missing, "file not found"),
])
def test_unusable_files_raise_audio_error_naming_the_path(tmp_path, make, reason):
    """Each kind of unusable file raises AudioError whose message starts with the path."""
    path = tmp_path / f"{make.__name__.strip('_')}.wav"
    make(path)
    with pytest.raises(AudioError, match=rf"^{re.escape(str(path))}: {reason}"):
        load_audio(path, sr=22050)


def test_silent_after_mixing_is_refused(tmp_path):
    """Channels in exact anti-phase mix to silence, which is refused."""
    path = tmp_path / "antiphase.wav"
    s = _sine(300, 0.5, 22050)
    sf.write(path, np.stack([s, -s], axis=1), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="silent"):
        load_audio(path, sr=22050)


def _float_wav(path: Path, y: np.ndarray, sr: int = 22050, subtype: str = "FLOAT") -> Path:
    sf.write(path, y, sr, subtype=subtype)
    return path


def _with(value: float, *, at: int = 1000, seconds: float = 2.0, sr: int = 22050) -> np.ndarray:
    y = _sine(440, seconds, sr)
    y[at] = value
    return y


# name -> (samples, soundfile subtype, reason, message after the path)
HOSTILE = {
    "nan": (_with(np.nan), "FLOAT", "non_finite", "1 of 44100 samples are NaN or infinite"),
    "inf": (_with(np.inf), "FLOAT", "non_finite", "1 of 44100 samples are NaN or infinite"),
    "minus_inf": (_with(-np.inf), "DOUBLE", "non_finite", "1 of 44100 samples are NaN"),
    "all_nan": (np.full(44100, np.nan), "FLOAT", "non_finite", "44100 of 44100 samples"),
    "huge_1e30": (_sine(440, 2.0, 22050) * 1e30, "FLOAT", "out_of_range",
                  "samples reach 5e\\+29, far beyond full scale"),
    "huge_1e300": (_sine(440, 2.0, 22050) * 1e300, "DOUBLE", "non_finite",
                   "44099 of 44100 samples are NaN"),
    "one_huge_sample": (_with(-2 * MAX_PEAK), "FLOAT", "out_of_range", "samples reach 2e\\+03"),
    "int16_scale": (_sine(440, 2.0, 22050, amp=32767.0), "FLOAT", "out_of_range",
                    "samples reach 3.28e\\+04"),
    "denormal_only": (np.full(44100, 1e-40), "FLOAT", "silent", "silent \\(peak 1.0e-40\\)"),
    "tiny": (_sine(440, 2.0, 22050, amp=1e-7), "FLOAT", "silent", "silent"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_samples_are_refused_with_their_reason(tmp_path, name):
    """Non-finite, absurdly large and silent (or denormal-only) samples are refused by both
    the prepare probe and the decoder, with a reason and a message naming the file. (A
    double beyond float32's range reads back as infinite, so it is non_finite.)"""
    y, subtype, reason, message = HOSTILE[name]
    path = _float_wav(tmp_path / f"{name}.wav", y, subtype=subtype)
    for call in (lambda: probe_audio(path, min_seconds=1.0), lambda: load_audio(path, sr=16000)):
        with pytest.raises(AudioError, match=rf"^{re.escape(str(path))}: {message}") as info:
            call()
        assert info.value.reason == reason


@pytest.mark.parametrize("peak", [1.0, 4.0, MAX_PEAK])
def test_overshoot_up_to_the_limit_is_kept(tmp_path, peak):
    """Float files may overshoot full scale a little (or a lot, up to MAX_PEAK)."""
    path = _float_wav(tmp_path / "loud.wav", _sine(440, 2.0, 22050, amp=peak))
    assert probe_audio(path, min_seconds=1.0).duration_s == pytest.approx(2.0)
    assert np.max(np.abs(load_audio(path, sr=22050))) == pytest.approx(peak, rel=1e-3)


@pytest.mark.parametrize(("sr", "ok"), [(999, False), (1000, True), (768_000, True),
                                        (800_000, False)])
def test_native_rate_outside_what_recordings_use_is_refused(tmp_path, sr, ok):
    path = _float_wav(tmp_path / "rate.wav", _sine(50, 1.0, sr, amp=0.5)[:2000], sr=sr)
    if ok:
        probe_audio(path, min_seconds=0.0)
        return
    with pytest.raises(AudioError, match=f"sample rate {sr} Hz is outside") as info:
        probe_audio(path, min_seconds=0.0)
    assert info.value.reason == "bad_sample_rate"


def test_missing_file_is_not_a_system_error(tmp_path):
    path = tmp_path / "gone.wav"
    with pytest.raises(AudioError, match=r"gone\.wav: file not found$") as info:
        probe_audio(path, min_seconds=1.0)
    assert info.value.reason == "missing"


@pytest.mark.parametrize("native", [22050, 44100])
def test_max_seconds_reads_only_the_start(tmp_path, native):
    """At most ``max_seconds`` are decoded: at the target rate exactly the first samples,
    and through a resampler the resampled first ``max_seconds``; the stream gives the same
    length, and a limit beyond the end changes nothing."""
    t = np.arange(int(7.3 * native)) / native
    y = 0.4 * np.sin(2 * np.pi * 330 * t)[:, None] * np.array([1.0, 0.5])
    path = tmp_path / "song.wav"
    sf.write(path, y.astype(np.float32), native, subtype="FLOAT")
    whole = load_audio(path, sr=22050)
    first = load_audio(path, sr=22050, max_seconds=2.5)
    assert len(first) == 55125
    if native == 22050:
        np.testing.assert_array_equal(first, whole[:55125])
    else:
        prefix = tmp_path / "prefix.wav"
        sf.write(prefix, y[: int(2.5 * native)].astype(np.float32), native, subtype="FLOAT")
        np.testing.assert_array_equal(first, load_audio(prefix, sr=22050))
    streamed = np.concatenate(list(stream_audio(path, sr=22050, block_seconds=1.1,
                                                max_seconds=2.5)))
    assert len(streamed) == len(first)
    np.testing.assert_allclose(streamed, first, atol=1e-5)
    np.testing.assert_array_equal(load_audio(path, sr=22050, max_seconds=60.0), whole)


def test_text_named_mp3_is_not_called_missing(tmp_path):
    """libsndfile calls a text file named .mp3 a file that "does not exist"; the error
    says it is not audio instead."""
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio\n")
    with pytest.raises(AudioError, match=r"notes\.mp3: cannot decode audio \(not audio in "
                                         r"any format it reads\)$") as info:
        load_audio(path, sr=22050)
    assert info.value.reason == "undecodable"


@pytest.mark.parametrize("make", [os.mkfifo, Path.mkdir], ids=["pipe", "folder"])
def test_pipe_or_folder_is_not_a_file(tmp_path, make):
    """A named pipe is refused before it is opened (reading one that nothing writes to
    would wait for ever), and a folder named .wav is not called an undecodable file."""
    path = tmp_path / "odd.wav"
    make(path)
    for check in (lambda: load_audio(path, sr=22050), lambda: probe_audio(path, min_seconds=1.0),
                  lambda: list(stream_audio(path, sr=22050))):
        with pytest.raises(AudioError, match=r"odd\.wav: not a regular file") as info:
            check()
        assert info.value.reason == "not_a_file"


@pytest.mark.parametrize(("n_samples", "sr", "seconds"), [
    (10, 2, 2.0),
    (66150, 22050, 3.0),
    (66149, 22050, 3.0),
    (661794, 22050, 3.0),
    (100_000, 22050, 1.0),
    (22050, 22050, 1.5),
    (0, 22050, 1.0),
    (48000, 16000, 0.25),
])
def test_cut_segments_are_equal_and_drop_partial_tail(n_samples, sr, seconds):
    """Segments are consecutive, equally long, as many as fit (count_segments says how
    many), and only a partial segment is dropped."""
    length = round(seconds * sr)
    y = np.arange(n_samples, dtype=np.float32)
    segments = cut_segments(y, sr=sr, seconds=seconds)
    assert segments.shape == (n_samples // length, length) and segments.dtype == np.float32
    assert len(segments) == count_segments(n_samples, sr=sr, seconds=seconds)
    assert length == segment_length(sr=sr, seconds=seconds)
    np.testing.assert_array_equal(segments.reshape(-1), y[: segments.size])
    assert n_samples - segments.size < length  # only a partial segment is dropped
    assert np.shares_memory(segments, y) or segments.size == 0  # a view, not a copy


def test_cut_segments_known_values():
    """10 samples at 2 Hz in 2-s segments: two segments, the last 2 samples dropped."""
    np.testing.assert_array_equal(cut_segments(np.arange(10), sr=2, seconds=2.0),
                                  [[0, 1, 2, 3], [4, 5, 6, 7]])


def test_real_mp3_decodes(shared_data):
    """The GTZAN MP3 excerpt decodes to about 30 s of finite mono float32 at 22050 Hz."""
    y = load_audio(shared_data / "gtzan_sample" / "blues" / "blues.00099.mp3", sr=22050)
    assert y.dtype == np.float32
    assert y.ndim == 1
    assert abs(len(y) / 22050 - 30.0) < 0.1
    assert np.all(np.isfinite(y))
    assert 0.01 < float(np.max(np.abs(y))) <= 1.0


@pytest.mark.parametrize("name", ["blues/blues.00000.wav", "metal/metal.00000.wav"])
def test_real_wav_decodes_unchanged_at_native_rate(shared_data, name):
    """A real 22050-Hz mono GTZAN WAV loads sample for sample as soundfile reads it."""
    path = shared_data / "gtzan_sample" / name
    reference, native_sr = sf.read(path, dtype="float32")
    assert native_sr == 22050
    y = load_audio(path, sr=22050)
    assert abs(len(y) / 22050 - 30.0) < 0.1
    np.testing.assert_array_equal(y, reference)


def test_real_wav_resampled(shared_data):
    """Resampling a real WAV to 16000 Hz gives the matching number of samples."""
    path = shared_data / "gtzan_sample" / "jazz" / "jazz.00000.wav"
    n_native = sf.info(path).frames
    y = load_audio(path, sr=16000)
    assert abs(len(y) - math.ceil(n_native * 16000 / 22050)) <= 1
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 7, 8, 9])
def test_mix_down_is_the_channel_mean_bit_for_bit(channels: int, rng) -> None:
    """The fast mix gives exactly numpy's channel mean (the values every cached feature was
    computed from), for any channel count, contiguous and mono."""
    data = (rng.normal(size=(4099, channels)) * 0.4).astype(np.float32)
    y = mix_down(data)
    assert y.dtype == np.float32 and y.shape == (4099,) and y.flags.c_contiguous
    np.testing.assert_array_equal(y, data.mean(axis=1))
    assert not np.shares_memory(y, data) or channels == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_peak_and_non_finite_count_equal_numpy(dtype, layout, rng) -> None:
    """The bit-pattern scan gives numpy's peak and NaN/inf count, on negative peaks,
    signed zeros, denormals, the largest float and every kind of non-finite value."""
    specials = np.array([-0.0, 0.0, 1e-45, -1e-40, np.finfo(np.float32).max,
                         -np.finfo(np.float32).max, -3.5, 2.25], dtype=dtype)
    for bad in ([], [np.nan], [np.inf, -np.inf], [-np.nan, np.nan, np.inf]):
        data = rng.standard_normal((1001, 2)).astype(dtype)
        data.flat[rng.choice(data.size, len(specials), replace=False)] = specials
        data.flat[rng.choice(data.size, len(bad), replace=False)] = bad
        if layout == "strided":
            data = np.asfortranarray(data)
        finite = np.isfinite(data)
        peak, n_bad = _peak_and_non_finite(data)
        assert n_bad == data.size - np.count_nonzero(finite)
        assert peak == float(np.max(np.abs(data[finite])))


@pytest.mark.parametrize(("orig_sr", "target_sr"), [(44100, 22050), (48000, 22050),
                                                     (8000, 22050), (22051, 22050)])
@pytest.mark.parametrize("n", [1, 7, 999, 44101])
def test_resample_is_librosas_soxr_hq_bit_for_bit(orig_sr, target_sr, n, rng) -> None:
    import librosa

    y = rng.uniform(-1, 1, n).astype(np.float32)
    ours = resample(y, orig_sr=orig_sr, target_sr=target_sr)
    theirs = librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)
