"""Corpus extraction into memory-mapped arrays: shapes and dtypes, unusable files reported
in input order, identical results with one or two processes, empty input, resuming after a
kill, the device path, header/decoded length mismatches, stale work folders, and the
extract_audio stage end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from threadpoolctl import threadpool_limits

import genrevae.data.audio as data_audio
import genrevae.features.engines.local as local
import genrevae.features.extraction as ex
import genrevae.features.store as store
from genrevae.config import FeaturesConfig, from_dict
from genrevae.data.audio import expected_segments, load_audio
from genrevae.errors import AudioError, DataError
from genrevae.features.audio import batch_features, handcrafted_columns, n_frames
from genrevae.features.extraction import CorpusExtraction
from genrevae.features.store import TrackOutcome, partial_root
from genrevae.features.workers import load_segments
from genrevae.pipeline import extract_audio
from tests.slow.features.conftest import stage_params, write_corpus

SR = 22050
ROOT = Path(__file__).resolve().parents[3]
GENRES = ["rock", "jazz", "metal", "blues", "disco", "reggae", "hiphop", "classical"]


def _cfg(n_jobs: int = 1, **kw) -> FeaturesConfig:
    base = dict(sample_rate=SR, segment_seconds=1.0, n_fft=2048, hop_length=512, n_mels=128,
                n_mfcc=20, n_jobs=n_jobs)
    return FeaturesConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    """Eight generated tracks (2 to 3.5 s), an undecodable file and a silent one."""
    return write_corpus(tmp_path_factory.mktemp("corpus"), GENRES)


def _atol() -> np.ndarray:
    """Absolute slack per feature for comparing two implementations: the harmonic and
    percussive means are ~0 by construction, and an MFCC mean can be ~0 by chance, where
    only an absolute bound makes sense (MFCCs are sums of float32 dB values, ~1e-5 dB
    apart between two summation orders)."""
    return np.array([1e-6 if c in ("harmony_mean", "perceptr_mean")
                     else 1e-4 if c.startswith("mfcc") and c.endswith("_mean") else 0.0
                     for c in handcrafted_columns()])


def _per_track(paths, cfg) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each track on its own, in memory: load_segments then batch_features (None where
    load_segments refuses the file), on one BLAS thread as extraction computes (a
    multi-threaded matrix product may round differently)."""
    out = []
    with threadpool_limits(1):
        for path in paths:
            try:
                segments = load_segments(path, cfg)
            except AudioError:
                out.append(None)
                continue
            out.append(batch_features(segments, sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                      hop_length=cfg.hop_length, n_mels=cfg.n_mels,
                                      n_mfcc=cfg.n_mfcc))
    return out


def _extract(paths, cfg, workdir: Path) -> tuple[list[TrackOutcome], np.ndarray, np.ndarray]:
    job = CorpusExtraction(paths, cfg, workdir / ".audio.partial")
    outcomes = job.run(progress=False)
    job.promote(outcomes, workdir / "mel.npy", workdir / "handcrafted.npy")
    job.cleanup()
    return (outcomes, np.load(workdir / "mel.npy", mmap_mode="r"),
            np.load(workdir / "handcrafted.npy", mmap_mode="r"))


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """One serial extraction of the corpus, the reference for the other tests."""
    return _extract(corpus, _cfg(1), tmp_path_factory.mktemp("serial"))


def test_memmapped_outputs_have_the_documented_shapes_and_values(corpus, reference):
    """mel (n_seg, n_mels, frames) and handcrafted (n_seg, 57), float32 .npy files that
    open memory-mapped; rows equal each track's segments computed on their own, track
    after track; the unusable files yield reasons (naming the file) and no rows."""
    outcomes, mel, hand = reference
    memory = _per_track(corpus, _cfg(1))
    kept = [m for m in memory if m is not None]
    n_seg = sum(len(m[0]) for m in kept)
    assert isinstance(mel, np.memmap) and isinstance(hand, np.memmap)
    assert mel.shape == (n_seg, 128, n_frames(SR, 512)) and mel.dtype == np.float32
    assert hand.shape == (n_seg, len(handcrafted_columns())) and hand.dtype == np.float32
    np.testing.assert_array_equal(mel, np.concatenate([m[0] for m in kept]))
    np.testing.assert_array_equal(hand, np.concatenate([m[1] for m in kept]).astype(np.float32))
    assert [o.n_segments for o in outcomes] == [0 if m is None else len(m[0]) for m in memory]
    assert [o.reason is None for o in outcomes] == [m is not None for m in memory]
    assert outcomes[4].reason.startswith(corpus[4]) and "cannot decode" in outcomes[4].reason
    assert outcomes[-1].reason.endswith("silent (peak 0.0e+00)")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_unusable_files_are_reported_in_input_order(clips, tmp_path, n_jobs):
    """An undecodable file and a clip shorter than a segment yield their reasons and no
    rows, in place; the good files' rows follow input order (in-process and in a pool)."""
    paths = [str(clips / f"{n}.wav") for n in ("long", "bad", "short_ok", "tiny")]
    outcomes, mel, hand = _extract(paths, _cfg(n_jobs), tmp_path)
    assert [o.n_segments for o in outcomes] == [2, 0, 1, 0]
    assert outcomes[0].reason is None and outcomes[2].reason is None
    assert outcomes[1].reason.startswith(paths[1]) and "cannot decode" in outcomes[1].reason
    assert outcomes[3].reason.startswith(paths[3]) and "shorter than one" in outcomes[3].reason
    memory = _per_track(paths, _cfg())
    np.testing.assert_array_equal(mel, np.concatenate([memory[0][0], memory[2][0]]))
    np.testing.assert_array_equal(
        hand, np.concatenate([memory[0][1], memory[2][1]]).astype(np.float32))


def test_empty_input_gives_empty_arrays(tmp_path):
    """No paths: no outcomes, arrays with no rows but the row shape, no work folder left."""
    outcomes, mel, hand = _extract([], _cfg(2), tmp_path)
    assert outcomes == []
    assert mel.shape == (0, 128, n_frames(SR, 512)) and mel.dtype == np.float32
    assert hand.shape == (0, len(handcrafted_columns())) and hand.dtype == np.float32
    assert not (tmp_path / ".audio.partial").exists()


def test_one_and_two_processes_give_identical_arrays(corpus, reference, tmp_path):
    """n_jobs=2 (a process pool writing rows as tracks finish) == n_jobs=1, bit for bit."""
    outcomes, mel, hand = _extract(corpus, _cfg(2), tmp_path)
    assert outcomes == reference[0]
    np.testing.assert_array_equal(mel, reference[1])
    np.testing.assert_array_equal(hand, reference[2])


_KILLABLE = """
import json, sys, time
import genrevae.features.engines.local as local
import genrevae.features.extraction as ex
import genrevae.features.store as store
from genrevae.config import FeaturesConfig

store.JOURNAL_EVERY_S = 0.0
work = local.extract_track

def slow(job):
    out = work(job)
    time.sleep(0.3)
    return out

local.extract_track = slow
paths, root, cfg = json.loads(sys.argv[1])
ex.CorpusExtraction(paths, FeaturesConfig(**cfg), root).run(progress=False)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_killed_extraction_resumes_with_only_the_missing_tracks(corpus, reference, tmp_path,
                                                                monkeypatch, n_jobs):
    """SIGKILL an extraction midway (in-process, or the parent of a worker pool, whose
    workers must die with it): nothing is at the output paths; the rerun computes only the
    tracks the journal does not list, and the arrays equal an uninterrupted run."""
    root = tmp_path / ".audio.partial"
    cfg = _cfg(n_jobs)
    script = tmp_path / "killable.py"
    script.write_text(_KILLABLE, encoding="utf-8")
    args = json.dumps([corpus, str(root), {**cfg.__dict__}])
    proc = subprocess.Popen([sys.executable, str(script), args], cwd=ROOT)
    journal = root / store.extraction_key(corpus, cfg) / "done.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the extraction ended before it could be killed"
    children_file = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    workers = [int(c) for c in children_file.read_text().split()] if children_file.exists() else []
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "mel.npy").exists()
    if n_jobs > 1 and children_file.parent.exists():
        assert len(workers) == n_jobs
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "pool workers outlived their parent"

    done_before = len(store.Journal.read(journal.parent))
    assert 3 <= done_before < len(corpus)
    calls = []
    work = local.extract_track
    monkeypatch.setattr(local, "extract_track", lambda job: calls.append(job.index) or work(job))
    outcomes, mel, hand = _extract(corpus, _cfg(1), tmp_path)  # in-process: calls are seen
    assert len(calls) == len(corpus) - done_before
    assert outcomes == reference[0]
    np.testing.assert_array_equal(mel, reference[1])
    np.testing.assert_array_equal(hand, reference[2])
    assert not root.exists()


def test_device_path_batches_tracks_together(corpus, reference, tmp_path, monkeypatch):
    """features.device=cuda decodes on threads and computes several tracks per torch call;
    run here with torch on the CPU and 5-segment batches: the same outcomes, and values
    within 1e-4 of the CPU path."""
    pytest.importorskip("torch")
    monkeypatch.setattr(ex, "resolve_device", lambda name, key: "torch-cpu")
    monkeypatch.setattr(local, "DEVICE_BATCH", 5)
    outcomes, mel, hand = _extract(corpus, _cfg(2, device="cuda"), tmp_path)
    assert outcomes == reference[0]
    np.testing.assert_allclose(mel, reference[1], rtol=0, atol=1e-3)
    ref = np.asarray(reference[2], dtype=np.float64)
    assert np.all(np.abs(hand - ref) <= _atol() + 1e-4 * np.abs(ref))


def test_header_and_decoded_counts_that_disagree(corpus, reference, tmp_path, monkeypatch):
    """A header predicting one segment too many leaves an unused row, compacted away; one
    predicting one too few keeps the predicted number; nothing else moves."""
    predicted = {p: expected_segments(p, sr=SR, seconds=1.0) for p in corpus}
    wrong = {corpus[0]: predicted[corpus[0]] + 1, corpus[1]: predicted[corpus[1]] - 1}
    monkeypatch.setattr(data_audio, "expected_segments",
                        lambda p, **kw: wrong.get(p, predicted[p]))
    outcomes, mel, hand = _extract(corpus, _cfg(1), tmp_path)
    ref_counts = [o.n_segments for o in reference[0]]
    assert [o.n_segments for o in outcomes] == [ref_counts[0], ref_counts[1] - 1, *ref_counts[2:]]
    keep = np.ones(len(reference[1]), dtype=bool)
    keep[ref_counts[0] + ref_counts[1] - 1] = False  # the second track's last segment
    np.testing.assert_array_equal(mel, reference[1][keep])
    np.testing.assert_array_equal(hand, reference[2][keep])


def test_expected_segments_match_decoding(corpus, shared_data, tmp_path):
    """The header's count equals the decoded one for WAV, MP3 and a resampled file."""
    y = load_audio(corpus[0], sr=SR)
    sf.write(tmp_path / "44k.wav", np.repeat(y, 2), 44100, subtype="FLOAT")
    files = [corpus[0], shared_data / "gtzan_sample" / "blues" / "blues.00099.mp3",
             tmp_path / "44k.wav"]
    for path in files:
        decoded = len(load_audio(path, sr=SR)) // SR
        assert expected_segments(path, sr=SR, seconds=1.0) == decoded
    assert expected_segments(corpus[4], sr=SR, seconds=1.0) == 0  # not audio


def test_a_track_longer_than_max_seconds_gives_its_first_max_seconds(corpus, tmp_path):
    """max_seconds=2.5 on tracks of 2 to 3.5 s: a longer one gives the two segments of its
    first 2.5 s (bit for bit those of the same track cut to 2.5 s by hand), the header's
    count agrees, and the shorter ones are unchanged."""
    cfg = _cfg(1, max_seconds=2.5)
    long_track = next(p for p in corpus[:4] if sf.info(p).frames > 3 * SR)
    y, _ = sf.read(long_track, dtype="float32")
    sf.write(tmp_path / "cut.wav", y[: int(2.5 * SR)], SR, subtype="FLOAT")
    outcomes, mel, hand = _extract([long_track, str(tmp_path / "cut.wav"), corpus[0]], cfg,
                                   tmp_path / "capped")
    assert [o.n_segments for o in outcomes] == [2, 2, 2]
    np.testing.assert_array_equal(mel[:2], mel[2:4])
    np.testing.assert_array_equal(hand[:2], hand[2:4])
    assert expected_segments(long_track, sr=SR, seconds=1.0, max_seconds=2.5) == 2
    assert expected_segments(long_track, sr=SR, seconds=1.0) == 3
    whole = _extract([corpus[0]], _cfg(1), tmp_path / "whole")
    np.testing.assert_array_equal(mel[4:], whole[1])  # 2 s: within the limit, as before


def test_changed_parameters_start_afresh_and_stale_state_is_removed(corpus, tmp_path,
                                                                    monkeypatch):
    """The work folder is keyed by the parameters and files; another key's folder is
    removed when not in use; a second extraction of the same folder is refused."""
    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.2)
    root = tmp_path / ".audio.partial"
    stale = root / "0123456789abcdef0123"
    stale.mkdir(parents=True)
    (stale / "mel.npy").write_bytes(b"junk")
    job = CorpusExtraction(corpus[:2], _cfg(1), root)
    other = CorpusExtraction(corpus[:2], _cfg(1, n_mels=64), root)
    assert job.store.key != other.store.key
    assert job.store.key == CorpusExtraction(corpus[:2], _cfg(2, device="auto"), root).store.key
    job.store.open()
    assert not stale.exists()
    with pytest.raises(DataError, match="another extraction"):
        CorpusExtraction(corpus[:2], _cfg(1), root).store.open()
    job.cleanup()


def test_extract_audio_stage_writes_the_documented_files(corpus, reference, params, tmp_path):
    """The stage on a manifest of the corpus: segments.csv keyed by track and segment with
    offsets and labels, skipped.csv with reasons, the arrays, and no work folder left."""
    p = stage_params(params, tmp_path, segment_seconds=1.0, n_jobs=1)
    out = tmp_path / "features" / "audio"
    cfg = from_dict(p)
    manifest = pd.DataFrame({"track_id": [f"t{i}" for i in range(len(corpus))], "path": corpus,
                             "genre": "g", "language": "english", "source": "folder",
                             "lyrics": "", "split": "train"})
    manifest.to_csv(cfg.paths.manifest, index=False)
    extract_audio.run(cfg)
    segments = pd.read_csv(cfg.paths.segments)
    counts = [o.n_segments for o in reference[0]]
    assert len(segments) == sum(counts) == len(np.load(cfg.paths.mel, mmap_mode="r"))
    assert list(segments.columns[:3]) == ["track_id", "segment_index", "offset_s"]
    first = segments[segments["track_id"] == "t0"]
    assert first["segment_index"].tolist() == list(range(counts[0]))
    assert first["offset_s"].tolist() == [float(i) for i in range(counts[0])]
    np.testing.assert_array_equal(np.load(cfg.paths.handcrafted), reference[2])
    skipped = pd.read_csv(cfg.paths.skipped)
    assert skipped["track_id"].tolist() == ["t4", f"t{len(corpus) - 1}"]
    assert json.loads(Path(cfg.paths.handcrafted_columns).read_text()) == handcrafted_columns()
    assert not partial_root(out).exists()
