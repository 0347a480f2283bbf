"""The model input every stage rebuilds: fused feature blocks, train-standardised log-mel
segments, and the cvae's one-hot condition with categories from the train split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genrevae.config import Config, from_dict, to_dict
from genrevae.inputs.fuse import fuse_features, save_fused
from genrevae.inputs.transform import (
    InputTransform,
    MelRows,
    load_model_input,
    mel_band_stats,
    one_hot,
    standardise_mel,
)

N_MELS, FRAMES = 6, 9


def test_one_hot_orders_columns_by_categories() -> None:
    """Column j is categories[j]; a value outside the categories gets a zero row."""
    out = one_hot(np.array(["en", "bn", "xx", "en"]), ["bn", "en"])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 1], [1, 0], [0, 0], [0, 1]])
    np.testing.assert_array_equal(one_hot(pd.Series(["bn"]), ["bn", "en"]), [[1, 0]])


def test_standardise_mel_per_band(rng: np.random.Generator) -> None:
    """(mel - mean[band]) / std[band], broadcast over segments and frames."""
    mel = rng.normal(size=(4, N_MELS, FRAMES))
    mean, std = rng.normal(size=N_MELS), rng.uniform(0.5, 2.0, size=N_MELS)
    out = standardise_mel(mel, mean, std)
    assert out.dtype == np.float32 and out.shape == mel.shape
    for band in range(N_MELS):
        np.testing.assert_allclose(out[:, band], (mel[:, band] - mean[band]) / std[band],
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3, 5, 1000])
def test_band_stats_in_one_pass_equal_the_two_pass_ones(rng: np.random.Generator,
                                                        chunk: int) -> None:
    """Chunks merged one at a time give the whole selection's float64 mean and std (cast
    to float32), with a mask or with indices; a band with no spread gets the 1e-3 floor."""
    mel = (rng.normal(size=(11, N_MELS, FRAMES)) * 3.0 - 60.0).astype(np.float32)
    mel[:, 2] = -80.0
    rows = rng.random(11) < 0.6
    rows[:2] = True
    picked = mel[rows].astype(np.float64)
    want_mean = picked.mean(axis=(0, 2)).astype(np.float32)
    want_std = np.maximum(picked.std(axis=(0, 2)), 1e-3).astype(np.float32)
    for selection in (rows, np.flatnonzero(rows)):
        mean, std = mel_band_stats(mel, selection, chunk=chunk)
        assert mean.dtype == std.dtype == np.float32
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
        np.testing.assert_allclose(std, want_std, rtol=1e-5)
    assert std[2] == np.float32(1e-3)
    with pytest.raises(ValueError, match="at least one segment"):
        mel_band_stats(mel, np.zeros(11, dtype=bool))


def test_mel_rows_read_only_the_rows_asked_for(tmp_path, rng: np.random.Generator) -> None:
    """Indexing a MelRows reads nothing; converting it gives standardise_mel of exactly
    those rows, in the order asked for (unsorted, repeated, masks, slices, nested)."""
    mel = rng.normal(size=(9, N_MELS, FRAMES)).astype(np.float32)
    np.save(tmp_path / "mel.npy", mel)
    mmap = np.load(tmp_path / "mel.npy", mmap_mode="r")
    mean, std = rng.normal(size=N_MELS).astype(np.float32), np.full(N_MELS, 2.0, np.float32)
    rows = MelRows(mmap, mean, std)
    want = standardise_mel(mel, mean, std)
    assert rows.shape == mel.shape and len(rows) == 9 and rows.ndim == 3
    np.testing.assert_array_equal(np.asarray(rows), want)
    for key in ([7, 2, 2, 0], np.arange(9) % 2 == 0, slice(3, 8), slice(None, None, -1)):
        view = rows[key]
        assert isinstance(view, MelRows) and view.mel is mmap
        np.testing.assert_array_equal(np.asarray(view), want[key])
    nested = rows[np.arange(9) > 2][[4, 0]]
    np.testing.assert_array_equal(np.asarray(nested), want[[7, 3]])
    assert np.asarray(rows[[1]], dtype=np.float64).dtype == np.float64


@pytest.fixture
def artifacts(tmp_path, rng, tiny_cfg: Config):
    """A segment table (3 splits), log-mel segments and fused features written to tmp_path;
    returns a function building the config for a model name / input / condition."""
    n = 12
    segments = pd.DataFrame({
        "track_id": np.repeat([f"t{i}" for i in range(6)], 2),
        "segment_index": np.tile([0, 1], 6),
        "genre": np.repeat(["blues", "metal"] * 3, 2),
        # 'fr' occurs only outside the train split; 'en' is the train majority.
        "language": ["en", "en", "en", "en", "bn", "bn", "en", "en", "fr", "fr", "bn", "bn"],
        "source": "synthetic",
        "split": ["train"] * 6 + ["val"] * 2 + ["test"] * 4,
    })
    mel = (rng.normal(size=(n, N_MELS, FRAMES)) * np.arange(1, N_MELS + 1)[None, :, None]
           + 10.0).astype(np.float32)
    np.save(tmp_path / "mel.npy", mel)
    lyrics = rng.normal(size=(6, 3))
    lyrics[2] = np.nan
    fused = fuse_features(rng.normal(size=(n, 5)), lyrics, np.repeat(np.arange(6), 2),
                          (segments["split"] == "train").to_numpy(), audio_weight=1.0,
                          lyrics_weight=0.5)
    save_fused(tmp_path / "fused", fused)

    def config(name: str, model_input: str, condition: str | None = None) -> Config:
        raw = json.loads(json.dumps(to_dict(tiny_cfg)))
        raw["paths"].update(mel=str(tmp_path / "mel.npy"), fused=str(tmp_path / "fused"))
        raw["model"].update(name=name, input=model_input, condition=condition)
        return from_dict(raw)

    return segments, mel, fused, config


def test_mel_input_standardised_on_train_segments(artifacts) -> None:
    """mel input: per-band mean/std of the train segments, recorded in meta; no mask."""
    segments, mel, _, config = artifacts
    inp = load_model_input(config("conv_vae", "mel"), segments)
    train = (segments["split"] == "train").to_numpy()
    assert isinstance(inp.x, MelRows) and isinstance(inp.x.mel, np.memmap)
    x = np.asarray(inp.x)
    assert inp.x.shape == x.shape == mel.shape and x.dtype == np.float32
    np.testing.assert_allclose(x[train].mean(axis=(0, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(x[train].std(axis=(0, 2)), 1.0, atol=1e-4)
    assert np.abs(x[~train].mean(axis=(0, 2))).max() > 1e-3  # not fit on every row
    np.testing.assert_allclose(x, standardise_mel(mel, np.asarray(inp.transform.mel_mean),
                                                      np.asarray(inp.transform.mel_std)), atol=1e-6)
    assert inp.observed is None and inp.conditions is None and inp.usable.all()
    assert inp.transform.kind == "mel" and inp.transform.fuse is None
    assert inp.flat().shape == (len(mel), N_MELS * FRAMES)


@pytest.mark.parametrize("kind", ["audio", "lyrics", "hybrid"])
def test_feature_inputs_come_from_the_fused_arrays(artifacts, kind: str) -> None:
    """audio/lyrics/hybrid: the fused block with its observed mask; lyrics rows of tracks
    without lyrics are not usable."""
    segments, _, fused, config = artifacts
    inp = load_model_input(config("vae", kind), segments)
    np.testing.assert_array_equal(inp.x, getattr(fused, kind))
    assert inp.observed.shape == inp.x.shape
    expected_usable = fused.has_lyrics if kind == "lyrics" else np.ones(12, dtype=bool)
    np.testing.assert_array_equal(inp.usable, expected_usable)
    assert inp.conditions is None and inp.transform.kind == kind
    assert inp.transform.fuse == fused.scalers and inp.transform.condition is None


def test_cvae_condition_categories_from_train_split(artifacts) -> None:
    """The one-hot columns are the train split's values (sorted); a value seen only outside
    train gets a zero row; the default is the train majority."""
    segments, _, _, config = artifacts
    inp = load_model_input(config("cvae", "hybrid", "language"), segments)
    t = inp.transform
    assert (t.condition, t.condition_categories, t.condition_default) == (
        "language", ["bn", "en"], "en")
    expected = one_hot(segments["language"], ["bn", "en"])
    np.testing.assert_array_equal(inp.conditions, expected)
    assert inp.conditions.shape == (12, 2)
    np.testing.assert_array_equal(inp.conditions[segments["language"] == "fr"], 0.0)
    assert (inp.conditions[segments["language"] != "fr"].sum(axis=1) == 1).all()


def test_only_the_cvae_gets_conditions(artifacts) -> None:
    """A condition set on another model is ignored."""
    segments, _, _, config = artifacts
    assert load_model_input(config("vae", "audio", "language"), segments).conditions is None


def test_model_input_is_deterministic(artifacts) -> None:
    """Two builds (as train, cluster, evaluate do) give identical inputs and meta."""
    segments, _, _, config = artifacts
    for args in [("conv_vae", "mel"), ("cvae", "hybrid", "language")]:
        a, b = load_model_input(config(*args), segments), load_model_input(config(*args), segments)
        np.testing.assert_array_equal(a.x, b.x)
        assert a.transform == b.transform


@pytest.mark.parametrize(("name", "kind", "condition"), [
    ("conv_vae", "mel", None), ("cvae", "hybrid", "language"), ("vae", "audio", None)])
def test_transform_record_round_trips_and_applies_alike(artifacts, name, kind, condition) -> None:
    """The checkpoint's record of the transform rebuilds it exactly, and applied to the
    artifacts it gives the input the fit gave, bit for bit (as evaluate uses it)."""
    segments, _, _, config = artifacts
    cfg = config(name, kind, condition)
    fitted = InputTransform.fit(cfg, segments)
    restored = InputTransform.from_record(json.loads(json.dumps(fitted.record())))
    assert restored == fitted
    a, b = fitted.apply(cfg, segments), load_model_input(cfg, segments, restored)
    np.testing.assert_array_equal(a.x, b.x)
    if a.conditions is not None:
        np.testing.assert_array_equal(a.conditions, b.conditions)


@pytest.mark.parametrize("audio_transform", ["none", "yeo_johnson"])
def test_new_audio_gets_the_pipeline_arithmetic(artifacts, rng, audio_transform) -> None:
    """from_audio (what predict uses) scales a new song's features with the fuse scalers
    exactly as fuse did for the corpus, power transform included: the corpus's own rows
    come back bit for bit; in a hybrid input the lyrics block is the train mean (0)."""
    n = 12
    segments, _, _, config = artifacts
    audio = (rng.lognormal(size=(n, 5)) * 3 + 1).astype(np.float32)
    fused = fuse_features(audio, np.full((6, 3), np.nan), np.repeat(np.arange(6), 2),
                          (segments["split"] == "train").to_numpy(), audio_weight=2.0,
                          lyrics_weight=0.5, audio_transform=audio_transform)
    assert ("audio_lambdas" in fused.scalers) == (audio_transform == "yeo_johnson")
    fuse_dir = config("vae", "audio").paths.fused
    save_fused(fuse_dir, fused)
    for kind in ("audio", "hybrid"):
        t = InputTransform.fit(config("vae", kind), segments)
        x = t.from_audio(np.zeros((n, N_MELS, FRAMES), dtype=np.float32), audio)
        np.testing.assert_array_equal(x, getattr(fused, kind))
    with pytest.raises(ValueError, match="lyrics"):
        InputTransform.fit(config("vae", "lyrics"), segments).from_audio(None, audio)
